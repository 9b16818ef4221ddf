//! Signing cost per request, through each provider's public signing path
//! (no I/O): SigV4 (haul-s3's presigned GET), q-sign (haul-cos's presigned
//! GET) and Qiniu's management signature and upload token.
//!
//! haul-s3 and haul-cos sign header requests with crate-private signers; the
//! presigned URL runs the same canonical request and HMAC chain, placed in
//! the query instead of the `Authorization` header.
//!
//! `cargo bench --bench signing`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use haul_core::Key;
use haul_cos::{CosConfig, CosStore};
use haul_qiniu::auth::SignedRequest;
use haul_qiniu::{Credentials, PutPolicy};
use haul_s3::{S3Config, S3Store};

fn signing(c: &mut Criterion) {
    let key = Key::new("photos/2026/a b+c%.jpg").expect("key");
    let week = Duration::from_hours(7 * 24);
    let mut g = c.benchmark_group("sign");

    let s3 = S3Store::new(
        S3Config::new(
            "bench-bucket",
            "us-east-1",
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )
        .with_endpoint("http://127.0.0.1:9000"),
    )
    .expect("S3 store");
    g.bench_function("sigv4 (s3 presign)", |b| {
        b.iter(|| s3.presign_get(black_box(&key), week).expect("presign"));
    });

    let cos = CosStore::new(
        CosConfig::new(
            "bench-1250000000",
            "ap-guangzhou",
            "AKIDEXAMPLE",
            "cos-secret-key-example",
        )
        .with_endpoint("http://127.0.0.1:9001"),
    )
    .expect("COS store");
    g.bench_function("q-sign (cos presign)", |b| {
        b.iter(|| cos.presign_get(black_box(&key), week).expect("presign"));
    });

    let creds = Credentials::new("qiniu-access-key", "qiniu-secret-key");
    let headers = [("X-Qiniu-Date", "20260101T000000Z")];
    let req = SignedRequest {
        method: "POST",
        path_and_query: "/move/YnVja2V0OmE=/YnVja2V0OmI=/force/true",
        host: "rs.qiniuapi.com",
        content_type: Some("application/x-www-form-urlencoded"),
        headers: &headers,
        body: b"",
    };
    g.bench_function("qiniu (management request)", |b| {
        b.iter(|| creds.qiniu_authorization(black_box(&req)));
    });
    let policy = PutPolicy::for_key("bench-bucket", key.as_str(), 1_800_000_000);
    g.bench_function("qiniu (upload token)", |b| {
        b.iter(|| creds.upload_token(black_box(&policy)));
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = signing
}
criterion_main!(benches);
