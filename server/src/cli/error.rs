//! The CLI's one kind of failure: a line for stderr, with the wire code in front when the
//! daemon answered with one (`TASK_NOT_OPEN: task 12345678-1 is claimed`).

use std::fmt;

use openpact_ledger::Code;
use openpact_server::ApiError;

/// Why a verb failed.
#[derive(Debug)]
pub struct CliError {
    code: Option<Code>,
    message: String,
}

/// What the CLI prints when nothing answers on the socket.
pub const NOT_RUNNING: &str = "OpenPact daemon is not running. Start it with `openpact start`.";

impl CliError {
    /// A failure of the CLI itself (usage, files), with no wire code.
    pub fn new(message: impl Into<String>) -> Self {
        CliError {
            code: None,
            message: message.into(),
        }
    }

    /// A failure with a wire code.
    pub fn coded(code: Code, message: impl Into<String>) -> Self {
        CliError {
            code: Some(code),
            message: message.into(),
        }
    }

    /// Whether the failure carries `code`.
    pub fn is_code(&self, code: Code) -> bool {
        self.code == Some(code)
    }

    /// No daemon answers on the socket.
    pub fn not_running() -> Self {
        CliError::new(NOT_RUNNING)
    }

    /// An error of a local operation (data dir, pact files): its code is shown unless it is
    /// `INTERNAL`, which there means a file or the OS failed and the message says which.
    pub fn local(e: ApiError) -> Self {
        if e.code == Code::Internal {
            CliError::new(e.message)
        } else {
            CliError::coded(e.code, e.message)
        }
    }

    /// An error answered by the daemon. A transport failure (the daemon went away) reads as
    /// "not running".
    pub fn remote(status: &tonic::Status) -> Self {
        let e = openpact_server::wire_code::from_status(status);
        let ours = status
            .metadata()
            .get(openpact_server::wire_code::CODE_METADATA_KEY);
        if ours.is_none()
            && e.code == Code::Internal
            && matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
            )
        {
            return CliError::not_running();
        }
        CliError::coded(e.code, e.message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{}: {}", code.as_str(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl From<tonic::Status> for CliError {
    fn from(s: tonic::Status) -> Self {
        CliError::remote(&s)
    }
}
