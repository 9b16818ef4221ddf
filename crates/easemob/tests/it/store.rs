//! EasemobStore against the emulator.

use bytes::Bytes;
use haul_core::{ByteRange, Error, Key, ObjectStore, ObjectStoreExt, PutOptions};
use haul_easemob::{EasemobConfig, EasemobStore, FileRef};
use haul_http::unrepeatable::is_outcome_unknown;
use haul_testkit::easemob::{EASEMOB_CLIENT_ID, EasemobOp, EasemobServer};

use crate::{config, data, store};

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

#[tokio::test]
async fn restricted_upload_reads_back_by_uuid_and_share_secret() {
    let server = EasemobServer::start();
    let em = store(&server);
    let body = data(50_000, 1);
    let out = em
        .put_bytes(&key("chat/photo.jpg"), body.clone())
        .await
        .unwrap();
    let loc = out.location.expect("uuid?share-secret=...");
    let f = FileRef::parse(&loc).unwrap();
    let stored = server.file(&f.uuid).expect("stored");
    assert!(stored.restricted);
    assert_eq!(
        f.share_secret.as_deref(),
        Some(stored.share_secret.as_str())
    );
    assert_eq!(
        (stored.data.clone(), stored.name.as_deref()),
        (body.clone(), Some("photo.jpg"))
    );

    assert_eq!(em.get_bytes(&key(&loc)).await.unwrap(), body);
    assert_eq!(
        em.get_bytes(&key("chat/photo.jpg")).await.unwrap(),
        body,
        "by key in this process"
    );
    assert_eq!(
        em.location(&key("chat/photo.jpg")).as_deref(),
        Some(loc.as_str())
    );
    let url = format!("{}/haulorg/haulapp/chatfiles/{loc}", server.host());
    assert_eq!(
        em.get_bytes(&key(&url)).await.unwrap(),
        body,
        "a chatfiles URL names it too"
    );
    assert_eq!(em.head(&key(&loc)).await.unwrap().size, 50_000);
    // No documented ranges: a range is cut from the whole answer.
    assert!(!em.capabilities().ranged_get);
    assert_eq!(
        em.get_range(&key(&loc), ByteRange::at(100, 10))
            .await
            .unwrap(),
        body.slice(100..110)
    );

    // Without the share secret the file is refused.
    let e = em.get_bytes(&key(&f.uuid)).await.unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
    assert_eq!(server.tokens_issued(), 1, "one token, cached");
}

#[tokio::test]
async fn thumbnails_and_unrestricted_uploads() {
    let server = EasemobServer::start();
    let em = EasemobStore::new(EasemobConfig {
        restrict: false,
        ..config(&server)
    })
    .unwrap();
    let small = data(2_000, 2);
    let loc = em
        .put_bytes(&key("s.png"), small.clone())
        .await
        .unwrap()
        .location
        .unwrap();
    let f = FileRef::parse(&loc).unwrap();
    assert!(!server.file(&f.uuid).unwrap().restricted);
    assert_eq!(
        em.thumbnail(&key(&loc)).await.unwrap(),
        small,
        "small images are their own thumbnail"
    );
    let big = em
        .put_bytes(&key("b.png"), data(100_000, 3))
        .await
        .unwrap()
        .location
        .unwrap();
    let thumb = em.thumbnail(&key(&big)).await.unwrap();
    assert!(thumb.len() < 1_000, "a thumbnail, not the file");
    let f = FileRef::parse(&big).unwrap();
    assert_eq!(
        em.get_bytes(&key(&f.uuid)).await.unwrap().len(),
        100_000,
        "no secret needed"
    );
}

#[tokio::test]
async fn limits_are_refused_before_sending() {
    let server = EasemobServer::start();
    let em = store(&server);
    let e = em
        .put_bytes(&key("video.mp4"), Bytes::from(vec![0u8; 12 << 20]))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "video.mp4: 12.0 MB exceeds Easemob's 10 MB upload limit"
    );
    assert_eq!(
        server.requests(EasemobOp::Any),
        0,
        "not even a token was asked for"
    );
    let caps = em.capabilities();
    assert_eq!(caps.max_single_put_bytes, 10 << 20);
    assert!(!caps.idempotent_put && !caps.list && !caps.multipart);
    em.put_bytes(&key("max"), Bytes::from(vec![1u8; 10 << 20]))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_emulator_refuses_over_ten_megabytes() {
    let server = EasemobServer::start();
    let (id, secret) = (
        EASEMOB_CLIENT_ID,
        haul_testkit::easemob::EASEMOB_CLIENT_SECRET,
    );
    let http = reqwest::Client::new();
    let tok: serde_json::Value = serde_json::from_slice(
        &http
            .post(format!("{}/haulorg/haulapp/token", server.host()))
            .body(serde_json::json!({"grant_type":"client_credentials","client_id":id,"client_secret":secret}).to_string())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let form = haul_http::form::MultipartForm::new();
    let (body, ct) = form.finish(
        "file",
        "x",
        "application/octet-stream",
        &Bytes::from(vec![0u8; (10 << 20) + 1]).into(),
    );
    let resp = http
        .post(format!("{}/haulorg/haulapp/chatfiles", server.host()))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .header("content-type", ct)
        .body(body.to_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(server.file_count(), 0);
}

#[tokio::test]
async fn wrong_credentials_are_one_line() {
    let server = EasemobServer::start();
    let em = EasemobStore::new(EasemobConfig {
        client_secret: "wrong-secret".into(),
        ..config(&server)
    })
    .unwrap();
    let e = em
        .put_bytes(&key("a.txt"), Bytes::from_static(b"hi"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
    let line = e.to_string();
    assert!(
        !line.contains('\n') && !line.contains("wrong-secret"),
        "{line}"
    );
    assert!(
        line.starts_with("a.txt: not authenticated: invalid_grant"),
        "{line}"
    );
    assert!(
        line.contains("EASEMOB_CLIENT_SECRET") && line.contains(EASEMOB_CLIENT_ID),
        "{line}"
    );
    assert_eq!(server.requests(EasemobOp::Upload), 0);
}

#[tokio::test]
async fn an_expired_token_is_fetched_again_once() {
    let server = EasemobServer::start();
    let em = store(&server);
    em.put_bytes(&key("a"), Bytes::from_static(b"1"))
        .await
        .unwrap();
    server.expire_tokens();
    let loc = em
        .put_bytes(&key("b"), Bytes::from_static(b"2"))
        .await
        .unwrap()
        .location
        .unwrap();
    assert_eq!(server.tokens_issued(), 2);
    assert_eq!(
        server.requests(EasemobOp::Upload),
        3,
        "the refused upload was sent again"
    );
    assert_eq!(server.file_count(), 2, "and stored once");
    server.expire_tokens();
    assert_eq!(em.get_bytes(&key(&loc)).await.unwrap(), &b"2"[..]);
    assert_eq!(server.tokens_issued(), 3);
}

#[tokio::test]
async fn rate_limits_and_lost_answers() {
    let server = EasemobServer::start();
    let em = store(&server);
    server.fail_next(EasemobOp::Upload, 1, 429);
    let e = em
        .put_bytes(&key("r"), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::RateLimited { .. }) && e.is_retryable(),
        "{e:?}"
    );
    assert_eq!(server.file_count(), 0);

    server.lose_next(1);
    let e = em
        .put_bytes(&key("lost.bin"), data(1_000, 4))
        .await
        .unwrap_err();
    assert!(is_outcome_unknown(&e) && !e.is_retryable(), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("lost.bin: OutcomeUnknown: sent to Easemob, answer lost"),
        "{e}"
    );
    assert_eq!(server.file_count(), 1, "stored, once");
    assert_eq!(server.requests(EasemobOp::Upload), 2);
}

#[tokio::test]
async fn unknown_files_and_unsupported_operations() {
    let server = EasemobServer::start();
    let em = store(&server);
    let e = em.get_bytes(&key("never/uploaded.jpg")).await.unwrap_err();
    assert!(
        matches!(e, Error::NotFound { .. }) && e.to_string().contains("never/uploaded.jpg"),
        "{e:?}"
    );
    let e = em
        .head(&key("00000000-0000-0000-0000-000000000000"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let k = key("x");
    assert!(matches!(
        em.delete(&k).await,
        Err(Error::NotSupported { .. })
    ));
    assert!(matches!(
        em.list_all("").await,
        Err(Error::NotSupported { .. })
    ));
    assert!(matches!(
        em.create_multipart(&k, PutOptions::default()).await,
        Err(Error::NotSupported { .. })
    ));
    assert_eq!(em.to_string(), "easemob://haulorg#haulapp");
}
