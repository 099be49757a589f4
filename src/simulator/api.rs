//! Dokploy's `/api/{procedure}` door: checks the key, reads the input (query for GET, JSON
//! object for POST), records the request, finds the procedure (any case, one trailing slash,
//! the method in `ROUTES`), then lets a scripted fault or the world answer.
//!
//! The order is part of the behaviour: an unreadable body is refused before the key is checked,
//! and every readable request is recorded, authorized or not. It never keeps the key itself,
//! and never decides what a procedure does (that is the world's one dispatch).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::answer::{Failure, unauthorized};
use super::{ROUTES, RecordedRequest, Shared, fault_effect};
use crate::deployment::Procedure;

/// Answers one call to `/api/{procedure}`.
pub(super) async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    Path(procedure): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorized = headers
        .get("x-api-key")
        .is_some_and(|key| shared.api_key.matches(key.as_bytes()));
    let input = match read_input(&method, &query, &headers, &body) {
        Ok(input) => input,
        Err(failure) => return failure.response(None),
    };
    shared.record(RecordedRequest {
        method: method.to_string(),
        procedure: procedure.clone(),
        input: Value::Object(input.clone()),
        authorized,
    });
    if !authorized {
        return unauthorized();
    }
    let Some(name) = route(&method, &procedure) else {
        return Failure::new(404, "NOT_FOUND", "Not found").response(None);
    };
    // A statement of its own, so that the fault plan's lock is let go before the answer.
    let fault = shared.faults().take_call(name.name());
    match fault {
        Some(fault) => fault_effect::apply(&shared, name, &input, fault).await,
        None => answer(&shared, name, &input),
    }
}

/// The world's answer to one call, as Dokploy sends it.
pub(super) fn answer(
    shared: &Shared,
    procedure: Procedure,
    input: &Map<String, Value>,
) -> Response {
    let result = shared
        .world()
        .call(procedure, input, || shared.faults().take_deploy_outcome());
    match result {
        Ok(answer) => answer.into_response(),
        Err(failure) => failure.response(Some(procedure.name())),
    }
}

/// Finds the route, ignoring case and one trailing slash, as Dokploy does.
fn route(method: &Method, procedure: &str) -> Option<Procedure> {
    let procedure = procedure.strip_suffix('/').unwrap_or(procedure);
    ROUTES.iter().copied().find(|route| {
        route.method().as_str() == method.as_str() && route.name().eq_ignore_ascii_case(procedure)
    })
}

/// The input of a call: the query of a GET, the JSON object body of a POST (415 without a JSON
/// content type, 400 for a body that is not a JSON object).
fn read_input(
    method: &Method,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, Failure> {
    if method != Method::POST {
        let input = query
            .iter()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect();
        return Ok(input);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    if let Some(refusal) = content_type_refusal(content_type) {
        return Err(Failure::new(415, "UNSUPPORTED_MEDIA_TYPE", refusal));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(input)) => Ok(input),
        _ => Err(Failure::new(400, "PARSE_ERROR", "Invalid JSON body")),
    }
}

/// Why a POST's content type is refused, if it is: missing, or not JSON.
fn content_type_refusal(content_type: Option<&str>) -> Option<String> {
    match content_type {
        None => Some("Missing content-type header".to_owned()),
        Some(kind) if !kind.starts_with("application/json") => {
            Some(format!("Unsupported content-type \"{kind}\""))
        }
        Some(_) => None,
    }
}
