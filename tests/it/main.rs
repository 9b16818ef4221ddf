//! haul's integration tests: one binary (faster to link, one place to look).

mod cache;
mod check;
mod cli;
mod coscli;
mod crash;
mod creds;
mod instants;
mod listing;
mod man;
mod metrics;
mod msgcli;
mod paths;
mod promises;
mod qiniucli;
mod report;
mod ride;
mod s3cli;
mod s3opts;
mod shared;
mod window;
