//! The official Python SDK (cos-python-sdk-v5) against the emulator: the
//! emulator is faithful when a client nobody here wrote works with it.
//!
//! Needs a Python with the SDK: `HAUL_COS_SDK_PYTHON`, else
//! `$CARGO_TARGET_DIR/../venv-cos/bin/python`, else
//! `$HOME/.cache/venv-cos/bin/python`. Make one with
//! `python3 -m venv ~/.cache/venv-cos && ~/.cache/venv-cos/bin/pip install cos-python-sdk-v5`.

use std::path::PathBuf;
use std::process::Command;

use haul_testkit::CosEmulator;

/// The interpreter to run the SDK script with.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("HAUL_COS_SDK_PYTHON") {
        return p.into();
    }
    let venv = |base: PathBuf| base.join("venv-cos").join("bin").join("python");
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        let p = venv(PathBuf::from(target).join(".."));
        if p.exists() {
            return p;
        }
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    venv(home.join(".cache"))
}

#[test]
#[ignore = "needs cos-python-sdk-v5"]
fn official_python_sdk_against_the_emulator() {
    let emu = CosEmulator::start();
    let (copy_bucket, copy_region) = ("haulsrc-1250000000", "ap-shanghai");
    emu.create_bucket(copy_bucket, copy_region);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/cos_sdk_test.py");
    let python = python();
    let out = Command::new(&python)
        .arg(script)
        .env("HAUL_COS_PORT", emu.addr().port().to_string())
        .env("HAUL_COS_SECRET_ID", emu.secret_id())
        .env("HAUL_COS_SECRET_KEY", emu.secret_key())
        .env("HAUL_COS_BUCKET", emu.bucket())
        .env("HAUL_COS_REGION", emu.region())
        .env("HAUL_COS_COPY_BUCKET", copy_bucket)
        .env("HAUL_COS_COPY_REGION", copy_region)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the SDK script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    println!("{stdout}");
    let stats = emu.stats();
    // One refusal on purpose (the wrong SecretKey); every other request's
    // signature was recomputed and matched.
    assert_eq!(stats.auth_failures, 1, "{stats:?}\n{stdout}\n{stderr}");
    assert!(stats.verified >= 25, "{stats:?}");
    assert_eq!(
        stats.verified + stats.auth_failures,
        stats.requests,
        "{stats:?}"
    );
}
