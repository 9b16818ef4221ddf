//! The recorded modification time (`metadata["mtime"]`): `put` and both
//! multipart layouts give it to the file; nothing else is kept.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use haul_core::{Attributes, ObjectStore, PartNumber, PutOptions};

use crate::{key, store};

fn recorded(secs: u64, nanos: u32) -> (SystemTime, PutOptions) {
    let t = UNIX_EPOCH + Duration::new(secs, nanos);
    let mut attrs = Attributes {
        content_type: Some("text/plain".into()),
        cache_control: Some("no-cache".into()),
        ..Attributes::default()
    };
    attrs.metadata.insert("origin".into(), "elsewhere".into());
    attrs.set_mtime(t);
    (t, PutOptions::with_attributes(&attrs))
}

fn file_mtime(path: &std::path::Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[tokio::test]
async fn put_gives_the_file_its_recorded_mtime() {
    let (_dir, s) = store();
    assert!(!s.capabilities().metadata);
    let (t, opts) = recorded(1_600_000_000, 123_456_789);
    let k = key("docs/old.txt");
    let out = s
        .put(&k, Bytes::from_static(b"old").into(), opts)
        .await
        .unwrap();
    assert_eq!(file_mtime(&s.path_of(&k).unwrap()), t);
    let head = s.head(&k).await.unwrap();
    assert_eq!(head.last_modified, Some(t));
    assert_eq!(head.etag, out.etag, "put and head agree on the ETag");
    assert!(
        head.attrs.is_empty(),
        "nothing else is kept: {:?}",
        head.attrs
    );

    // Without a recorded time the file is as new as the write.
    let before = SystemTime::now() - Duration::from_secs(5);
    s.put(&k, Bytes::from_static(b"new").into(), PutOptions::default())
        .await
        .unwrap();
    assert!(file_mtime(&s.path_of(&k).unwrap()) > before);
}

#[tokio::test]
async fn an_unparsable_mtime_is_ignored() {
    let (_dir, s) = store();
    let mut opts = PutOptions::default();
    opts.metadata
        .insert(Attributes::MTIME.into(), "yesterday".into());
    let before = SystemTime::now() - Duration::from_secs(5);
    let k = key("a");
    s.put(&k, Bytes::from_static(b"x").into(), opts)
        .await
        .unwrap();
    assert!(file_mtime(&s.path_of(&k).unwrap()) > before);
}

#[tokio::test]
async fn multipart_gives_the_file_the_mtime_given_at_creation() {
    let (_dir, s) = store();
    for (name, hint) in [("files", None), ("placed", Some(4))] {
        let (t, mut opts) = recorded(1_500_000_000, 7);
        opts.part_size_hint = hint;
        let k = key(&format!("mp/{name}.bin"));
        let id = s.create_multipart(&k, opts).await.unwrap();
        let mut parts = Vec::new();
        for (n, body) in [(1, &b"abcd"[..]), (2, &b"ef"[..])] {
            let n = PartNumber::new(n).unwrap();
            parts.push(
                s.upload_part(&k, &id, n, Bytes::from_static(body).into())
                    .await
                    .unwrap(),
            );
        }
        let out = s.complete_multipart(&k, &id, &parts).await.unwrap();
        assert_eq!(file_mtime(&s.path_of(&k).unwrap()), t, "{name}");
        let head = s.head(&k).await.unwrap();
        assert_eq!(head.last_modified, Some(t), "{name}");
        assert_eq!(head.etag, out.etag, "{name}: complete and head agree");
    }
}
