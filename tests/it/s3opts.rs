//! Storage class, server-side encryption, ACL and requester-pays options,
//! asserted on the requests the in-process S3 server receives.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use haul::serve::RecordedRequest;
use md5::{Digest, Md5};

use crate::cli::{s, summary, write};
use crate::s3cli::S3Env;

fn data(n: u32) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// The requests of `method` whose target matches `pred`.
fn find<'a>(
    reqs: &'a [RecordedRequest],
    method: &str,
    pred: impl Fn(&RecordedRequest) -> bool,
) -> Vec<&'a RecordedRequest> {
    reqs.iter()
        .filter(|r| r.method == method && pred(r))
        .collect()
}

#[test]
fn storage_class_sse_acl_and_payer_headers_reach_the_server() {
    let e = S3Env::new();
    write(&e.env.path("small.txt"), b"small");
    write(&e.env.path("big.bin"), &data(12_000_000));
    let (small, big) = (e.env.path("small.txt"), e.env.path("big.bin"));
    e.server.record_requests();
    let args = [
        "cp",
        s(&small),
        "s3://one/small.txt",
        "--storage-class",
        "STANDARD_IA",
        "--sse",
        "AES256",
        "--acl",
        "bucket-owner-full-control",
        "--request-payer",
        "requester",
        "-q",
    ];
    crate::cli::succeeded(&args, &e.run(&args));
    let reqs = e.server.recorded();
    let put = find(&reqs, "PUT", |r| r.target.starts_with("/one/small.txt"));
    assert_eq!(put.len(), 1, "{reqs:?}");
    assert_eq!(put[0].header("x-amz-storage-class"), Some("STANDARD_IA"));
    assert_eq!(
        put[0].header("x-amz-server-side-encryption"),
        Some("AES256")
    );
    assert_eq!(
        put[0].header("x-amz-acl"),
        Some("bucket-owner-full-control")
    );
    assert!(
        reqs.iter()
            .all(|r| r.header("x-amz-request-payer") == Some("requester")),
        "{reqs:?}"
    );

    e.server.record_requests();
    let args = [
        "cp",
        s(&big),
        "s3://one/big.bin",
        "--slice-size",
        "5MiB",
        "--chunk-size",
        "5MiB",
        "--storage-class",
        "GLACIER_IR",
        "--sse-kms-key-id",
        "alias/backup",
        "--json",
    ];
    let out = crate::cli::succeeded(&args, &e.run(&args));
    // A KMS ETag is no MD5: verification must not hold it against one.
    assert_eq!(summary(&out)["files_done"], 1, "{out}");
    let reqs = e.server.recorded();
    let create = find(&reqs, "POST", |r| r.target.contains("uploads"));
    assert_eq!(create.len(), 1, "{reqs:?}");
    assert_eq!(create[0].header("x-amz-storage-class"), Some("GLACIER_IR"));
    assert_eq!(
        create[0].header("x-amz-server-side-encryption"),
        Some("aws:kms")
    );
    assert_eq!(
        create[0].header("x-amz-server-side-encryption-aws-kms-key-id"),
        Some("alias/backup")
    );
    let parts = find(&reqs, "PUT", |r| r.target.contains("partNumber="));
    assert_eq!(parts.len(), 3, "{reqs:?}");
    // Class and encryption belong to the upload, not to its parts.
    assert!(
        parts
            .iter()
            .all(|p| p.header("x-amz-storage-class").is_none())
    );
    assert_eq!(
        std::fs::read(e.object("one/big.bin")).unwrap(),
        data(12_000_000)
    );
}

#[test]
fn sse_c_round_trip_up_down_and_copy() {
    let e = S3Env::new();
    let key = "0123456789abcdef0123456789ABCDEF";
    let key_b64 = B64.encode(key);
    let key_md5 = B64.encode(Md5::digest(key.as_bytes()));
    let carries = |r: &RecordedRequest, prefix: &str| {
        r.header(&format!(
            "{prefix}server-side-encryption-customer-algorithm"
        )) == Some("AES256")
            && r.header(&format!("{prefix}server-side-encryption-customer-key"))
                == Some(key_b64.as_str())
            && r.header(&format!("{prefix}server-side-encryption-customer-key-md5"))
                == Some(key_md5.as_str())
    };
    write(&e.env.path("up/big.bin"), &data(12_000_000));
    write(&e.env.path("up/small.txt"), b"secret words");
    let sse = ["--sse-c-key", key];
    let split = ["--slice-size", "5MiB", "--chunk-size", "5MiB"];

    e.server.record_requests();
    let (up, down) = (e.env.path("up"), e.env.path("down"));
    let mut args = vec!["cp", "-r", s(&up), "s3://one/enc/", "--json"];
    args.extend(sse);
    args.extend(split);
    let out = crate::cli::succeeded(&args, &e.run(&args));
    assert_eq!(summary(&out)["files_done"], 2, "{out}");
    let reqs = e.server.recorded();
    let writes: Vec<_> = reqs
        .iter()
        .filter(|r| r.target.starts_with("/one/enc/") && r.method != "GET" && r.method != "DELETE")
        .collect();
    // PutObject, CreateMultipartUpload, 3 × UploadPart, Complete (+ HEADs).
    assert!(writes.len() >= 6, "{reqs:?}");
    for r in &writes {
        assert!(
            carries(r, "x-amz-"),
            "no SSE-C key on {} {}",
            r.method,
            r.target
        );
    }

    e.server.record_requests();
    let mut args = vec!["cp", "-r", "s3://one/enc/", s(&down), "-q"];
    args.extend(sse);
    crate::cli::succeeded(&args, &e.run(&args));
    assert_eq!(
        std::fs::read(e.env.path("down/big.bin")).unwrap(),
        data(12_000_000)
    );
    let reqs = e.server.recorded();
    let reads = find(&reqs, "GET", |r| r.target.starts_with("/one/enc/"));
    assert!(!reads.is_empty(), "{reqs:?}");
    for r in reads.iter().chain(&find(&reqs, "HEAD", |_| true)) {
        assert!(
            carries(r, "x-amz-"),
            "no SSE-C key on {} {}",
            r.method,
            r.target
        );
    }

    // Server-side copies, whole and by parts: the source's key and the
    // destination's both go with each.
    e.server.record_requests();
    let mut args = vec![
        "cp",
        "-r",
        "s3://one/enc/",
        "s3://two/copy/",
        "--copy-slice-size",
        "5MiB",
        "--copy-chunk-size",
        "5MiB",
        "--json",
    ];
    args.extend(sse);
    let out = crate::cli::succeeded(&args, &e.run(&args));
    assert_eq!(summary(&out)["files_done"], 2, "{out}");
    let reqs = e.server.recorded();
    let copies = find(&reqs, "PUT", |r| r.header("x-amz-copy-source").is_some());
    assert!(copies.len() >= 4, "{reqs:?}");
    assert!(copies.iter().any(|r| r.target.contains("partNumber=")));
    assert!(copies.iter().any(|r| !r.target.contains("partNumber=")));
    for r in &copies {
        assert!(
            carries(r, "x-amz-copy-source-"),
            "no source key on {}",
            r.target
        );
        assert!(carries(r, "x-amz-"), "no destination key on {}", r.target);
    }
    assert_eq!(
        std::fs::read(e.object("two/copy/small.txt")).unwrap(),
        b"secret words"
    );
}

#[test]
fn a_bad_option_is_a_usage_error() {
    let e = S3Env::new();
    let f = e.env.path("f");
    write(&f, b"x");
    for bad in [
        vec!["--sse", "AES128"],
        vec!["--sse-c-key", "too short"],
        vec!["--sse", "AES256", "--sse-kms-key-id", "k"],
    ] {
        let mut args = vec!["cp", s(&f), "s3://one/f"];
        args.extend(&bad);
        let out = e.run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bad:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn endpoint_url_and_region_flags_stand_for_the_environment() {
    let e = S3Env::new();
    let f = e.env.path("f.txt");
    write(&f, b"flagged");
    let ep = e.server.endpoint();
    let mut cmd = e.cmd();
    cmd.env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION")
        .env("AWS_CONFIG_FILE", e.env.path("no-aws-config"))
        .args(["cp", s(&f), "s3://one/f.txt", "-q"])
        .args(["--endpoint-url", &ep, "--region", e.server.region()]);
    e.server.record_requests();
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(e.object("one/f.txt")).unwrap(), b"flagged");
    let scopes = scopes(&e);
    assert!(
        scopes.iter().all(|s| s.contains("/us-east-1/s3/")),
        "{scopes:?}"
    );
}

/// The credential scopes of the requests recorded.
fn scopes(e: &S3Env) -> Vec<String> {
    e.server
        .recorded()
        .into_iter()
        .map(|r| r.credential_scope.unwrap_or_default())
        .collect()
}

#[test]
fn the_region_comes_from_the_flag_else_the_environment_else_the_profile() {
    let e = S3Env::new();
    let f = e.env.path("f.txt");
    write(&f, b"where");
    write(
        &e.env.path("aws-config"),
        b"[default]\nregion = eu-west-3\n\n[profile tokyo]\nregion = ap-northeast-1\n",
    );
    let run = |extra: &[&str], profile: Option<&str>| {
        let mut cmd = e.cmd();
        cmd.env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env("AWS_CONFIG_FILE", e.env.path("aws-config"))
            .args(["cp", s(&f), "s3://one/f.txt", "-q"])
            .args(extra);
        if let Some(p) = profile {
            cmd.env("AWS_PROFILE", p);
        }
        e.server.record_requests();
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let scopes = scopes(&e);
        assert!(!scopes.is_empty());
        scopes
    };
    let all_in = |scopes: &[String], region: &str| {
        scopes.iter().all(|s| s.contains(&format!("/{region}/s3/")))
    };
    assert!(all_in(&run(&[], None), "eu-west-3"));
    assert!(all_in(&run(&[], Some("tokyo")), "ap-northeast-1"));
    assert!(all_in(
        &run(&["--region", "sa-east-1"], Some("tokyo")),
        "sa-east-1"
    ));
    let mut env_wins = e.cmd();
    env_wins
        .env("AWS_REGION", "eu-north-1")
        .env("AWS_CONFIG_FILE", e.env.path("aws-config"))
        .args(["cp", s(&f), "s3://one/f.txt", "-q"]);
    e.server.record_requests();
    assert!(env_wins.output().unwrap().status.success());
    assert!(all_in(&scopes(&e), "eu-north-1"));
}

/// A resume opens the stores as the job first did: the storage class and
/// encryption of the first run reach the requests the resume sends, with no
/// flag given again; an SSE-C key, which the journal never keeps, must be
/// given again, and the resume says so before sending anything.
#[test]
fn a_resume_keeps_the_jobs_s3_options_and_asks_for_an_sse_c_key_again() {
    let e = S3Env::new();
    let big = e.env.path("big.bin");
    write(&big, &data(12_000_000));
    let parts = ["--slice-size", "5MiB", "--chunk-size", "5MiB"];
    let crash = |extra: &[&str]| {
        let out = e
            .cmd()
            .args([&["cp", s(&big), "s3://one/big.bin"][..], &parts, extra].concat())
            .env("HAUL_TEST_CRASH_AT", "multipart-created")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{out:?}");
    };
    crash(&["--storage-class", "STANDARD_IA", "--sse", "AES256"]);
    e.server.record_requests();
    let out = e.cmd().args(["resume", "--json"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary(&text)["files_done"], 1, "{text}");
    let reqs = e.server.recorded();
    let create = find(&reqs, "POST", |r| r.target.contains("uploads"));
    assert_eq!(create.len(), 1, "{reqs:?}");
    assert_eq!(create[0].header("x-amz-storage-class"), Some("STANDARD_IA"));
    assert_eq!(
        create[0].header("x-amz-server-side-encryption"),
        Some("AES256")
    );

    let key = B64.encode([7u8; 32]);
    crash(&["--sse-c-key", &key]);
    let out = e
        .cmd()
        .args(["resume"])
        .env_remove("HAUL_SSE_C_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("SSE-C key") && err.contains("--sse-c-key"),
        "{err}"
    );
    assert!(!err.contains(&key), "the key never shows: {err}");
    let out = e
        .cmd()
        .args(["resume", "--sse-c-key", &key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
