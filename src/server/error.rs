//! `ApiError`: the one error type at the HTTP edge. Every error response is JSON
//! `{"error": {"code", "message"}}` with a stable machine-readable code and the right status;
//! internal errors are logged with their detail and answered with a generic message, never
//! leaked.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::server::tokens::TokenError;
use crate::writer::SubmitError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_token`, `wrong_member`, `unknown_proposal`, ...
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// Something broke inside: log the detail, answer without it.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

/// The status a refusal's code maps to: refusals are the caller's problem, except a store
/// failure.
pub fn refusal_status(code: &str) -> StatusCode {
    match code {
        "not_permitted" | "wrong_key" | "wrong_member" => StatusCode::FORBIDDEN,
        "unknown_proposal" | "unknown_member" | "unknown_policy" | "unknown_role"
        | "unknown_document" => StatusCode::NOT_FOUND,
        "replayed" | "proposal_closed" | "already_member" | "key_in_use" | "conflict" => {
            StatusCode::CONFLICT
        }
        "bad_signature" | "malformed" | "wrong_community" => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> ApiError {
        match error {
            SubmitError::Refused(refusal) => ApiError {
                status: refusal_status(refusal.code),
                code: refusal.code,
                message: refusal.reason,
            },
            SubmitError::Overloaded => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "too many writes are waiting; retry shortly",
            ),
            SubmitError::Stopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the server is shutting down",
            ),
            SubmitError::Store(detail) => ApiError::internal(format!("store: {detail}")),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> ApiError {
        let status = match error {
            TokenError::Invalid | TokenError::Revoked => StatusCode::UNAUTHORIZED,
            TokenError::WrongCommunity => StatusCode::FORBIDDEN,
            TokenError::UnknownId(_) => StatusCode::NOT_FOUND,
            TokenError::Full => StatusCode::UNPROCESSABLE_ENTITY,
            TokenError::Io(..) => return ApiError::internal(error),
        };
        ApiError::new(status, error.code(), error.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than request_body_bytes_max",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send JSON with content-type: application/json",
            ),
            _ => ApiError::bad_request("malformed_json", rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request("bad_query", rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::bad_request("bad_path", rejection.body_text())
    }
}
