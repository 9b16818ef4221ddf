//! Hashing throughput (criterion reports GiB/s; seconds per GiB = 1 / that):
//! every checksum haul computes while reading, one at a time and the engine's
//! default one-pass pair, plus Qiniu's qetag.
//!
//! `cargo bench --bench hashing`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use haul_core::ChecksumKind;
use haul_core::checksum::{MultiHasher, compute};

/// 16 MiB: large enough for steady state, small enough to stay in memory bandwidth limits.
const LEN: usize = 16 << 20;

fn data() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut v = vec![0u8; LEN];
    for chunk in v.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    v
}

fn hashing(c: &mut Criterion) {
    let data = data();
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Bytes(LEN as u64));
    for kind in [
        ChecksumKind::Crc32c,
        ChecksumKind::Crc32,
        ChecksumKind::Crc64Xz,
        ChecksumKind::Crc64Nvme,
        ChecksumKind::Md5,
        ChecksumKind::Sha1,
    ] {
        g.bench_function(kind.name(), |b| b.iter(|| compute(kind, black_box(&data))));
    }
    g.bench_function("crc32c+md5 one pass", |b| {
        b.iter(|| {
            let mut h = MultiHasher::new(&[ChecksumKind::Crc32c, ChecksumKind::Md5]);
            h.update(black_box(&data));
            h.finish()
        });
    });
    g.bench_function("qetag", |b| {
        b.iter(|| haul_qiniu::qetag::qetag(black_box(&data)));
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = hashing
}
criterion_main!(benches);
