//! The ledger's error type. Every variant says what failed and, where it helps, what to do.

use crate::code::Code;

/// Why an entry failed verification. Such an entry is never ingested.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The bytes do not decode, or are not the canonical encoding of what they decode to.
    #[error("malformed entry: {0}")]
    Malformed(&'static str),
    /// Unsupported format version.
    #[error("unsupported entry version {0}")]
    Version(u32),
    /// The ed25519 signature does not verify (strictly) for the author.
    #[error("bad signature")]
    Signature,
    /// The body does not match the header's body hash or length.
    #[error("body does not match its hash")]
    BodyHash,
    /// The entry names another pact.
    #[error("entry belongs to another pact")]
    ForeignPact,
    /// `prev` is not the hash of the author's entry at `seq - 1`.
    #[error("broken hash chain")]
    BrokenChain,
    /// A dep names an entry whose author or seq differ from the stored one.
    #[error("dep does not match the entry it names")]
    BadDep,
    /// More deps than the pact allows, or not sorted and unique.
    #[error("deps not sorted, not unique, or over the cap")]
    BadDeps,
    /// `lamport` is not 1 + the maximum of its prev and deps.
    #[error("wrong lamport {got}, expected {expected}")]
    Lamport {
        /// What the entry says.
        got: u64,
        /// What its prev and deps say.
        expected: u64,
    },
    /// A genesis entry that does not hash to the pact id, or a second genesis.
    #[error("bad genesis entry")]
    Genesis,
    /// The body breaks a structural rule (e.g. an app op mixed with system ops).
    #[error("bad body: {0}")]
    Body(&'static str),
}

impl Invalid {
    /// A short stable reason for events and logs, e.g. `bad-signature`.
    pub fn reason(&self) -> &'static str {
        match self {
            Invalid::Malformed(_) => "malformed",
            Invalid::Version(_) => "version",
            Invalid::Signature => "bad-signature",
            Invalid::BodyHash => "body-hash",
            Invalid::ForeignPact => "foreign-pact",
            Invalid::BrokenChain => "broken-chain",
            Invalid::BadDep => "bad-dep",
            Invalid::BadDeps => "bad-deps",
            Invalid::Lamport { .. } => "wrong-lamport",
            Invalid::Genesis => "bad-genesis",
            Invalid::Body(_) => "bad-body",
        }
    }
}

/// Errors of the ledger crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry failed verification.
    #[error("invalid entry: {0}")]
    Invalid(#[from] Invalid),
    /// A local write was refused before anything was appended.
    #[error("{code}: {message}")]
    Refused {
        /// The wire code.
        code: Code,
        /// What was wrong, for a person.
        message: String,
    },
    /// The ledger file holds something this version cannot read. Nothing was changed.
    #[error("ledger file is corrupt ({0})")]
    Corrupt(String),
    /// The ledger file was written in another layout version, which this build does not
    /// convert. Nothing was changed.
    #[error("{0}")]
    Layout(String),
    /// Storage failed (disk full, read-only, I/O error). The operation changed nothing.
    #[error("storage error: {0}")]
    Storage(String),
    /// An I/O failure outside storage.
    #[error("i/o error: {0}")]
    Io(String),
    /// The writer has stopped; no more appends are taken.
    #[error("the ledger writer has stopped")]
    WriterStopped,
}

impl Error {
    /// A refusal with a wire code.
    pub fn refused(code: Code, message: impl Into<String>) -> Self {
        Error::Refused {
            code,
            message: message.into(),
        }
    }

    /// The wire code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::Invalid(_) => Code::BadEntry,
            Error::Refused { code, .. } => *code,
            _ => Code::Internal,
        }
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Storage(e.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The ledger's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
