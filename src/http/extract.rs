//! Our extractors: axum's, with every rejection an [`ApiError`] (JSON), and the deployment id
//! of a path parsed once, here. Handlers never parse ids or read raw path segments.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, path::ErrorKind};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;
use crate::ids::DeploymentId;

/// Path parameters; a segment that does not percent-decode to UTF-8 or does not fit `T` is a
/// 400.
#[derive(Debug)]
pub(crate) struct Path<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

fn path_rejection(rejection: &PathRejection) -> ApiError {
    match rejection {
        PathRejection::FailedToDeserializePathParams(failed) => match failed.kind() {
            ErrorKind::InvalidUtf8InPathParam { .. } => ApiError::BadRequest {
                code: "invalid_path",
                message: "a path segment does not percent-decode to UTF-8".to_owned(),
            },
            _ => ApiError::BadRequest {
                code: "invalid_path",
                message: failed.body_text(),
            },
        },
        other => ApiError::Internal {
            detail: format!("a route reads a path parameter it does not declare: {other}"),
        },
    }
}

/// The `{id}` of the path as a deployment id (`dep_<32 hex>`). A well-formed segment that is
/// not such an id names no deployment: 404.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeploymentPath(pub(crate) DeploymentId);

impl<S: Send + Sync> FromRequestParts<S> for DeploymentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await?;
        raw.parse()
            .map(DeploymentPath)
            .map_err(|_| ApiError::NotFound { what: "deployment" })
    }
}

/// Query parameters; one that does not fit `T` (unknown, or not a number) is a 400.
#[derive(Debug)]
pub(crate) struct Query<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection: QueryRejection| ApiError::BadRequest {
                code: "invalid_query",
                message: rejection.body_text(),
            })
    }
}
