//! The official SigV4 vectors of protocols.md §3.2, run through the same
//! request-building and signing path every call takes.

use std::time::{Duration, SystemTime};

use haul_core::{ByteRange, GetOptions, Key};
use http::Method;

use crate::config::S3Config;
use crate::core::{Call, Core};

/// 2013-05-24T00:00:00Z, the time of the S3 API examples.
fn t_2013() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_hours(380_376)
}

fn example_core(signed_payload: bool) -> Core {
    let mut cfg = S3Config::new(
        "examplebucket",
        "us-east-1",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    .with_endpoint("https://s3.amazonaws.com");
    cfg.signed_payload = signed_payload;
    crate::core::new(cfg).expect("core")
}

/// `call` signed as every call is, at [`t_2013`].
fn prepare(core: &Core, call: &Call<'_>) -> haul_core::Result<(String, http::HeaderMap)> {
    let creds = core.dialect.creds.cached();
    core.dialect
        .prepare(&core.endpoint, call, creds.as_ref(), t_2013())
}

#[test]
fn s3_get_object_example() {
    let core = example_core(true);
    let key = Key::new("test.txt").expect("key");
    let opts = GetOptions {
        range: Some(ByteRange::at(0, 10)),
        ..GetOptions::default()
    };
    let call = Core::get_call(&key, &opts).expect("call");
    let (url, headers) = prepare(&core, &call).expect("prepare");
    assert_eq!(url, "https://examplebucket.s3.amazonaws.com/test.txt");
    let auth = headers["authorization"].to_str().expect("ascii");
    assert_eq!(
        auth,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
         Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
    assert_eq!(headers["x-amz-date"], "20130524T000000Z");
    assert_eq!(
        headers["x-amz-content-sha256"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn unsigned_payload_by_default() {
    let core = example_core(false);
    let key = Key::new("test.txt").expect("key");
    let call = Core::get_call(&key, &GetOptions::default()).expect("call");
    let (_, headers) = prepare(&core, &call).expect("prepare");
    assert_eq!(headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
}

#[test]
fn s3_presigned_get_example() {
    let core = example_core(false);
    let url = core
        .dialect
        .presign(
            &core.endpoint,
            &Method::GET,
            "test.txt",
            Duration::from_hours(24),
            t_2013(),
        )
        .expect("presign");
    assert!(
        url.starts_with("https://examplebucket.s3.amazonaws.com/test.txt?"),
        "{url}"
    );
    for part in [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request",
        "X-Amz-Date=20130524T000000Z",
        "X-Amz-Expires=86400",
        "X-Amz-SignedHeaders=host",
        "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    ] {
        assert!(url.contains(part), "{part} missing from {url}");
    }
    assert!(
        core.dialect
            .presign(
                &core.endpoint,
                &Method::GET,
                "k",
                Duration::from_secs(604_801),
                t_2013()
            )
            .is_err()
    );
}

#[test]
fn odd_keys_are_encoded_once_and_signed_as_sent() {
    let core = example_core(false);
    let key = Key::new("dir with space/file+plus%2B#?.txt").expect("key");
    let call = Core::get_call(&key, &GetOptions::default()).expect("call");
    let (url, _) = prepare(&core, &call).expect("prepare");
    assert_eq!(
        url,
        "https://examplebucket.s3.amazonaws.com/dir%20with%20space/file%2Bplus%252B%23%3F.txt"
    );
    let long = Key::new(format!("{}/{}", "ü".repeat(300), "a".repeat(423))).expect("1024 bytes");
    assert_eq!(long.as_str().len(), 1024);
    let call = Core::get_call(&long, &GetOptions::default()).expect("call");
    assert!(prepare(&core, &call).is_ok());
}
