//! The pooled HTTP client every HTTP store builds once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use haul_core::{Error, Result};

/// How to build a store's HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Requests the store runs at once; the idle pool keeps this many
    /// connections per host so a steady transfer never reconnects.
    pub concurrency: usize,
    /// Longest wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Longest a body (or the wait for response headers) may go without a
    /// byte before the request fails as a retryable stall.
    pub stall_timeout: Duration,
    /// How long an idle pooled connection is kept.
    pub idle_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
}

/// The process-wide request timeout in milliseconds (0: the built-in 60 s).
static TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);

/// The request timeout every store's client gets by default: 60 s unless
/// [`set_request_timeout`] changed it.
#[must_use]
pub fn request_timeout() -> Duration {
    match TIMEOUT_MS.load(Ordering::Relaxed) {
        0 => Duration::from_mins(1),
        ms => Duration::from_millis(ms),
    }
}

/// Sets the request timeout for clients built from now on (what `haul
/// --timeout` and `HAUL_TIMEOUT` set): the longest wait for a connection,
/// for an answer to begin, and for a body to move. A silent endpoint fails
/// each request after it, and a request that timed out is tried once more,
/// so a file against a silent endpoint fails within a few timeouts.
pub fn set_request_timeout(limit: Duration) {
    let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX).max(1);
    TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

impl Default for ClientOptions {
    fn default() -> Self {
        let timeout = request_timeout();
        Self {
            concurrency: 16,
            connect_timeout: timeout.min(Duration::from_secs(10)),
            stall_timeout: timeout,
            idle_timeout: Duration::from_secs(50),
            user_agent: concat!("haul/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Builds a client: rustls, keep-alive, `TCP_NODELAY`, a pool sized to the
/// concurrency, a connect timeout and a backstop read timeout of at least
/// ten minutes (reqwest counts it from the request, upload included, so a
/// tight one would fail large parts on slow links; [`crate::send::send`] watches
/// upload progress against the stall timeout instead), no
/// automatic decompression and no redirects (a signed request must not be
/// replayed elsewhere).
pub fn build_client(opts: &ClientOptions) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(opts.user_agent.clone())
        .pool_max_idle_per_host(opts.concurrency.max(1))
        .pool_idle_timeout(opts.idle_timeout)
        .tcp_nodelay(true)
        .tcp_keepalive(Duration::from_secs(30))
        .connect_timeout(opts.connect_timeout)
        .read_timeout(backstop(opts.stall_timeout))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::invalid("", format!("cannot build the HTTP client: {e}")))
}

/// The read timeout every client gets: [`crate::send::answer_timeout`] of the
/// stall timeout, at least ten minutes.
#[must_use]
pub fn backstop(stall: Duration) -> Duration {
    crate::send::answer_timeout(stall).max(Duration::from_mins(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds() {
        build_client(&ClientOptions::default()).expect("client");
    }
}
