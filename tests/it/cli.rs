//! End-to-end tests of the real `haul` binary on local paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub(crate) struct Env {
    pub(crate) tmp: tempfile::TempDir,
}

impl Env {
    pub(crate) fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("config.toml"), "").unwrap();
        Self { tmp }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_haul"));
        c.env("HAUL_JOURNAL", self.path("journal.db"))
            .env("HAUL_CONFIG", self.path("config.toml"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        succeeded(args, &self.run(args))
    }
}

/// The standard output of a run that must have succeeded.
pub(crate) fn succeeded(args: &[&str], out: &Output) -> String {
    assert!(
        out.status.success(),
        "haul {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub(crate) fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

pub(crate) fn summary(stdout: &str) -> serde_json::Value {
    let last = stdout.lines().last().expect("a summary line");
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["type"], "summary", "{last}");
    v
}

fn tree(e: &Env) -> PathBuf {
    let src = e.path("src");
    write(&src.join("a.txt"), b"alpha");
    write(&src.join("sub dir/b +%#.bin"), &vec![7u8; 300_000]);
    write(&src.join("sub dir/deep/c"), b"");
    src
}

#[test]
fn cp_recursive_both_ways_and_json_summary_has_every_field() {
    let e = Env::new();
    let src = tree(&e);
    let out = e.ok(&[
        "cp",
        "-r",
        s(&src),
        s(&e.path("bucket/pre")),
        "--json",
        "--chunk-size",
        "64KiB",
        "--slice-size",
        "64KiB",
    ]);
    let v = summary(&out);
    for field in [
        "job_id",
        "files_total",
        "files_done",
        "files_skipped",
        "files_failed",
        "bytes_total",
        "bytes_transferred",
        "bytes_resent",
        "retries",
        "elapsed_s",
    ] {
        assert!(!v[field].is_null(), "{field} missing in {v}");
    }
    assert_eq!(v["files_done"], 3);
    assert_eq!(v["bytes_transferred"], 300_005);
    // Tuned by default: the summary says where the tuning stood.
    assert!(v["concurrency"].as_u64().is_some_and(|n| n >= 1), "{v}");
    // A number fixes it, and a fixed job reports none.
    let fixed = summary(&e.ok(&[
        "cp",
        "-r",
        s(&src),
        s(&e.path("fixed")),
        "--json",
        "--concurrency",
        "4",
    ]));
    assert!(fixed["concurrency"].is_null(), "{fixed}");
    let bad = e.run(&["cp", s(&src), s(&e.path("x")), "--concurrency", "lots"]);
    assert_eq!(bad.status.code(), Some(2));
    let per_file = out.lines().filter(|l| l.contains("\"file_done\"")).count();
    assert_eq!(per_file, 3, "{out}");
    assert_eq!(
        std::fs::read(e.path("bucket/pre/sub dir/b +%#.bin")).unwrap(),
        vec![7u8; 300_000]
    );
    e.ok(&[
        "cp",
        "-r",
        s(&e.path("bucket/pre")),
        s(&e.path("back")),
        "-q",
    ]);
    assert_eq!(std::fs::read(e.path("back/a.txt")).unwrap(), b"alpha");
    assert_eq!(std::fs::read(e.path("back/sub dir/deep/c")).unwrap(), b"");
}

#[test]
fn a_worker_thread_count_that_cannot_be_used_is_a_usage_error() {
    let e = Env::new();
    write(&e.path("src/f"), b"x");
    for bad in ["", "0", "two"] {
        let out = e
            .cmd()
            .args(["cp", s(&e.path("src/f")), s(&e.path("out/f")), "-q"])
            .env("TOKIO_WORKER_THREADS", bad)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line, no panic: {err}");
        assert!(err.contains("TOKIO_WORKER_THREADS"), "{err}");
        assert!(!e.path("out/f").exists(), "nothing done");
    }
    let out = e
        .cmd()
        .args(["cp", s(&e.path("src/f")), s(&e.path("out/f")), "-q"])
        .env("TOKIO_WORKER_THREADS", "1")
        .output()
        .unwrap();
    succeeded(&["cp"], &out);
    assert_eq!(std::fs::read(e.path("out/f")).unwrap(), b"x");
}

#[test]
fn cp_single_file_into_a_directory_keeps_its_name() {
    let e = Env::new();
    let src = tree(&e);
    std::fs::create_dir_all(e.path("out")).unwrap();
    e.ok(&["cp", s(&src.join("a.txt")), s(&e.path("out")), "-q"]);
    assert_eq!(std::fs::read(e.path("out/a.txt")).unwrap(), b"alpha");
    e.ok(&[
        "cp",
        s(&src.join("a.txt")),
        s(&e.path("out/renamed.txt")),
        "-q",
    ]);
    assert_eq!(std::fs::read(e.path("out/renamed.txt")).unwrap(), b"alpha");
}

#[test]
fn sync_twice_transfers_nothing_the_second_time() {
    let e = Env::new();
    let src = tree(&e);
    let dst = e.path("mirror");
    let first = summary(&e.ok(&["sync", s(&src), s(&dst), "--json"]));
    assert_eq!(first["files_done"], 3);
    let second = summary(&e.ok(&["sync", s(&src), s(&dst), "--json"]));
    assert_eq!(second["bytes_transferred"], 0, "{second}");
    assert_eq!(second["files_skipped"], 3);
    write(&dst.join("extra.txt"), b"x");
    write(&dst.join("extra2.txt"), b"x");
    let out = e.run(&["sync", s(&src), s(&dst), "--delete", "--max-delete", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to delete 2"), "{err}");
    assert!(dst.join("extra.txt").exists());
    e.ok(&["sync", s(&src), s(&dst), "--delete", "-q"]);
    assert!(!dst.join("extra.txt").exists());
    let dry = e.ok(&["sync", s(&src), s(&e.path("other")), "--dry-run"]);
    assert!(dry.contains("(dry run) copy"), "{dry}");
    assert!(!e.path("other/a.txt").exists());
}

#[test]
fn mv_rm_ls_stat() {
    let e = Env::new();
    let src = tree(&e);
    e.ok(&["mv", "-r", s(&src), s(&e.path("moved")), "-q"]);
    assert!(!src.join("a.txt").exists(), "the source was deleted");
    assert_eq!(std::fs::read(e.path("moved/a.txt")).unwrap(), b"alpha");
    let ls = e.ok(&["ls", s(&e.path("moved"))]);
    assert!(ls.contains("a.txt") && ls.contains("PRE sub dir/"), "{ls}");
    let ls = e.ok(&["ls", "-r", "-l", s(&e.path("moved"))]);
    assert!(
        ls.contains("300000") && ls.contains("sub dir/b +%#.bin"),
        "{ls}"
    );
    let stat = e.ok(&["stat", s(&e.path("moved/a.txt")), "--json"]);
    let v: serde_json::Value = serde_json::from_str(stat.trim()).unwrap();
    assert_eq!(v["size"], 5);
    let out = summary(&e.ok(&["rm", "-r", s(&e.path("moved/sub dir")), "--json"]));
    assert_eq!(out["files_done"], 2);
    assert!(!e.path("moved/sub dir/deep/c").exists());
    assert!(e.path("moved/a.txt").exists());
}

#[test]
fn jobs_list_show_forget() {
    let e = Env::new();
    let src = tree(&e);
    let v = summary(&e.ok(&["cp", "-r", s(&src), s(&e.path("d")), "--json"]));
    let job = v["job_id"].to_string();
    let list = e.ok(&["jobs"]);
    assert!(list.contains("done"), "{list}");
    let show = e.ok(&["jobs", "show", &job]);
    assert!(show.contains("a.txt"), "{show}");
    e.ok(&["jobs", "forget", &job, "-q"]);
    let out = e.run(&["jobs", "show", &job]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_inputs_have_their_exit_code_and_one_line() {
    let e = Env::new();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["cp", "/no/such/file", "/tmp/x"],
            2,
            "/no/such/file: cannot read source",
        ),
        (&["cp", "s3:///key", "/tmp/x"], 2, "malformed URL"),
        (&["cp", "gs://b/k", "/tmp/x"], 2, "unknown scheme"),
        (&["cp", "nosuchremote:b/k", "/tmp/x"], 2, "unknown remote"),
        (
            &["cp", "--chunk-size", "12 parsecs", "a", "b"],
            2,
            "unknown unit",
        ),
        (&["frobnicate"], 2, "unrecognized subcommand"),
        (&["resume"], 2, "no unfinished job"),
    ];
    for (args, code, text) in cases {
        let out = e.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
        assert!(err.contains(text), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let src = tree(&e);
    let dir_without_r = e.run(&["cp", s(&src), s(&e.path("x"))]);
    assert_eq!(dir_without_r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&dir_without_r.stderr).contains("use -r"));
    let unwritable = e.run(&["cp", s(&src.join("a.txt")), "/proc/haul-test/a.txt"]);
    assert_eq!(unwritable.status.code(), Some(2), "{unwritable:?}");
    let err = String::from_utf8_lossy(&unwritable.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/proc/haul-test"), "{err}");
}

#[test]
fn completions_print_a_script() {
    let e = Env::new();
    let out = e.ok(&["completions", "bash"]);
    assert!(out.contains("haul"), "{out}");
}

/// Starts `haul cp` of a big file at a limited rate with debug logging and
/// returns the child once `parts` parts are done.
fn start_slow_upload(
    e: &Env,
    parts: usize,
) -> (std::process::Child, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader};
    write(&e.path("src/big.bin"), &big_body());
    let mut child = e
        .cmd()
        .args([
            "cp",
            s(&e.path("src/big.bin")),
            s(&e.path("dst/big.bin")),
            "-vv",
            "--chunk-size",
            "256KiB",
            "--slice-size",
            "256KiB",
            "--chunk-parallel-limit",
            "4",
            "--bwlimit",
            "2MiB",
        ])
        .env("RUST_LOG", "haul_engine=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = 0;
    while seen < parts {
        let line = lines.next().expect("haul ended early").unwrap();
        if line.contains("part done") {
            seen += 1;
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect());
    (child, rest)
}

fn big_body() -> Vec<u8> {
    (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect()
}

#[test]
fn sigkill_mid_upload_then_haul_resume_is_byte_identical() {
    let e = Env::new();
    let (mut child, _) = start_slow_upload(&e, 6);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!e.path("dst/big.bin").exists());
    let v = summary(&e.ok(&["resume", "--json"]));
    assert_eq!(v["files_done"], 1, "{v}");
    // Parts are journaled asynchronously (a lost record only means that part
    // is sent again), so the last parts logged may not be durable yet.
    assert!(v["bytes_resumed"].as_u64().unwrap() >= 262_144, "{v}");
    assert_eq!(std::fs::read(e.path("dst/big.bin")).unwrap(), big_body());
}

#[test]
fn sigint_prints_the_resume_hint_and_exits_130() {
    let e = Env::new();
    let (child, stderr) = start_slow_upload(&e, 1);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stderr = stderr.join().unwrap().join("\n");
    assert!(stderr.contains("resume with: haul resume 1"), "{stderr}");
    let jobs = e.ok(&["jobs", "--json"]);
    assert!(jobs.contains("\"interrupted\""), "{jobs}");
    e.ok(&["resume", "-q"]);
    assert_eq!(std::fs::read(e.path("dst/big.bin")).unwrap(), big_body());
}
