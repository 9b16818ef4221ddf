//! `haul check`: two trees compared without copying, local↔local and
//! local↔S3 (the in-process S3 server).

use std::path::Path;

use serde_json::Value;

use crate::cli::{Env, s, write};
use crate::s3cli::S3Env;

const FILES: usize = 500;

/// A tree of 500 small files of distinct content.
fn tree(root: &Path) {
    for i in 0..FILES {
        write(
            &root.join(format!("d{}/f{i:03}", i % 7)),
            format!("file number {i}, some content").as_bytes(),
        );
    }
}

/// The per-key lines and the summary line of a `check --json` run.
struct Checked {
    code: i32,
    lines: Vec<Value>,
    summary: Value,
}

impl Checked {
    fn of(out: &std::process::Output) -> Self {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut lines: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        let summary = lines.pop().expect("a summary line");
        assert_eq!(summary["type"], "check_summary", "{summary}");
        Self {
            code: out.status.code().unwrap_or(-1),
            lines,
            summary,
        }
    }

    /// The keys whose result is `result`.
    fn keys(&self, result: &str) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|l| l["result"] == result)
            .filter_map(|l| l["key"].as_str())
            .collect()
    }

    fn count(&self, what: &str) -> u64 {
        self.summary[what].as_u64().unwrap_or(u64::MAX)
    }
}

/// Deletes one, adds one, changes one (`changed`'s new content).
fn damage(dst: &Path, changed: &[u8]) {
    std::fs::remove_file(dst.join("d3/f010")).unwrap();
    write(&dst.join("d9/extra"), b"not in the source");
    write(&dst.join("d2/f100"), changed);
}

#[test]
fn local_trees_one_missing_one_extra_one_changed_among_500() {
    let e = Env::new();
    let (src, dst) = (e.path("src"), e.path("dst"));
    tree(&src);
    tree(&dst);
    let same = Checked::of(&e.run(&["check", s(&src), s(&dst), "--json"]));
    assert_eq!(same.code, 0, "{}", same.summary);
    // Two local files share no reported checksum: said per key and counted.
    assert_eq!(same.count("size_only"), FILES as u64, "{}", same.summary);
    assert_eq!(same.keys("size_only").len(), FILES);
    damage(&dst, b"changed, and longer than it was");
    let c = Checked::of(&e.run(&["check", s(&src), s(&dst), "--json"]));
    assert_eq!(c.code, 1, "{}", c.summary);
    assert_eq!(c.keys("missing_on_dst"), ["d3/f010"]);
    assert_eq!(c.keys("missing_on_src"), ["d9/extra"]);
    assert_eq!(c.keys("differ"), ["d2/f100"]);
    assert_eq!(c.count("size_only"), FILES as u64 - 2);
    assert_eq!(c.count("bytes_read"), 0, "the listing was enough");
    // The text form names each one.
    let out = e.run(&["check", s(&src), s(&dst)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("missing on destination: d3/f010"), "{text}");
    assert!(text.contains("missing on source: d9/extra"), "{text}");
    let sizes = format!(
        "differ (size 29 vs {}): d2/f100",
        b"changed, and longer than it was".len()
    );
    assert!(text.contains(&sizes), "{text}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn download_finds_a_same_size_same_mtime_change_between_local_trees() {
    let e = Env::new();
    let (src, dst) = (e.path("src"), e.path("dst"));
    write(&src.join("a"), b"the same size");
    write(&dst.join("a"), b"the SAME size");
    let mtime = std::fs::metadata(src.join("a"))
        .unwrap()
        .modified()
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(dst.join("a"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let listed = Checked::of(&e.run(&["check", s(&src), s(&dst), "--json"]));
    assert_eq!(listed.code, 0);
    assert_eq!(listed.keys("size_only"), ["a"]);
    let read = Checked::of(&e.run(&["check", s(&src), s(&dst), "--json", "--download"]));
    assert_eq!(read.code, 1, "{}", read.summary);
    assert_eq!(read.keys("differ"), ["a"]);
    assert_eq!(read.lines[0]["by"], "download:crc32c");
    assert_eq!(read.count("bytes_read"), 26);
}

#[test]
fn local_to_s3_one_missing_one_extra_one_changed_among_500() {
    let e = S3Env::new();
    let src = e.env.path("src");
    tree(&src);
    crate::cli::succeeded(&[], &e.run(&["cp", "-r", s(&src), "s3://one/t/", "-q"]));
    let same = Checked::of(&e.run(&["check", s(&src), "s3://one/t/", "--json"]));
    assert_eq!(same.code, 0, "{}", same.summary);
    // The copy recorded the CRC32C of each file it read and of each object
    // it wrote: nothing is read to compare them.
    assert_eq!(same.count("identical"), FILES as u64, "{}", same.summary);
    assert_eq!(same.count("bytes_read"), 0, "{}", same.summary);
    assert!(same.lines.is_empty(), "identical keys are not listed");
    // Without those records, single puts' ETags are MD5s: each local file
    // is hashed as MD5.
    let fresh = e
        .cmd()
        .env("HAUL_JOURNAL", e.env.path("fresh.db"))
        .args(["check", s(&src), "s3://one/t/", "--json", "-v"])
        .output()
        .unwrap();
    let fresh = Checked::of(&fresh);
    assert_eq!(fresh.count("identical"), FILES as u64, "{}", fresh.summary);
    assert!(
        fresh.lines.iter().all(|l| l["by"] == "md5"),
        "{}",
        fresh.summary
    );
    // Damage the bucket through haul: one removed, one added, one replaced
    // by content of the same size (only a checksum can tell).
    let scratch = e.env.path("scratch");
    write(&scratch.join("extra"), b"not in the source");
    write(&scratch.join("f100"), b"FILE number 100, some content");
    for args in [
        vec!["rm", "s3://one/t/d3/f010", "-q"],
        vec!["cp", s(&scratch.join("extra")), "s3://one/t/d9/extra", "-q"],
        vec!["cp", s(&scratch.join("f100")), "s3://one/t/d2/f100", "-q"],
    ] {
        crate::cli::succeeded(&args, &e.run(&args));
    }
    let c = Checked::of(&e.run(&["check", s(&src), "s3://one/t/", "--json"]));
    assert_eq!(c.code, 1, "{}", c.summary);
    assert_eq!(c.keys("missing_on_dst"), ["d3/f010"]);
    assert_eq!(c.keys("missing_on_src"), ["d9/extra"]);
    assert_eq!(c.keys("differ"), ["d2/f100"]);
    // The replacing copy recorded what it wrote.
    assert_eq!(
        c.lines.iter().find(|l| l["result"] == "differ").unwrap()["by"],
        "recorded:crc32c"
    );
    assert_eq!(c.count("identical"), FILES as u64 - 2);
    assert_eq!(c.count("size_only"), 0);
    // Where ETags are not MD5s (SSE-KMS), the listing has nothing to
    // compare: a HEAD gives each object's CRC32C, and the local file is
    // hashed as one.
    let kms_journal = e.env.path("kms.db");
    let kms = [
        "--journal",
        s(&kms_journal),
        "check",
        s(&src),
        "s3://one/t/",
        "--json",
        "--sse",
        "aws:kms",
    ];
    let headed = Checked::of(&e.run(&kms));
    assert_eq!(headed.keys("differ"), ["d2/f100"]);
    assert_eq!(
        headed
            .lines
            .iter()
            .find(|l| l["result"] == "differ")
            .unwrap()["by"],
        "crc32c"
    );
    assert_eq!(
        headed.count("identical"),
        FILES as u64 - 2,
        "{}",
        headed.summary
    );
    // One HEAD per key on both sides; none when the listing sufficed.
    assert_eq!(headed.count("heads"), FILES as u64 - 1);
    assert_eq!(c.count("heads"), 0);
    // The other way round: what is missing swaps sides.
    let back = Checked::of(&e.run(&["check", "s3://one/t/", s(&src), "--json"]));
    assert_eq!(back.keys("missing_on_src"), ["d3/f010"]);
    assert_eq!(back.keys("missing_on_dst"), ["d9/extra"]);
}

#[test]
fn download_finds_a_change_in_a_multipart_object_its_etag_cannot() {
    let e = S3Env::new();
    let src = e.env.path("src");
    let mut data: Vec<u8> = (0..12_000_000u32).map(|i| (i % 251) as u8).collect();
    write(&src.join("big"), &data);
    let up = [
        "cp",
        "-r",
        s(&src),
        "s3://one/mp/",
        "--slice-size",
        "5MiB",
        "--chunk-size",
        "5MiB",
        "-q",
    ];
    crate::cli::succeeded(&up, &e.run(&up));
    data[7_000_000] ^= 0xff;
    write(&src.join("big"), &data);
    // A multipart ETag is no MD5, and neither the listing nor a HEAD gives
    // another checksum of the object (the embedded server keeps none for
    // a multipart upload): without the copy's record, only sizes compare.
    let fresh = e.env.path("fresh.db");
    let listed = [
        "--journal",
        s(&fresh),
        "check",
        s(&src),
        "s3://one/mp/",
        "--json",
    ];
    let listed = Checked::of(&e.run(&listed));
    assert_eq!(listed.code, 0, "{}", listed.summary);
    assert_eq!(listed.keys("size_only"), ["big"]);
    // The copy recorded the CRC32C of what it wrote: the changed local
    // file (its record no longer stands) is read and hashed as one.
    let recorded = Checked::of(&e.run(&["check", s(&src), "s3://one/mp/", "--json"]));
    assert_eq!(recorded.keys("differ"), ["big"], "{}", recorded.summary);
    assert_eq!(recorded.lines[0]["by"], "crc32c");
    let read = Checked::of(&e.run(&["check", s(&src), "s3://one/mp/", "--json", "--download"]));
    assert_eq!(read.code, 1, "{}", read.summary);
    assert_eq!(read.keys("differ"), ["big"]);
    assert_eq!(read.count("bytes_read"), 24_000_000);
}

/// Uploads `src` to `dst` in 1 MiB parts through `cmd`, and returns a
/// runner of `check --json SRC DST` there.
fn uploaded<'a>(
    cmd: impl Fn() -> std::process::Command + 'a,
    src: &'a Path,
    dst: &'a str,
) -> impl Fn() -> Checked + 'a {
    let up = [
        "cp",
        "-r",
        s(src),
        dst,
        "-q",
        "--chunk-size",
        "1MiB",
        "--slice-size",
        "1MiB",
    ];
    crate::cli::succeeded(&up, &cmd().args(up).output().unwrap());
    // The checks keep their own journal: the upload's records would settle
    // every key without computing the kind the store reports.
    let journal = src.with_extension("check.db");
    move || {
        Checked::of(
            &cmd()
                .env("HAUL_JOURNAL", &journal)
                .args(["check", s(src), dst, "--json"])
                .output()
                .unwrap(),
        )
    }
}

#[test]
fn local_to_kodo_compares_a_kind_kodo_reports() {
    use haul::testkit::qiniu::QINIU_BUCKET;
    let e = crate::qiniucli::KodoEnv::new();
    let src = e.env.path("src");
    write(&src.join("small"), b"a small file");
    let big: Vec<u8> = (0..3_500_000u32).map(|i| (i % 253) as u8).collect();
    write(&src.join("big"), &big);
    let bucket = format!("qiniu://{QINIU_BUCKET}/c/");
    let run = uploaded(|| e.cmd(), &src, &bucket);
    let same = run();
    assert_eq!(same.code, 0, "{}", same.summary);
    // Each local file hashed as a kind Kodo reports (for the multipart
    // object too).
    assert_eq!(same.count("identical"), 2, "{}", same.summary);
    assert_eq!(same.count("bytes_read"), 3_500_012);
    write(&src.join("small"), b"a SMALL file");
    let c = run();
    assert_eq!(c.code, 1, "{}", c.summary);
    assert_eq!(c.keys("differ"), ["small"]);
    // The listing gives the qetag and, where Kodo keeps one, the MD5: the
    // first kind it reports is the one computed.
    let by = &c.lines.iter().find(|l| l["result"] == "differ").unwrap()["by"];
    assert!(by == "md5" || by == "qetag", "{by}");
}

#[test]
fn local_to_cos_finds_a_change_in_a_multipart_object_by_the_crc64_its_head_reports() {
    let e = crate::coscli::CosEnv::new();
    let src = e.env.path("src");
    let mut data: Vec<u8> = (0..5_500_000u32).map(|i| (i % 241) as u8).collect();
    write(&src.join("big"), &data);
    let bucket = format!("cos://{}/c/", e.cos.bucket());
    let run = uploaded(|| e.cmd(), &src, &bucket);
    let same = run();
    assert_eq!(same.code, 0, "{}", same.summary);
    assert_eq!(same.count("identical"), 1, "{}", same.summary);
    data[3_000_000] ^= 1;
    write(&src.join("big"), &data);
    let c = run();
    assert_eq!(c.code, 1, "{}", c.summary);
    assert_eq!(c.keys("differ"), ["big"]);
    assert_eq!(c.lines[0]["by"], "crc64xz");
}
