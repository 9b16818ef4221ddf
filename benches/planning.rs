//! Planning one million parts: the engine's part split for 100 objects of
//! 10,000 parts each against S3's limits.
//!
//! The engine's split (`part_size_for` and the offset/length loop in
//! haul-engine's transfer module) is crate-private, so this mirrors it line
//! for line over public types; exposing it (e.g. `haul_engine::plan_parts`)
//! would let the bench call the engine's own code.
//!
//! `cargo bench --bench planning`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use haul_core::{ByteRange, Capabilities, ObjectStore, PartNumber};
use haul_s3::{S3Config, S3Store};

const MIB: u64 = 1 << 20;
const OBJECTS: u64 = 100;
const PARTS_PER_OBJECT: u64 = 10_000;

/// `max(base, ceil(size / max_parts))` within the store's part limits.
fn part_size_for(size: u64, base: u64, cap: &Capabilities) -> u64 {
    let max_parts = u64::from(cap.max_parts.max(1));
    base.max(size.div_ceil(max_parts)).clamp(
        cap.min_part_size_bytes.max(1),
        cap.max_part_size_bytes.max(1),
    )
}

/// Plans every part of `size` bytes; returns (parts, bytes) so nothing is
/// optimised away.
fn plan(size: u64, base: u64, cap: &Capabilities) -> (u64, u64) {
    let part = part_size_for(size, base, cap);
    let count = size.div_ceil(part);
    let (mut parts, mut bytes) = (0, 0);
    for n in 1..=count as u32 {
        let offset = u64::from(n - 1) * part;
        let len = part.min(size - offset);
        let pn = PartNumber::new(n).expect("part number");
        let range = ByteRange::at(offset, len);
        black_box((pn, range));
        parts += 1;
        bytes += len;
    }
    (parts, bytes)
}

fn planning(c: &mut Criterion) {
    let s3 = S3Store::new(S3Config::new("b", "us-east-1", "ak", "sk")).expect("S3 store");
    let cap = s3.capabilities().clone();
    // 10,000 parts of 16 MiB each, the last one short.
    let sizes: Vec<u64> = (0..OBJECTS)
        .map(|i| PARTS_PER_OBJECT * 16 * MIB - i - 1)
        .collect();
    let mut g = c.benchmark_group("plan");
    g.throughput(Throughput::Elements(OBJECTS * PARTS_PER_OBJECT));
    g.bench_function("1M parts (100 x 10,000)", |b| {
        b.iter(|| {
            let mut total = (0, 0);
            for &size in &sizes {
                let (p, n) = plan(black_box(size), 16 * MIB, &cap);
                total.0 += p;
                total.1 += n;
            }
            assert_eq!(total.0, OBJECTS * PARTS_PER_OBJECT);
            total
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = planning
}
criterion_main!(benches);
