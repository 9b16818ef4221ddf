//! Attributes through Kodo's fields: what stat (`head`) and the download
//! (`get`) report after a form upload, a v2 multipart upload and rs/copy.

use bytes::Bytes;
use haul_core::{Attributes, CopyOptions, GetOptions, Key, ObjectStore, PartNumber, PutOptions};
use haul_testkit::qiniu::{QINIU_BUCKET, QiniuServer};

use crate::store;

fn key(k: &str) -> Key {
    Key::new(k).expect("key")
}

fn want() -> Attributes {
    Attributes {
        content_type: Some("text/markdown".into()),
        content_encoding: Some("x-haul-test".into()),
        cache_control: Some("private, max-age=5".into()),
        content_disposition: Some("attachment; filename=\"notes été.md\"".into()),
        metadata: [
            ("author".to_owned(), "Zoë Q".to_owned()),
            ("mtime".to_owned(), "1700000000.25".to_owned()),
        ]
        .into(),
    }
}

/// Stat reports the mime type and metadata, not the three other headers;
/// the download reports all five.
async fn check(s: &dyn ObjectStore, k: &Key, what: &str) {
    let want = want();
    let head = s.head(k).await.expect("head").attrs;
    assert_eq!(
        head,
        Attributes {
            content_type: want.content_type.clone(),
            metadata: want.metadata.clone(),
            ..Attributes::default()
        },
        "{what}: head"
    );
    let got = s.get(k, GetOptions::default()).await.expect("get");
    assert_eq!(got.meta.attrs, want, "{what}: get");
}

#[tokio::test]
async fn form_multipart_and_copy_keep_attributes() {
    let server = QiniuServer::start();
    let s = store(&server, QINIU_BUCKET);
    let opts = PutOptions::with_attributes(&want());

    let small = key("notes/small.md");
    s.put(&small, Bytes::from_static(b"# hi").into(), opts.clone())
        .await
        .expect("put");
    check(&s, &small, "form upload").await;
    assert_eq!(
        server
            .object_info(QINIU_BUCKET, "notes/small.md")
            .expect("stored")
            .1,
        "text/markdown",
        "the mime type is Kodo's own"
    );

    let big = key("notes/big.md");
    let id = s.create_multipart(&big, opts).await.expect("create");
    let mut parts = Vec::new();
    for (n, len) in [(1, 1 << 20), (2, 10)] {
        let body = Bytes::from(vec![b'x'; len]);
        let n = PartNumber::new(n).expect("part");
        parts.push(
            s.upload_part(&big, &id, n, body.into())
                .await
                .expect("part"),
        );
    }
    s.complete_multipart(&big, &id, &parts)
        .await
        .expect("complete");
    check(&s, &big, "multipart").await;

    let copied = key("copies/small.md");
    s.copy(&small, &copied, CopyOptions::default())
        .await
        .expect("copy");
    check(&s, &copied, "rs/copy").await;
}
