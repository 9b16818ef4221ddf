//! The real `haul` binary against the NOS and CloudBase emulators: limits
//! refused before a byte is sent, locations reported, lost answers not
//! re-sent, and upload/download/delete where the service allows them.

use std::process::Command;

use haul::testkit::nos::{NosOp, NosServer};
use haul::testkit::tcb::{TCB_ENV, TcbServer};

use crate::cli::{Env, s, summary, write};

fn with_env(env: &Env, vars: Vec<(&'static str, String)>) -> Command {
    let mut c = env.cmd();
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

#[test]
fn nos_uploads_report_locations_and_refuse_what_is_too_large() {
    let e = Env::new();
    let nos = NosServer::start();
    write(&e.path("a.jpg"), b"jpeg bytes");
    write(&e.path("photo.raw"), &vec![1u8; 20_000_000]);
    let out = with_env(&e, nos.env())
        .args(["cp", s(&e.path("a.jpg")), "nos://app/a.jpg", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("\"location\":\"http"), "{text}");
    // NOS reports no checksum: the file is verified by size, and says so.
    assert!(text.contains("\"verified\":\"size\""), "{text}");
    assert!(text.contains("\"verified_by_size\":1"), "{text}");
    let out = with_env(&e, nos.env())
        .args([
            "cp",
            s(&e.path("a.jpg")),
            "nos://app/a2.jpg",
            "--json",
            "--verify",
            "read-back",
        ])
        .output()
        .unwrap();
    let again = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{again}");
    assert!(
        again.contains("\"verified\":\"read-back:crc32c\""),
        "{again}"
    );
    assert!(again.contains("\"verified_by_content\":1"), "{again}");
    // Download by the location NOS chose.
    let done: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "file_done")
        .unwrap();
    let url = done["location"].as_str().unwrap();
    let out = with_env(&e, nos.env())
        .args([
            "cp",
            &format!("nos://app/{url}"),
            s(&e.path("back.jpg")),
            "-q",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(e.path("back.jpg")).unwrap(), b"jpeg bytes");
    // A wrong secret: one line naming the variable, no secret.
    let out = with_env(&e, nos.env())
        .env("YUNXIN_APP_SECRET", "wrong-secret")
        .args(["cp", s(&e.path("a.jpg")), "nos://app/c.jpg"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("YUNXIN_APP_SECRET"), "{err}");
    assert!(!err.contains("wrong-secret"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    let before = nos.requests(NosOp::Any);
    let out = with_env(&e, nos.env())
        .args(["cp", s(&e.path("photo.raw")), "nos://app/photo.raw"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("photo.raw: 20.0 MB exceeds"), "{err}");
    assert_eq!(nos.requests(NosOp::Any), before, "refused before sending");
    // A lost answer: reported, not sent again, even by resume.
    nos.lose_next(NosOp::Any, 1);
    let out = with_env(&e, nos.env())
        .args(["cp", s(&e.path("a.jpg")), "nos://app/b.jpg"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--resend-unknown"), "{err}");
    let files = nos.file_count();
    let out = with_env(&e, nos.env())
        .args(["resume", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(nos.file_count(), files, "nothing sent again");
    let out = with_env(&e, nos.env())
        .args(["resume", "--resend-unknown", "-q"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(nos.file_count(), files + 1);
}

#[test]
fn tcb_upload_download_delete() {
    let e = Env::new();
    let tcb = TcbServer::start();
    write(&e.path("doc.pdf"), &vec![7u8; 300_000]);
    let dst = format!("tcb://{TCB_ENV}/docs/doc.pdf");
    let ok = |args: &[&str]| {
        let out = with_env(&e, tcb.env()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = ok(&["cp", s(&e.path("doc.pdf")), &dst, "--json"]);
    assert!(text.contains("\"verified\":\"size\""), "{text}");
    let v = summary(&text);
    assert_eq!(v["files_done"], 1);
    let text = ok(&[
        "cp",
        s(&e.path("doc.pdf")),
        &dst,
        "--json",
        "--verify",
        "read-back",
    ]);
    assert!(text.contains("\"verified\":\"read-back:crc32c\""), "{text}");
    // A move verified by size only keeps its source.
    let out = with_env(&e, tcb.env())
        .args(["mv", s(&e.path("doc.pdf")), &dst])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("verified by size only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(e.path("doc.pdf").exists(), "the source is kept");
    ok(&["cp", &dst, s(&e.path("back.pdf")), "-q"]);
    assert_eq!(
        std::fs::read(e.path("back.pdf")).unwrap(),
        vec![7u8; 300_000]
    );
    let v = summary(&ok(&["rm", &dst, "--json"]));
    assert_eq!(v["files_done"], 1);
    assert_eq!(tcb.file_count(), 0);
    // Wrong secret: one line naming the variable.
    let out = with_env(&e, tcb.env())
        .env("TCB_APPSECRET", "wrong")
        .args(["cp", s(&e.path("doc.pdf")), &dst])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("TCB_APPSECRET"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
}

#[test]
fn easemob_upload_download_by_location_limits_and_auth() {
    use haul::testkit::easemob::{EASEMOB_APP, EASEMOB_ORG, EasemobOp, EasemobServer};
    let e = Env::new();
    let em = EasemobServer::start();
    let app = format!("easemob://{EASEMOB_ORG}#{EASEMOB_APP}");
    write(&e.path("voice.amr"), &vec![3u8; 200_000]);
    write(&e.path("movie.mp4"), &vec![3u8; 11_000_000]);
    let out = with_env(&e, em.env())
        .args([
            "cp",
            s(&e.path("voice.amr")),
            &format!("{app}/voice.amr"),
            "--json",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "file_done")
        .unwrap();
    let location = done["location"].as_str().unwrap().to_owned();
    assert!(location.contains("share-secret="), "{location}");
    assert_eq!(done["verified"], "size", "{text}");
    let out = with_env(&e, em.env())
        .args([
            "cp",
            s(&e.path("voice.amr")),
            &format!("{app}/voice2.amr"),
            "--json",
            "--verify",
            "read-back",
        ])
        .output()
        .unwrap();
    let again = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{again}");
    assert!(
        again.contains("\"verified\":\"read-back:crc32c\""),
        "{again}"
    );
    // Download by the location (uuid and share secret).
    let out = with_env(&e, em.env())
        .args([
            "cp",
            &format!("{app}/{location}"),
            s(&e.path("back.amr")),
            "-q",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(e.path("back.amr")).unwrap(),
        vec![3u8; 200_000]
    );
    // 11 MB is refused before a byte is sent.
    let before = em.requests(EasemobOp::Any);
    let out = with_env(&e, em.env())
        .args(["cp", s(&e.path("movie.mp4")), &format!("{app}/movie.mp4")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("movie.mp4: 11.0 MB exceeds"), "{err}");
    assert_eq!(em.requests(EasemobOp::Any), before);
    // A wrong client secret: one line naming the variable, no secret.
    let out = with_env(&e, em.env())
        .env("EASEMOB_CLIENT_SECRET", "wrong-secret")
        .args(["cp", s(&e.path("voice.amr")), &format!("{app}/v2.amr")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("EASEMOB_CLIENT_SECRET"), "{err}");
    assert!(!err.contains("wrong-secret"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
}

/// A file larger than the memory budget goes to each single-upload store
/// as its form is sent, never held whole, and reads back exact.
#[test]
fn single_uploads_larger_than_the_budget_are_streamed_and_read_back_exact() {
    use haul::testkit::easemob::{EASEMOB_APP, EASEMOB_ORG, EasemobServer};
    let e = Env::new();
    let body: Vec<u8> = (0..(4 << 20) + 3)
        .map(|i: u32| (i * 7 % 251) as u8)
        .collect();
    write(&e.path("big.bin"), &body);
    let (nos, tcb, em) = (
        NosServer::start(),
        TcbServer::start(),
        EasemobServer::start(),
    );
    let stores = [
        (nos.env(), "nos://app/big.bin".to_owned()),
        (tcb.env(), format!("tcb://{TCB_ENV}/big.bin")),
        (
            em.env(),
            format!("easemob://{EASEMOB_ORG}#{EASEMOB_APP}/big.bin"),
        ),
    ];
    for (vars, dst) in stores {
        let out = with_env(&e, vars)
            .args([
                "cp",
                s(&e.path("big.bin")),
                &dst,
                "--json",
                "--chunk-size",
                "1MiB",
                "--max-inflight-bytes",
                "1MiB",
                "--verify",
                "read-back",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{dst}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("\"method\":\"put\""), "{dst}: {text}");
        assert!(
            text.contains("\"verified\":\"read-back:crc32c\""),
            "{dst}: {text}"
        );
    }
}
