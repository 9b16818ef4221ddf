//! The PostgreSQL journal: the same tables, commands and barriers as the
//! SQLite one, shared by many workers, with leased files.
//!
//! Everything runs on a small runtime of its own (one thread): the batching
//! writer task, the lease keeper, and the reads, which callers wait for
//! whether or not they are inside a runtime. Two connections: the writer's
//! and the readers' (claims and reads), so a read never waits for a commit.
//!
//! A file a worker claimed carries an owner, a lease expiry on the
//! database's clock, and an epoch bumped by every claim. Writes about a
//! claimed file are fenced: they apply only while the row still has this
//! worker as owner at the epoch it claimed, so a worker that lost its lease
//! (paused, partitioned) cannot record a part, complete, or finish the file
//! after another took it over.

mod claim;
mod query;
mod rows;
pub(crate) mod schema;
mod tasks;
mod tls;
mod tx;
mod writer;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::writer::Cmd;
use crate::{FileId, JournalError, ListingId};

/// Whether `location` names a PostgreSQL database rather than a file.
pub(crate) fn is_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// The URL with its password replaced by `***`, in the authority and in a
/// `password=` parameter: the only form of it that messages carry.
#[must_use]
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let auth = &rest[..auth_end];
    let mut out = url[..rest_start].to_owned();
    match auth.rfind('@') {
        Some(at) => {
            let user_info = &auth[..at];
            match user_info.find(':') {
                Some(colon) => {
                    out.push_str(&user_info[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(user_info),
            }
            out.push_str(&auth[at..]);
        }
        None => out.push_str(auth),
    }
    let tail = &rest[auth_end..];
    match tail.find('?') {
        Some(q) => {
            out.push_str(&tail[..=q]);
            let params: Vec<String> = tail[q + 1..]
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

/// A claimed file's lease as this worker knows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    /// The epoch the claim set.
    pub(crate) epoch: i64,
    /// A fenced write found the lease gone.
    pub(crate) lost: bool,
}

/// The (id, epoch) of the leases in `held` not found lost: what a renewal
/// sends, for files and listing tasks alike.
pub(crate) fn live<K: Copy>(
    held: &Mutex<HashMap<K, Held>>,
    id: impl Fn(K) -> i64,
) -> Vec<(i64, i64)> {
    held.lock()
        .map(|h| {
            h.iter()
                .filter(|(_, l)| !l.lost)
                .map(|(k, l)| (id(*k), l.epoch))
                .collect()
        })
        .unwrap_or_default()
}

/// This worker's identity and the leases it holds.
#[derive(Debug)]
pub(crate) struct Leases {
    /// Who this worker is (`host-pid-nonce`).
    pub(crate) owner: String,
    /// How long a claim or renewal holds a file, ms.
    pub(crate) lease_ms: AtomicI64,
    /// Files claimed and not yet finished.
    pub(crate) held: Mutex<HashMap<FileId, Held>>,
    /// Jobs this worker registered in (for the heartbeat).
    pub(crate) jobs: Mutex<Vec<i64>>,
    /// Listing tasks claimed and not yet finished.
    pub(crate) listings: Mutex<HashMap<ListingId, Held>>,
}

impl Leases {
    /// How long a claim or renewal holds a file, ms.
    pub(crate) fn lease_ms(&self) -> i64 {
        self.lease_ms.load(Ordering::Relaxed)
    }

    /// The epoch to fence a write about `file` with, if it was claimed.
    pub(crate) fn epoch(&self, file: FileId) -> Option<i64> {
        self.held
            .lock()
            .ok()
            .and_then(|h| h.get(&file).map(|l| l.epoch))
    }

    /// Marks the lease lost; true the first time.
    pub(crate) fn mark_lost(&self, file: FileId) -> bool {
        if let Ok(mut h) = self.held.lock()
            && let Some(l) = h.get_mut(&file)
            && !l.lost
        {
            l.lost = true;
            return true;
        }
        false
    }

    /// The files this worker is working on.
    pub(crate) fn held_ids(&self) -> Vec<i64> {
        self.held
            .lock()
            .map(|h| h.keys().map(|f| f.0).collect())
            .unwrap_or_default()
    }

    pub(crate) fn lost(&self, file: FileId) -> bool {
        self.held
            .lock()
            .ok()
            .and_then(|h| h.get(&file).map(|l| l.lost))
            .unwrap_or(false)
    }

    pub(crate) fn forget(&self, file: FileId) {
        if let Ok(mut h) = self.held.lock() {
            h.remove(&file);
        }
    }

    /// Marks a listing task's lease lost; true the first time.
    pub(crate) fn mark_listing_lost(&self, task: ListingId) -> bool {
        if let Ok(mut h) = self.listings.lock()
            && let Some(l) = h.get_mut(&task)
            && !l.lost
        {
            l.lost = true;
            return true;
        }
        false
    }

    /// Whether a listing task's lease is known lost.
    pub(crate) fn listing_lost(&self, task: ListingId) -> bool {
        self.listings
            .lock()
            .ok()
            .and_then(|h| h.get(&task).map(|l| l.lost))
            .unwrap_or(false)
    }

    pub(crate) fn forget_listing(&self, task: ListingId) {
        if let Ok(mut h) = self.listings.lock() {
            h.remove(&task);
        }
    }
}

fn lease_from_env() -> Duration {
    std::env::var("HAUL_LEASE_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms >= 100)
        .map_or(Duration::from_mins(1), Duration::from_millis)
}

fn worker_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!(
        "{host}-{}-{:x}",
        std::process::id(),
        crate::writer::unique_suffix() & 0xffff_ffff
    )
}

/// The PostgreSQL side of a [`crate::Journal`].
#[derive(Debug)]
pub(crate) struct Pg {
    shown: PathBuf,
    rt: Option<Runtime>,
    reader: Arc<Client>,
    pub(crate) leases: Arc<Leases>,
    writer_done: Mutex<std::sync::mpsc::Receiver<()>>,
}

async fn open(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "journal connection closed");
        }
    });
    Ok(client)
}

impl Pg {
    /// Connects (two connections), migrates, and starts the writer and the
    /// lease keeper. Returns the writer's channel.
    pub(crate) fn connect(url: &str) -> Result<(Self, mpsc::UnboundedSender<Cmd>), JournalError> {
        let shown = PathBuf::from(redact(url));
        let refused = |cause: String| JournalError::Sql {
            path: shown.clone(),
            cause,
        };
        // sslmode and sslrootcert are ours: the driver knows only some of
        // their values.
        let (driver_url, tls) = tls::split(url).map_err(refused)?;
        let mut config: tokio_postgres::Config = driver_url.parse().map_err(|e| sql(&shown, &e))?;
        config.ssl_mode(tls.mode.driver());
        let connector = tls.connector().map_err(refused)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("haul-journal-pg")
            .build()
            .map_err(|e| JournalError::io(&shown, e))?;
        let opened = futures::executor::block_on(rt.spawn(async move {
            let mut w = open(&config, connector.clone()).await?;
            let m = schema::migrate(&mut w).await?;
            let r = open(&config, connector).await?;
            Ok::<_, tokio_postgres::Error>((w, r, m))
        }));
        let (writer_client, reader, migrated) = match opened {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => {
                // Dropping a runtime inside another's tasks panics.
                rt.shutdown_background();
                return Err(match sql(&shown, &e) {
                    // A failed handshake says which TLS was asked for.
                    JournalError::Sql { path, cause } if tls_failed(&e) => JournalError::Sql {
                        path,
                        cause: format!("{cause} ({})", tls.explain(&cause)),
                    },
                    other => other,
                });
            }
            Err(_) => {
                rt.shutdown_background();
                return Err(JournalError::WriterGone);
            }
        };
        if let schema::Migrated::TooNew(found) = migrated {
            rt.shutdown_background();
            return Err(JournalError::TooNew {
                path: shown,
                found,
                known: schema::VERSION,
            });
        }
        let leases = Arc::new(Leases {
            owner: worker_name(),
            lease_ms: AtomicI64::new(lease_from_env().as_millis() as i64),
            held: Mutex::new(HashMap::new()),
            jobs: Mutex::new(Vec::new()),
            listings: Mutex::new(HashMap::new()),
        });
        let reader = Arc::new(reader);
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        rt.spawn(writer::run(
            writer_client,
            rx,
            Arc::clone(&leases),
            shown.clone(),
            done_tx,
        ));
        rt.spawn(claim::keep_leases(Arc::clone(&reader), Arc::clone(&leases)));
        tracing::debug!(journal = %shown.display(), owner = %leases.owner, "journal opened");
        Ok((
            Self {
                shown,
                rt: Some(rt),
                reader,
                leases,
                writer_done: Mutex::new(done_rx),
            },
            tx,
        ))
    }

    /// The URL as messages show it (password redacted).
    pub(crate) fn shown(&self) -> &Path {
        &self.shown
    }

    /// Runs a query on the journal's runtime and waits for it, from any
    /// thread, in or out of a runtime.
    fn block<T: Send + 'static>(
        &self,
        f: impl FnOnce(
            Arc<Client>,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send>,
        >,
    ) -> Result<T, JournalError> {
        let rt = self.rt.as_ref().ok_or(JournalError::WriterGone)?;
        let fut = f(Arc::clone(&self.reader));
        futures::executor::block_on(rt.spawn(fut))
            .map_err(|_| JournalError::WriterGone)?
            .map_err(|e| sql(&self.shown, &e))
    }

    /// Runs a future on the journal's runtime and awaits it.
    async fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, JournalError>> + Send + 'static,
    ) -> Result<T, JournalError> {
        let rt = self.rt.as_ref().ok_or(JournalError::WriterGone)?;
        rt.spawn(fut).await.map_err(|_| JournalError::WriterGone)?
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // The journal dropped its sender first: the writer commits what it
        // was sent and ends.
        if let Ok(rx) = self.writer_done.lock() {
            let _ = rx.recv_timeout(Duration::from_secs(30));
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Whether a connection failed in (or for want of) its TLS handshake.
fn tls_failed(e: &tokio_postgres::Error) -> bool {
    // The driver's kinds are private; its message for them is public.
    e.to_string().contains("TLS")
}

/// A database error as the journal reports it: the redacted URL and what
/// the server said (its message never carries the password).
pub(crate) fn sql(shown: &Path, e: &dyn std::error::Error) -> JournalError {
    // The driver's own message is a kind ("db error"); what the server
    // said is in its sources.
    let mut cause = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        next = s.source();
    }
    JournalError::Sql {
        path: shown.to_path_buf(),
        cause,
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://haul:s3cret@db:5432/haul"),
            "postgres://haul:***@db:5432/haul"
        );
        assert_eq!(
            redact("postgresql://haul@db/haul?password=s3cret&sslmode=disable"),
            "postgresql://haul@db/haul?password=***&sslmode=disable"
        );
        assert_eq!(redact("postgres://db/haul"), "postgres://db/haul");
        assert_eq!(
            redact("postgres://u:p%40ss@h/d?PASSWORD=x"),
            "postgres://u:***@h/d?PASSWORD=***"
        );
    }
}
