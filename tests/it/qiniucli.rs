//! The real `haul` binary against the Qiniu Kodo emulator: `qiniu://`
//! locations and a `type = "qiniu"` remote for a private bucket.

use std::process::Command;

use haul::testkit::qiniu::{QINIU_BUCKET, QINIU_PRIVATE_BUCKET, QiniuServer};

use crate::cli::{Env, s, summary, write};

pub(crate) struct KodoEnv {
    pub(crate) env: Env,
    kodo: QiniuServer,
}

impl KodoEnv {
    pub(crate) fn new() -> Self {
        let env = Env::new();
        let kodo = QiniuServer::start();
        let vars: std::collections::HashMap<_, _> =
            kodo.env(QINIU_PRIVATE_BUCKET).into_iter().collect();
        let config = format!(
            "[remotes.kodo]\ntype = \"qiniu\"\naccess_key_id = \"{}\"\nsecret_access_key_env = \"KODO_SK\"\nup_host = \"{}\"\nrs_host = \"{}\"\nrsf_host = \"{}\"\ndownload_domain = \"{}\"\nprivate = true\n",
            vars["QINIU_ACCESS_KEY"],
            vars["QINIU_UP_HOST"],
            vars["QINIU_RS_HOST"],
            vars["QINIU_RSF_HOST"],
            vars["QINIU_DOWNLOAD_DOMAIN"],
        );
        std::fs::write(env.path("config.toml"), config).unwrap();
        Self { env, kodo }
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = self.env.cmd();
        for (k, v) in self.kodo.env(QINIU_BUCKET) {
            c.env(k, v);
        }
        c.env("KODO_SK", haul::testkit::qiniu::QINIU_SECRET_KEY);
        c
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        crate::cli::succeeded(args, &self.cmd().args(args).output().unwrap())
    }
}

fn body(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 5) as u8)
        .collect()
}

#[test]
fn cp_sync_checksum_mv_rm_ls_stat_with_qiniu() {
    let e = KodoEnv::new();
    let src = e.env.path("src");
    write(&src.join("big.bin"), &body(3_500_000));
    write(&src.join("d/a b+c.txt"), b"odd");
    let bucket = format!("qiniu://{QINIU_BUCKET}/up/");
    let up = summary(&e.ok(&[
        "cp",
        "-r",
        s(&src),
        &bucket,
        "--json",
        "--chunk-size",
        "1MiB",
        "--slice-size",
        "1MiB",
    ]));
    assert_eq!(up["files_done"], 2, "{up}");
    let again = summary(&e.ok(&["sync", "--checksum", s(&src), &bucket, "--json"]));
    assert_eq!(again["bytes_transferred"], 0, "{again}");
    assert_eq!(again["files_skipped"], 2, "{again}");
    let stat = e.ok(&[
        "stat",
        &format!("qiniu://{QINIU_BUCKET}/up/big.bin"),
        "--json",
    ]);
    assert!(stat.contains("\"size\":3500000"), "{stat}");
    let ls = e.ok(&["ls", "-r", &bucket]);
    assert!(ls.contains("up/d/a b+c.txt"), "{ls}");
    // Within the bucket: rs/copy server-side, then the source deleted.
    let mv = e.ok(&[
        "mv",
        "-r",
        &bucket,
        &format!("qiniu://{QINIU_BUCKET}/moved/"),
        "--json",
    ]);
    assert!(mv.contains("\"method\":\"copy\""), "{mv}");
    assert!(e.ok(&["ls", "-r", &bucket]).is_empty());
    // Private bucket through the remote: upload, then a signed ranged download.
    e.ok(&[
        "cp",
        "-r",
        &format!("qiniu://{QINIU_BUCKET}/moved/"),
        &format!("kodo:{QINIU_PRIVATE_BUCKET}/p/"),
        "-q",
    ]);
    e.ok(&[
        "cp",
        "-r",
        &format!("kodo:{QINIU_PRIVATE_BUCKET}/p/"),
        s(&e.env.path("down")),
        "-q",
    ]);
    assert_eq!(
        std::fs::read(e.env.path("down/big.bin")).unwrap(),
        body(3_500_000)
    );
    let rm = summary(&e.ok(&[
        "rm",
        "-r",
        &format!("kodo:{QINIU_PRIVATE_BUCKET}/p/"),
        "--json",
    ]));
    assert_eq!(rm["files_done"], 2, "{rm}");
    assert!(e.kodo.keys(QINIU_PRIVATE_BUCKET).is_empty());
}

#[test]
fn wrong_qiniu_secret_is_one_line() {
    let e = KodoEnv::new();
    write(&e.env.path("f"), b"x");
    let out = e
        .cmd()
        .args([
            "cp",
            s(&e.env.path("f")),
            &format!("qiniu://{QINIU_BUCKET}/f"),
        ])
        .env("QINIU_SECRET_KEY", "not-the-secret")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("QINIU_SECRET_KEY"), "{err}");
    assert!(!err.contains("not-the-secret"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
}
