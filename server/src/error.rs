//! The server's error: a wire code and a message for a person. Every surface (gRPC status, HTTP
//! envelope, CLI line) is derived from it through the one table in `crate::wire_code`.

use openpact_ledger::Code;

/// An error with its wire code. The message says what failed and, where it helps, what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The wire code.
    pub code: Code,
    /// What happened, for a person.
    pub message: String,
    /// An HTTP status other than the code's usual one (stored skill content that fails its
    /// checksum is a 500, a caller's wrong checksum a 400).
    pub http: Option<u16>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            http: None,
        }
    }

    /// The same error, answered over HTTP with `status`.
    pub fn with_http(mut self, status: u16) -> Self {
        self.http = Some(status);
        self
    }

    /// 400 `BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Code::BadRequest, message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// 500 `INTERNAL`: a bug or a failure of the machine (disk, file system), with what failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    /// 404 `UNKNOWN_PACT` for `pact` (an alias or a pact id).
    pub fn unknown_pact(pact: &str) -> Self {
        Self::new(
            Code::UnknownPact,
            format!("no pact with alias or pact_id {pact} on this host"),
        )
    }
}

impl From<openpact_ledger::Error> for ApiError {
    fn from(e: openpact_ledger::Error) -> Self {
        match e {
            openpact_ledger::Error::Refused { code, message } => ApiError::new(code, message),
            other => ApiError::new(other.code(), other.to_string()),
        }
    }
}

/// The server's result type.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;
