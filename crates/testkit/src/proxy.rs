//! [`FaultProxy`]: an HTTP/1.1 proxy that sits between a client and a server
//! and breaks requests by rule.

mod body;
mod conn;
mod rules;
mod stats;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use hyper::http::uri::Authority;
use rand::SeedableRng;
use rand::rngs::StdRng;

pub use rules::{ProxyFault, ProxyRule};
pub use stats::{Answered, ProxyFaultKind, ProxyStats};

use rules::Rules;
use stats::Counters;

/// An HTTP/1.1 proxy on a loopback port that forwards to one upstream server
/// (`http://127.0.0.1:PORT`) and injects faults by [`ProxyRule`],
/// deterministically from a seed: connection resets before or after the
/// server saw the request, `503 SlowDown` and `500 InternalError` answers with
/// S3 XML error bodies, response bodies cut short under their full
/// `Content-Length`, stalls (before the answer, or in the middle of a
/// body), and request bodies forwarded with one byte inverted (which a
/// declared checksum must catch).
///
/// Requests and answers stream through without being buffered; client
/// connections are kept alive between requests (a reset or a cut body ends
/// its connection, as it would on a real network), and the proxy keeps its
/// own pool of upstream connections. The `Host` header is forwarded as the
/// client sent it, so SigV4 signatures made for the proxy's address verify
/// at the server.
///
/// Rules are tried in order on each request; delays add up and the first
/// other fault that fires wins, as with [`FaultStore`](crate::FaultStore).
/// With the same seed, rules and sequence of requests the same requests
/// fail; concurrent requests draw from the rng in the order they arrive.
///
/// The proxy runs on its own thread and runtime, so sync and async callers
/// alike can start one; it stops when dropped.
///
/// ```no_run
/// use haul_testkit::{FaultProxy, ProxyFault, ProxyRule};
///
/// # let upstream = "http://127.0.0.1:9000";
/// let proxy = FaultProxy::start(upstream, 7).with_rules(vec![
///     ProxyRule::new(0.1, ProxyFault::SlowDown { retry_after: None }),
///     ProxyRule::new(0.1, ProxyFault::TruncateBody).method("GET"),
/// ]);
/// println!("point the client at {}", proxy.endpoint());
/// // ... run the client ...
/// println!("{} faults injected", proxy.stats().faults_injected());
/// ```
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What the proxy's connections share with its handle.
pub(crate) struct Shared {
    seed: u64,
    upstream: Authority,
    rules: Mutex<Rules>,
    counters: Counters,
}

impl Shared {
    fn lock_rules(&self) -> MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FaultProxy {
    /// Starts a proxy on an ephemeral loopback port in front of `upstream`
    /// (`http://host:port`), with no rules and an rng seeded with `seed`.
    ///
    /// # Panics
    /// When `upstream` is not an `http://host:port` URL or no loopback port
    /// can be bound: a test cannot go on without its proxy.
    #[must_use]
    pub fn start(upstream: &str, seed: u64) -> Self {
        Self::try_start(upstream, seed).unwrap_or_else(|e| panic!("FaultProxy {upstream}: {e}"))
    }

    /// [`start`](Self::start), failing rather than panicking on a bad URL
    /// or a port that cannot be bound.
    ///
    /// # Panics
    /// When the proxy thread cannot build its runtime (out of resources).
    pub fn try_start(upstream: &str, seed: u64) -> std::io::Result<Self> {
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
        let authority = upstream
            .strip_prefix("http://")
            .map(|a| a.trim_end_matches('/'))
            .ok_or_else(|| invalid(format!("{upstream:?} is not an http:// URL")))?
            .parse::<Authority>()
            .map_err(|e| invalid(format!("{upstream:?}: {e}")))?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            seed,
            upstream: authority,
            rules: Mutex::new(Rules::new(StdRng::seed_from_u64(seed))),
            counters: Counters::default(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("faultproxy-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("FaultProxy runtime");
                rt.block_on(conn::serve(listener, run, stopped));
                rt.shutdown_background();
            })?;
        Ok(Self {
            addr,
            upstream: upstream.to_owned(),
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Installs `rules` (builder form of [`set_rules`](Self::set_rules)).
    #[must_use]
    pub fn with_rules(self, rules: Vec<ProxyRule>) -> Self {
        self.set_rules(rules);
        self
    }

    /// Replaces the rules; their match and fire counts start again at zero.
    /// The rng carries on.
    pub fn set_rules(&self, rules: Vec<ProxyRule>) {
        self.shared.lock_rules().set(rules);
    }

    /// Appends one rule.
    pub fn add_rule(&self, rule: ProxyRule) {
        self.shared.lock_rules().push(rule);
    }

    /// Removes every rule: the proxy only forwards and counts from now on.
    pub fn clear_rules(&self) {
        self.shared.lock_rules().set(Vec::new());
    }

    /// The rules installed now.
    #[must_use]
    pub fn rules(&self) -> Vec<ProxyRule> {
        self.shared.lock_rules().rules()
    }

    /// `http://127.0.0.1:PORT`: where clients should connect.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the proxy listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The upstream URL requests are forwarded to.
    #[must_use]
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The seed the rng started from.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> ProxyStats {
        let fired = self.shared.lock_rules().fired();
        self.shared.counters.snapshot(fired)
    }

    /// Zeroes the counters (rules' fire counts are kept: see
    /// [`set_rules`](Self::set_rules)).
    pub fn reset_stats(&self) {
        self.shared.counters.reset();
    }
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("seed", &self.shared.seed)
            .field("rules", &self.rules())
            .finish_non_exhaustive()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
