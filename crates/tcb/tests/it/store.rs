//! TcbStore against the emulator.

use bytes::Bytes;
use haul_core::{ByteRange, Error, Key, ObjectStore, ObjectStoreExt};
use haul_http::unrepeatable::is_outcome_unknown;
use haul_tcb::{TcbConfig, TcbStore};
use haul_testkit::tcb::{TCB_APPID, TCB_BUCKET, TCB_ENV, TcbOp, TcbServer};

use crate::{config, data, store};

/// One shared MiB, for payloads larger than memory.
static MIB: [u8; 1 << 20] = [0; 1 << 20];

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

#[tokio::test]
async fn two_step_upload_then_ranged_reads() {
    let server = TcbServer::start();
    let tcb = TcbStore::new(TcbConfig {
        bucket: None,
        ..config(&server)
    })
    .unwrap();
    let k = key("photos/a b+c.jpg");
    assert!(
        tcb.head(&k)
            .await
            .unwrap_err()
            .to_string()
            .contains("TCB_BUCKET"),
        "the bucket is unknown yet"
    );
    let body = data(100_000, 1);
    let out = tcb.put_bytes(&k, body.clone()).await.unwrap();
    let id = format!("cloud://{TCB_ENV}.{TCB_BUCKET}/photos/a b+c.jpg");
    assert_eq!(out.location.as_deref(), Some(id.as_str()));
    let f = server.file("photos/a b+c.jpg").unwrap();
    assert!(f.has_fileid, "x-cos-meta-fileid was sent");
    assert_eq!(f.data, body);
    assert_eq!(
        (
            server.requests(TcbOp::UploadFile),
            server.requests(TcbOp::CosPost)
        ),
        (1, 1)
    );

    assert_eq!(
        tcb.get_bytes(&k).await.unwrap(),
        body,
        "by path: the bucket was learned"
    );
    assert_eq!(tcb.get_bytes(&key(&id)).await.unwrap(), body, "by file id");
    assert_eq!(
        tcb.get_range(&k, ByteRange::at(5, 10)).await.unwrap(),
        body.slice(5..15)
    );
    assert_eq!(
        tcb.get_range(&k, ByteRange::Suffix(7)).await.unwrap(),
        body.slice(body.len() - 7..)
    );
    let head = tcb.head(&k).await.unwrap();
    assert_eq!(head.size, 100_000);
    assert!(head.etag.is_some());
    assert_eq!(
        server.requests(TcbOp::DownloadUrls),
        1,
        "the download URL is cached"
    );
    assert_eq!(server.tokens_issued(), 1);

    // Re-uploading a path replaces the file.
    tcb.put_bytes(&k, Bytes::from_static(b"new")).await.unwrap();
    assert_eq!(server.file_count(), 1);
    assert_eq!(tcb.get_bytes(&k).await.unwrap(), &b"new"[..]);
}

#[tokio::test]
async fn batch_deletes_report_each_file() {
    let server = TcbServer::start();
    let tcb = store(&server);
    let keys: Vec<Key> = (0..120).map(|i| key(&format!("d/{i:03}"))).collect();
    for k in keys.iter().take(60) {
        tcb.put_bytes(k, Bytes::from_static(b"x")).await.unwrap();
    }
    let results = tcb.delete_many(&keys).await.unwrap();
    assert_eq!(results.len(), 120);
    assert!(
        results.iter().all(Result::is_ok),
        "missing files count as deleted"
    );
    assert_eq!(server.requests(TcbOp::Delete), 3, "at most 50 a call");
    assert_eq!(server.file_count(), 0);
    assert!(matches!(
        tcb.head(&keys[0]).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        tcb.get_bytes(&keys[0]).await,
        Err(Error::NotFound { .. })
    ));
    tcb.delete(&keys[0]).await.unwrap();
}

#[tokio::test]
async fn the_emulator_refuses_more_than_fifty_a_batch_and_bad_tickets() {
    let server = TcbServer::start();
    let http = reqwest::Client::new();
    let tok: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!(
                "{}/cgi-bin/token?grant_type=client_credential&appid={TCB_APPID}&secret={}",
                server.api_url(),
                haul_testkit::tcb::TCB_APPSECRET
            ))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let t = tok["access_token"].as_str().unwrap();
    let ids: Vec<String> = (0..51)
        .map(|i| format!("cloud://{TCB_ENV}.{TCB_BUCKET}/{i}"))
        .collect();
    let v: serde_json::Value = serde_json::from_slice(
        &http
            .post(format!(
                "{}/tcb/batchdeletefile?access_token={t}",
                server.api_url()
            ))
            .body(serde_json::json!({"env": TCB_ENV, "fileid_list": ids}).to_string())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v["errcode"], 40097, "{v}");
    // A COS POST without a ticket is refused.
    let mut form = haul_http::form::MultipartForm::new();
    form.text("key", "x")
        .text("Signature", "forged")
        .text("x-cos-security-token", "t");
    let (body, ct) = form.finish(
        "file",
        "x",
        "application/octet-stream",
        &Bytes::from_static(b"1").into(),
    );
    let resp = http
        .post(format!("{}/{TCB_BUCKET}/x", cos_base(&server).await))
        .header("content-type", ct)
        .body(body.to_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(server.file_count(), 0);
}

/// The COS host, from an upload ticket asked for directly.
async fn cos_base(server: &TcbServer) -> String {
    let http = reqwest::Client::new();
    let tok: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!(
                "{}/cgi-bin/token?grant_type=client_credential&appid={TCB_APPID}&secret={}",
                server.api_url(),
                haul_testkit::tcb::TCB_APPSECRET
            ))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(
        &http
            .post(format!(
                "{}/tcb/uploadfile?access_token={}",
                server.api_url(),
                tok["access_token"].as_str().unwrap()
            ))
            .body(serde_json::json!({"env": TCB_ENV, "path": "y"}).to_string())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let url = v["url"].as_str().unwrap();
    url[..url.find(&format!("/{TCB_BUCKET}/")).unwrap()].to_owned()
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once() {
    let server = TcbServer::start();
    let tcb = store(&server);
    tcb.put_bytes(&key("a"), Bytes::from_static(b"1"))
        .await
        .unwrap();
    server.expire_tokens();
    tcb.put_bytes(&key("b"), Bytes::from_static(b"2"))
        .await
        .unwrap();
    assert_eq!(server.tokens_issued(), 2);
    assert_eq!(
        server.requests(TcbOp::UploadFile),
        3,
        "the refused step 1 was sent again"
    );
    assert_eq!(server.requests(TcbOp::CosPost), 2);
    // Refused again after the refresh: reported, not looped.
    server.fail_next(TcbOp::UploadFile, 2, 42001);
    let e = tcb
        .put_bytes(&key("c"), Bytes::from_static(b"3"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
    assert_eq!(server.requests(TcbOp::UploadFile), 5);
}

#[tokio::test]
async fn a_wrong_secret_is_one_line() {
    let server = TcbServer::start();
    let tcb = TcbStore::new(TcbConfig {
        secret: "wrong-secret".into(),
        ..config(&server)
    })
    .unwrap();
    let e = tcb
        .put_bytes(&key("a.txt"), Bytes::from_static(b"hi"))
        .await
        .unwrap_err();
    let line = e.to_string();
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
    assert!(
        line.starts_with("a.txt: not authenticated: invalid appsecret (errcode 40125)"),
        "{line}"
    );
    assert!(
        line.contains("TCB_APPSECRET") && line.contains(TCB_APPID),
        "{line}"
    );
    assert!(
        !line.contains('\n') && !line.contains("wrong-secret"),
        "{line}"
    );
    assert_eq!(server.requests(TcbOp::UploadFile), 0);
}

#[tokio::test]
async fn errcodes_and_lost_answers() {
    let server = TcbServer::start();
    let tcb = store(&server);
    server.fail_next(TcbOp::UploadFile, 1, -1);
    let e = tcb
        .put_bytes(&key("x"), Bytes::from_static(b"1"))
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "system error: {e:?}");
    server.fail_next(TcbOp::UploadFile, 1, 85088);
    let e = tcb
        .put_bytes(&key("x"), Bytes::from_static(b"1"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");

    // Step 1 stores nothing: its lost answer is retryable.
    server.lose_next(TcbOp::UploadFile, 1);
    let e = tcb
        .put_bytes(&key("x"), Bytes::from_static(b"1"))
        .await
        .unwrap_err();
    assert!(e.is_retryable() && !is_outcome_unknown(&e), "{e:?}");
    assert_eq!(server.file_count(), 0);

    // Step 2 stores the file: its lost answer is "sent, answer unknown".
    server.lose_next(TcbOp::CosPost, 1);
    let e = tcb
        .put_bytes(&key("lost.bin"), data(2_000, 5))
        .await
        .unwrap_err();
    assert!(is_outcome_unknown(&e) && !e.is_retryable(), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("lost.bin: OutcomeUnknown: sent to CloudBase, answer lost"),
        "{e}"
    );
    assert_eq!(server.file("lost.bin").unwrap().data, data(2_000, 5));
    assert_eq!(server.requests(TcbOp::CosPost), 1);

    // A COS refusal on step 2.
    server.fail_next(TcbOp::CosPost, 1, 403);
    let e = tcb
        .put_bytes(&key("y"), Bytes::from_static(b"1"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
}

#[tokio::test]
async fn limits_and_unsupported_operations() {
    let server = TcbServer::start();
    let tcb = store(&server);
    let caps = tcb.capabilities();
    assert_eq!(
        (
            caps.batch_delete_max,
            caps.list,
            caps.multipart,
            caps.idempotent_put
        ),
        (50, false, false, false)
    );
    assert!(caps.ranged_get);
    let e = tcb
        .put_bytes(&key("cloud://x.y/z"), Bytes::from_static(b"1"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(matches!(
        tcb.list_all("").await,
        Err(Error::NotSupported { .. })
    ));
    assert!(matches!(
        tcb.copy(&key("a"), &key("b"), haul_core::CopyOptions::default())
            .await,
        Err(Error::NotSupported { .. })
    ));
    // Over 5 GiB, made of one shared 1 MiB buffer: refused before sending.
    let huge: haul_core::Payload = (0..=5 * 1024).map(|_| Bytes::from_static(&MIB)).collect();
    let e = tcb
        .put(&key("huge.bin"), huge, haul_core::PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "huge.bin: 5121.0 MB exceeds CloudBase's 5120 MB upload limit"
    );
    assert_eq!(server.requests(TcbOp::Any), 0, "nothing was sent");
    assert_eq!(tcb.to_string(), format!("tcb://{TCB_ENV}"));
}
