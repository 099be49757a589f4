//! How a read the read model could not answer ([`ReadError`]) is told over HTTP: a damaged
//! stored record is 500 `read_model_corrupt`, an index that cannot be read is 503
//! `read_model_unavailable`. The detail goes to the log; it never reaches the client.

use axum::http::StatusCode;

use crate::http::error::ApiError;
use crate::projection::ReadError;

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        ApiError::ReadModel(error)
    }
}

/// Its status.
pub(crate) fn status(error: &ReadError) -> StatusCode {
    match error {
        ReadError::Corrupt { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        ReadError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Its stable code.
pub(crate) fn code(error: &ReadError) -> &'static str {
    match error {
        ReadError::Corrupt { .. } => "read_model_corrupt",
        ReadError::Unavailable { .. } => "read_model_unavailable",
    }
}

/// What a person reads.
pub(crate) fn message(error: &ReadError) -> &'static str {
    match error {
        ReadError::Corrupt { .. } => {
            "a stored deployment record is damaged; it was logged under this request's x-request-id"
        }
        ReadError::Unavailable { .. } => "the deployment index cannot be read now; try again later",
    }
}
