//! NosStore against the emulator.

use bytes::Bytes;
use haul_core::{ByteRange, Error, GetOptions, Key, ObjectStore, ObjectStoreExt, PutOptions};
use haul_http::unrepeatable::is_outcome_unknown;
use haul_nos::{NosConfig, NosStore};
use haul_testkit::nos::{NOS_APP_KEY, NOS_APP_SECRET, NosOp, NosServer};

use crate::{config, data, store};

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

#[tokio::test]
async fn small_files_go_base64_and_read_back_by_url() {
    let server = NosServer::start();
    let nos = store(&server);
    let body = data(1_000, 1);
    let opts = PutOptions {
        content_type: Some("image/jpeg".into()),
        ..PutOptions::default()
    };
    let out = nos
        .put(&key("photos/a b.jpg"), body.clone().into(), opts)
        .await
        .unwrap();
    let url = out.location.expect("the URL is the location");
    assert!(url.starts_with(&server.download_host()), "{url}");
    assert_eq!((out.etag, out.version), (None, None));
    let f = server.file(&url).expect("stored");
    assert_eq!(
        (f.data.clone(), f.via, f.file_type.as_deref()),
        (body.clone(), NosOp::Upload, Some("image/jpeg"))
    );
    assert!(!f.https, "YUNXIN_NOS_HTTPS=false is sent as ishttps=false");

    // By URL, in any process; by key, in this one.
    let by_url = key(&url);
    assert_eq!(nos.get_bytes(&by_url).await.unwrap(), body);
    assert_eq!(nos.get_bytes(&key("photos/a b.jpg")).await.unwrap(), body);
    assert_eq!(
        nos.location(&key("photos/a b.jpg")).as_deref(),
        Some(url.as_str())
    );
    let head = nos.head(&by_url).await.unwrap();
    assert_eq!(head.size, 1_000);
    assert!(head.etag.is_some());
    let got = nos.get_range(&by_url, ByteRange::at(10, 20)).await.unwrap();
    assert_eq!(got, body.slice(10..30));
    let got = nos.get_range(&by_url, ByteRange::Suffix(5)).await.unwrap();
    assert_eq!(got, body.slice(995..));
    let past = GetOptions {
        range: Some(ByteRange::From(1_000)),
        ..GetOptions::default()
    };
    assert!(matches!(
        nos.get(&by_url, past).await,
        Err(Error::InvalidInput { .. })
    ));
}

#[tokio::test]
async fn large_files_go_as_multipart_forms_with_the_configured_parameters() {
    let server = NosServer::start();
    let cfg = NosConfig {
        expire_secs: Some(172_800),
        tag: Some("haul-test".into()),
        ..config(&server)
    };
    let nos = NosStore::new(cfg).unwrap();
    let body = data(3 << 20, 2);
    let out = nos
        .put_bytes(&key("dir/big \"one\".bin"), body.clone())
        .await
        .unwrap();
    let url = out.location.unwrap();
    let f = server.file(&url).unwrap();
    assert_eq!(f.via, NosOp::FileUpload);
    assert_eq!(f.data, body);
    assert_eq!(f.name.as_deref(), Some("big _one_.bin"));
    assert_eq!(
        (f.tag.as_deref(), f.expire_secs),
        (Some("haul-test"), Some(172_800))
    );
    assert_eq!(nos.get_bytes(&key(&url)).await.unwrap(), body);
    assert_eq!(server.requests(NosOp::Upload), 0);
}

#[tokio::test]
async fn limits_are_refused_before_sending() {
    let server = NosServer::start();
    let nos = store(&server);
    let e = nos
        .put_bytes(&key("photo.raw"), Bytes::from(vec![0u8; 20 << 20]))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "photo.raw: 20.0 MB exceeds NOS's 15 MB upload limit"
    );
    assert!(matches!(e, Error::InvalidInput { .. }) && !e.is_retryable());
    let e = nos
        .put_bytes(&key("empty"), Bytes::new())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("does not store empty files"), "{e}");
    assert_eq!(server.requests(NosOp::Any), 0, "nothing was sent");
    let bad = NosConfig {
        expire_secs: Some(3_600),
        ..config(&server)
    };
    let e = NosStore::new(bad).unwrap_err();
    assert!(e.to_string().contains("at least 86400"), "{e}");
    let caps = nos.capabilities();
    assert_eq!(caps.max_single_put_bytes, 15 << 20);
    assert!(!caps.multipart && !caps.list && !caps.server_side_copy && !caps.idempotent_put);
    // Exactly the limit goes through.
    nos.put_bytes(&key("max.bin"), Bytes::from(vec![7u8; 15 << 20]))
        .await
        .unwrap();
}

/// A signed request built by hand, to see what the emulator refuses.
async fn raw_upload(server: &NosServer, form: &[(&str, &str)], file: Bytes) -> serde_json::Value {
    let nonce = haul_nos::auth::nonce();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut f = haul_http::form::MultipartForm::new();
    for (n, v) in form {
        f.text(n, v);
    }
    let (body, ct) = f.finish("content", "x.bin", "application/octet-stream", &file.into());
    let resp = reqwest::Client::new()
        .post(format!("{}/msg/fileUpload.action", server.api_url()))
        .header("AppKey", NOS_APP_KEY)
        .header("Nonce", &nonce)
        .header("CurTime", &now)
        .header(
            "CheckSum",
            haul_nos::auth::checksum(NOS_APP_SECRET, &nonce, &now),
        )
        .header("content-type", ct)
        .body(body.to_bytes())
        .send()
        .await
        .unwrap();
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn the_emulator_enforces_the_limits_too() {
    let server = NosServer::start();
    let v = raw_upload(&server, &[], Bytes::from(vec![1u8; (15 << 20) + 1])).await;
    assert_eq!(v["code"], 405, "{v}");
    let v = raw_upload(&server, &[("expireSec", "3600")], Bytes::from_static(b"x")).await;
    assert_eq!(v["code"], 414, "{v}");
    let v = raw_upload(
        &server,
        &[("tag", &"t".repeat(33))],
        Bytes::from_static(b"x"),
    )
    .await;
    assert_eq!(v["code"], 405, "{v}");
    let v = raw_upload(&server, &[], Bytes::from_static(b"x")).await;
    assert_eq!(v["code"], 200, "{v}");
    assert_eq!(server.file_count(), 1);
}

#[tokio::test]
async fn a_wrong_secret_is_one_line_naming_the_variable() {
    let server = NosServer::start();
    let nos = NosStore::new(NosConfig {
        app_secret: "not-the-secret".into(),
        ..config(&server)
    })
    .unwrap();
    let e = nos
        .put_bytes(&key("a.txt"), Bytes::from_static(b"hi"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
    let line = e.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.starts_with("a.txt: not authenticated: CheckSum mismatch (code 302)"),
        "{line}"
    );
    assert!(
        line.contains("YUNXIN_APP_SECRET") && line.contains(NOS_APP_KEY),
        "{line}"
    );
    assert!(!line.contains("not-the-secret"), "{line}");
    assert_eq!(server.auth_failures(), 1);
    assert!(!format!("{nos:?}").contains("not-the-secret"));

    server.set_clock_skew(600);
    let e = store(&server)
        .put_bytes(&key("b"), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("clock"), "{e}");
}

#[tokio::test]
async fn yunxin_codes_are_mapped() {
    let server = NosServer::start();
    let nos = store(&server);
    let k = key("c.bin");
    server.fail_next(NosOp::Upload, 1, 416);
    let e = nos
        .put_bytes(&k, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::RateLimited { .. }) && e.is_retryable(),
        "{e:?}"
    );
    server.fail_next(NosOp::Upload, 1, 414);
    let e = nos
        .put_bytes(&k, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "c.bin: NOS refused the upload: injected fault (code 414)"
    );
    server.fail_next(NosOp::Upload, 1, 403);
    let e = nos
        .put_bytes(&k, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::PermissionDenied { .. }) && !e.is_retryable(),
        "{e:?}"
    );
    assert!(e.to_string().contains("(code 403)"), "{e}");
    assert_eq!(server.file_count(), 0);
    nos.put_bytes(&k, Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(server.file_count(), 1);
}

#[tokio::test]
async fn a_lost_answer_is_not_retryable() {
    let server = NosServer::start();
    let nos = store(&server);
    for (op, len) in [(NosOp::Upload, 10), (NosOp::FileUpload, 1 << 20)] {
        server.lose_next(op, 1);
        let before = server.file_count();
        let e = nos
            .put_bytes(&key("lost.bin"), data(len, 3))
            .await
            .unwrap_err();
        assert!(is_outcome_unknown(&e), "{e:?}");
        assert!(!e.is_retryable(), "request-level retry must leave it alone");
        let line = e.to_string();
        assert!(
            line.starts_with("lost.bin: OutcomeUnknown: sent to NOS, answer lost"),
            "{line}"
        );
        assert_eq!(server.file_count(), before + 1, "the upload was stored");
        assert_eq!(server.requests(op), 1, "and sent once");
    }
}

#[tokio::test]
async fn reads_and_refusals() {
    let server = NosServer::start();
    let nos = store(&server);
    let e = nos.get_bytes(&key("never/uploaded")).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("never/uploaded"), "{e}");
    let gone = key(&format!("{}/{NOS_APP_KEY}/nothing", server.download_host()));
    assert!(matches!(nos.head(&gone).await, Err(Error::NotFound { .. })));
    assert!(matches!(
        nos.get_bytes(&gone).await,
        Err(Error::NotFound { .. })
    ));
    let k = key("x");
    assert!(matches!(
        nos.delete(&k).await,
        Err(Error::NotSupported { .. })
    ));
    let r = nos.delete_many(&[k.clone(), key("y")]).await.unwrap();
    assert!(
        r.len() == 2
            && r.iter()
                .all(|r| matches!(r, Err(Error::NotSupported { .. })))
    );
    assert!(matches!(
        nos.list_all("").await,
        Err(Error::NotSupported { .. })
    ));
    assert!(matches!(
        nos.create_multipart(&k, PutOptions::default()).await,
        Err(Error::NotSupported { .. })
    ));
    assert_eq!(nos.to_string(), format!("nos://{NOS_APP_KEY}"));
}
