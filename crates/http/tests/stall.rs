//! The upload watchdog: a body that keeps moving never times out, however
//! long it takes; a server that stops reading fails the request as a
//! retryable stall.

use std::time::{Duration, Instant};

use bytes::Bytes;
use haul_core::Payload;
use haul_http::send::{Body, Prepared, send};
use haul_http::{ClientOptions, ErrorContext, build_client};
use http::{HeaderMap, Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server that reads the body `chunk` bytes per `pause` (or never, with
/// `None`), then answers 200.
async fn slow_server(chunk: usize, pause: Option<Duration>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; chunk];
        let Some(pause) = pause else {
            // Never read: the client's socket buffer fills and it stalls.
            tokio::time::sleep(Duration::from_mins(1)).await;
            return;
        };
        let mut seen = Vec::new();
        // Headers, then the body slowly, until Content-Length is reached.
        let mut total = 0usize;
        let mut want = None;
        loop {
            tokio::time::sleep(pause).await;
            let n = sock.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            if want.is_none() {
                seen.extend_from_slice(&buf[..n]);
                if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&seen[..end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .unwrap()
                        .trim()
                        .parse()
                        .unwrap();
                    want = Some(len);
                    total = seen.len() - end - 4;
                }
            } else {
                total += n;
            }
            if want.is_some_and(|w| total >= w) {
                break;
            }
        }
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
    });
    format!("http://{addr}/k")
}

async fn put(url: &str, len: usize, stall: Duration) -> haul_core::Result<()> {
    let opts = ClientOptions {
        stall_timeout: stall,
        ..ClientOptions::default()
    };
    let client = build_client(&opts).unwrap();
    let body = Body::Payload(Payload::from(Bytes::from(vec![7u8; len])));
    let ctx = ErrorContext::new("k");
    let prepare = || {
        Ok(Prepared {
            method: Method::PUT,
            url: url.to_owned(),
            headers: HeaderMap::new(),
        })
    };
    send(&client, &body, &ctx, stall, prepare).await.map(drop)
}

#[tokio::test]
async fn a_slow_but_moving_upload_outlasts_the_stall_timeout() {
    let url = slow_server(64 * 1024, Some(Duration::from_millis(5))).await;
    let started = Instant::now();
    // 384 reads of 64 KiB, 5 ms apart: at least 1.9 s in all, never 1 s
    // without a byte (a loaded machine slows the reads, not the gaps).
    put(&url, 24 << 20, Duration::from_secs(1)).await.unwrap();
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "the upload took longer than the stall timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_upload_the_server_stops_reading_is_a_retryable_stall() {
    let url = slow_server(64 * 1024, None).await;
    let started = Instant::now();
    let err = put(&url, 64 << 20, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("no progress"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
}
