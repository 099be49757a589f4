//! Named admin tokens over HTTP (issue 13): list them, add one (given, or generated and shown
//! this once), revoke one. Admin only; every change is an event of the ops stream, appended
//! before it is answered, and in force from that event on.
//!
//! Only a token's SHA-256 is ever appended; the token itself is answered once, to the caller
//! who added it, and never listed, logged or recorded. A name's check and its append are one
//! step under a lock, so two adds of one name never both succeed.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::deployment::Event;
use crate::http::AppState;
use crate::http::admin::Admin;
use crate::http::error::{ApiError, json};
use crate::http::extract::Path;
use crate::http::operator::record;
use crate::http::route::{Route, Schema};
use crate::projection::operator::{InvalidTokenName, check_token_name};
use crate::secret::{ApiKey, token_hash};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            "GET",
            "/api/admin/tokens",
            "The named admin tokens in force (names only, never tokens or hashes)",
            &[(200, "the tokens"), (401, "no or wrong token")],
            get(list),
        )
        .admin(),
        Route::new(
            "POST",
            "/api/admin/tokens",
            "Add a named admin token: {\"name\", \"token\"?}; without token one is generated \
             and shown this once",
            &[
                (201, "added; the token is in the answer, this once"),
                (
                    400,
                    "invalid name or body, or a token too weak (the rule it breaks)",
                ),
                (401, "no or wrong token"),
                (
                    409,
                    "a token of this name is in force, or the token is in use",
                ),
                (
                    503,
                    "the ledger cannot be written, or the portal is read-only",
                ),
            ],
            post(add),
        )
        .admin()
        .body(&[("name", Schema::String)]),
        Route::new(
            "DELETE",
            "/api/admin/tokens/{name}",
            "Revoke a named admin token",
            &[
                (200, "revoked"),
                (
                    400,
                    "admin is the configured token: change the configuration",
                ),
                (401, "no or wrong token"),
                (404, "no token of this name is in force"),
                (
                    503,
                    "the ledger cannot be written, or the portal is read-only",
                ),
            ],
            delete(revoke),
        )
        .admin(),
    ]
}

/// One token of the list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    name: String,
    added_at: String,
    added_by: String,
}

#[derive(Debug, Serialize)]
struct List {
    success: bool,
    tokens: Vec<Listed>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddRequest {
    name: String,
    token: Option<String>,
}

/// The 201 of an add: the only place the token is ever shown.
#[derive(Debug, Serialize)]
struct Added {
    success: bool,
    name: String,
    token: String,
}

#[derive(Debug, Serialize)]
struct Revoked {
    success: bool,
    revoked: String,
}

async fn list(_: Admin, State(state): State<AppState>) -> Response {
    let model = state.read_model.read();
    let tokens = model
        .operators()
        .active()
        .map(|token| Listed {
            name: token.name.clone(),
            added_at: rfc3339(token.added_at),
            added_by: token.added_by.clone(),
        })
        .collect();
    json(
        StatusCode::OK,
        List {
            success: true,
            tokens,
        },
    )
}

async fn add(
    admin: Admin,
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    refuse_read_only(&state)?;
    let body = body.map_err(|_| bad("invalid_body", "the request body could not be read"))?;
    let request: AddRequest = serde_json::from_slice(&body).map_err(|_| {
        bad("invalid_body", "the body must be JSON like {\"name\": \"alice\"} or {\"name\": \"alice\", \"token\": \"…\"}")
    })?;
    check_token_name(&request.name).map_err(invalid_name)?;
    let token = match request.token {
        Some(given) => {
            ApiKey::admin_token(given).map_err(|rule| bad("weak_token", rule.to_string()))?
        }
        None => ApiKey::admin_token(crate::ids::random_token())
            .expect("a random token is 64 hex characters, which is a valid admin token"),
    };
    let hash = token_hash(token.expose());
    let _change = state.operator_log.token_changes.lock().await;
    {
        let model = state.read_model.read();
        if model.operators().is_active(&request.name) {
            return Err(conflict(
                "token_name_taken",
                "a token of this name is in force; revoke it first or choose another name",
            ));
        }
        if model.operators().holder_of(&hash).is_some()
            || state.admin_token.matches(token.expose().as_bytes())
        {
            return Err(conflict(
                "token_in_use",
                "this token is already in force under another name; choose another",
            ));
        }
    }
    let event = Event::AdminTokenAdded {
        name: request.name.clone(),
        hash,
        by: admin.name,
        client: admin.client,
    };
    record(&state, event).await?;
    let added = Added {
        success: true,
        name: request.name,
        token: token.expose().to_owned(),
    };
    Ok(json(StatusCode::CREATED, added))
}

async fn revoke(
    admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    refuse_read_only(&state)?;
    if check_token_name(&name) == Err(InvalidTokenName::Reserved) {
        return Err(invalid_name(InvalidTokenName::Reserved));
    }
    let _change = state.operator_log.token_changes.lock().await;
    if !state.read_model.read().operators().is_active(&name) {
        return Err(ApiError::NotFound {
            what: "admin token",
        });
    }
    let event = Event::AdminTokenRevoked {
        name: name.clone(),
        by: admin.name,
        client: admin.client,
    };
    record(&state, event).await?;
    Ok(json(
        StatusCode::OK,
        Revoked {
            success: true,
            revoked: name,
        },
    ))
}

/// A read-only portal changes no token: the change could not be recorded.
fn refuse_read_only(state: &AppState) -> Result<(), ApiError> {
    match state.ledger.read_only() {
        Some(_) => Err(ApiError::ReadOnly {
            found: Some("Admin token changes are refused too, for the same reason.".to_owned()),
        }),
        None => Ok(()),
    }
}

fn invalid_name(rule: InvalidTokenName) -> ApiError {
    let code = match rule {
        InvalidTokenName::Malformed => "invalid_token_name",
        InvalidTokenName::Reserved => "reserved_token_name",
    };
    bad(code, rule.to_string())
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        code,
        message: message.into(),
    }
}

fn conflict(code: &'static str, message: &str) -> ApiError {
    ApiError::Conflict {
        code,
        message: message.to_owned(),
    }
}
