//! The commit window: a crash after the store completed an upload (or a
//! local download's data was renamed into place) but before the journal
//! heard. The resume must find the object whole and send nothing again,
//! counted at the store through a proxy.

use std::process::{Command, Output};

use haul::testkit::FaultProxy;

use crate::cli::{s, summary, write};
use crate::s3cli::S3Env;

/// `haul` through a counting proxy in front of the in-process server.
pub(crate) struct Counted {
    pub(crate) e: S3Env,
    pub(crate) proxy: FaultProxy,
}

impl Counted {
    pub(crate) fn new() -> Self {
        let e = S3Env::new();
        let proxy = FaultProxy::start(&e.server.endpoint(), 7);
        Self { e, proxy }
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = self.e.cmd();
        c.env("AWS_ENDPOINT_URL", self.proxy.endpoint());
        c
    }

    /// Runs `args` with the process aborting at `point`; it must die there.
    pub(crate) fn crash_at(&self, point: &str, args: &[&str]) {
        let out = self
            .cmd()
            .args(args)
            .env("HAUL_TEST_CRASH_AT", point)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(&format!("HAUL_TEST_CRASH_AT={point}")),
            "{args:?} did not stop at {point}: {err}"
        );
    }

    pub(crate) fn resume(&self) -> (Output, serde_json::Value) {
        let out = self.cmd().args(["resume", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sum = summary(&String::from_utf8_lossy(&out.stdout));
        (out, sum)
    }

    /// A fresh server holding [`body`] at `url`, sent with `flags`.
    pub(crate) fn holding(url: &str, flags: &[&str]) -> Self {
        let c = Self::new();
        let src = c.e.env.path("big.bin");
        write(&src, &body());
        let up = c
            .cmd()
            .args([&["cp", s(&src), url, "-q"][..], flags].concat())
            .output()
            .unwrap();
        assert!(up.status.success());
        c
    }

    /// Requests of `method` the store received since the last reset.
    fn sent(&self, method: &str) -> u64 {
        self.proxy
            .stats()
            .requests_by_method
            .get(method)
            .copied()
            .unwrap_or(0)
    }
}

pub(crate) fn body() -> Vec<u8> {
    (0..12_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

const PARTS: [&str; 4] = ["--chunk-size", "5MiB", "--slice-size", "5MiB"];

#[test]
fn an_upload_completed_before_the_crash_is_not_sent_again() {
    let c = Counted::new();
    let src = c.e.env.path("big.bin");
    write(&src, &body());
    c.crash_at(
        "multipart-completed",
        &[&["cp", s(&src), "s3://one/big.bin"][..], &PARTS].concat(),
    );
    // The store holds the whole object; the journal thinks it is running.
    assert_eq!(std::fs::read(c.e.object("one/big.bin")).unwrap(), body());
    c.proxy.reset_stats();
    let (_, sum) = c.resume();
    assert_eq!(sum["files_done"], 1, "{sum}");
    assert_eq!(sum["bytes_transferred"], 0, "{sum}");
    assert_eq!(sum["bytes_resumed"], 12_000_000, "{sum}");
    assert_eq!(c.sent("PUT"), 0, "no part and no object sent again");
    assert_eq!(c.sent("POST"), 0, "no upload created or completed");
    assert_eq!(std::fs::read(c.e.object("one/big.bin")).unwrap(), body());
}

#[test]
fn a_download_renamed_into_place_before_the_crash_is_not_fetched_again() {
    let c = Counted::holding("s3://one/big.bin", &PARTS);
    let down = c.e.env.path("down/big.bin");
    c.crash_at(
        "local-renamed",
        &[&["cp", "s3://one/big.bin", s(&down)][..], &PARTS].concat(),
    );
    assert_eq!(std::fs::read(&down).unwrap(), body());
    c.proxy.reset_stats();
    let (_, sum) = c.resume();
    assert_eq!(sum["files_done"], 1, "{sum}");
    assert_eq!(sum["bytes_transferred"], 0, "{sum}");
    assert_eq!(c.sent("GET"), 0, "nothing downloaded again");
    assert_eq!(std::fs::read(&down).unwrap(), body());
    // The staging area of the finished download is gone too.
    assert!(!c.e.env.path("down/.haul-uploads").exists());
}

/// Every request sent again is a retry, whoever sent it: requests whose
/// connection was reset before the server saw them are re-sent by the
/// transport at once (on a fresh connection) or by the retry loop, and
/// the summary counts each one, by cause, as the proxy counted them.
#[test]
fn every_request_sent_again_is_counted_as_a_retry() {
    use haul::testkit::{ProxyFault, ProxyFaultKind, ProxyRule};
    let c = Counted::holding("s3://one/big.bin", &PARTS);
    c.proxy.set_rules(vec![
        ProxyRule::first(3, ProxyFault::ResetBefore).method("GET"),
    ]);
    c.proxy.reset_stats();
    let down = c.e.env.path("down/big.bin");
    let out = c
        .cmd()
        .args([&["cp", "s3://one/big.bin", s(&down), "--json"][..], &PARTS].concat())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(std::fs::read(&down).unwrap(), body());
    let stats = c.proxy.stats();
    let reset = stats.injected(ProxyFaultKind::ResetBefore);
    assert_eq!(reset, 3, "{stats}");
    let sum = summary(&text);
    assert_eq!(sum["retries"], reset, "{sum}");
    let by_cause: u64 = sum["retries_by_cause"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_cause, reset, "{sum}");
    // Requests received = requests answered + those reset.
    assert_eq!(stats.requests, stats.forwarded + reset, "{stats}");
}
