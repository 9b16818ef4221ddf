//! [`BenchError`]: why a benchmark could not run.

/// Why a benchmark could not run (failed requests inside a run are counted
/// in the report instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The settings cannot work against this store.
    #[error("invalid benchmark settings: {0}")]
    Config(String),
    /// The store failed in a way a retry cannot fix (denied, not found, ...),
    /// or preparing the objects to read failed.
    #[error(transparent)]
    Store(#[from] haul_core::Error),
    /// The engine could not run the migration job.
    #[error(transparent)]
    Engine(#[from] haul_engine::EngineError),
    /// The journal of the migration job could not be opened.
    #[error(transparent)]
    Journal(#[from] haul_journal::JournalError),
    /// A local resource (temporary directory, embedded server) failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// `Result` with [`BenchError`].
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

impl BenchError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
