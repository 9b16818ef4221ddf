//! End-to-end tests of the runners and renderers against in-memory stores
//! (and one against the embedded S3 endpoint).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use haul_core::{Error, ObjectStore, ObjectStoreExt};
use haul_engine::{Endpoint, TransferConfig};
use haul_testkit::{Fault, FaultRule, FaultStore, MemoryStore, Op};

use crate::*;

const KIB: u64 = 1024;

fn small(workload: Workload) -> BenchConfig {
    BenchConfig {
        workload,
        object_size_bytes: 64 * KIB,
        objects: Some(24),
        duration: Some(Duration::from_secs(30)),
        concurrency: 4,
        part_size: 16 * KIB,
        ..BenchConfig::default()
    }
}

fn memory() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::with_min_part_size(KIB))
}

#[tokio::test]
async fn every_workload_runs_counts_and_cleans_up() {
    for w in Workload::ALL {
        let mem = memory();
        let r = run(mem.clone(), small(w)).await.unwrap();
        assert_eq!(r.runs.len(), 1, "{w}");
        let one = &r.runs[0];
        assert_eq!(one.errors, 0, "{w}");
        assert_eq!(one.failed_operations, 0, "{w}");
        let t = &one.throughput;
        let want_objects = match w {
            // HEADs finish no object.
            Workload::Mixed => t.objects,
            _ => 24,
        };
        assert_eq!(t.objects, want_objects, "{w}");
        assert!(t.objects > 0 || w == Workload::Mixed, "{w}");
        let kinds: Vec<RequestKind> = one.by_request.iter().map(|k| k.request).collect();
        match w {
            Workload::Put => assert_eq!(kinds, vec![RequestKind::Put]),
            Workload::Get => {
                assert_eq!(kinds, vec![RequestKind::Get]);
                assert_eq!(t.bytes, 24 * 64 * KIB);
                assert_eq!(one.ttfb.unwrap().count, 24);
                assert_eq!(r.pool_objects, 24);
            }
            Workload::Copy => assert_eq!(kinds, vec![RequestKind::Copy]),
            Workload::Multipart => {
                assert_eq!(
                    kinds,
                    vec![
                        RequestKind::CreateMultipart,
                        RequestKind::UploadPart,
                        RequestKind::CompleteMultipart
                    ]
                );
                assert_eq!(one.requests, 24 * 6);
                assert_eq!(t.bytes, 24 * 64 * KIB);
            }
            Workload::Mixed => {
                assert_eq!(one.requests, 24);
                assert!(kinds.contains(&RequestKind::Get), "{kinds:?}");
            }
        }
        // Every request is in the latency summary and the histogram.
        let l = one.latency.unwrap();
        assert_eq!(l.count, one.requests, "{w}");
        let h = &one.histogram;
        assert_eq!(
            h.counts.iter().sum::<u64>() + h.overflow,
            one.requests,
            "{w}"
        );
        assert!(l.p50_ms <= l.p90_ms && l.p90_ms <= l.p99_ms && l.p99_ms <= l.max_ms);
        assert!(mem.keys().is_empty(), "{w}: left {:?}", mem.keys());
        assert!(mem.pending_uploads().is_empty(), "{w}");
        assert_eq!(r.cleanup.errors, 0);
        assert!(r.prefix.starts_with("haul-bench-") && r.prefix.ends_with('/'));
    }
}

#[tokio::test]
async fn sweep_runs_each_concurrency() {
    let mem = memory();
    let cfg = BenchConfig {
        sweep: true,
        concurrency: 5,
        objects: Some(10),
        ..small(Workload::Put)
    };
    let r = run(mem.clone(), cfg).await.unwrap();
    let cs: Vec<usize> = r.runs.iter().map(|r| r.concurrency).collect();
    assert_eq!(cs, vec![1, 2, 4, 5]);
    assert!(r.runs.iter().all(|r| r.throughput.objects == 10));
    assert!(r.best().is_some());
    assert!(mem.keys().is_empty());
}

#[tokio::test]
async fn duration_bounds_a_run() {
    let cfg = BenchConfig {
        objects: None,
        duration: Some(Duration::from_millis(300)),
        object_size_bytes: KIB,
        ..small(Workload::Put)
    };
    let mem = memory();
    let r = run(mem.clone(), cfg).await.unwrap();
    let t = &r.runs[0].throughput;
    assert!(t.objects > 0);
    assert!(t.elapsed_s < 5.0, "{}", t.elapsed_s);
    assert!(mem.keys().is_empty());
}

#[tokio::test]
async fn retryable_failures_are_retried_and_counted() {
    let mem = memory();
    let faulty = Arc::new(FaultStore::new(mem.clone(), 7).with_rules(vec![
        FaultRule::first(Op::Put, 3, Fault::TransientBefore),
        FaultRule::first(Op::Get, 2, Fault::TruncateBody { error: false }),
    ]));
    let cfg = BenchConfig {
        objects: Some(8),
        ..small(Workload::Get)
    };
    // The pool's puts are retried untimed; the truncated GETs in the run.
    let r = run(faulty.clone(), cfg).await.unwrap();
    let one = &r.runs[0];
    assert_eq!(one.errors, 2);
    assert_eq!(one.retries, 2);
    assert_eq!(one.failed_operations, 0);
    assert_eq!(one.requests, 8);
    assert!(mem.keys().is_empty());

    // Retries run out: the operation fails, the run goes on.
    let faulty = Arc::new(
        FaultStore::new(mem.clone(), 7).with_rules(vec![FaultRule::first(
            Op::Put,
            4,
            Fault::TransientBefore,
        )]),
    );
    let cfg = BenchConfig {
        objects: Some(5),
        concurrency: 1,
        max_retries: 3,
        ..small(Workload::Put)
    };
    let r = run(faulty, cfg).await.unwrap();
    let one = &r.runs[0];
    assert_eq!((one.errors, one.retries, one.failed_operations), (4, 3, 1));
    assert_eq!(one.requests, 4);
    assert!(mem.keys().is_empty());
}

#[tokio::test]
async fn permanent_failures_stop_and_still_clean_up() {
    let mem = memory();
    let faulty = Arc::new(
        FaultStore::new(mem.clone(), 7).with_rules(vec![FaultRule::nth(
            Op::Put,
            5,
            Fault::Error(|k| Error::PermissionDenied {
                key: k.to_owned(),
                source: "injected".into(),
            }),
        )]),
    );
    let e = run(faulty, small(Workload::Put)).await.unwrap_err();
    assert!(e.to_string().contains("access denied"), "{e}");
    assert!(mem.keys().is_empty(), "left {:?}", mem.keys());
}

#[tokio::test]
async fn invalid_settings_are_refused_before_any_request() {
    let mem = memory();
    let cfg = BenchConfig {
        concurrency: 0,
        ..small(Workload::Put)
    };
    assert!(matches!(
        run(mem.clone(), cfg).await,
        Err(BenchError::Config(_))
    ));
    assert!(mem.keys().is_empty());
}

/// Checks that `doc` is well-formed XML; returns element counts by name.
fn xml_elements(doc: &str) -> HashMap<String, usize> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(doc);
    let mut counts = HashMap::new();
    let mut depth = 0i32;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                depth += 1;
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                *counts.entry(name).or_insert(0) += 1;
            }
            Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                *counts.entry(name).or_insert(0) += 1;
            }
            Event::End(_) => depth -= 1,
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced elements");
    counts
}

fn assert_self_contained(doc: &str) {
    // The SVG namespace is a name, not a fetch; nothing else may point out.
    let stripped = doc.replace("http://www.w3.org/2000/svg", "");
    for bad in [
        "http://", "https://", "<script", "<link", "@import", "url(", "src=",
    ] {
        assert!(
            !stripped.contains(bad),
            "report refers outside itself: {bad}"
        );
    }
}

#[tokio::test]
async fn svg_and_html_are_well_formed_and_self_contained() {
    let mem = memory();
    let cfg = BenchConfig {
        sweep: true,
        concurrency: 4,
        ..small(Workload::Get)
    };
    let mut r = run(mem, cfg).await.unwrap();
    r.target = "s3://<odd & \"bucket\">".into();
    let svg = render_svg(&r);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    let el = xml_elements(&svg);
    assert_eq!(el["svg"], 1);
    // Throughput over time and throughput vs concurrency.
    assert_eq!(el["polyline"], 2, "{el:?}");
    let best = r.best().unwrap();
    let bars = best.histogram.counts.len() + usize::from(best.histogram.overflow > 0);
    // The background, three plot frames and the bars.
    assert_eq!(el["rect"], 1 + 3 + bars, "{el:?}");
    for label in [
        "time since start (s)",
        "throughput (MiB/s)",
        "latency (ms)",
        "requests",
        "concurrency (requests in flight)",
        "Throughput vs concurrency",
        "&lt;odd &amp; &quot;bucket&quot;&gt;",
    ] {
        assert!(svg.contains(label), "missing {label}");
    }
    assert_self_contained(&svg);

    let html = render_html(&r);
    assert!(html.starts_with("<!DOCTYPE html>"));
    // The page without its doctype is well-formed XML too.
    let el = xml_elements(html.trim_start_matches("<!DOCTYPE html>\n").trim_end());
    assert_eq!(el["svg"], 1);
    assert_eq!(el["table"], 2);
    assert!(html.contains("MiB/s median"));
    assert_self_contained(&html);

    let text = render_text(&r);
    assert!(
        text.contains("concurrency") && text.contains("p99 ms"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["workload"], "get");
    assert_eq!(json["runs"].as_array().unwrap().len(), 3);
    let back: BenchReport = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(back.runs.len(), 3);
}

#[test]
fn empty_report_still_renders() {
    let r = BenchReport {
        haul_version: "0".into(),
        target: "t".into(),
        started_at: "now".into(),
        workload: Workload::Put,
        object_size_bytes: 1,
        part_size_bytes: None,
        objects: Some(1),
        duration_s: None,
        pool_objects: 0,
        prefix: "p/".into(),
        runs: Vec::new(),
        cleanup: Cleanup::default(),
    };
    xml_elements(&render_svg(&r));
    assert!(render_html(&r).contains("<svg"));
    assert!(render_text(&r).contains("cleanup"));
}

#[tokio::test]
async fn migration_between_stores_and_within_one() {
    let src = memory();
    let dst = memory();
    let cfg = TransferConfig {
        chunk_size: 16 * KIB,
        slice_size: 32 * KIB,
        ..TransferConfig::default()
    };
    let r = run_migration(
        cfg.clone(),
        Endpoint::new(src.clone(), "in", "mem:src"),
        Endpoint::new(dst.clone(), "out/", "mem:dst"),
        Some((6, 40 * KIB)),
    )
    .await
    .unwrap();
    assert_eq!(r.files_done, 6);
    assert_eq!(r.files_failed, 0);
    assert_eq!(r.parts, 18);
    assert_eq!(r.throughput.bytes, 6 * 40 * KIB);
    assert_eq!(r.throughput.objects, 6);
    assert_eq!(r.part_latency.unwrap().count, 18);
    assert!(r.source.contains("in/haul-bench-"), "{}", r.source);
    assert!(
        r.destination.contains("out/haul-bench-"),
        "{}",
        r.destination
    );
    assert!(src.keys().is_empty() && dst.keys().is_empty());
    xml_elements(&render_migration_svg(&r));
    assert_self_contained(&render_migration_html(&r));
    assert!(render_migration_text(&r).contains("files done"));

    // One store on both sides: the engine copies server-side, part by part
    // above copy_slice_size, and an existing source is left alone.
    let one = memory();
    for i in 0..3 {
        let key = haul_core::Key::new(format!("data/f{i}")).unwrap();
        one.put_bytes(&key, vec![7u8; 48 * 1024].into())
            .await
            .unwrap();
    }
    let store: Arc<dyn ObjectStore> = one.clone();
    let cfg = TransferConfig {
        copy_chunk_size: 16 * KIB,
        copy_slice_size: 32 * KIB,
        ..cfg
    };
    let r = run_migration(
        cfg,
        Endpoint::new(store.clone(), "data/", "mem:one"),
        Endpoint::new(store, "copies", "mem:one"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.files_done, 3);
    let kinds: Vec<RequestKind> = r.by_request.iter().map(|k| k.request).collect();
    assert!(kinds.contains(&RequestKind::UploadPartCopy), "{kinds:?}");
    assert_eq!(r.part_latency.unwrap().count, 9);
    assert_eq!(one.keys().len(), 3, "the source stays, the copies go");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_endpoint_round_trip() {
    let cfg = BenchConfig {
        workload: Workload::Mixed,
        object_size_bytes: 8 * KIB,
        objects: Some(40),
        concurrency: 4,
        ..BenchConfig::default()
    };
    let r = run_embedded(cfg).await.unwrap();
    assert!(r.target.contains("embedded haul serve"), "{}", r.target);
    let one = &r.runs[0];
    assert_eq!(one.requests, 40);
    assert_eq!(one.errors, 0);
    assert_eq!(r.cleanup.errors, 0);
    assert!(r.cleanup.deleted >= r.pool_objects);
}

#[test]
fn prefixes_get_a_separator() {
    assert!(crate::run::unique_prefix("").starts_with("haul-bench-"));
    assert!(crate::run::unique_prefix("dir").starts_with("dir/haul-bench-"));
    assert!(crate::run::unique_prefix("dir/").starts_with("dir/haul-bench-"));
}
