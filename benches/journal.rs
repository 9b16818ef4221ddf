//! Journal events per second: `part_done` × N then one `flush` (the
//! engine's pattern before completing an upload), on a real SQLite journal
//! in a temporary directory.
//!
//! `cargo bench --bench journal`

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use haul_journal::{Journal, NewFile, PartRow};

fn journal(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let journal = Journal::open_ephemeral().expect("journal");
    let file = rt.block_on(async {
        let job = journal.create_job("{}").await.expect("job");
        journal.add_files(job, vec![NewFile::copy("src", "dst", 1 << 40)]);
        journal.flush().await.expect("flush");
        journal.files(job).expect("files")[0].id
    });
    let mut g = c.benchmark_group("journal");
    for n in [1_000u32, 10_000] {
        g.throughput(Throughput::Elements(u64::from(n)));
        g.bench_with_input(BenchmarkId::new("part_done then flush", n), &n, |b, &n| {
            b.iter(|| {
                rt.block_on(async {
                    for i in 0..n {
                        journal.part_done(
                            file,
                            PartRow {
                                number: i % 10_000 + 1,
                                offset: u64::from(i) << 24,
                                len: 1 << 24,
                                etag: format!("\"{i:032x}\""),
                                crc32c: Some("crc32c:0badf00d".to_owned()),
                                md5: None,
                                native: None,
                            },
                        );
                    }
                    journal.flush().await.expect("flush");
                });
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = journal
}
criterion_main!(benches);
