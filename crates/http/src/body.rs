//! Response bodies as streams that fail loudly: on a stall, on a transport
//! error, and when they end short of their length.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use haul_core::{Error, Result};

use crate::error::map_transport;

/// The body of `resp` as a stream, never buffered whole.
///
/// Fails with a retryable error naming `key` ([`Error::Timeout`] when no
/// chunk arrives within `stall`), when the connection breaks, and when the body ends
/// before `expected` bytes (when given) — a truncated body is never a short
/// success.
#[must_use]
pub fn body_stream(
    resp: reqwest::Response,
    key: &str,
    expected: Option<u64>,
    stall: Duration,
) -> BoxStream<'static, Result<Bytes>> {
    let k = key.to_owned();
    let inner = resp.bytes_stream().map_err(move |e| map_transport(&e, &k));
    guard_stream(inner, key, expected, stall)
}

struct State<S> {
    inner: S,
    key: String,
    expected: Option<u64>,
    received: u64,
    stall: Duration,
    done: bool,
}

/// Wraps any body stream with the stall timeout and the length check of
/// [`body_stream`].
#[must_use]
pub fn guard_stream<S>(
    inner: S,
    key: &str,
    expected: Option<u64>,
    stall: Duration,
) -> BoxStream<'static, Result<Bytes>>
where
    S: Stream<Item = Result<Bytes>> + Send + Unpin + 'static,
{
    let state = State {
        inner,
        key: key.to_owned(),
        expected,
        received: 0,
        stall,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        match tokio::time::timeout(st.stall, st.inner.next()).await {
            Err(_) => {
                st.done = true;
                let msg = format!(
                    "body stalled: no data for {}s after {} bytes (the limit is --timeout)",
                    st.stall.as_secs_f64(),
                    st.received
                );
                Some((Err(Error::timeout(st.key.clone(), msg)), st))
            }
            Ok(Some(Ok(chunk))) => {
                st.received += chunk.len() as u64;
                if let Some(want) = st.expected
                    && st.received > want
                {
                    st.done = true;
                    let msg = format!("body is longer than the announced {want} bytes");
                    return Some((Err(Error::transient(st.key.clone(), msg)), st));
                }
                Some((Ok(chunk), st))
            }
            Ok(Some(Err(e))) => {
                st.done = true;
                Some((Err(e), st))
            }
            Ok(None) => {
                st.done = true;
                match st.expected {
                    Some(want) if st.received < want => {
                        let msg = format!("body truncated after {} of {want} bytes", st.received);
                        Some((Err(Error::transient(st.key.clone(), msg)), st))
                    }
                    _ => None,
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes>> + Send + Unpin {
        stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn passes_a_whole_body() {
        let s = guard_stream(chunks(&[b"ab", b"c"]), "k", Some(3), Duration::from_secs(1));
        let got: Vec<Bytes> = s.try_collect().await.expect("whole body");
        assert_eq!(got.concat(), b"abc");
    }

    #[tokio::test]
    async fn short_body_is_transient() {
        let s = guard_stream(chunks(&[b"ab"]), "obj", Some(3), Duration::from_secs(1));
        let err = s.try_collect::<Vec<Bytes>>().await.expect_err("short");
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains("obj"), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[tokio::test]
    async fn stall_is_a_retryable_timeout() {
        let slow = chunks(&[b"a"]).chain(stream::pending());
        let s = guard_stream(Box::pin(slow), "obj", None, Duration::from_millis(50));
        let err = s.try_collect::<Vec<Bytes>>().await.expect_err("stall");
        assert!(err.is_retryable() && err.is_timeout(), "{err:?}");
        assert!(err.to_string().contains("stalled"), "{err}");
    }
}
