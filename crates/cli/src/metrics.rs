//! `--metrics ADDR`: Prometheus text on `http://ADDR/metrics` for the life
//! of a job.
//!
//! Two feeds: the job's events (files done, failed and skipped as they
//! happen; bytes, retries by cause and the totals from each progress
//! snapshot) and the [`Recorder`] on every store's
//! [`haul_layers::Timing`] layer (a latency histogram, a count and the
//! requests in flight per operation). Nothing secret is exported: no keys,
//! no URLs, no object names.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use haul_engine::{Event, Snapshot};
use haul_layers::{Op, Recorder, Timed};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::CliError;

type Label = [(&'static str, &'static str); 1];

/// One job's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    files: Family<Label, Counter>,
    bytes_done: Counter,
    bytes_transferred: Counter,
    bytes_resent: Counter,
    bytes_resumed: Counter,
    retries: Family<Label, Counter>,
    files_planned: Gauge,
    bytes_planned: Gauge,
    listing: Gauge,
    latency: Family<Label, Histogram>,
    requests: Family<[(&'static str, &'static str); 2], Counter>,
    in_flight: Family<Label, Gauge>,
    parts_in_flight: Gauge,
    concurrency: Gauge,
    concurrency_limit: Gauge,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("haul"),
            files: Family::default(),
            bytes_done: Counter::default(),
            bytes_transferred: Counter::default(),
            bytes_resent: Counter::default(),
            bytes_resumed: Counter::default(),
            retries: Family::default(),
            files_planned: Gauge::default(),
            bytes_planned: Gauge::default(),
            listing: Gauge::default(),
            latency: Family::new_with_constructor(latency_histogram),
            requests: Family::default(),
            in_flight: Family::default(),
            parts_in_flight: Gauge::default(),
            concurrency: Gauge::default(),
            concurrency_limit: Gauge::default(),
        };
        let r = &mut m.registry;
        r.register(
            "files",
            "Files finished, by state (done, failed, skipped)",
            m.files.clone(),
        );
        r.register(
            "bytes_done",
            "Bytes of the files done",
            m.bytes_done.clone(),
        );
        r.register(
            "bytes_transferred",
            "Bytes the destination acknowledged, re-sends included",
            m.bytes_transferred.clone(),
        );
        r.register(
            "bytes_resent",
            "Bytes sent again (retried parts and objects)",
            m.bytes_resent.clone(),
        );
        r.register(
            "bytes_resumed",
            "Bytes found already at the destination on a resume",
            m.bytes_resumed.clone(),
        );
        r.register(
            "retries",
            "Requests and parts sent again, by cause",
            m.retries.clone(),
        );
        r.register(
            "files_planned",
            "Files in the plan (while listing: listed so far)",
            m.files_planned.clone(),
        );
        r.register(
            "bytes_planned",
            "Bytes to move (while listing: listed so far)",
            m.bytes_planned.clone(),
        );
        r.register(
            "listing",
            "1 while the source is being listed",
            m.listing.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Latency of each request (each try), by operation",
            m.latency.clone(),
        );
        r.register(
            "requests",
            "Requests finished, by operation and outcome (ok, error)",
            m.requests.clone(),
        );
        r.register(
            "requests_in_flight",
            "Requests sent and not yet answered, by operation",
            m.in_flight.clone(),
        );
        r.register(
            "parts_in_flight",
            "Multipart parts (uploads and part copies) in flight",
            m.parts_in_flight.clone(),
        );
        r.register(
            "concurrency",
            "Requests in flight, all operations",
            m.concurrency.clone(),
        );
        r.register(
            "concurrency_limit",
            "Data requests in flight the tuned concurrency allows now (--concurrency auto); 0 when fixed",
            m.concurrency_limit.clone(),
        );
        m
    }

    /// The exposition text.
    fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }

    /// Takes in one event of the job.
    pub(crate) fn event(&self, ev: &Event) {
        match ev {
            Event::FileDone { size, .. } => {
                self.files.get_or_create(&[("state", "done")]).inc();
                self.bytes_done.inc_by(*size);
            }
            Event::FileFailed { .. } => {
                self.files.get_or_create(&[("state", "failed")]).inc();
            }
            Event::FileSkipped { .. } => {
                self.files.get_or_create(&[("state", "skipped")]).inc();
            }
            Event::Progress(s) => self.snapshot(s),
            _ => {}
        }
    }

    fn snapshot(&self, s: &Snapshot) {
        // The job's counters only grow: they are set, not added to.
        let set = |c: &Counter, v: u64| c.inner().fetch_max(v, Ordering::Relaxed);
        set(&self.bytes_transferred, s.bytes_transferred);
        set(&self.bytes_resent, s.bytes_resent);
        set(&self.bytes_resumed, s.bytes_resumed);
        for (cause, n) in s.retry_causes.named() {
            set(&self.retries.get_or_create(&[("cause", cause)]), n);
        }
        self.files_planned
            .set(i64::try_from(s.files_total).unwrap_or(i64::MAX));
        self.bytes_planned
            .set(i64::try_from(s.bytes_total).unwrap_or(i64::MAX));
        self.listing.set(i64::from(s.listing));
        self.concurrency_limit
            .set(i64::try_from(s.concurrency).unwrap_or(i64::MAX));
    }

    fn moved(&self, op: Op, by: i64) {
        self.in_flight
            .get_or_create(&[("op", op.name())])
            .inc_by(by);
        self.concurrency.inc_by(by);
        if matches!(op, Op::UploadPart | Op::UploadPartCopy) {
            self.parts_in_flight.inc_by(by);
        }
    }
}

impl Recorder for Metrics {
    fn started(&self, op: Op) {
        self.moved(op, 1);
    }

    fn record(&self, t: Timed) {
        if t.op != Op::List {
            self.moved(t.op, -1);
        }
        self.latency
            .get_or_create(&[("op", t.op.name())])
            .observe(t.latency.as_secs_f64());
        let outcome = if t.ok { "ok" } else { "error" };
        self.requests
            .get_or_create(&[("op", t.op.name()), ("outcome", outcome)])
            .inc();
    }

    fn abandoned(&self, op: Op) {
        self.moved(op, -1);
    }
}

/// The metrics of the job this process runs, once `--metrics` started them.
static JOB: std::sync::OnceLock<Arc<Metrics>> = std::sync::OnceLock::new();

/// Feeds one event of the job to the metrics, if they are served.
pub(crate) fn event(ev: &Event) {
    if let Some(m) = JOB.get() {
        m.event(ev);
    }
}

/// Binds `addr` and serves `/metrics` from the job's [`Metrics`] until
/// the process ends; the address bound is printed on standard error (a
/// port of 0 picks a free one).
pub(crate) async fn serve(addr: &str) -> Result<Arc<Metrics>, CliError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::usage(format!("--metrics {addr}: cannot listen: {e}")))?;
    let bound: SocketAddr = listener
        .local_addr()
        .map_err(|e| CliError::usage(format!("--metrics {addr}: {e}")))?;
    eprintln!("metrics: http://{bound}/metrics");
    let metrics = Arc::clone(JOB.get_or_init(|| Arc::new(Metrics::new())));
    let m = Arc::clone(&metrics);
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            let m = Arc::clone(&m);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let m = Arc::clone(&m);
                    async move { Ok::<_, std::convert::Infallible>(answer(&m, &req)) }
                });
                let io = hyper_util::rt::TokioIo::new(conn);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(metrics)
}

fn answer<B>(
    m: &Metrics,
    req: &hyper::Request<B>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let (status, kind, body) = if req.uri().path() == "/metrics" {
        (
            hyper::StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            m.render(),
        )
    } else {
        (
            hyper::StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics\n".to_owned(),
        )
    };
    let mut res = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
    *res.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(kind) {
        res.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_request_is_in_flight_from_start_to_record_and_its_latency_lands_in_a_bucket() {
        let m = Metrics::new();
        m.started(Op::UploadPart);
        m.started(Op::Put);
        assert_eq!(m.concurrency.get(), 2);
        assert_eq!(m.parts_in_flight.get(), 1);
        m.record(Timed {
            op: Op::UploadPart,
            end: Duration::ZERO,
            latency: Duration::from_millis(3),
            bytes: 5,
            ok: true,
        });
        m.abandoned(Op::Put);
        assert_eq!(m.concurrency.get(), 0);
        let text = m.render();
        assert!(
            text.contains(
                "haul_request_duration_seconds_bucket{le=\"0.004\",op=\"upload_part\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("haul_requests_total{op=\"upload_part\",outcome=\"ok\"} 1"));
    }
}
