//! The official Qiniu Python SDK against the emulator: a client nobody here
//! wrote must find every call accepted, its signatures verified.
//!
//! Needs a Python with the `qiniu` package: `HAUL_QINIU_SDK_PYTHON`, else
//! `$CARGO_TARGET_DIR/../venv-qiniu/bin/python`, else
//! `$HOME/.cache/venv-qiniu/bin/python`. Make one with
//! `python3 -m venv ~/.cache/venv-qiniu && ~/.cache/venv-qiniu/bin/pip install qiniu`,
//! then `cargo test -p haul-qiniu -- --ignored sdk`.

use std::path::PathBuf;

use haul_core::{Key, ObjectStore, ObjectStoreExt};
use haul_qiniu::qetag::qetag;
use haul_testkit::qiniu::{QINIU_BUCKET, QINIU_PRIVATE_BUCKET, QiniuOp, QiniuServer};

use crate::store;

/// The interpreter to run the SDK script with.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("HAUL_QINIU_SDK_PYTHON") {
        return p.into();
    }
    let venv = |base: PathBuf| base.join("venv-qiniu").join("bin").join("python");
    let candidates = [
        std::env::var_os("CARGO_TARGET_DIR").map(|t| venv(PathBuf::from(t).join(".."))),
        std::env::var_os("HOME").map(|h| venv(PathBuf::from(h).join(".cache"))),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "no Python with the qiniu SDK: set HAUL_QINIU_SDK_PYTHON, or run \
             python3 -m venv ~/.cache/venv-qiniu && ~/.cache/venv-qiniu/bin/pip install qiniu"
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs qiniu sdk"]
async fn official_python_sdk_against_the_emulator() {
    let python = python();
    let server = QiniuServer::start();
    let s = store(&server, QINIU_BUCKET);
    s.put_bytes(
        &Key::new("from-haul/hello.txt").unwrap(),
        "hello from haul".into(),
    )
    .await
    .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/sdk_check.py");
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(script)
        .env("HAUL_SDK_BUCKET", QINIU_BUCKET)
        .env("HAUL_SDK_PRIVATE_BUCKET", QINIU_PRIVATE_BUCKET)
        .env("HAUL_SDK_IO", server.download_url(QINIU_BUCKET).unwrap())
        .env(
            "HAUL_SDK_PRIVATE_IO",
            server.download_url(QINIU_PRIVATE_BUCKET).unwrap(),
        )
        .env_remove("DISABLE_QINIU_TIMESTAMP_SIGNATURE");
    for (k, v) in server.env(QINIU_BUCKET) {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the SDK script failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    // The only refusals were the ones the script asked for (an unsigned
    // GET of a private object); every signed call was verified.
    assert_eq!(server.auth_failures(), 1, "{stdout}");
    // Every protocol was used: form, resumable v1 and v2, rs, rsf.
    for op in [
        QiniuOp::FormUpload,
        QiniuOp::MakeBlock,
        QiniuOp::MakeFile,
        QiniuOp::InitParts,
        QiniuOp::UploadPart,
        QiniuOp::CompleteParts,
        QiniuOp::Stat,
        QiniuOp::Copy,
        QiniuOp::Move,
        QiniuOp::Delete,
        QiniuOp::Batch,
        QiniuOp::List,
        QiniuOp::Download,
    ] {
        assert!(server.requests(op) > 0, "the SDK never sent {op:?}");
    }

    // And what the SDK uploaded reads back through haul.
    let big = s
        .get_bytes(&Key::new("sdk/big-2m.bin").unwrap())
        .await
        .unwrap();
    assert_eq!(big.len(), 9 * (1 << 20) + 123);
    let head = s.head(&Key::new("sdk/big-4m.bin").unwrap()).await.unwrap();
    assert_eq!(
        head.etag.as_deref(),
        Some(qetag(&big).as_str()),
        "v1 hash of the same bytes"
    );
    let private = store(&server, QINIU_PRIVATE_BUCKET);
    let secret = private
        .get_bytes(&Key::new("sdk/secret file.bin").unwrap())
        .await
        .unwrap();
    assert_eq!(secret.len(), 100_000);
}
