//! The official q-sign vectors of protocols.md §2.2, run through the same
//! request-building and signing path every call takes.

use http::Method;

use haul_http::send::Prepared;

use crate::config::{CosConfig, DEFAULT_MAX_OBJECT_SIZE};
use crate::core::{Call, Core};
use crate::sign::{KeyTime, sign};

/// `call` signed as every call is, for the window `kt`.
fn prepare(core: &Core, call: &Call<'_>, kt: KeyTime) -> haul_core::Result<Prepared> {
    core.dialect.prepare(&core.endpoint, call, kt)
}

/// cos-go-sdk-v5 `auth_test.go::TestNewAuthorization`.
#[test]
fn go_sdk_new_authorization() {
    let cfg = CosConfig::new(
        "testbucket-125000000",
        "ap-guangzhou",
        "QmFzZTY0IGlzIGEgZ2VuZXJp",
        "AKIDZfbOA78asKUYBcXFrJD0a1ICvR98JM",
    );
    let core = crate::core::new(cfg).expect("core");
    let call = Call::new(Method::PUT, Some("testfile2"))
        .header(
            "x-cos-content-sha1",
            "db8ac1c259eb89d4a131b253bacfca5f319d54f2",
        )
        .header("x-cos-stroage-class", "nearline");
    let kt = KeyTime {
        start: 1_480_932_292,
        end: 1_481_012_292,
    };
    let prepared = prepare(&core, &call, kt).expect("prepare");
    assert_eq!(
        prepared.url,
        "https://testbucket-125000000.cos.ap-guangzhou.myqcloud.com/testfile2"
    );
    assert_eq!(
        prepared.headers["host"],
        "testbucket-125000000.cos.ap-guangzhou.myqcloud.com"
    );
    assert_eq!(
        prepared.headers["authorization"].to_str().expect("ascii"),
        "q-sign-algorithm=sha1&q-ak=QmFzZTY0IGlzIGEgZ2VuZXJp&q-sign-time=1480932292;1481012292\
         &q-key-time=1480932292;1481012292&q-header-list=host;x-cos-content-sha1;x-cos-stroage-class\
         &q-url-param-list=&q-signature=ce4ac0ecbcdb30538b3fee0a97cc6389694ce53a"
    );
}

/// cos-go-sdk-v5 `object_test.go::TestObjectService_GetPresignedURL`: the
/// host is not signed, the SecretKey has literal asterisks.
#[test]
fn go_sdk_presigned_url_vectors() {
    let kt = KeyTime {
        start: 1_622_702_557,
        end: 1_622_706_157,
    };
    let key = "ZfbOA78asKUYBcXFrJD0a1I*******";
    let s = sign(key, kt, "PUT", "/test.jpg", &[], &[]);
    assert_eq!(s.signature, "820975b5a8eccce9455b94d4ebed14d66654bf3c");
    assert_eq!((s.header_list.as_str(), s.param_list.as_str()), ("", ""));
    let s = sign(key, kt, "PUT", "/test.jpg", &[("test", "params")], &[]);
    assert_eq!(s.signature, "7757e84ed5f8953eafc30afcd2a5d1ad68e00d67");
    assert_eq!(s.param_list, "test");
    let q = s.query("AKIDEXAMPLE");
    assert!(
        q.contains("q-sign-time=1622702557%3B1622706157&q-key-time=1622702557%3B1622706157"),
        "{q}"
    );
    assert!(q.ends_with("q-signature=7757e84ed5f8953eafc30afcd2a5d1ad68e00d67"));
}

#[test]
fn path_style_signs_the_bucket_in_the_path_and_the_port_in_the_host() {
    let cfg = CosConfig::new("b-1250000000", "ap-guangzhou", "ID", "KEY")
        .with_endpoint("http://127.0.0.1:9000");
    let core = crate::core::new(cfg).expect("core");
    let call = Call::new(Method::GET, Some("测试 a+b"))
        .query("partNumber", "2")
        .query("uploadId", "u 1");
    let kt = KeyTime { start: 1, end: 2 };
    let prepared = prepare(&core, &call, kt).expect("prepare");
    assert_eq!(
        prepared.url,
        "http://127.0.0.1:9000/b-1250000000/%E6%B5%8B%E8%AF%95%20a%2Bb?partNumber=2&uploadId=u%201"
    );
    let auth = prepared.headers["authorization"].to_str().expect("ascii");
    let want = sign(
        "KEY",
        kt,
        "get",
        "/b-1250000000/测试 a+b",
        &[("partnumber", "2"), ("uploadid", "u 1")],
        &[("host", "127.0.0.1:9000")],
    );
    assert!(
        auth.contains("q-url-param-list=partnumber;uploadid"),
        "{auth}"
    );
    assert!(
        auth.ends_with(&format!("q-signature={}", want.signature)),
        "{auth}"
    );
    assert_eq!(prepared.headers["host"], "127.0.0.1:9000");
}

#[test]
fn security_token_is_sent_and_signed() {
    let mut cfg = CosConfig::new("b-1250000000", "ap-guangzhou", "ID", "KEY");
    cfg.security_token = Some("TOKEN".into());
    let core = crate::core::new(cfg).expect("core");
    let prepared = prepare(
        &core,
        &Call::new(Method::HEAD, Some("k")),
        KeyTime { start: 1, end: 2 },
    )
    .expect("prepare");
    assert_eq!(prepared.headers["x-cos-security-token"], "TOKEN");
    let auth = prepared.headers["authorization"].to_str().expect("ascii");
    assert!(
        auth.contains("q-header-list=host;x-cos-security-token"),
        "{auth}"
    );
    assert!(
        crate::core::capabilities(&core.dialect.cfg).max_object_size_bytes
            == DEFAULT_MAX_OBJECT_SIZE
    );
}
