//! `haul serve` never reads or writes outside its root: hostile keys and
//! copy sources — a leading `/`, `//`, `..`, their percent-encoded forms,
//! keys long enough for the shim's own storage path, symbolic links inside
//! the root pointing out — go through every operation as raw signed
//! requests, and no answer carries a byte of a file outside, and nothing
//! outside changes.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use common::{Client, Resp, server};

/// Every file under `dir` with its content.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p.clone());
            }
            let content = std::fs::read(&p).unwrap_or_default();
            out.insert(p.display().to_string(), content);
        }
    }
    out
}

/// Percent-encodes every byte but unreserved ones and `/`.
fn enc(s: &str, slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (b == b'/' && !slash) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

struct Probe<'a> {
    client: Client,
    secret: &'a str,
    seen: usize,
}

impl Probe<'_> {
    /// Sends, checks the answer leaks nothing, and returns it.
    fn send(
        &mut self,
        what: &str,
        method: &str,
        path: &str,
        h: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let r = self.client.send(method, path, h, body);
        self.seen += 1;
        let all = format!("{:?} {}", r.headers, r.text());
        assert!(
            !all.contains(self.secret),
            "{what}: {method} {path} leaked the outside file: {} {all}",
            r.status
        );
        assert!(
            !all.contains("SignatureDoesNotMatch"),
            "{what}: {method} {path}: the test signed it wrong, so it proves nothing"
        );
        r
    }

    /// Like `send`, and the operation must have been refused.
    fn refused(&mut self, what: &str, method: &str, path: &str, h: &[(&str, &str)], body: &[u8]) {
        let r = self.send(what, method, path, h, body);
        assert!(
            r.status >= 400,
            "{what}: {method} {path} was accepted ({}): {}",
            r.status,
            r.text()
        );
    }
}

#[test]
fn hostile_keys_stay_inside_the_root() {
    let outside = tempfile::tempdir().expect("tempdir");
    let secret = format!("TOP-SECRET-{}", std::process::id());
    std::fs::write(outside.path().join("secret.txt"), &secret).expect("secret");
    let out = outside.path().canonicalize().expect("canonical");
    let out_str = out.display().to_string();
    let out_rel = out_str.trim_start_matches('/');

    let (root, server) = server();
    let bkt = root.path().join("bkt");
    std::os::unix::fs::symlink(&out, bkt.join("link")).expect("symlink dir");
    std::os::unix::fs::symlink(out.join("secret.txt"), bkt.join("linkfile")).expect("symlink");
    std::os::unix::fs::symlink(out.join("new.txt"), bkt.join("dangling")).expect("symlink");
    std::fs::create_dir(bkt.join("d")).expect("dir");
    std::os::unix::fs::symlink("../../", bkt.join("d/up")).expect("symlink up");
    std::os::unix::fs::symlink(&out, root.path().join("evil")).expect("symlink bucket");
    let before = snapshot(&out);

    let mut p = Probe {
        client: Client::new(&server),
        secret: &secret,
        seen: 0,
    };
    // A legitimate object and upload to aim copies at and from.
    let r = p.send("setup", "PUT", "/bkt/ok", &[], b"fine");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = p.send("setup", "POST", "/bkt/legit?uploads", &[], b"");
    let upload = r.tag("UploadId").expect("upload id");

    let long = format!("{out_str}/escaped-{}", "x".repeat(180));
    let ups = "../".repeat(12);
    // Keys as S3 would see them, decoded.
    let keys: Vec<String> = vec![
        format!("{out_str}/secret.txt"),
        format!("/{out_str}/secret.txt"),
        format!("{ups}{out_rel}/secret.txt"),
        format!("a/{ups}{out_rel}/secret.txt"),
        format!("./{out_rel}/secret.txt"),
        format!("a//{out_rel}/secret.txt"),
        long.clone(),
        format!("{ups}{}", long.trim_start_matches('/')),
        "link/secret.txt".into(),
        "link/new.txt".into(),
        "linkfile".into(),
        "dangling".into(),
        format!("d/up/{}", out_rel),
        "d/up/../../secret".into(),
        format!("x\0/{out_rel}"),
    ];
    for key in &keys {
        // The path on the wire: raw, and fully percent-encoded.
        let raw = if key.contains('\0') {
            enc(key, false)
        } else {
            key.clone()
        };
        for path in [format!("/bkt/{raw}"), format!("/bkt/{}", enc(key, true))] {
            let what = format!("key {key:?}");
            let w = what.as_str();
            p.refused(w, "GET", &path, &[], b"");
            p.refused(w, "HEAD", &path, &[], b"");
            p.refused(w, "PUT", &path, &[], b"PWNED");
            let copy_from_ok = [("x-amz-copy-source", "bkt/ok")];
            p.refused(w, "PUT", &path, &copy_from_ok, b"");
            p.refused(w, "POST", &format!("{path}?uploads"), &[], b"");
            let part = format!("{path}?partNumber=1&uploadId={upload}");
            p.refused(w, "PUT", &part, &[], b"PWNED");
            p.refused(w, "PUT", &part, &copy_from_ok, b"");
            p.refused(w, "GET", &format!("{path}?uploadId={upload}"), &[], b"");
            let done = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>\
                        <ETag>x</ETag></Part></CompleteMultipartUpload>";
            p.refused(
                w,
                "POST",
                &format!("{path}?uploadId={upload}"),
                &[],
                done.as_bytes(),
            );
            p.refused(w, "DELETE", &format!("{path}?uploadId={upload}"), &[], b"");
            p.refused(w, "DELETE", &path, &[], b"");
            p.send(
                w,
                "GET",
                &format!("/bkt?prefix={}", enc(key, true)),
                &[],
                b"",
            );
            let v2 = format!("/bkt?list-type=2&prefix={}", enc(key, true));
            p.send(w, "GET", &v2, &[], b"");
            let xml_key = key
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('\0', "");
            let del = format!("<Delete><Object><Key>{xml_key}</Key></Object></Delete>");
            let md5 = common::md5_b64(del.as_bytes());
            p.send(
                w,
                "POST",
                "/bkt?delete",
                &[("content-md5", &md5)],
                del.as_bytes(),
            );
        }
        // As a copy source, raw and encoded, into a plain key and a part.
        for src in [
            format!("bkt/{key}"),
            format!("bkt/{}", enc(key, true)),
            format!("bkt//{key}"),
        ] {
            if src.contains('\0') {
                continue;
            }
            let what = format!("copy source {src:?}");
            let h = [("x-amz-copy-source", src.as_str())];
            p.refused(&what, "PUT", "/bkt/stolen", &h, b"");
            let part = format!("/bkt/legit?partNumber=1&uploadId={upload}");
            let r = p.send(&what, "PUT", &part, &h, b"");
            if r.status == 200 {
                // It copied something: complete and read it back.
                let etag = r.tag("ETag").unwrap_or_default();
                let done = format!(
                    "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>\
                     <ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
                );
                p.send(
                    &what,
                    "POST",
                    &format!("/bkt/legit?uploadId={upload}"),
                    &[],
                    done.as_bytes(),
                );
                p.send(&what, "GET", "/bkt/legit", &[], b"");
                panic!("{what}: UploadPartCopy accepted");
            }
        }
    }
    // A bucket that is a link out of the root.
    for path in [
        "/evil/secret.txt",
        "/evil",
        "/evil?list-type=2",
        "/evil?uploads",
    ] {
        p.refused("linked bucket", "GET", path, &[], b"");
    }
    p.refused("linked bucket", "PUT", "/evil/planted", &[], b"PWNED");
    p.refused("linked bucket", "HEAD", "/evil", &[], b"");
    p.refused("linked bucket", "DELETE", "/evil/secret.txt", &[], b"");
    p.refused("linked bucket", "DELETE", "/evil", &[], b"");
    for path in ["/%2E%2E/x", "/%2E%2E", "/./x"] {
        p.refused("dot bucket", "GET", path, &[], b"");
        p.refused("dot bucket", "PUT", path, &[], b"PWNED");
    }
    assert!(p.seen > 500, "only {} requests", p.seen);

    // The legitimate object is still served, and the outside is untouched.
    let r = p.send("after", "GET", "/bkt/ok", &[], b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"fine"[..]));
    assert_eq!(snapshot(&out), before, "the outside directory changed");
    assert!(!Path::new(&long).exists());
    assert!(out.join("secret.txt").is_file());
}
