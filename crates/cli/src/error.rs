//! [`CliError`]: a failure that ends the command, with its exit code.

/// A failure that ends the command, with its exit code.
#[derive(Debug)]
pub(crate) struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    /// Exit code 2: usage, configuration or bad input before any transfer.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    /// The exit code it ends the command with.
    pub(crate) fn code(&self) -> u8 {
        self.code
    }

    /// Exit code 1: the operation failed.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<haul_journal::JournalError> for CliError {
    fn from(e: haul_journal::JournalError) -> Self {
        Self::usage(e.to_string())
    }
}

impl From<haul_engine::EngineError> for CliError {
    fn from(e: haul_engine::EngineError) -> Self {
        match e {
            haul_engine::EngineError::Journal(j) => j.into(),
            other => Self::usage(other.to_string()),
        }
    }
}

impl From<haul_core::Error> for CliError {
    fn from(e: haul_core::Error) -> Self {
        Self::failed(e.to_string())
    }
}
