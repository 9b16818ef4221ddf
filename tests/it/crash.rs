//! Crash tests: a child process is killed with SIGKILL in the middle of an
//! upload, a download and a server-side copy; this process resumes each job
//! from the journal. The result must be byte-identical and what is sent again
//! — counted by the store, not by the engine — at most what the store held
//! that the journal had not recorded when the process died (the parts in
//! flight, and those acknowledged whose record was not yet committed).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use haul::core::{Key, ObjectStore, UploadId};
use haul::engine::{Endpoint, Engine, TransferConfig};
use haul::journal::{JobId, Journal};
use haul::local::LocalStore;
use haul::testkit::{FaultStore, Op};

const PART: u64 = 256 * 1024;
const PARALLEL: u64 = 4;
const SIZE: u64 = 8 * 1024 * 1024 + 12345;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("examples")
        .join(name);
    assert!(
        dir.exists(),
        "{} is missing: run `cargo test --workspace` (which builds the examples)",
        dir.display()
    );
    dir
}

fn data(len: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// Runs `copy_dir` with `limit` (`--bwlimit N` or `--tpslimit N`), kills it
/// with SIGKILL after `parts` parts are acknowledged, returns the job id.
fn run_and_kill(journal: &Path, args: &[&str], limit: [&str; 2], parts: usize) -> JobId {
    let mut child = Command::new(example("copy_dir"))
        .args(args)
        .args(["--journal", journal.to_str().unwrap()])
        .args([
            "--part-size",
            &PART.to_string(),
            "--parallel",
            &PARALLEL.to_string(),
        ])
        .args(limit)
        .arg("--print-parts")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn copy_dir");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let job: JobId = first.strip_prefix("job ").unwrap().parse().unwrap();
    let mut seen = 0;
    for line in lines {
        let line = line.unwrap();
        assert!(
            !line.starts_with('{'),
            "the job finished before the kill: {line}"
        );
        if line.starts_with("part ") {
            seen += 1;
            if seen == parts {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    job
}

/// Bytes and parts the destination store holds for the job's open upload.
/// What the store holds of the job's one file after the kill (bytes,
/// parts), and of that what the journal had not recorded (bytes, parts):
/// a resume may send those again, and nothing else.
async fn held_by_store(
    store: &dyn ObjectStore,
    journal: &Journal,
    job: JobId,
) -> ((u64, u64), (u64, u64)) {
    let file = journal.files(job).unwrap().remove(0);
    let journaled: Vec<u32> = journal
        .parts(file.id)
        .unwrap()
        .iter()
        .map(|p| p.number)
        .collect();
    let id = UploadId(
        file.upload_id
            .expect("the upload id was journaled before any part"),
    );
    let parts = store
        .list_parts(&Key::new(file.dst).unwrap(), &id)
        .await
        .unwrap();
    let unknown: Vec<_> = parts
        .iter()
        .filter(|p| !journaled.contains(&p.number.get()))
        .collect();
    (
        (parts.iter().map(|p| p.size).sum(), parts.len() as u64),
        (unknown.iter().map(|p| p.size).sum(), unknown.len() as u64),
    )
}

async fn resume(
    journal: Journal,
    job: JobId,
    src: Arc<dyn ObjectStore>,
    dst: Arc<dyn ObjectStore>,
) {
    let engine = Engine::new(
        Arc::new(journal),
        TransferConfig {
            chunk_parallel_limit: PARALLEL as usize,
            copy_chunk_parallel_limit: PARALLEL as usize,
            ..TransferConfig::default()
        },
    );
    let s = engine
        .resume(
            job,
            Endpoint::new(src, "", "src"),
            Endpoint::new(dst, "", "dst"),
        )
        .unwrap()
        .join()
        .await
        .unwrap();
    assert!(s.is_success(), "{s:?}");
    assert!(s.counts.bytes_resumed > 0, "{s:?}");
}

struct Rig {
    _tmp: tempfile::TempDir,
    src: PathBuf,
    bucket: PathBuf,
    down: PathBuf,
    journal: PathBuf,
    body: Vec<u8>,
}

fn rig() -> Rig {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let bucket = tmp.path().join("bucket");
    let down = tmp.path().join("down");
    std::fs::create_dir_all(&src).unwrap();
    let body = data(SIZE);
    std::fs::write(src.join("big file.bin"), &body).unwrap();
    Rig {
        journal: tmp.path().join("journal.db"),
        _tmp: tmp,
        src,
        bucket,
        down,
        body,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_upload_then_resume() {
    let r = rig();
    let job = run_and_kill(
        &r.journal,
        &[s(&r.src), "", s(&r.bucket), "up/"],
        ["--bwlimit", "4194304"],
        8,
    );
    let journal = Journal::open(&r.journal).unwrap();
    let bucket = Arc::new(LocalStore::new(&r.bucket).unwrap());
    let ((held, _), (unknown, _)) = held_by_store(&*bucket, &journal, job).await;
    assert!(held > 0 && held < SIZE, "{held}");
    let counted = Arc::new(FaultStore::new(bucket, 1));
    let src = Arc::new(LocalStore::new(&r.src).unwrap());
    resume(journal, job, src, counted.clone()).await;
    let resent = counted.stats().bytes_uploaded - (SIZE - held);
    println!("upload: store held {held} of {SIZE} bytes after the kill; re-sent {resent}");
    assert!(
        resent <= unknown,
        "re-sent {resent}, more than the {unknown} bytes the journal lacked"
    );
    assert_eq!(
        std::fs::read(r.bucket.join("up/big file.bin")).unwrap(),
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_download_then_resume() {
    let r = rig();
    std::fs::create_dir_all(r.bucket.join("up")).unwrap();
    std::fs::copy(r.src.join("big file.bin"), r.bucket.join("up/big file.bin")).unwrap();
    let job = run_and_kill(
        &r.journal,
        &[s(&r.bucket), "up/", s(&r.down), ""],
        ["--bwlimit", "4194304"],
        8,
    );
    assert!(
        !r.down.join("big file.bin").exists(),
        "no partial file at the final path"
    );
    let journal = Journal::open(&r.journal).unwrap();
    let down = Arc::new(LocalStore::new(&r.down).unwrap());
    let ((held, _), (unknown, _)) = held_by_store(&*down, &journal, job).await;
    assert!(held > 0 && held < SIZE, "{held}");
    let counted = Arc::new(FaultStore::new(down, 1));
    let bucket = Arc::new(LocalStore::new(&r.bucket).unwrap());
    resume(journal, job, bucket, counted.clone()).await;
    let resent = counted.stats().bytes_uploaded - (SIZE - held);
    println!("download: held {held} of {SIZE} bytes after the kill; re-sent {resent}");
    assert!(
        resent <= unknown,
        "re-sent {resent}, more than the {unknown} bytes the journal lacked"
    );
    assert_eq!(std::fs::read(r.down.join("big file.bin")).unwrap(), r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_server_side_copy_then_resume() {
    let r = rig();
    std::fs::create_dir_all(r.bucket.join("up")).unwrap();
    std::fs::copy(r.src.join("big file.bin"), r.bucket.join("up/big file.bin")).unwrap();
    let job = run_and_kill(
        &r.journal,
        &[s(&r.bucket), "up/", s(&r.bucket), "cp/"],
        ["--tpslimit", "40"],
        8,
    );
    let journal = Journal::open(&r.journal).unwrap();
    let bucket = Arc::new(LocalStore::new(&r.bucket).unwrap());
    let ((_, held_parts), (_, unknown_parts)) = held_by_store(&*bucket, &journal, job).await;
    let total_parts = SIZE.div_ceil(PART);
    assert!(held_parts > 0 && held_parts < total_parts);
    let counted: Arc<FaultStore> = Arc::new(FaultStore::new(bucket, 1));
    resume(journal, job, counted.clone(), counted.clone()).await;
    let recopied = counted.stats().requests(Op::UploadPartCopy) - (total_parts - held_parts);
    println!("copy: held {held_parts} of {total_parts} parts after the kill; re-copied {recopied}");
    assert!(
        recopied <= unknown_parts,
        "re-copied {recopied} parts, more than the {unknown_parts} the journal lacked"
    );
    assert_eq!(
        std::fs::read(r.bucket.join("cp/big file.bin")).unwrap(),
        r.body
    );
}
