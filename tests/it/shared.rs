//! One job across many processes. Shards: four `haul cp --shard I/4` runs,
//! each with its own journal, copy every file exactly once. Workers: three
//! `haul worker` processes share a job through PostgreSQL; one is killed
//! with SIGKILL mid-file, another is stopped past its lease and resumed
//! (its late writes must be refused); the job completes, every object
//! arrives exact, and what the store received twice — counted by the
//! store's proxy, not by haul — is at most the parts those two had in
//! flight. The worker test needs PostgreSQL (`--include-ignored`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use haul::journal::{FileState, JobId, JobState, Journal};
use haul::testkit::{Answered, PgServer};

use crate::cli::{s, summary, write};
use crate::window::Counted;

/// Successful PUTs the store answered, by what they wrote: a part
/// (upload id and number) or a whole object (its path): (times, length).
pub(crate) fn puts(log: &[Answered]) -> BTreeMap<String, (u64, u64)> {
    let mut seen = BTreeMap::new();
    for a in log
        .iter()
        .filter(|a| a.method == "PUT" && (200..300).contains(&a.status))
    {
        let what = match (a.query("uploadId"), a.query("partNumber")) {
            (Some(id), Some(n)) => format!("{id}#{n}"),
            _ => a.target.split('?').next().unwrap_or_default().to_owned(),
        };
        let e = seen.entry(what).or_insert((0, a.len));
        e.0 += 1;
    }
    seen
}

#[test]
fn four_shards_copy_every_file_exactly_once() {
    let c = Counted::new();
    let src = c.e.env.path("src");
    let name = |i: usize| format!("d{}/f{i:03}.txt", i % 7);
    for i in 0..160 {
        write(&src.join(name(i)), format!("file {i}").as_bytes());
    }
    let mut done = 0;
    for i in 0..4 {
        let journal = c.e.env.path(&format!("shard{i}.db"));
        let mut cmd = c.cmd();
        cmd.args(["cp", "-r", s(&src), "s3://one/sh/", "--json"])
            .args(["--journal", s(&journal)]);
        if i == 3 {
            // As a Kubernetes Indexed Job's pod 3 would run it.
            cmd.args(["--shard-count", "4"])
                .env("JOB_COMPLETION_INDEX", "3");
        } else {
            cmd.args(["--shard", &format!("{i}/4")]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sum = summary(&String::from_utf8_lossy(&out.stdout));
        let n = sum["files_done"].as_u64().unwrap();
        assert!(n > 0, "shard {i} took nothing: {sum}");
        done += n;
    }
    assert_eq!(done, 160);
    let sent = puts(&c.proxy.stats().answered);
    assert_eq!(sent.len(), 160, "one object per file");
    assert!(sent.values().all(|&(n, _)| n == 1), "each sent once");
    for i in 0..160 {
        assert_eq!(
            std::fs::read(c.e.object(&format!("one/sh/{}", name(i)))).unwrap(),
            format!("file {i}").as_bytes()
        );
    }
}

const PART: u64 = 5 * 1024 * 1024;
const FILE_PARALLEL: u64 = 2;
const CHUNK_PARALLEL: u64 = 2;
const BIG: u64 = 40 * PART + 4321;
const BIGS: usize = 6;
const SMALLS: usize = 1994;

fn big(i: usize) -> Vec<u8> {
    (0..BIG)
        .map(|b| (b.wrapping_mul(2_654_435_761).wrapping_add(i as u64 * 7919) >> 11) as u8)
        .collect()
}

fn small(i: usize) -> Vec<u8> {
    vec![(i % 251) as u8; 1000 + (i * 37) % 7000]
}

/// Polls the journal until `f` finds what it waits for (or 60 s pass).
pub(crate) fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid in a worker's name (`host-pid-nonce`).
pub(crate) fn pid_of(owner: &str) -> u32 {
    owner.rsplit('-').nth(1).unwrap().parse().unwrap()
}

/// A worker (by pid) holding a multipart file with a journaled part, and
/// that file, skipping `not`.
fn mid_file(j: &Journal, job: JobId, not: &[u32]) -> Option<(u32, haul::journal::FileId)> {
    j.leases(job).ok()?.into_iter().find_map(|l| {
        let pid = pid_of(&l.owner);
        if not.contains(&pid) || l.expires_in_ms <= 0 {
            return None;
        }
        let f = j.file(l.file).ok()??;
        (f.state == FileState::Active && f.upload_id.is_some() && !j.parts(f.id).ok()?.is_empty())
            .then_some((pid, f.id))
    })
}

pub(crate) fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

fn stderr_of(dir: &Path, pid: u32) -> String {
    std::fs::read_to_string(dir.join(format!("worker-{pid}.err"))).unwrap_or_default()
}

/// 2,000 files, six of them 200 MiB multipart uploads, on one PostgreSQL
/// job: three workers, one killed with SIGKILL mid-file, one stopped past
/// its lease and resumed (its late writes refused).
#[test]
#[ignore = "needs postgres"]
fn three_workers_one_killed_one_paused_finish_the_job_exact() {
    let pg = PgServer::start().unwrap();
    let url = pg.create_db("haul").unwrap();
    let c = Counted::new();
    let src = c.e.env.path("src");
    for i in 0..BIGS {
        write(&src.join(format!("a-big-{i}.bin")), &big(i));
    }
    for i in 0..SMALLS {
        write(&src.join(format!("s/{:02}/{i:04}", i % 13)), &small(i));
    }
    let knobs = [
        "--chunk-size",
        "5MiB",
        "--slice-size",
        "5MiB",
        "--chunk-parallel-limit",
        &CHUNK_PARALLEL.to_string(),
        "--file-parallel-limit",
        &FILE_PARALLEL.to_string(),
        // Slow enough that a worker is caught mid-file.
        "--bwlimit",
        "24MB",
    ]
    .map(str::to_owned);
    let plan = c
        .cmd()
        .args(["cp", "-r", s(&src), "s3://one/dst/", "--submit"])
        .args(["--journal", &url])
        .args(&knobs)
        .output()
        .unwrap();
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let job: JobId = String::from_utf8_lossy(&plan.stdout)
        .trim()
        .parse()
        .unwrap();
    let logs = c.e.env.path("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let spawn = |n: usize| -> Child {
        let err = std::fs::File::create(logs.join(format!("w{n}.err"))).unwrap();
        let child = c
            .cmd()
            .args(["worker", &job.to_string(), "--lease", "2s"])
            .args(["--journal", &url])
            .args(&knobs)
            .env("HAUL_CLAIM_BATCH", "2")
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        let _ = std::fs::rename(
            logs.join(format!("w{n}.err")),
            logs.join(format!("worker-{}.err", child.id())),
        );
        child
    };
    let mut workers: Vec<Child> = (0..3).map(spawn).collect();
    let j = Journal::open(&url).unwrap();

    // SIGKILL one worker in the middle of a multipart file.
    let (killed, _) = until("a worker mid-file", || mid_file(&j, job, &[]));
    signal(killed, "-KILL");
    // SIGSTOP another in the middle of one, until its lease is taken.
    let (stopped, file) = until("another worker mid-file", || mid_file(&j, job, &[killed]));
    signal(stopped, "-STOP");
    let taker = until("the paused worker's file taken over", || {
        let l = j.leases(job).ok()?;
        let l = l.iter().find(|l| l.file == file)?;
        let pid = pid_of(&l.owner);
        (pid != stopped).then_some(pid)
    });
    assert_ne!(taker, killed);
    signal(stopped, "-CONT");

    let mut outputs = Vec::new();
    for w in workers.drain(..) {
        let pid = w.id();
        let out = w.wait_with_output().unwrap();
        outputs.push((pid, out));
    }
    for (pid, out) in &outputs {
        if *pid == killed {
            assert!(!out.status.success());
        } else if *pid != stopped {
            assert!(out.status.success(), "{}", stderr_of(&logs, *pid));
        }
    }
    // The paused worker's late writes about the file were refused.
    let err = stderr_of(&logs, stopped);
    assert!(err.contains("lease lost"), "{err}");
    // No worker ever printed the database password, and no batch of
    // journal writes was lost.
    for (pid, _) in &outputs {
        let err = stderr_of(&logs, *pid);
        assert!(!err.contains("journal write failed"), "{err}");
        assert!(err.contains(":***@"), "{err}");
        assert!(!err.contains(pg.password()), "{err}");
    }

    // The job is done: every file, exactly what left.
    let row = j.job(job).unwrap();
    let total = (BIGS + SMALLS) as u64;
    assert_eq!(row.state, JobState::Done, "{row:?}");
    assert_eq!((row.files_done, row.files_total), (total, total));
    let by_workers: u64 = j.workers(job).unwrap().iter().map(|w| w.files_done).sum();
    assert_eq!(
        by_workers, total,
        "the job's summary is the sum over workers"
    );
    for i in 0..BIGS {
        let got = std::fs::read(c.e.object(&format!("one/dst/a-big-{i}.bin"))).unwrap();
        assert!(got == big(i), "a-big-{i}.bin differs");
    }
    for i in 0..SMALLS {
        let rel = format!("s/{:02}/{i:04}", i % 13);
        assert_eq!(
            std::fs::read(c.e.object(&format!("one/dst/{rel}"))).unwrap(),
            small(i),
            "{rel}"
        );
    }
    // `haul jobs show` reads the shared journal: each worker, what it did.
    let show = c
        .cmd()
        .args(["jobs", "show", &job.to_string(), "--journal", &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.starts_with(&format!("job {job} done")), "{text}");
    // The three, and the submitter, which listed the first level.
    assert_eq!(text.lines().filter(|l| l.starts_with("worker ")).count(), 4);
    assert!(text.lines().any(|l| l.starts_with("listing ")), "{text}");
    assert!(!text.contains(pg.password()));
    // Sent twice: at most what the two stopped workers had in flight.
    let resent: u64 = puts(&c.proxy.stats().answered)
        .values()
        .map(|&(n, len)| (n - 1) * len)
        .sum();
    let bound = 2 * FILE_PARALLEL * CHUNK_PARALLEL * PART;
    println!("sent twice: {resent} bytes (bound {bound})");
    assert!(resent <= bound, "{resent} bytes sent twice, bound {bound}");
}

#[test]
#[ignore = "needs postgres"]
fn a_worker_interrupted_gives_its_leases_back_and_another_continues_its_upload() {
    let pg = PgServer::start().unwrap();
    let url = pg.create_db("haul").unwrap();
    let c = Counted::new();
    let src = c.e.env.path("src");
    write(&src.join("big.bin"), &big(9));
    let knobs = [
        "--chunk-size",
        "5MiB",
        "--slice-size",
        "5MiB",
        "--chunk-parallel-limit",
        "1",
        "--bwlimit",
        "24MB",
    ];
    let plan = c
        .cmd()
        .args(["cp", "-r", s(&src), "s3://one/int/", "--submit", "--json"])
        .args(["--journal", &url])
        .args(knobs)
        .output()
        .unwrap();
    assert!(plan.status.success());
    let planned: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&plan.stdout).trim()).unwrap();
    assert_eq!(planned["files_total"], 1, "{planned}");
    let job = JobId(planned["job_id"].as_i64().unwrap());
    let worker = c
        .cmd()
        .args(["worker", &job.0.to_string(), "-q", "--journal", &url])
        .args(knobs)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let j = Journal::open(&url).unwrap();
    let pid = worker.id();
    until("the worker mid-file", || mid_file(&j, job, &[]));
    signal(pid, "-INT");
    let out = worker.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    // Given back at once: no lease left, the job waits for a worker.
    assert!(j.leases(job).unwrap().is_empty());
    let file = j.files(job).unwrap().remove(0);
    let journaled = j.parts(file.id).unwrap().len() as u64;
    assert!(journaled >= 1 && file.upload_id.is_some());
    assert_eq!(j.job(job).unwrap().state, JobState::Interrupted);
    // Another worker (this one runs `haul resume`'s code path as a worker
    // would) continues the same upload: the journaled parts are not sent.
    c.proxy.reset_stats();
    let out = c
        .cmd()
        .args(["worker", &job.0.to_string(), "--json", "--journal", &url])
        .args(knobs)
        .output()
        .unwrap();
    assert!(out.status.success());
    let sum = summary(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(sum["files_done"], 1, "{sum}");
    assert!(
        sum["bytes_resumed"].as_u64().unwrap() >= journaled * PART,
        "{sum}"
    );
    let again = puts(&c.proxy.stats().answered).len() as u64;
    assert!(
        again <= BIG.div_ceil(PART) - journaled,
        "{again} parts sent"
    );
    assert!(std::fs::read(c.e.object("one/int/big.bin")).unwrap() == big(9));
    assert_eq!(j.job(job).unwrap().state, JobState::Done);
}

/// The shared journal over TLS, as a managed database is reached: a small
/// `cp -r` journals through `sslmode=verify-full` with the server's CA as
/// `sslrootcert`; the same copy trusting another CA is refused, naming the
/// certificate problem and not the password.
#[test]
#[ignore = "needs postgres"]
fn a_copy_journals_over_verified_tls() {
    let pg = PgServer::start_tls().unwrap();
    let base = pg.create_db("haul").unwrap();
    let ca = pg.ca_file().unwrap();
    let url = format!("{base}?sslmode=verify-full&sslrootcert={}", s(ca));
    let c = Counted::new();
    let src = c.e.env.path("src");
    for i in 0..5 {
        write(
            &src.join(format!("d{}/f{i}.txt", i % 2)),
            format!("tls {i}").as_bytes(),
        );
    }
    let out = c
        .cmd()
        .args(["cp", "-r", s(&src), "s3://one/tls/", "--json"])
        .args(["--journal", &url])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(summary(&stdout)["files_done"], 5, "{stdout}");
    for i in 0..5 {
        assert_eq!(
            std::fs::read(c.e.object(&format!("one/tls/d{}/f{i}.txt", i % 2))).unwrap(),
            format!("tls {i}").as_bytes()
        );
    }
    assert!(!stdout.contains(pg.password()) && !stderr.contains(pg.password()));
    let j = Journal::open(&url).unwrap();
    let jobs = j.list_jobs().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Done);
    let files = j.files(jobs[0].id).unwrap();
    assert_eq!(files.len(), 5);
    assert!(files.iter().all(|f| f.state == FileState::Done));

    let wrong = pg.unrelated_ca_file().unwrap();
    let out = c
        .cmd()
        .args(["cp", "-r", s(&src), "s3://one/tls2/"])
        .args(["--journal"])
        .arg(format!(
            "{base}?sslmode=verify-full&sslrootcert={}",
            s(&wrong)
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
    assert!(!stderr.contains(pg.password()), "{stderr}");
    assert!(!c.e.object("one/tls2").exists());
}
