//! The knobs, named as the COS SDK names them (the users' vocabulary).

use std::time::Duration;

use serde::{Deserialize, Serialize};

const MIB: u64 = 1 << 20;

/// How the engine decides that a destination object is already up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompareMode {
    /// Copy everything, whatever is at the destination (`cp`).
    #[default]
    Always,
    /// Skip when sizes match and the destination is not older than the source (`sync`).
    SizeMtime,
    /// Skip when sizes match.
    SizeOnly,
    /// Skip when sizes and a content checksum match (computed where not reported).
    Checksum,
    /// Skip whenever the destination exists.
    IgnoreExisting,
}

/// What a failed file does to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Record the failure and carry on with the other files.
    #[default]
    Continue,
    /// Stop scheduling at the first failed file.
    Abort,
}

/// How many data requests (parts, single puts, copies) a job keeps in
/// flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Concurrency {
    /// `file_parallel_limit` files, each with `chunk_parallel_limit` parts
    /// (`copy_chunk_parallel_limit` for part copies), as set.
    #[default]
    Fixed,
    /// Tuned while the job runs: from [`AUTO_START`] requests in
    /// flight across the job, up while throughput grows, down when the
    /// store throttles, at most [`AUTO_MAX`]; the per-file limits are
    /// lifted to that maximum. See the `tune` module.
    Auto,
}

/// The most requests in flight `Concurrency::Auto` goes to.
pub const AUTO_MAX: usize = 128;

/// The requests in flight `Concurrency::Auto` starts from. 32: one 1 MiB
/// TCP window per connection at 200 ms RTT moves 5 MB/s, so a 1 Gbit/s
/// link needs about 24 connections, and the tuner's first step up takes an
/// interval (a second) that a short job does not have; on a fast link 32
/// parts in flight cost no more than 16 (see the `tune` module).
pub const AUTO_START: usize = 32;

/// Transfer settings. Defaults are chosen for throughput on a fast link; each
/// field says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(clippy::struct_excessive_bools)] // independent switches, each documented
pub struct TransferConfig {
    /// Files in flight at once. Default 16: enough to hide per-request latency
    /// for small files without thrashing a disk.
    pub file_parallel_limit: usize,
    /// Parts in flight per file for uploads and downloads. Default 16: one
    /// 16 MiB part per connection fills a 10 Gbit/s link at 20 ms RTT.
    pub chunk_parallel_limit: usize,
    /// Attempts per part after the request-level retries gave up. Default 3.
    pub chunk_retry_times: u32,
    /// Part size for multipart uploads and downloads. Default 16 MiB: larger
    /// parts cut request overhead, smaller ones cut what a crash re-sends.
    pub chunk_size: u64,
    /// Objects above this size go multipart. Default 16 MiB (one part).
    pub slice_size: u64,
    /// Parts in flight per file for server-side part copies. Default 32:
    /// copies move no bytes through us, only requests.
    pub copy_chunk_parallel_limit: usize,
    /// Part size for server-side part copies. Default 128 MiB.
    pub copy_chunk_size: u64,
    /// Server-side copies up to this size are one copy call (CopyObject);
    /// above, the journaled, resumable part copy. Default 5 GiB, the most
    /// one S3 CopyObject takes (rclone's cutoff is 4.6 GiB; s5cmd always
    /// sends one): measured on SeaweedFS, which copies the bytes, one
    /// CopyObject of 1 GiB took 6.7 s against 20.9 s for 128 MiB part
    /// copies; Garage copies metadata only, so one call is near instant
    /// there. A store with a lower limit (`max_copy_bytes`) lowers it.
    pub copy_slice_size: u64,
    /// How often a progress snapshot is emitted. Default 500 ms.
    #[serde(with = "duration_ms")]
    pub progress_interval: Duration,
    /// Compute and send Content-MD5 on every write. Default off: CRC32C is
    /// sent and checked always; MD5 costs a second hash.
    pub upload_check_content_md5: bool,
    /// Planned files buffered between the journal and the workers. Default 1000.
    pub upload_queue_size: usize,
    /// Bytes of part buffers in flight across the job. Default 512 MiB.
    pub max_inflight_bytes: u64,
    /// What a failed file does to the job.
    pub on_error: OnError,
    /// Bytes per second across the job; 0 means unlimited. The engine
    /// journals it with the job and does not act on it: whoever opens the
    /// stores puts them in a [`haul_layers::Throttle`] with it, so that a
    /// resume is limited alike.
    pub bwlimit_bytes_per_sec: u64,
    /// Requests per second across the job; 0 means unlimited. As
    /// `bwlimit_bytes_per_sec`: for the stores' throttle layer.
    pub tpslimit_per_sec: u64,
    /// Request-level retries of a transient failure. Default 5. The
    /// stores' retry layer uses it for the requests it can send again
    /// ([`TransferConfig::retry_policy`]); the engine for those whose body
    /// it reads again.
    pub request_retry_times: usize,
    /// First backoff delay (doubles, full jitter, capped at 15 s). Default 100 ms.
    #[serde(with = "duration_ms")]
    pub retry_base_delay: Duration,
    /// On resume, send again the files whose upload to a non-idempotent
    /// store was sent but whose answer was lost (they may already be
    /// there: sending again may store a duplicate). Default off: such files
    /// are reported, not sent.
    pub resend_unknown: bool,
    /// When the destination reports nothing comparable (no checksum of a
    /// kind haul computed, no predictable ETag), read the object back and
    /// compare its CRC32C instead of settling for its size. Default off.
    pub verify_read_back: bool,
    /// Let a move delete its source after a verification that compared
    /// sizes only. Default off: such a move keeps the source and fails the
    /// file, naming `verify_read_back` as the way to verify by content.
    pub allow_size_only: bool,
    /// Send a streamed body's checksums ahead of it when the source reads a
    /// range twice cheaply (a local file) and the destination takes them so
    /// (S3: a plain body with `x-amz-checksum-crc32c`, no aws-chunked
    /// framing): the range is hashed in a first pass, then sent. Default
    /// on; off hashes in the one pass and sends the sums trailing.
    pub sums_ahead: bool,
    /// Keep the checksums computed while reading and of what was written
    /// in the journal (per store, key, size and ETag), and consult them
    /// before reading anything to compare (`--checksum`). Default on; off
    /// records and consults nothing.
    pub checksum_cache: bool,
    /// Fixed or tuned concurrency. Default fixed for the library; the
    /// command line's default is `auto`.
    pub concurrency: Concurrency,
    /// How often `Concurrency::Auto` judges throughput and moves. Default
    /// 1 s: long enough to see a step's effect on a link of 200 ms RTT.
    #[serde(with = "duration_ms")]
    pub concurrency_interval: Duration,
}

impl Default for TransferConfig {
    fn default() -> Self {
        Self {
            file_parallel_limit: 16,
            chunk_parallel_limit: 16,
            chunk_retry_times: 3,
            chunk_size: 16 * MIB,
            slice_size: 16 * MIB,
            copy_chunk_parallel_limit: 32,
            copy_chunk_size: 128 * MIB,
            copy_slice_size: 5 * 1024 * MIB,
            progress_interval: Duration::from_millis(500),
            upload_check_content_md5: false,
            upload_queue_size: 1000,
            max_inflight_bytes: 512 * MIB,
            on_error: OnError::Continue,
            bwlimit_bytes_per_sec: 0,
            tpslimit_per_sec: 0,
            request_retry_times: 5,
            retry_base_delay: Duration::from_millis(100),
            resend_unknown: false,
            verify_read_back: false,
            allow_size_only: false,
            sums_ahead: true,
            checksum_cache: true,
            concurrency: Concurrency::Fixed,
            concurrency_interval: Duration::from_secs(1),
        }
    }
}

impl TransferConfig {
    /// The parts in flight per file of a multipart upload or part copy.
    #[must_use]
    pub fn parts_per_file(&self, copy: bool) -> usize {
        match (self.concurrency, copy) {
            (Concurrency::Auto, _) => AUTO_MAX,
            (Concurrency::Fixed, true) => self.copy_chunk_parallel_limit,
            (Concurrency::Fixed, false) => self.chunk_parallel_limit,
        }
    }

    /// The files in flight.
    #[must_use]
    pub fn files_in_flight(&self) -> usize {
        match self.concurrency {
            Concurrency::Auto => AUTO_MAX.max(self.file_parallel_limit),
            Concurrency::Fixed => self.file_parallel_limit,
        }
    }

    /// The request retry policy these settings give.
    #[must_use]
    pub fn retry_policy(&self) -> haul_layers::RetryPolicy {
        haul_layers::RetryPolicy::new(self.request_retry_times, self.retry_base_delay)
    }

    /// The store layers these settings give: their retry policy and their
    /// limits (one pair of buckets, shared by every store wrapped).
    #[must_use]
    pub fn layers(&self) -> haul_layers::Layers {
        haul_layers::Layers::new(self.retry_policy()).limits(haul_layers::Limits::new(
            self.bwlimit_bytes_per_sec,
            self.tpslimit_per_sec,
        ))
    }

    /// Checks the settings; returns a one-line reason when they cannot work.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("file_parallel_limit", self.file_parallel_limit as u64),
            ("chunk_parallel_limit", self.chunk_parallel_limit as u64),
            (
                "copy_chunk_parallel_limit",
                self.copy_chunk_parallel_limit as u64,
            ),
            ("chunk_size", self.chunk_size),
            ("copy_chunk_size", self.copy_chunk_size),
            ("upload_queue_size", self.upload_queue_size as u64),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.max_inflight_bytes < self.chunk_size {
            return Err(format!(
                "max_inflight_bytes ({}) must hold at least one chunk ({})",
                self.max_inflight_bytes, self.chunk_size
            ));
        }
        Ok(())
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
