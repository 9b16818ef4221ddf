//! Regression tests for what Ceph's s3-tests found `haul serve` doing
//! unlike S3, each driven as raw signed requests against the real server.

mod common;

use std::fmt::Write as _;

use common::{Client, md5_b64, server};

fn crc32_b64(data: &[u8]) -> String {
    haul_core::checksum::compute(haul_core::ChecksumKind::Crc32, data).to_base64()
}

/// Uploads `body` to `key` as a one-part multipart upload; returns the
/// completion document.
fn multipart(c: &mut Client, key: &str, body: &[u8]) -> (String, String) {
    let r = c.send("POST", &format!("/bkt/{key}?uploads"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.tag("UploadId").expect("upload id");
    let r = c.send(
        "PUT",
        &format!("/bkt/{key}?partNumber=1&uploadId={id}"),
        &[],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let etag = r.header("etag").expect("part etag").to_owned();
    let doc = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    (id, doc)
}

#[test]
fn multipart_over_an_existing_key_serves_the_new_checksum_and_type() {
    let (_root, server) = server();
    let mut c = Client::new(&server);
    let old = b"the old object";
    let crc = crc32_b64(old);
    let h = [
        ("x-amz-checksum-crc32", crc.as_str()),
        ("content-type", "text/old"),
    ];
    assert_eq!(c.send("PUT", "/bkt/k", &h, old).status, 200);
    let new = b"the new object, longer";
    let (id, doc) = multipart(&mut c, "k", new);
    let r = c.send(
        "POST",
        &format!("/bkt/k?uploadId={id}"),
        &[],
        doc.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.send("GET", "/bkt/k", &[("x-amz-checksum-mode", "ENABLED")], b"");
    assert_eq!(r.body, new);
    assert_ne!(
        r.header("x-amz-checksum-crc32"),
        Some(crc.as_str()),
        "old CRC32 served"
    );
    assert_ne!(
        r.header("content-type"),
        Some("text/old"),
        "old Content-Type served"
    );
}

#[test]
fn a_refused_conditional_put_keeps_the_connection_usable() {
    let (_root, server) = server();
    let mut c = Client::new(&server);
    let big = vec![7u8; 100_000];
    assert_eq!(c.send("PUT", "/bkt/k", &[], b"first").status, 200);
    for _ in 0..3 {
        let r = c.send("PUT", "/bkt/k", &[("if-none-match", "*")], &big);
        assert_eq!(r.status, 412, "{}", r.text());
        let r = c.send("GET", "/bkt/k", &[], b"");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"first"[..]));
    }
    assert_eq!(c.opened, 1, "the connection was dropped");
    // With `Expect: 100-continue` the client sends no body after a 412.
    for _ in 0..3 {
        let r = c.send_expect("PUT", "/bkt/k", &[("if-none-match", "*")], &big);
        assert_eq!(r.status, 412, "{}", r.text());
        let r = c.send("GET", "/bkt/k", &[], b"");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"first"[..]));
    }
}

#[test]
fn listings_encode_keys_honour_markers_and_carry_etags() {
    let (_root, server) = server();
    let mut c = Client::new(&server);
    for k in ["a%20b+c", "foo/x", "z"] {
        assert_eq!(
            c.send("PUT", &format!("/bkt/{k}"), &[], b"data").status,
            200
        );
    }
    // v1 with encoding-type=url encodes keys ("a b+c" is "a%20b%2Bc").
    let r = c.send("GET", "/bkt?encoding-type=url", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let keys = r.tags("Key");
    assert!(keys.contains(&"a%20b%2Bc".to_owned()), "{keys:?}");
    let md5 = "8d777f385d3dfec8815d20f7496026dc"; // MD5 of "data"
    assert_eq!(r.tags("ETag").len(), 3, "{}", r.text());
    assert!(
        r.tags("ETag").iter().all(|e| e.contains(md5)),
        "{}",
        r.text()
    );
    // v1 Marker.
    let r = c.send("GET", "/bkt?marker=foo%2Fx", &[], b"");
    assert_eq!(r.tags("Key"), vec!["z".to_owned()], "{}", r.text());
    assert_eq!(r.tag("Marker").as_deref(), Some("foo/x"));
    // A prefix starting with '/' matches no key (keys cannot start with '/').
    for q in ["/bkt?prefix=%2Ffoo", "/bkt?list-type=2&prefix=%2Ffoo"] {
        let r = c.send("GET", q, &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.tags("Key").is_empty(), "{q}: {}", r.text());
    }
    let r = c.send("GET", "/bkt?list-type=2", &[], b"");
    assert!(
        r.tags("ETag").iter().all(|e| e.contains(md5)),
        "{}",
        r.text()
    );
    // ListObjectVersions on an unversioned bucket: each object as "null".
    let r = c.send("GET", "/bkt?versions", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.tags("Key").len(), 3, "{}", r.text());
    assert!(
        r.tags("VersionId").iter().all(|v| v == "null"),
        "{}",
        r.text()
    );
    assert_eq!(r.tags("VersionId").len(), 3, "{}", r.text());
}

#[test]
fn a_key_can_be_an_object_and_a_prefix_and_end_in_a_slash() {
    let (root, server) = server();
    let mut c = Client::new(&server);
    let objects: [(&str, &[u8]); 6] = [
        ("foo/bar", b"file"),
        ("foo/bar/x", b"below"),
        ("a/b/c", b"deep"),
        ("a/b", b"above"),
        ("dir/", b"folder with data"),
        ("dir/in", b"inside"),
    ];
    for (k, body) in objects {
        let r = c.send(
            "PUT",
            &format!("/bkt/{k}"),
            &[("content-type", "text/x")],
            body,
        );
        assert_eq!(r.status, 200, "{k}: {}", r.text());
    }
    for (k, body) in objects {
        let r = c.send("GET", &format!("/bkt/{k}"), &[], b"");
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, body),
            "{k}: {}",
            r.text()
        );
        assert_eq!(r.header("content-type"), Some("text/x"), "{k}");
    }
    let mut want: Vec<&str> = objects.iter().map(|o| o.0).collect();
    want.sort_unstable();
    let r = c.send("GET", "/bkt?list-type=2", &[], b"");
    assert_eq!(r.tags("Key"), want, "{}", r.text());
    let r = c.send(
        "GET",
        "/bkt?list-type=2&prefix=foo%2F&delimiter=%2F",
        &[],
        b"",
    );
    assert_eq!(r.tags("Key"), ["foo/bar"], "{}", r.text());
    assert_eq!(r.tags("Prefix"), ["foo/", "foo/bar/"], "{}", r.text());
    // The reserved names are refused as keys.
    let r = c.send("PUT", "/bkt/x/.haul-object", &[], b"no");
    assert_eq!(
        r.tag("Code").as_deref(),
        Some("InvalidArgument"),
        "{}",
        r.text()
    );
    // Deleting each leaves the others, and at the end nothing is listed.
    for (i, (k, _)) in objects.iter().enumerate() {
        assert_eq!(c.send("DELETE", &format!("/bkt/{k}"), &[], b"").status, 204);
        for (other, body) in &objects[i + 1..] {
            let r = c.send("GET", &format!("/bkt/{other}"), &[], b"");
            assert_eq!(r.body, *body, "{other} after deleting {k}");
        }
    }
    let r = c.send("GET", "/bkt?list-type=2", &[], b"");
    assert!(r.tags("Key").is_empty(), "{}", r.text());
    let side = std::fs::read_dir(root.path())
        .expect("root")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".bucket-"))
        .count();
    assert_eq!(side, 0, "side files left");
}

#[test]
fn a_repeated_completion_gets_the_same_answer() {
    let (_root, server) = server();
    let mut c = Client::new(&server);
    let (id, doc) = multipart(&mut c, "k", b"body");
    let first = c.send(
        "POST",
        &format!("/bkt/k?uploadId={id}"),
        &[],
        doc.as_bytes(),
    );
    assert_eq!(first.status, 200, "{}", first.text());
    let again = c.send(
        "POST",
        &format!("/bkt/k?uploadId={id}"),
        &[],
        doc.as_bytes(),
    );
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.tag("ETag"), first.tag("ETag"));
    // A different part list is not the same completion.
    let other = doc.replace("<PartNumber>1</PartNumber>", "<PartNumber>2</PartNumber>");
    let r = c.send(
        "POST",
        &format!("/bkt/k?uploadId={id}"),
        &[],
        other.as_bytes(),
    );
    assert_eq!(
        r.tag("Code").as_deref(),
        Some("NoSuchUpload"),
        "{}",
        r.text()
    );
}

#[test]
fn deleting_leaves_no_side_files_and_nothing_to_inherit() {
    let (root, server) = server();
    let mut c = Client::new(&server);
    let crc = crc32_b64(b"v1");
    let h = [
        ("content-type", "text/old"),
        ("x-amz-checksum-crc32", crc.as_str()),
    ];
    assert_eq!(c.send("PUT", "/bkt/k", &h, b"v1").status, 200);
    assert_eq!(c.send("PUT", "/bkt/j", &h, b"v1").status, 200);
    assert_eq!(c.send("DELETE", "/bkt/k", &[], b"").status, 204);
    let del = "<Delete><Object><Key>j</Key></Object></Delete>";
    let md5 = md5_b64(del.as_bytes());
    let r = c.send(
        "POST",
        "/bkt?delete",
        &[("content-md5", &md5)],
        del.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let side: Vec<_> = std::fs::read_dir(root.path())
        .expect("root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".bucket-"))
        .collect();
    assert!(side.is_empty(), "side files left: {side:?}");
    // A new object at the key inherits nothing (a multipart one included).
    let (id, doc) = multipart(&mut c, "k", b"v2");
    let r = c.send(
        "POST",
        &format!("/bkt/k?uploadId={id}"),
        &[],
        doc.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.send("HEAD", "/bkt/k", &[("x-amz-checksum-mode", "ENABLED")], b"");
    assert_ne!(r.header("content-type"), Some("text/old"));
    assert_ne!(r.header("x-amz-checksum-crc32"), Some(crc.as_str()));
}

#[test]
fn get_and_head_honour_conditions() {
    let (_root, server) = server();
    let mut c = Client::new(&server);
    let r = c.send("PUT", "/bkt/k", &[], b"data");
    let etag = r.header("etag").expect("etag").to_owned();
    let past = "Mon, 01 Jan 2001 00:00:00 GMT";
    let future = "Fri, 01 Jan 2100 00:00:00 GMT";
    for method in ["GET", "HEAD"] {
        let cases: [(&str, &str, u16); 7] = [
            ("if-none-match", etag.as_str(), 304),
            ("if-none-match", "\"other\"", 200),
            ("if-modified-since", future, 304),
            ("if-modified-since", past, 200),
            ("if-unmodified-since", past, 412),
            ("if-unmodified-since", future, 200),
            ("if-match", "\"other\"", 412),
        ];
        for (name, value, want) in cases {
            let r = c.send(method, "/bkt/k", &[(name, value)], b"");
            assert_eq!(r.status, want, "{method} {name}: {value}: {}", r.text());
        }
    }
}

#[test]
fn malformed_digests_and_large_deletes_are_refused_as_s3_does() {
    let (_root, server) = server();
    let mut c = Client::new(&server);
    let r = c.send("PUT", "/bkt/k", &[("content-md5", "not base64!")], b"data");
    assert_eq!(
        r.tag("Code").as_deref(),
        Some("InvalidDigest"),
        "{}",
        r.text()
    );
    let r = c.send("PUT", "/bkt/k", &[("content-md5", "AAAA")], b"data");
    assert_eq!(
        r.tag("Code").as_deref(),
        Some("InvalidDigest"),
        "{}",
        r.text()
    );
    let mut del = String::from("<Delete>");
    for i in 0..1001 {
        let _ = write!(del, "<Object><Key>k{i}</Key></Object>");
    }
    del.push_str("</Delete>");
    let md5 = md5_b64(del.as_bytes());
    let r = c.send(
        "POST",
        "/bkt?delete",
        &[("content-md5", &md5)],
        del.as_bytes(),
    );
    assert_eq!(
        r.tag("Code").as_deref(),
        Some("MalformedXML"),
        "{}",
        r.text()
    );
    // Error bodies carry a RequestId.
    let r = c.send("GET", "/bkt/missing", &[], b"");
    assert_eq!(r.status, 404);
    assert!(
        r.tag("RequestId").is_some_and(|id| !id.is_empty()),
        "{}",
        r.text()
    );
}

#[test]
fn missing_buckets_self_copies_and_put_conditions_answer_as_s3() {
    let (_root, server) = server();
    let mut c = Client::new(&server);
    let r = c.send("PUT", "/nobucket/k", &[], b"data");
    assert_eq!(
        r.tag("Code").as_deref(),
        Some("NoSuchBucket"),
        "{}",
        r.text()
    );
    let r = c.send("GET", "/nobucket/k", &[], b"");
    assert_eq!(
        r.tag("Code").as_deref(),
        Some("NoSuchBucket"),
        "{}",
        r.text()
    );
    let r = c.send("PUT", "/bkt/k", &[], b"data");
    let etag = r.header("etag").expect("etag").to_owned();
    // If-None-Match with the current ETag, and If-Match on a missing key.
    let r = c.send("PUT", "/bkt/k", &[("if-none-match", &etag)], b"new");
    assert_eq!(r.status, 412, "{}", r.text());
    let r = c.send("PUT", "/bkt/missing", &[("if-match", &etag)], b"new");
    assert_eq!(r.tag("Code").as_deref(), Some("NoSuchKey"), "{}", r.text());
    // A copy onto itself that changes nothing.
    let r = c.send("PUT", "/bkt/k", &[("x-amz-copy-source", "bkt/k")], b"");
    assert_eq!(
        r.tag("Code").as_deref(),
        Some("InvalidRequest"),
        "{}",
        r.text()
    );
    let h = [
        ("x-amz-copy-source", "bkt/k"),
        ("x-amz-metadata-directive", "REPLACE"),
    ];
    assert_eq!(c.send("PUT", "/bkt/k", &h, b"").status, 200);
    assert_eq!(c.send("GET", "/bkt/k", &[], b"").body, b"data");
}

#[test]
fn checksums_only_on_request_and_empty_delimiters_ignored() {
    let (_root, server) = server();
    let mut c = Client::new(&server);
    let crc = crc32_b64(b"data");
    let h = [("x-amz-checksum-crc32", crc.as_str())];
    assert_eq!(c.send("PUT", "/bkt/a/k", &h, b"data").status, 200);
    let r = c.send("HEAD", "/bkt/a/k", &[], b"");
    assert_eq!(r.header("x-amz-checksum-crc32"), None);
    let r = c.send(
        "HEAD",
        "/bkt/a/k",
        &[("x-amz-checksum-mode", "ENABLED")],
        b"",
    );
    assert_eq!(r.header("x-amz-checksum-crc32"), Some(crc.as_str()));
    for q in ["/bkt?delimiter=", "/bkt?list-type=2&delimiter="] {
        let r = c.send("GET", q, &[], b"");
        assert_eq!(r.tags("Key"), vec!["a/k".to_owned()], "{q}: {}", r.text());
        assert!(
            r.tags("Prefix").iter().all(String::is_empty),
            "{}",
            r.text()
        );
        assert!(!r.text().contains("<Delimiter>"), "{}", r.text());
    }
    let r = c.send("GET", "/bkt", &[], b"");
    assert!(
        r.text().contains("<Marker></Marker>") || r.text().contains("<Marker/>"),
        "{}",
        r.text()
    );
}

#[test]
fn not_modified_names_the_etag_and_recreating_a_bucket_keeps_it_intact() {
    let (_root, server) = server();
    let mut c = Client::new(&server);
    let r = c.send("PUT", "/bkt/k", &[], b"data");
    let etag = r.header("etag").expect("etag").to_owned();
    let r = c.send("GET", "/bkt/k", &[("if-none-match", &etag)], b"");
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert!(r.header("last-modified").is_some());
    // The connection still works after a 304.
    assert_eq!(c.send("GET", "/bkt/k", &[], b"").body, b"data");
    // CreateBucket of one's own bucket: refused, objects kept.
    let r = c.send("PUT", "/bkt", &[], b"");
    assert_eq!(r.tag("Code").as_deref(), Some("BucketAlreadyOwnedByYou"));
    assert_eq!(c.send("GET", "/bkt/k", &[], b"").body, b"data");
    // CompleteMultipartUpload honours If-None-Match with an ETag.
    let (id, doc) = multipart(&mut c, "k", b"other");
    let h = [("if-none-match", etag.as_str())];
    let r = c.send("POST", &format!("/bkt/k?uploadId={id}"), &h, doc.as_bytes());
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(c.send("GET", "/bkt/k", &[], b"").body, b"data");
    // v1 with encoding-type=url sends Prefix as given.
    let r = c.send("GET", "/bkt?encoding-type=url&prefix=%0A", &[], b"");
    assert_eq!(r.tag("Prefix").as_deref(), Some("\n"), "{}", r.text());
}

#[test]
fn object_attributes_and_part_numbers_give_the_parts() {
    let (_root, server) = server();
    let mut c = Client::new(&server);
    let r = c.send("PUT", "/bkt/one", &[], b"foo");
    let etag = r.header("etag").expect("etag").trim_matches('"').to_owned();
    let attrs = [(
        "x-amz-object-attributes",
        "ETag,ObjectSize,ObjectParts,StorageClass",
    )];
    let r = c.send("GET", "/bkt/one?attributes", &attrs, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.tag("ObjectSize").as_deref(), Some("3"));
    assert_eq!(
        r.tag("ETag").as_deref(),
        Some(etag.as_str()),
        "{}",
        r.text()
    );
    assert_eq!(r.tag("StorageClass").as_deref(), Some("STANDARD"));
    assert!(!r.text().contains("ObjectParts"), "{}", r.text());
    // Three parts; the second page of one part each.
    let r = c.send("POST", "/bkt/mp?uploads", &[], b"");
    let id = r.tag("UploadId").expect("upload id");
    let big = vec![1u8; 5 << 20];
    let mut doc = String::from("<CompleteMultipartUpload>");
    for (n, body) in [(1, &big[..]), (2, &big[..]), (3, &b"tail"[..])] {
        let r = c.send(
            "PUT",
            &format!("/bkt/mp?partNumber={n}&uploadId={id}"),
            &[],
            body,
        );
        let e = r.header("etag").expect("etag");
        let _ = write!(
            doc,
            "<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
        );
    }
    doc.push_str("</CompleteMultipartUpload>");
    let r = c.send(
        "POST",
        &format!("/bkt/mp?uploadId={id}"),
        &[],
        doc.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mut h = attrs.to_vec();
    h.extend([("x-amz-max-parts", "1"), ("x-amz-part-number-marker", "1")]);
    let r = c.send("GET", "/bkt/mp?attributes", &h, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.tag("PartsCount").as_deref(), Some("3"), "{}", r.text());
    assert_eq!(r.tag("IsTruncated").as_deref(), Some("true"));
    assert_eq!(r.tag("NextPartNumberMarker").as_deref(), Some("2"));
    assert_eq!(r.tags("Size"), vec![(5u64 << 20).to_string()]);
    // GET and HEAD ?partNumber= serve one part.
    let r = c.send("GET", "/bkt/mp?partNumber=2", &[], b"");
    assert_eq!((r.status, r.body.len()), (206, 5 << 20));
    assert_eq!(r.header("x-amz-mp-parts-count"), Some("3"));
    let r = c.send("HEAD", "/bkt/mp?partNumber=3", &[], b"");
    assert_eq!(r.header("content-length"), Some("4"));
    let r = c.send("GET", "/bkt/mp?partNumber=4", &[], b"");
    assert_eq!(
        r.tag("Code").as_deref(),
        Some("InvalidPart"),
        "{}",
        r.text()
    );
    let r = c.send("GET", "/bkt/one?partNumber=1", &[], b"");
    assert_eq!(r.body, b"foo");
    let r = c.send("GET", "/bkt/one?partNumber=2", &[], b"");
    assert_eq!(
        r.tag("Code").as_deref(),
        Some("InvalidPart"),
        "{}",
        r.text()
    );
    // Replaced by a plain PUT: no parts any more.
    assert_eq!(c.send("PUT", "/bkt/mp", &[], b"x").status, 200);
    let r = c.send("GET", "/bkt/mp?attributes", &attrs, b"");
    assert!(!r.text().contains("ObjectParts"), "{}", r.text());
}

#[test]
fn listings_hash_no_large_hand_placed_file() {
    let (root, server) = server();
    let mut c = Client::new(&server);
    let big = std::fs::File::create(root.path().join("bkt/big")).expect("big");
    big.set_len(65 << 20).expect("sparse"); // over the listing's hashing limit
    std::fs::write(root.path().join("bkt/small"), b"data").expect("small");
    let r = c.send("GET", "/bkt?list-type=2", &[], b"");
    assert_eq!(r.tags("Key"), ["big", "small"], "{}", r.text());
    let etags = r.tags("ETag");
    assert_eq!(etags.len(), 1, "only the small file hashed: {}", r.text());
    // Once a HEAD has computed it, listings carry it.
    let head = c.send("HEAD", "/bkt/big", &[], b"");
    let etag = head.header("etag").expect("etag").to_owned();
    let r = c.send("GET", "/bkt?list-type=2", &[], b"");
    assert_eq!(r.tags("ETag").len(), 2, "{}", r.text());
    assert!(r.text().contains(etag.trim_matches('"')), "{}", r.text());
}
