//! The checksum cache: a second `sync --checksum` reads (almost) nothing
//! yet still finds a change, and two providers whose stores report no
//! checksum of one kind are compared by what the journal recorded of the
//! copy. Bytes read are counted by the kernel (`rchar` of the haul
//! process: every read of a file or socket), not by haul.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use haul::testkit::CosEmulator;

use crate::cli::{s, summary, write};
use crate::s3cli::S3Env;

/// Runs `cmd` (a haul command with its environment) under `sh`, which
/// prints what the kernel counted haul's process reading once it exited.
fn counting(cmd: &Command, args: &[&str]) -> (Output, u64) {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(r#""$0" "$@"; st=$?; grep '^rchar:' /proc/$$/io >&2; exit $st"#)
        .arg(cmd.get_program())
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    let out = sh.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let read = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rchar line in {err}"));
    (out, read)
}

/// A tree of `n` files of `len` bytes each, of distinct content, and one
/// of 3 MiB (a multipart object with 1 MiB parts).
fn tree(root: &Path, n: usize, len: usize) {
    for i in 0..n {
        let byte = |j: usize| ((i * 7919 + j * 31) % 251) as u8;
        write(
            &root.join(format!("d{}/f{i:03}", i % 5)),
            &(0..len).map(byte).collect::<Vec<_>>(),
        );
    }
    let big: Vec<u8> = (0..3 << 20).map(|j: usize| (j % 241) as u8).collect();
    write(&root.join("big"), &big);
}

const PARTS: [&str; 4] = ["--chunk-size", "1MiB", "--slice-size", "1MiB"];

fn ok(args: &[&str], out: &Output) -> serde_json::Value {
    summary(&crate::cli::succeeded(args, out))
}

#[test]
fn a_second_checksum_sync_reads_only_what_changed_and_still_finds_it() {
    const N: usize = 20;
    let e = S3Env::new();
    let src = e.env.path("src");
    tree(&src, N, 1_000_000);
    let mut args = vec!["sync", "--checksum", s(&src), "s3://one/t/", "--json"];
    args.extend(PARTS);
    let (out, first_read) = counting(&e.cmd(), &args);
    let first = ok(&args, &out);
    assert_eq!(first["files_done"], N as u64 + 1, "{first}");
    let total = (N * 1_000_000 + (3 << 20)) as u64;
    assert!(first_read >= total, "read {first_read} of {total}");

    // Nothing changed: every file is settled by what the first run
    // recorded of the local files and of the objects it wrote.
    let (out, second_read) = counting(&e.cmd(), &args);
    let second = ok(&args, &out);
    assert_eq!(second["files_skipped"], N as u64 + 1, "{second}");
    assert_eq!(second["files_done"], 0, "{second}");
    let compared = &second["compared"];
    assert_eq!(compared["recorded"], N as u64 + 1, "{second}");
    assert_eq!(compared["read"], 0, "{second}");
    assert_eq!(compared["bytes_read"], 0, "{second}");
    // What it read is listings, its journal and its configuration: at
    // this size a few percent of the first run's (at 2 GiB, well under 1%).
    assert!(
        second_read * 20 < first_read,
        "the second sync read {second_read} bytes, the first {first_read}"
    );

    // One file rewritten with other bytes of the same size: its record no
    // longer stands (mtime and inode changed), so it is read and found.
    let changed = src.join("d2/f007");
    let mut data = std::fs::read(&changed).unwrap();
    data[500] ^= 0xff;
    std::fs::remove_file(&changed).unwrap();
    write(&changed, &data);
    let third = ok(&args, &e.run(&args));
    assert_eq!(third["files_done"], 1, "{third}");
    assert_eq!(third["compared"]["read"], 1, "{third}");
    assert_eq!(third["compared"]["bytes_read"], 1_000_000, "{third}");
    assert_eq!(third["compared"]["recorded"], N as u64, "{third}");
    assert_eq!(std::fs::read(e.object("one/t/d2/f007")).unwrap(), data);

    // With the cache off nothing recorded is consulted: every file is read.
    std::fs::write(
        e.env.path("config.toml"),
        "[transfer]\nchecksum_cache = false\n",
    )
    .unwrap();
    let off = ok(&args, &e.run(&args));
    assert_eq!(off["files_skipped"], N as u64 + 1, "{off}");
    assert_eq!(off["compared"]["recorded"], 0, "{off}");
    assert_eq!(off["compared"]["read"], N as u64 + 1, "{off}");
}

/// The real binary with both the in-process S3 server and the COS
/// emulator.
struct TwoClouds {
    s3: S3Env,
    cos: CosEmulator,
}

impl TwoClouds {
    fn new() -> Self {
        Self {
            s3: S3Env::new(),
            cos: CosEmulator::start(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = self.s3.cmd();
        c.env("COS_SECRET_ID", self.cos.secret_id())
            .env("COS_SECRET_KEY", self.cos.secret_key())
            .env("COS_REGION", self.cos.region())
            .env("COS_ENDPOINT", self.cos.endpoint())
            .env_remove("COS_SECURITY_TOKEN");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }
}

#[test]
fn s3_to_cos_is_compared_by_the_recorded_kinds_and_a_corrupted_object_is_found() {
    const N: usize = 8;
    let e = TwoClouds::new();
    let src = e.s3.env.path("src");
    tree(&src, N, 50_000);
    let cos = format!("cos://{}/c/", e.cos.bucket());
    let mut up = vec!["cp", "-r", s(&src), "s3://one/t/", "-q"];
    up.extend(PARTS);
    crate::cli::succeeded(&up, &e.run(&up));
    let mut across = vec!["sync", "--checksum", "s3://one/t/", &cos, "--json"];
    across.extend(PARTS);
    let first = ok(&across, &e.run(&across));
    assert_eq!(first["files_done"], N as u64 + 1, "{first}");

    // S3 reports CRC32C (for the multipart object only a composite of its
    // parts), COS CRC-64: nothing in common. The records of the copy
    // settle every file without reading either side.
    let (out, _) = counting(&e.cmd(), &across);
    let again = ok(&across, &out);
    assert_eq!(again["files_skipped"], N as u64 + 1, "{again}");
    assert_eq!(again["compared"]["recorded"], N as u64 + 1, "{again}");
    assert_eq!(again["compared"]["bytes_read"], 0, "{again}");

    let check = ["check", "s3://one/t/", &cos, "--json"];
    let same = e.run(&check);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );

    // Another client rewrites the multipart object in COS with bytes of the
    // same size (a fresh journal: nothing is recorded of that version).
    let mut bad = std::fs::read(src.join("big")).unwrap();
    bad[2_000_000] ^= 1;
    let scratch = e.s3.env.path("scratch/big");
    write(&scratch, &bad);
    let dst_big = format!("{cos}big");
    let mut overwrite = vec!["cp", s(&scratch), &dst_big, "-q"];
    overwrite.extend(PARTS);
    let other = e.s3.env.path("other-journal.db");
    let out = e
        .cmd()
        .env("HAUL_JOURNAL", &other)
        .args(&overwrite)
        .output()
        .unwrap();
    crate::cli::succeeded(&overwrite, &out);
    let found = e.run(&check);
    let stdout = String::from_utf8_lossy(&found.stdout);
    assert_eq!(found.status.code(), Some(1), "{stdout}");
    let differ: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|l: &serde_json::Value| l["result"] == "differ")
        .collect();
    assert_eq!(differ.len(), 1, "{stdout}");
    assert_eq!(differ[0]["key"], "big", "{stdout}");
    // COS's HEAD gives the CRC-64 the copy recorded of the source.
    assert_eq!(differ[0]["by"], "crc64xz", "{stdout}");
}

#[test]
fn an_upload_to_kodo_hashes_its_qetag_in_the_one_pass_and_check_compares_by_it() {
    use haul::testkit::qiniu::QINIU_BUCKET;
    let e = crate::qiniucli::KodoEnv::new();
    let src = e.env.path("src");
    let big: Vec<u8> = (0..9_000_000u32).map(|i| (i % 239) as u8).collect();
    write(&src.join("big"), &big);
    let bucket = format!("qiniu://{QINIU_BUCKET}/q/");
    // One put of 9 MB (three qetag blocks): the engine's pass computes the
    // qetag Kodo reports, and records it of the file and of the object.
    let up = ["cp", "-r", s(&src), &bucket, "-q", "--slice-size", "64MiB"];
    e.ok(&up);
    let check = ["check", s(&src), &bucket, "--json", "-v"];
    let out = e.cmd().args(check).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    // Nothing is read: the file's record is compared with what Kodo lists.
    assert_eq!(lines[0]["key"], "big", "{stdout}");
    let by = lines[0]["by"].as_str().unwrap_or_default();
    assert!(by == "recorded:qetag" || by == "recorded:md5", "{stdout}");
    assert_eq!(lines[1]["bytes_read"], 0, "{stdout}");
    // The record holds the qetag Kodo reports (its ETag).
    let etag_of = |what: &str| {
        let stat = e.ok(&["stat", what]);
        stat.lines()
            .find_map(|l| l.strip_prefix("etag:"))
            .map_or_else(|| panic!("no etag in {stat}"), |t| t.trim().to_owned())
    };
    let kodo_etag = etag_of(&format!("{bucket}big"));
    let local_etag = etag_of(s(&src.join("big")));
    let journal = haul::journal::Journal::open(e.env.path("journal.db")).unwrap();
    let root = std::fs::canonicalize(&src).unwrap();
    let store = format!("file://{}", root.display());
    let sums = journal
        .sums_of(&store, "big", big.len() as u64, &local_etag)
        .unwrap();
    let qetag = sums
        .iter()
        .find(|c| c.kind() == haul::core::ChecksumKind::Qetag)
        .unwrap_or_else(|| panic!("no qetag recorded: {sums:?}"));
    assert_eq!(haul::core::qetag::render(qetag), kodo_etag);
}
