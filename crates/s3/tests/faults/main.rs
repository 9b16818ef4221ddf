//! haul-s3 through `FaultProxy`, in front of the in-process S3 server.
//!
//! * `proxy`: each fault on its own, through an `S3Store`: what the client
//!   sees (retryable errors, never a short success) and what the proxy
//!   counts.
//! * `engine`: upload, download, server-side part copy between buckets and
//!   cancel-then-resume, end to end through the engine with about one
//!   request in five faulted; every object verified byte for byte, straight
//!   from the server or the disk.

mod engine;
mod proxy;
mod rig;
