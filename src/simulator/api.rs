//! Dokploy's `/api/{procedure}` door, in Dokploy v0.30.2's order
//! (`../shared/dokploy-behaviour.md` §2, M8): (1) Next.js reads the body (over 1 MB: 413, and
//! a JSON content type with a body that does not parse: 400 plain-text `Invalid JSON`); the
//! request is recorded; (2) the key (401 `{"message":"Unauthorized"}`); (3) the route, any
//! case, the method in `ROUTES` (404 `Not found` without `data.path`); (4) a POST's content
//! type (415 with `data.path`); then a scripted fault or the world, which validates the input
//! as zod does (400).
//!
//! It never keeps the key itself, and never decides what a procedure does (that is the
//! world's one dispatch).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::answer::{Failure, next_error, unauthorized};
use super::{ROUTES, RecordedRequest, Shared, fault_effect};
use crate::deployment::Procedure;

/// Next.js's default API body limit (`1mb`).
const BODY_BYTES_MAX: usize = 1024 * 1024;

/// Answers one call to `/api/{procedure}`.
pub(super) async fn api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    Path(procedure): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read_body(&headers, body).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let input = input(&method, query.as_deref(), &body);
    let authorized = headers
        .get("x-api-key")
        .is_some_and(|key| shared.api_key.matches(key.as_bytes()));
    shared.record(RecordedRequest {
        method: method.to_string(),
        procedure: procedure.clone(),
        input: recorded_input(&method, &input, body),
        authorized,
    });
    if !authorized {
        return unauthorized();
    }
    let Some(name) = route(&method, &procedure) else {
        return route_missing(&method);
    };
    if name.method() == crate::deployment::HttpMethod::Post
        && let Some(refusal) = content_type_refusal(&headers)
    {
        return Failure::new(415, "UNSUPPORTED_MEDIA_TYPE", refusal).response(Some(name.name()));
    }
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

/// No procedure for this method and path: 404 `Not found` without `data.path`, except a HEAD,
/// which `@dokploy/trpc-openapi` answers 204 ("can be used for warmup").
fn route_missing(method: &Method) -> Response {
    if method == Method::HEAD {
        return (
            StatusCode::NO_CONTENT,
            [(header::CONTENT_TYPE, "application/json")],
        )
            .into_response();
    }
    Failure::new(404, "NOT_FOUND", "Not found").response(None)
}

/// The body as Next.js's API body parser reads it, whatever the method: `Some` JSON value for
/// a JSON content type (an empty body is `{}`), `None` for any other body; 413 past 1 MB and
/// 400 `Invalid JSON` for a JSON content type whose body does not parse.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Option<Value>, Response> {
    let Ok(bytes) = axum::body::to_bytes(body, BODY_BYTES_MAX).await else {
        return Err(next_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Body exceeded 1mb limit",
        ));
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    if !is_json_media_type(content_type) {
        return Ok(None);
    }
    // Node decodes the bytes as UTF-8, replacing what is not, before `JSON.parse`.
    let text = String::from_utf8_lossy(&bytes);
    if text.is_empty() {
        return Ok(Some(Value::Object(Map::new())));
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|_| next_error(StatusCode::BAD_REQUEST, "Invalid JSON"))
}

/// Whether Next.js parses this content type as JSON: the media type (lower-cased) is
/// `application/json` or `application/ld+json`, and the header parses (every parameter is
/// `name=value`); an unparsable header counts as `text/plain`.
fn is_json_media_type(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return false;
    };
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let parameters_parse = parts.all(|parameter| {
        parameter
            .split_once('=')
            .is_some_and(|(name, value)| !name.trim().is_empty() && !value.trim().is_empty())
    });
    parameters_parse && (media == "application/json" || media == "application/ld+json")
}

/// What the record keeps of a call's input: the query of a GET, the body of any other method
/// as it was parsed (`{}` for a body that was not JSON).
fn recorded_input(method: &Method, input: &Map<String, Value>, body: Option<Value>) -> Value {
    if method == Method::GET || method == Method::DELETE {
        return Value::Object(input.clone());
    }
    body.unwrap_or_else(|| Value::Object(Map::new()))
}

/// The input a procedure gets: the query of a GET (a key given twice is a list, as Next.js
/// has it), the body of any other method, spread into an object as `{...body}` does (so a
/// body that is not a JSON object gives no keys).
fn input(method: &Method, query: Option<&str>, body: &Option<Value>) -> Map<String, Value> {
    if method == Method::GET || method == Method::DELETE {
        return query_input(query.unwrap_or_default());
    }
    match body {
        Some(Value::Object(input)) => input.clone(),
        _ => Map::new(),
    }
}

fn query_input(query: &str) -> Map<String, Value> {
    let url = reqwest::Url::parse(&format!("http://simulator/?{query}"));
    let mut input = Map::new();
    for (key, value) in url.iter().flat_map(reqwest::Url::query_pairs) {
        let value = Value::String(value.into_owned());
        match input.get_mut(key.as_ref()) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                input.insert(key.into_owned(), value);
            }
        }
    }
    input
}

/// Why a POST's content type is refused, if it is (`@dokploy/trpc-openapi` `core.mjs`: the
/// header as sent must start with `application/json`; the message has no closing quote).
fn content_type_refusal(headers: &HeaderMap) -> Option<String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .filter(|value| !value.is_empty());
    match content_type {
        None => Some("Missing content-type header".to_owned()),
        Some(kind)
            if kind.starts_with("application/json") || kind.starts_with("multipart/form-data") =>
        {
            None
        }
        Some(kind) => Some(format!("Unsupported content-type \"{kind}")),
    }
}
