//! Times a multipart upload into a `LocalStore` the way the engine downloads
//! into one: 1 GiB in 16 MiB parts, 16 in flight, each payload carrying the
//! CRC-32C its producer computed while reading it.
//!
//! ```text
//! cargo run --release -p haul-local --example part_write -- [DIR] [PIECE_KIB] [HINT]
//! ```
//!
//! `DIR` defaults to `/dev/shm`, `PIECE_KIB` (the size of a payload's pieces,
//! as they come off a network body) to 64, `HINT` (pass the part size as
//! `PutOptions::part_size_hint`: `hint` or `nohint`) to `hint`. Prints the
//! wall time and the CPU time (user + system) of the upload alone; making
//! the data and its checksums is not counted.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use haul_core::checksum::compute;
use haul_core::{ChecksumKind, Key, ObjectStore, PartNumber, Payload, PutOptions};
use haul_local::LocalStore;
use tokio::sync::Semaphore;

const PART: usize = 16 << 20;
const PARTS: usize = 64;
const IN_FLIGHT: usize = 16;

/// User + system CPU seconds of this process, from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "/dev/shm".to_owned());
    let piece = args.next().map_or(64, |s| s.parse::<usize>().unwrap()) << 10;
    let hint = args.next().is_none_or(|s| s == "hint");
    let payloads: Vec<Payload> = (0..PARTS)
        .map(|i| {
            let bytes = Bytes::from(data(i as u64 + 1, PART));
            let sums = vec![compute(ChecksumKind::Crc32c, &bytes)];
            let mut p = Payload::new();
            let mut at = 0;
            while at < bytes.len() {
                let end = (at + piece).min(bytes.len());
                p.push(bytes.slice(at..end));
                at = end;
            }
            p.with_checksums(sums)
        })
        .collect();

    let tmp = tempfile::tempdir_in(&dir).expect("a temp dir");
    let store = Arc::new(LocalStore::new(tmp.path().join("root")).unwrap());
    let key = Key::new("bench/big").unwrap();
    let opts = PutOptions {
        part_size_hint: hint.then_some(PART as u64),
        ..PutOptions::default()
    };

    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let id = store.create_multipart(&key, opts).await.unwrap();
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::with_capacity(PARTS);
    for (i, payload) in payloads.into_iter().enumerate() {
        let permit = Arc::clone(&gate).acquire_owned().await.unwrap();
        let (store, key, id) = (Arc::clone(&store), key.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let n = PartNumber::new(i as u32 + 1).unwrap();
            store.upload_part(&key, &id, n, payload).await.unwrap()
        }));
    }
    let mut parts = Vec::with_capacity(PARTS);
    for t in tasks {
        parts.push(t.await.unwrap());
    }
    store.complete_multipart(&key, &id, &parts).await.unwrap();
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);

    let size = store.head(&key).await.unwrap().size;
    assert_eq!(size, (PART * PARTS) as u64);
    println!(
        "{} MiB in {PARTS} parts, pieces of {} KiB, hint {hint}: {wall:.3} s wall, {cpu:.2} s CPU",
        size >> 20,
        piece >> 10
    );
}
