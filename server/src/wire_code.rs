//! The one table from a wire code to its HTTP status and gRPC status code, and the conversion of
//! [`ApiError`] to and from a `tonic::Status` (the code travels in the status details).

use openpact_gateway::error::{encode_details, error_detail};
use openpact_ledger::Code;
use openpact_proto::v1;

use crate::error::ApiError;

/// Metadata key (a trailer on errors) that carries the wire code name.
pub const CODE_METADATA_KEY: &str = "openpact-code";

/// HTTP status and gRPC status code of a wire code (spec/rest-api.md, section 5).
pub fn statuses(code: Code) -> (u16, tonic::Code) {
    use tonic::Code as G;
    match code {
        Code::BadRequest
        | Code::BadCursor
        | Code::BadEntry
        | Code::BadSkillName
        | Code::NotConfirmed
        | Code::InviteBadShape
        | Code::InviteWrongPact => (400, G::InvalidArgument),
        Code::UnsupportedMediaType => (415, G::InvalidArgument),
        Code::PayloadTooLarge => (413, G::InvalidArgument),
        Code::SkillChecksumMismatch => (400, G::InvalidArgument),
        Code::Unauthorized => (401, G::Unauthenticated),
        Code::ForbiddenHost | Code::ForbiddenOrigin => (403, G::PermissionDenied),
        Code::NotFound | Code::UnknownPact | Code::UnknownInvite => (404, G::NotFound),
        Code::PactAliasExists => (409, G::AlreadyExists),
        Code::TaskNotOpen
        | Code::TaskAlreadyClaimed
        | Code::TaskAlreadyComplete
        | Code::NotClaimer
        | Code::NotClaimed
        | Code::NotAssignee
        | Code::NotAMember
        | Code::NotIndexer
        | Code::NotCreator
        | Code::PactNotReady
        | Code::InviteRevoked
        | Code::InviteSpent
        | Code::InviteNotIndexer
        | Code::LastIndexer => (409, G::FailedPrecondition),
        Code::NotSupportedYet => (409, G::Unimplemented),
        Code::InviteExpired => (410, G::FailedPrecondition),
        Code::RateLimited => (429, G::ResourceExhausted),
        Code::NoAgents | Code::NoIndexerReachable | Code::AgentDisconnected => {
            (503, G::Unavailable)
        }
        Code::ViewTimeout | Code::NotConfirmedYet => (504, G::DeadlineExceeded),
        Code::Internal => (500, G::Internal),
    }
}

/// The HTTP status REST answers `code` with.
pub fn http_status(code: Code) -> u16 {
    statuses(code).0
}

/// The control plane's enum value of a wire code (same numbers).
pub fn to_proto(code: Code) -> v1::Code {
    v1::Code::try_from(i32::from(code.number())).unwrap_or(v1::Code::Internal)
}

/// The wire code of a control-plane enum value.
pub fn from_proto(code: v1::Code) -> Option<Code> {
    u16::try_from(code as i32).ok().and_then(Code::from_number)
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        let (http, grpc) = statuses(e.code);
        let http = e.http.unwrap_or(http);
        let detail = v1::ErrorDetail {
            code: to_proto(e.code) as i32,
            http_status: u32::from(http),
            message: e.message.clone(),
        };
        let mut status = tonic::Status::with_details(
            grpc,
            e.message,
            encode_details(grpc as i32, &detail).into(),
        );
        if let Ok(v) = e.code.as_str().parse() {
            status.metadata_mut().insert(CODE_METADATA_KEY, v);
        }
        status
    }
}

/// The wire code and message a status carries: from its details when it has ours, else from the
/// gRPC code (a transport failure, or a server that is not ours).
pub fn from_status(s: &tonic::Status) -> ApiError {
    if let Some(d) = error_detail(s)
        && let Some(code) = v1::Code::try_from(d.code).ok().and_then(from_proto)
    {
        let http = u16::try_from(d.http_status).ok();
        let mut e = ApiError::new(code, d.message);
        if http != Some(http_status(code)) {
            e.http = http;
        }
        return e;
    }
    let code = match s.code() {
        tonic::Code::InvalidArgument => Code::BadRequest,
        tonic::Code::NotFound => Code::NotFound,
        tonic::Code::Unimplemented => Code::NotSupportedYet,
        _ => Code::Internal,
    };
    ApiError::new(code, s.message().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_a_grpc_status() {
        for &code in Code::ALL {
            let status: tonic::Status = ApiError::new(code, format!("m {code}")).into();
            assert_eq!(status.code(), statuses(code).1);
            let back = from_status(&status);
            assert_eq!(back.code, code);
            assert_eq!(back.message, format!("m {code}"));
            let meta = status.metadata().get(CODE_METADATA_KEY);
            assert_eq!(meta.and_then(|v| v.to_str().ok()), Some(code.as_str()));
        }
    }

    #[test]
    fn proto_enum_names_match_the_wire_names() {
        for &code in Code::ALL {
            assert_eq!(to_proto(code).as_str_name(), code.as_str());
            assert_eq!(from_proto(to_proto(code)), Some(code));
        }
    }

    #[test]
    fn http_statuses_follow_the_spec_table() {
        assert_eq!(http_status(Code::InviteExpired), 410);
        assert_eq!(http_status(Code::PayloadTooLarge), 413);
        assert_eq!(http_status(Code::NotConfirmedYet), 504);
        assert_eq!(http_status(Code::UnknownPact), 404);
        assert_eq!(http_status(Code::NoAgents), 503);
        assert_eq!(http_status(Code::UnsupportedMediaType), 415);
    }
}
