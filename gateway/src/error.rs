//! The error envelope of every non-2xx JSON answer, `{error, message, status}` (spec/rest-api.md,
//! section 5), and its construction from the control plane's gRPC status: the wire code and HTTP
//! status travel in the status details (`openpact.v1.ErrorDetail`), mapped once in the daemon.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openpact_proto::v1;
use prost::Message as _;

/// Type URL of [`v1::ErrorDetail`] inside `google.rpc.Status.details`.
pub const ERROR_DETAIL_TYPE_URL: &str = "type.googleapis.com/openpact.v1.ErrorDetail";

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({status}): {message}")]
pub struct GatewayError {
    /// HTTP status.
    pub status: u16,
    /// Wire code, e.g. `TASK_NOT_OPEN`.
    pub code: String,
    /// For a person.
    pub message: String,
}

impl GatewayError {
    /// An error with an explicit status and code.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        GatewayError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// 400 `BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BAD_REQUEST", message)
    }

    /// 400 `NOT_CONFIRMED`.
    pub fn not_confirmed(message: impl Into<String>) -> Self {
        Self::new(400, "NOT_CONFIRMED", message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NOT_FOUND", message)
    }

    /// 500 `INTERNAL` (a bug): logged with a correlation id that the message carries.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        let id = correlation_id();
        tracing::error!(correlation = %id, error = %what, "internal error");
        Self::new(
            500,
            "INTERNAL",
            format!("internal daemon error (correlation id {id})"),
        )
    }
}

/// Eight hex digits from the clock's nanoseconds: enough to find the log line of an answer.
fn correlation_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    hex::encode(nanos.to_le_bytes())
}

/// `google.rpc.Status`, as the daemon encodes it in the status details.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// The status details (`google.rpc.Status` bytes) carrying `detail`: what the daemon sends.
pub fn encode_details(grpc_code: i32, detail: &v1::ErrorDetail) -> Vec<u8> {
    RpcStatus {
        code: grpc_code,
        message: detail.message.clone(),
        details: vec![prost_types::Any {
            type_url: ERROR_DETAIL_TYPE_URL.to_string(),
            value: detail.encode_to_vec(),
        }],
    }
    .encode_to_vec()
}

/// The [`v1::ErrorDetail`] a status carries, if it is one of the daemon's.
pub fn error_detail(s: &tonic::Status) -> Option<v1::ErrorDetail> {
    RpcStatus::decode(s.details())
        .ok()?
        .details
        .into_iter()
        .filter(|any| any.type_url == ERROR_DETAIL_TYPE_URL)
        .find_map(|any| v1::ErrorDetail::decode(any.value.as_slice()).ok())
        .filter(|d| {
            !matches!(
                v1::Code::try_from(d.code),
                Err(_) | Ok(v1::Code::Unspecified)
            )
        })
}

impl From<tonic::Status> for GatewayError {
    fn from(s: tonic::Status) -> Self {
        if let Some(d) = error_detail(&s)
            && let Ok(code) = v1::Code::try_from(d.code)
        {
            let status = u16::try_from(d.http_status).unwrap_or(500);
            if code == v1::Code::Internal && status == 500 {
                return GatewayError::internal(d.message);
            }
            return GatewayError::new(status, code.as_str_name(), d.message);
        }
        // Not one of ours: a transport failure between the gateway and the daemon.
        match s.code() {
            tonic::Code::Unavailable => GatewayError::new(
                503,
                "INTERNAL",
                "the daemon's control plane is not reachable",
            ),
            _ => GatewayError::internal(format!("{}: {}", s.code(), s.message())),
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({
            "error": self.code,
            "message": self.message,
            "status": self.status,
        });
        (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )],
            body.to_string(),
        )
            .into_response()
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, GatewayError>;

/// Unwraps a control-plane answer into its message, or the error envelope.
pub fn answer<T>(r: Result<tonic::Response<T>, tonic::Status>) -> ApiResult<T> {
    r.map(tonic::Response::into_inner)
        .map_err(GatewayError::from)
}
