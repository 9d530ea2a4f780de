//! Every refusal the gateway answers. The upgrade and the management API answer in API
//! Gateway's shape (`{"message": ...}` and the `x-amzn-ErrorType` header the SDK maps to an
//! error kind, e.g. `is_gone_exception()`); the development endpoints answer
//! `{"error": "..."}` in words, which the gem's local backend shows.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

pub(crate) enum ApiError {
    Aws {
        status: StatusCode,
        kind: &'static str,
        message: Option<&'static str>,
    },
    Dev {
        status: StatusCode,
        message: String,
    },
}

impl ApiError {
    pub fn forbidden() -> Self {
        Self::aws(StatusCode::FORBIDDEN, "ForbiddenException", Some("Forbidden"))
    }

    pub fn unauthorized() -> Self {
        Self::aws(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedException",
            Some("Unauthorized"),
        )
    }

    pub fn gone() -> Self {
        Self::aws(StatusCode::GONE, "GoneException", None)
    }

    pub fn limit_exceeded() -> Self {
        Self::aws(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            Some("Limit Exceeded"),
        )
    }

    pub fn too_large() -> Self {
        Self::aws(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            Some("Message too long"),
        )
    }

    pub fn aws(status: StatusCode, kind: &'static str, message: Option<&'static str>) -> Self {
        ApiError::Aws {
            status,
            kind,
            message,
        }
    }

    pub fn dev(status: StatusCode, message: impl std::fmt::Display) -> Self {
        ApiError::Dev {
            status,
            message: message.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Aws {
                status,
                kind,
                message,
            } => (
                status,
                [("x-amzn-ErrorType", kind)],
                Json(json!({ "message": message })),
            )
                .into_response(),
            ApiError::Dev { status, message } => (status, Json(json!({ "error": message }))).into_response(),
        }
    }
}
