//! The real `haul` binary against the embedded S3 endpoint (haul-serve).

use std::process::Command;

use haul::testkit::S3Server;

use crate::cli::{Env, s, summary, write};

/// The real binary with the in-process S3 server's keys, buckets `one`
/// and `two`.
pub(crate) struct S3Env {
    pub(crate) env: Env,
    pub(crate) server: S3Server,
}

impl S3Env {
    pub(crate) fn new() -> Self {
        let env = Env::new();
        let root = env.path("buckets");
        std::fs::create_dir_all(&root).unwrap();
        let server = S3Server::start(&root);
        for b in ["one", "two"] {
            server.create_bucket(b).unwrap();
        }
        Self { env, server }
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = self.env.cmd();
        c.env("AWS_ENDPOINT_URL", self.server.endpoint())
            .env("AWS_ACCESS_KEY_ID", self.server.access_key())
            .env("AWS_SECRET_ACCESS_KEY", self.server.secret_key())
            .env("AWS_REGION", self.server.region())
            .env_remove("AWS_ENDPOINT_URL_S3")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Where the server keeps `bucket/key`.
    pub(crate) fn object(&self, path: &str) -> std::path::PathBuf {
        self.server.root().join(path)
    }

    fn ok(&self, args: &[&str]) -> String {
        crate::cli::succeeded(args, &self.run(args))
    }
}

fn big() -> Vec<u8> {
    (0..12_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
        .collect()
}

#[test]
fn cp_up_down_and_bucket_to_bucket() {
    let e = S3Env::new();
    let src = e.env.path("src");
    write(&src.join("big.bin"), &big());
    write(&src.join("dir/a b+c%.txt"), b"odd key");
    write(&src.join("dir/日本.txt"), "unicode".as_bytes());
    let up = summary(&e.ok(&["cp", "-r", s(&src), "s3://one/up/", "--json"]));
    assert_eq!(up["files_done"], 3, "{up}");
    e.ok(&["cp", s(&src.join("big.bin")), "s3://one/single/", "-q"]);
    let stat = e.ok(&["stat", "s3://one/single/big.bin", "--json"]);
    assert!(stat.contains("\"size\":12000000"), "{stat}");
    let out = e.ok(&["cp", "-r", "s3://one/up/", "s3://two/copy/", "--json"]);
    let b2b = summary(&out);
    assert_eq!(b2b["files_done"], 3, "{b2b}");
    // Between buckets of one endpoint the copy is server-side.
    assert_eq!(out.matches("\"method\":\"copy\"").count(), 3, "{out}");
    e.ok(&["cp", "-r", "s3://two/copy/", s(&e.env.path("down")), "-q"]);
    assert_eq!(std::fs::read(e.env.path("down/big.bin")).unwrap(), big());
    assert_eq!(
        std::fs::read(e.env.path("down/dir/a b+c%.txt")).unwrap(),
        b"odd key"
    );
    e.ok(&[
        "cp",
        "s3://two/copy/dir/日本.txt",
        s(&e.env.path("one.txt")),
        "-q",
    ]);
    assert_eq!(
        std::fs::read(e.env.path("one.txt")).unwrap(),
        "unicode".as_bytes()
    );
    let same = e.ok(&["cp", "-r", "s3://one/up/", "s3://one/again/", "--json"]);
    assert!(same.contains("\"method\":\"copy\""), "{same}");
}

#[test]
fn sync_twice_mv_rm_ls() {
    let e = S3Env::new();
    let src = e.env.path("src");
    for i in 0..5 {
        write(&src.join(format!("f{i}")), format!("file {i}").as_bytes());
    }
    let first = summary(&e.ok(&["sync", s(&src), "s3://one/m/", "--json"]));
    assert_eq!(first["files_done"], 5);
    let second = summary(&e.ok(&["sync", s(&src), "s3://one/m/", "--json"]));
    assert_eq!(second["bytes_transferred"], 0, "{second}");
    let ls = e.ok(&["ls", "s3://one/m/"]);
    assert_eq!(ls.lines().count(), 5, "{ls}");
    let ls = e.ok(&["ls", "s3://one/"]);
    assert!(ls.contains("PRE m/"), "{ls}");
    e.ok(&["mv", "-r", "s3://one/m/", "s3://two/moved/", "-q"]);
    assert!(e.ok(&["ls", "-r", "s3://one/m/"]).is_empty());
    assert_eq!(e.ok(&["ls", "-r", "s3://two/moved/"]).lines().count(), 5);
    let rm = summary(&e.ok(&["rm", "-r", "s3://two/moved/", "--json"]));
    assert_eq!(rm["files_done"], 5);
    assert!(e.ok(&["ls", "-r", "s3://two/"]).is_empty());
}

#[test]
fn bad_credentials_and_missing_bucket_are_one_line_errors() {
    let e = S3Env::new();
    write(&e.env.path("f.txt"), b"x");
    let out = e
        .cmd()
        .args(["cp", s(&e.env.path("f.txt")), "s3://one/f.txt"])
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret-value")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("AWS_SECRET_ACCESS_KEY") || err.contains("authenticat"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret-value"), "{err}");
    let out = e.run(&["ls", "s3://nosuchbucket/"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("nosuchbucket"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = e.run(&["cp", "-r", "s3://nosuchbucket/x/", s(&e.env.path("d"))]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn no_secret_in_any_output_at_vv() {
    let e = S3Env::new();
    write(&e.env.path("src/a"), &big()[..3_000_000]);
    let out = e.run(&[
        "cp",
        "-r",
        s(&e.env.path("src")),
        "s3://one/v/",
        "-vv",
        "--json",
        "--chunk-size",
        "1MiB",
        "--slice-size",
        "1MiB",
    ]);
    assert!(out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.len() > 1000, "-vv logs requests: {all}");
    assert!(!all.contains(e.server.secret_key()), "secret leaked");
    assert!(!all.contains("Signature="), "signature leaked");
}

#[test]
fn demo_reports_a_verified_result() {
    let e = Env::new();
    let out = e.run(&[
        "demo",
        "--size",
        "64MiB",
        "--json",
        "--dir",
        s(&e.path("demo")),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(v["verified"], true, "{v}");
    assert!(v["bytes_resumed"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn streams_in_and_out() {
    use std::io::Write as _;
    let e = S3Env::new();
    // A 3-byte stream becomes one put: its ETag is a plain MD5, not `…-N`.
    let mut child = e
        .cmd()
        .args(["cp", "-", "s3://one/tiny.txt", "-q"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"abc").unwrap();
    assert!(child.wait().unwrap().success());
    let stat = e.ok(&["stat", "s3://one/tiny.txt", "--json"]);
    let v: serde_json::Value = serde_json::from_str(stat.trim()).unwrap();
    assert_eq!(v["size"], 3);
    assert!(!v["etag"].as_str().unwrap().contains('-'), "{v}");
    // A 40 MiB stream in 8 MiB parts: multipart, byte-identical.
    let body = big().repeat(4)[..40 << 20].to_vec();
    let mut child = e
        .cmd()
        .args([
            "cp",
            "-",
            "s3://one/stream.bin",
            "--json",
            "--chunk-size",
            "8MiB",
            "--slice-size",
            "8MiB",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = body.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&feed).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = summary(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["bytes_transferred"], 40 << 20, "{v}");
    let stat = e.ok(&["stat", "s3://one/stream.bin", "--json"]);
    assert!(stat.contains("-5\""), "five parts: {stat}");
    // cat and cp SRC - write the object to standard output in order.
    let out = e
        .cmd()
        .args(["cat", "s3://one/stream.bin"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout == body, "cat output differs");
    let out = e
        .cmd()
        .args(["cp", "s3://one/tiny.txt", "-"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"abc");
    // A stream job cannot be resumed.
    let jobs = e.ok(&["jobs", "--json"]);
    let first: serde_json::Value = serde_json::from_str(jobs.lines().last().unwrap()).unwrap();
    let job = first["job_id"].to_string();
    let r = e.run(&["resume", &job]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("cannot be resumed"));
}

#[test]
fn mb_ls_rb() {
    let e = S3Env::new();
    e.ok(&["mb", "s3://fresh-bucket"]);
    let ls = e.ok(&["ls", "s3://"]);
    assert!(ls.lines().any(|l| l == "fresh-bucket"), "{ls}");
    write(&e.env.path("f.txt"), b"x");
    e.ok(&[
        "cp",
        s(&e.env.path("f.txt")),
        "s3://fresh-bucket/f.txt",
        "-q",
    ]);
    let out = e.run(&["rb", "s3://fresh-bucket"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is not empty"), "{err}");
    e.ok(&["rb", "s3://fresh-bucket", "--force", "-q"]);
    assert!(!e.ok(&["ls", "s3://"]).lines().any(|l| l == "fresh-bucket"));
}

#[test]
fn attributes_survive_streamed_and_server_side_copies_and_mtime_round_trips() {
    let e = S3Env::new();
    // Two remotes on one endpoint are two stores: copies between them stream.
    let remote = |name: &str| {
        format!(
            "[remotes.{name}]\ntype = \"s3\"\nendpoint = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
            e.server.endpoint(),
            e.server.access_key(),
            e.server.secret_key()
        )
    };
    std::fs::write(e.env.path("config.toml"), remote("left") + &remote("right")).unwrap();
    let src = e.env.path("page.html");
    write(&src, b"<html></html>");
    let old =
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::new(1_600_000_000, 123_456_789);
    std::fs::File::options()
        .write(true)
        .open(&src)
        .unwrap()
        .set_modified(old)
        .unwrap();
    e.ok(&[
        "cp",
        s(&src),
        "s3://one/a/page.html",
        "-q",
        "--cache-control",
        "max-age=60",
        "--content-disposition",
        "inline",
        "--metadata",
        "team=web",
        "--metadata",
        "note=café au lait",
    ]);
    let check = |loc: &str| {
        let v: serde_json::Value =
            serde_json::from_str(e.ok(&["stat", loc, "--json"]).trim()).unwrap();
        let a = &v["attrs"];
        assert_eq!(a["content_type"], "text/html", "{loc}: {v}");
        assert_eq!(a["cache_control"], "max-age=60", "{loc}: {v}");
        assert_eq!(a["content_disposition"], "inline", "{loc}: {v}");
        assert_eq!(a["metadata"]["team"], "web", "{loc}: {v}");
        assert_eq!(a["metadata"]["note"], "café au lait", "{loc}: {v}");
        assert_eq!(a["metadata"]["mtime"], "1600000000.123456789", "{loc}: {v}");
    };
    check("s3://one/a/page.html");
    // Server-side (one store) and streamed (two stores).
    let out = e.ok(&[
        "cp",
        "s3://one/a/page.html",
        "s3://two/ss/page.html",
        "--json",
    ]);
    assert!(out.contains("\"method\":\"copy\""), "{out}");
    check("s3://two/ss/page.html");
    let out = e.ok(&[
        "cp",
        "left:one/a/page.html",
        "right:two/st/page.html",
        "--json",
    ]);
    assert!(out.contains("\"method\":\"put\""), "{out}");
    check("s3://two/st/page.html");
    // Download restores the modification time; a second sync moves nothing.
    e.ok(&[
        "cp",
        "s3://two/st/page.html",
        s(&e.env.path("back/page.html")),
        "-q",
    ]);
    let got = std::fs::metadata(e.env.path("back/page.html"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(got, old);
    let v = summary(&e.ok(&["sync", "s3://two/st/", s(&e.env.path("back")), "--json"]));
    assert_eq!(v["bytes_transferred"], 0, "{v}");
}
