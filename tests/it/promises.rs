//! Regressions for promises a black-box test broke: a move onto itself,
//! files left out silently, a silent endpoint, a one-letter remote, a pipe
//! closed early, leftovers after a download.

use std::io::Read as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::cli::{Env, s, summary, write};
use crate::s3cli::S3Env;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn mv_onto_itself_is_refused_and_cp_onto_itself_changes_nothing() {
    let e = S3Env::new();
    let file = e.env.path("dir/g");
    write(&file, &[7u8; 1000]);
    let dir = e.env.path("dir");
    let spelled = format!("{}/../dir/./g", s(&dir));
    for dst in [s(&file), spelled.as_str()] {
        let out = e.run(&["mv", "-q", s(&file), dst]);
        assert_eq!(code(&out), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("the same"), "{}", stderr(&out));
        assert_eq!(std::fs::read(&file).unwrap(), [7u8; 1000], "kept");
    }
    // A hard link is the same file too.
    std::fs::hard_link(&file, e.env.path("dir/h")).unwrap();
    let out = e.run(&["mv", s(&file), s(&e.env.path("dir/h"))]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(file.exists());
    let out = e.run(&["cp", s(&file), s(&file), "--json"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let sum = summary(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(sum["files_total"], 0, "{sum}");
    assert_eq!(std::fs::read(&file).unwrap(), [7u8; 1000]);
    let out = e.run(&["sync", s(&dir), s(&dir), "--delete", "-q"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(file.exists());

    // The same bucket and key on one endpoint.
    let out = e.run(&["cp", "-q", s(&file), "s3://one/k"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = e.run(&["mv", "-q", "s3://one/k", "s3://one/k"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read(e.object("one/k")).unwrap(), [7u8; 1000]);
    let out = e.run(&["mv", "-q", "-r", "s3://one/", "s3://one/"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(e.object("one/k").exists());
}

/// `dir/` with a good file, two names that are not UTF-8, a link to a file
/// in a subdirectory, a link loop, a dangling link and a fifo.
fn awkward_tree(dir: &Path) {
    use std::os::unix::fs::symlink;
    write(&dir.join("good.txt"), b"good");
    write(&dir.join("sub/t.txt"), b"target");
    for bad in [&b"u\xffhx8.bin"[..], &b"u\xfehx8.bin"[..]] {
        std::fs::write(dir.join(std::ffi::OsStr::from_bytes(bad)), b"bad").unwrap();
    }
    symlink("sub/t.txt", dir.join("link.txt")).unwrap();
    symlink("..", dir.join("sub/loop")).unwrap();
    symlink("nowhere", dir.join("dangling")).unwrap();
    let made = Command::new("mkfifo")
        .arg(dir.join("fifo"))
        .status()
        .unwrap();
    assert!(made.success());
}

#[test]
fn nothing_is_left_out_silently() {
    let e = S3Env::new();
    let dir = e.env.path("tree");
    awkward_tree(&dir);
    let src = format!("{}/", s(&dir));
    let out = e.run(&["cp", "-r", &src, "s3://one/c/", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        code(&out),
        Some(1),
        "names that cannot be keys fail: {stdout}"
    );
    let sum = summary(&stdout);
    assert_eq!(sum["files_done"], 3, "{sum}");
    assert_eq!(sum["files_failed"], 2, "{sum}");
    assert_eq!(sum["files_skipped"], 3, "{sum}");
    assert_eq!(sum["files_total"], 8, "{sum}");
    let reasons = &sum["skipped_by_reason"];
    assert_eq!(reasons["a fifo, not a regular file"], 1, "{sum}");
    assert_eq!(
        reasons["a broken symbolic link (its target does not exist)"], 1,
        "{sum}"
    );
    // Each failure names the file, escaped, with its cause.
    assert!(
        stdout.contains(r#""error":"u\\xFFhx8.bin: the name is not UTF-8"#),
        "{stdout}"
    );
    // The link to a file was followed, like `aws s3 cp` does.
    assert_eq!(
        std::fs::read(e.object("one/c/link.txt")).unwrap(),
        b"target"
    );
    assert_eq!(std::fs::read(e.object("one/c/good.txt")).unwrap(), b"good");

    let out = e.run(&[
        "cp",
        "-r",
        &src,
        "s3://one/n/",
        "--no-follow-symlinks",
        "--json",
    ]);
    let sum = summary(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(sum["files_done"], 2, "{sum}");
    assert_eq!(
        sum["skipped_by_reason"]["a symbolic link, not followed (--no-follow-symlinks)"], 3,
        "{sum}"
    );
    assert!(!e.object("one/n/link.txt").exists());
    // Without --json, every skipped entry is a line with its reason.
    let out = e.run(&["cp", "-r", &src, "s3://one/h/"]);
    let err = stderr(&out);
    assert!(
        err.contains("skipped: fifo: a fifo, not a regular file"),
        "{err}"
    );
    assert!(err.contains("error: u\\xFEhx8.bin"), "{err}");
}

/// A server that accepts connections and never answers.
fn silent_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    addr
}

/// Waits for `child`, killing it if it runs past `limit` (a hang is a
/// failure of the test, not a test that never ends).
fn wait_bounded(mut child: Child, limit: Duration) -> (Output, bool) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let pid = child.id();
    let guard = std::thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            return true;
        }
        false
    });
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let status = child.wait().unwrap();
    let _ = tx.send(());
    let killed = guard.join().unwrap();
    let out = Output {
        status,
        stdout: Vec::new(),
        stderr: err.into_bytes(),
    };
    (out, killed)
}

#[test]
fn a_silent_endpoint_fails_the_file_with_one_line() {
    let env = Env::new();
    let addr = silent_server();
    write(&env.path("f3"), &vec![1u8; 3_000_000]);
    let child = env
        .cmd()
        .args(["cp", s(&env.path("f3")), "s3://b/f3", "--timeout", "1s"])
        .env("AWS_ENDPOINT_URL", format!("http://{addr}"))
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, killed) = wait_bounded(child, Duration::from_mins(2));
    assert!(!killed, "still running after two minutes");
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(line.contains("f3") && line.contains("no answer"), "{line}");
    assert!(line.contains("--timeout"), "names the knob: {line}");
    // The same through the environment, for a listing.
    let out = env
        .cmd()
        .args(["ls", "s3://b/"])
        .env("HAUL_TIMEOUT", "1s")
        .env("AWS_ENDPOINT_URL", format!("http://{addr}"))
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no answer"), "{}", stderr(&out));
}

#[test]
fn a_defined_one_letter_remote_is_a_remote() {
    let e = S3Env::new();
    std::fs::write(
        e.env.path("config.toml"),
        format!(
            "[remotes.q]\ntype = \"s3\"\nendpoint = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
            e.server.endpoint(),
            e.server.access_key(),
            e.server.secret_key()
        ),
    )
    .unwrap();
    write(&e.env.path("f"), b"to the bucket");
    let out = e
        .cmd()
        .current_dir(e.env.tmp.path())
        .args(["cp", "-q", "f", "q:one/key"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(e.object("one/key")).unwrap(),
        b"to the bucket"
    );
    assert!(!e.env.path("q:one").exists(), "no local path was made");
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    let e = Env::new();
    write(&e.path("x"), b"x");
    for i in 0..3 {
        let out = e.run(&["cp", "-q", s(&e.path("x")), s(&e.path(&format!("o{i}")))]);
        assert!(out.status.success());
    }
    let mut child = e
        .cmd()
        .args(["jobs"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before haul writes: every write is EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_download_leaves_no_staging_directory() {
    let e = S3Env::new();
    let body: Vec<u8> = (0..9_000_000u32).map(|i| (i % 251) as u8).collect();
    write(&e.env.path("big.bin"), &body);
    let args = ["--slice-size", "1MiB", "--chunk-size", "1MiB", "-q"];
    let up = e.run(
        &[
            &["cp", s(&e.env.path("big.bin")), "s3://one/big.bin"][..],
            &args,
        ]
        .concat(),
    );
    assert!(up.status.success(), "{}", stderr(&up));
    let down = e.env.path("down");
    let out = e.run(
        &[
            &["cp", "s3://one/big.bin", &format!("{}/", s(&down))][..],
            &args,
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(down.join("big.bin")).unwrap(), body);
    let left: Vec<_> = std::fs::read_dir(&down)
        .unwrap()
        .map(|d| d.unwrap().file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("big.bin")], "{left:?}");
}

#[test]
fn logs_off_a_terminal_carry_no_colour_codes() {
    let e = Env::new();
    write(&e.path("a"), b"a");
    let out = e
        .cmd()
        .args(["cp", s(&e.path("a")), s(&e.path("b")), "-vv"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("DEBUG"), "debug logging is on: {err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

#[test]
fn ctrl_c_stops_a_stream_and_aborts_its_upload() {
    use std::io::{BufRead as _, BufReader, Write as _};
    let e = S3Env::new();
    let mut child = e
        .cmd()
        .args([
            "cp",
            "-",
            "s3://one/stream.bin",
            "--chunk-size",
            "5MiB",
            "--slice-size",
            "5MiB",
        ])
        .env("RUST_LOG", "haul_engine=debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Two parts' worth, then silence with standard input left open (until
    // `hold` is dropped), written beside the reading of standard error.
    let (hold, release) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&vec![3u8; 11 << 20]);
        let _ = release.recv();
    });
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("haul ended early").unwrap();
        if line.contains("part done") {
            break;
        }
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    drop(hold);
    writer.join().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(!e.object("one/stream.bin").exists(), "nothing completed");
    // The upload was aborted, not left for `haul cleanup`: the server
    // keeps no part of it.
    let parts: Vec<String> = std::fs::read_dir(e.server.root())
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".upload_id-"))
        .collect();
    assert!(parts.is_empty(), "{parts:?}");
}
