//! The commands that are not transfers ride through what the network does
//! to them, as transfers do: `ls`, `stat`, `cleanup`, `mb` and `rb`
//! against a proxy answering `503 SlowDown`, resetting connections before
//! forwarding, and (where a request's effect can be seen again) after the
//! server acted. Each command must succeed with the right answer, and the
//! proxy must have injected every fault it was told to.

use haul::testkit::{ProxyFault, ProxyRule};

use crate::cli::{s, succeeded, write};
use crate::window::{Counted, body};

const SLOW: ProxyFault = ProxyFault::SlowDown { retry_after: None };

/// Runs `args` through the proxy with `rules`; it must succeed, and the
/// proxy must have fired every rule as often as it may.
fn rides(c: &Counted, rules: Vec<ProxyRule>, args: &[&str]) -> String {
    let want: Vec<u64> = rules.iter().map(|r| r.max_times.unwrap_or(0)).collect();
    c.proxy.reset_stats();
    c.proxy.set_rules(rules);
    let out = c.cmd().args(args).output().unwrap();
    let stdout = succeeded(args, &out);
    let fired = c.proxy.stats().fired_by_rule;
    assert_eq!(fired, want, "haul {args:?}: faults fired per rule");
    c.proxy.clear_rules();
    stdout
}

fn first(n: u64, fault: ProxyFault, method: &str) -> ProxyRule {
    ProxyRule::first(n, fault).method(method).at_most(n)
}

#[test]
fn ls_and_stat_ride_through_slowdowns_and_resets() {
    let c = Counted::new();
    for k in ["a.txt", "d/b.txt", "d/c.txt"] {
        let f = c.e.env.path(k);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        write(&f, k.as_bytes());
        succeeded(
            &["cp"],
            &c.e.run(&["cp", s(&f), &format!("s3://one/{k}"), "-q"]),
        );
    }
    for fault in [SLOW, ProxyFault::ResetBefore] {
        let out = rides(&c, vec![first(2, fault, "GET")], &["ls", "-r", "s3://one/"]);
        for k in ["a.txt", "d/b.txt", "d/c.txt"] {
            assert!(out.contains(k), "ls under {fault:?} lost {k}: {out}");
        }
        let out = rides(&c, vec![first(2, fault, "GET")], &["ls", "s3://"]);
        assert!(out.contains("one") && out.contains("two"), "{out}");
        let out = rides(
            &c,
            vec![first(2, fault, "HEAD")],
            &["stat", "s3://one/d/b.txt"],
        );
        assert!(out.contains("d/b.txt") && out.contains('7'), "stat: {out}");
    }
}

#[test]
fn mb_and_rb_ride_through_slowdowns_resets_and_lost_answers() {
    let c = Counted::new();
    rides(&c, vec![first(2, SLOW, "PUT")], &["mb", "s3://made"]);
    assert!(c.e.object("made").is_dir(), "mb made no bucket");
    rides(
        &c,
        vec![first(2, ProxyFault::ResetBefore, "PUT")],
        &["mb", "s3://made2"],
    );
    assert!(c.e.object("made2").is_dir());
    // rb asks whether the bucket is empty (GET), then deletes it.
    rides(
        &c,
        vec![first(1, SLOW, "GET"), first(2, SLOW, "DELETE")],
        &["rb", "s3://made"],
    );
    assert!(!c.e.object("made").exists(), "rb left the bucket");
    // The server removes the bucket, the answer is lost: the retry finds
    // it gone, which is what was asked.
    rides(
        &c,
        vec![first(1, ProxyFault::ResetAfter, "DELETE")],
        &["rb", "s3://made2"],
    );
    assert!(!c.e.object("made2").exists());
}

#[test]
fn cleanup_rides_through_slowdowns_and_resets() {
    let c = Counted::new();
    let src = c.e.env.path("big.bin");
    write(&src, &body());
    c.crash_at(
        "part-journaled",
        &[
            "cp",
            s(&src),
            "s3://one/big.bin",
            "--chunk-size",
            "5MiB",
            "--slice-size",
            "5MiB",
        ],
    );
    // The abort is answered 503 twice; listing the uploads left on the
    // server has its connection reset twice before it reaches the server.
    let out = rides(
        &c,
        vec![
            first(2, SLOW, "DELETE"),
            first(2, ProxyFault::ResetBefore, "GET"),
        ],
        &["cleanup", "--list", "s3://one"],
    );
    assert!(out.contains("aborted upload"), "{out}");
    assert!(
        !out.lines().any(|l| l.starts_with("one/big.bin ")),
        "the upload is still listed: {out}"
    );
    let left = succeeded(&["cleanup"], &c.e.run(&["cleanup", "--list", "s3://one"]));
    assert!(left.trim().is_empty(), "uploads left: {left}");
}
