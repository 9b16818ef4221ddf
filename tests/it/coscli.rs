//! The real `haul` binary against the COS emulator: `cos://` locations and a
//! `type = "cos"` remote.

use std::process::Command;

use haul::testkit::CosEmulator;

use crate::cli::{Env, s, summary, write};

pub(crate) struct CosEnv {
    pub(crate) env: Env,
    pub(crate) cos: CosEmulator,
}

impl CosEnv {
    pub(crate) fn new() -> Self {
        let env = Env::new();
        let cos = CosEmulator::start();
        let config = format!(
            "[remotes.tc]\ntype = \"cos\"\nendpoint = \"{}\"\nregion = \"{}\"\nsecret_id = \"{}\"\nsecret_key_env = \"TC_KEY\"\n",
            cos.endpoint(),
            cos.region(),
            cos.secret_id()
        );
        std::fs::write(env.path("config.toml"), config).unwrap();
        Self { env, cos }
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = self.env.cmd();
        c.env("COS_SECRET_ID", self.cos.secret_id())
            .env("COS_SECRET_KEY", self.cos.secret_key())
            .env("COS_REGION", self.cos.region())
            .env("COS_ENDPOINT", self.cos.endpoint())
            .env("TC_KEY", self.cos.secret_key())
            .env_remove("COS_SECURITY_TOKEN");
        c
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        crate::cli::succeeded(args, &self.cmd().args(args).output().unwrap())
    }
}

fn body(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect()
}

#[test]
fn cp_sync_ls_rm_with_cos_urls_and_a_cos_remote() {
    let e = CosEnv::new();
    let b = e.cos.bucket();
    let src = e.env.path("src");
    write(&src.join("big.bin"), &body(5_500_000));
    write(&src.join("d/a b+c.txt"), b"odd");
    let up = summary(&e.ok(&[
        "cp",
        "-r",
        s(&src),
        &format!("cos://{b}/up/"),
        "--json",
        "--chunk-size",
        "1MiB",
        "--slice-size",
        "1MiB",
    ]));
    assert_eq!(up["files_done"], 2, "{up}");
    let again = summary(&e.ok(&["sync", s(&src), &format!("cos://{b}/up/"), "--json"]));
    assert_eq!(again["bytes_transferred"], 0, "{again}");
    let ls = e.ok(&["ls", "-r", &format!("tc:{b}/up/")]);
    assert!(
        ls.contains("up/big.bin") && ls.contains("up/d/a b+c.txt"),
        "{ls}"
    );
    // Within one bucket the copy is server-side (part copy above copy_slice_size).
    let out = e.ok(&[
        "cp",
        "-r",
        &format!("tc:{b}/up/"),
        &format!("tc:{b}/copy/"),
        "--json",
        "--copy-slice-size",
        "1MiB",
        "--copy-chunk-size",
        "1MiB",
    ]);
    assert!(out.contains("\"method\":\"part-copy\""), "{out}");
    e.ok(&[
        "cp",
        "-r",
        &format!("cos://{b}/copy/"),
        s(&e.env.path("down")),
        "-q",
    ]);
    assert_eq!(
        std::fs::read(e.env.path("down/big.bin")).unwrap(),
        body(5_500_000)
    );
    let rm = summary(&e.ok(&["rm", "-r", &format!("cos://{b}/copy/"), "--json"]));
    assert_eq!(rm["files_done"], 2);
    assert!(e.ok(&["ls", "-r", &format!("cos://{b}/copy/")]).is_empty());
}

#[test]
fn wrong_cos_secret_says_the_signature_was_refused() {
    let e = CosEnv::new();
    write(&e.env.path("f"), b"x");
    let out = e
        .cmd()
        .args([
            "cp",
            s(&e.env.path("f")),
            &format!("cos://{}/f", e.cos.bucket()),
        ])
        .env("COS_SECRET_KEY", "not-the-secret")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("signature"), "{err}");
    assert!(err.contains("COS_SECRET_KEY"), "{err}");
    assert!(!err.contains("not-the-secret"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
}

#[test]
fn storage_class_sse_cos_and_acl_are_signed_and_accepted() {
    let e = CosEnv::new();
    let b = e.cos.bucket();
    let src = e.env.path("f.bin");
    write(&src, &body(6_000_000));
    // The emulator checks q-sign over every x-cos-* header: these are sent
    // and signed, on the single put and on the multipart initiation.
    for (dst, split) in [("one.bin", "64MiB"), ("parts.bin", "5MiB")] {
        let url = format!("cos://{b}/{dst}");
        e.ok(&[
            "cp",
            s(&src),
            &url,
            "--storage-class",
            "STANDARD_IA",
            "--sse",
            "AES256",
            "--acl",
            "private",
            "--slice-size",
            split,
            "--chunk-size",
            "5MiB",
            "-q",
        ]);
        assert_eq!(e.cos.object(b, dst).unwrap().as_ref(), body(6_000_000));
    }
    let out = e
        .cmd()
        .args([
            "cp",
            s(&src),
            &format!("cos://{b}/k.bin"),
            "--sse",
            "aws:kms",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
