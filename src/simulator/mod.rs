//! The Dokploy simulator: an axum app that answers like Dokploy v0.30 for the procedures
//! StackLedger uses (`../shared/dokploy-api.md`), with scripted faults, a record of every
//! request, and the deployed apps' health. It stands in for Dokploy in tests and in the
//! embedded default run; the real client talks to it over HTTP, so it is never a shortcut
//! around the client.
//!
//! Besides Dokploy's routes it serves a control API (loopback peers only, no key):
//! `GET /__sim/state`, `POST /__sim/faults`, `DELETE /__sim/faults`, and the apps' health at
//! `GET /__sim/apps/NAME/health`.

pub mod fault;
mod world;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use crate::deployment::HttpMethod;
use crate::secret::ApiKey;
pub use fault::{Fault, Polls};
use world::{Answer, Failure, World};

/// Every Dokploy procedure the simulator serves, with its method.
pub const ROUTES: &[(HttpMethod, &str)] = &[
    (HttpMethod::Get, "project.all"),
    (HttpMethod::Get, "project.one"),
    (HttpMethod::Post, "project.create"),
    (HttpMethod::Post, "project.remove"),
    (HttpMethod::Get, "environment.one"),
    (HttpMethod::Post, "application.create"),
    (HttpMethod::Get, "application.one"),
    (HttpMethod::Post, "application.saveDockerProvider"),
    (HttpMethod::Post, "application.deploy"),
    (HttpMethod::Post, "application.delete"),
    (HttpMethod::Post, "domain.create"),
    (HttpMethod::Get, "domain.byApplicationId"),
    (HttpMethod::Post, "domain.delete"),
    (HttpMethod::Get, "deployment.all"),
];

/// One request the simulator received (the key itself is never kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedRequest {
    /// GET or POST (or whatever was sent).
    pub method: String,
    /// The procedure as sent.
    pub procedure: String,
    /// The input: the query for GET, the JSON body for POST.
    pub input: Value,
    /// Whether the right key came with it.
    pub authorized: bool,
}

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimulatorOptions {
    /// The key callers must send as `x-api-key`.
    pub api_key: ApiKey,
    /// Seed of the id generator.
    pub seed: u64,
    /// `deployment.all` polls a deploy's row stays `running` before its final status.
    pub deploy_polls: u32,
}

struct Shared {
    world: Mutex<World>,
    faults: Mutex<fault::FaultPlan>,
    requests: Mutex<Vec<RecordedRequest>>,
    api_key: ApiKey,
}

impl Shared {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, fault::FaultPlan> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    shared: Arc<Shared>,
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("address", &self.address)
            .finish()
    }
}

impl Simulator {
    /// Starts serving on `listen` (port 0 picks a free port).
    pub async fn start(listen: SocketAddr, options: SimulatorOptions) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            world: Mutex::new(World::new(options.seed, options.deploy_polls.max(1))),
            faults: Mutex::new(fault::FaultPlan::default()),
            requests: Mutex::new(Vec::new()),
            api_key: options.api_key,
        });
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let app = router(Arc::clone(&shared)).into_make_service_with_connect_info::<SocketAddr>();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "the Dokploy simulator stopped");
            }
        });
        Ok(Self {
            shared,
            address,
            stop: Some(stop),
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its origin, `http://127.0.0.1:PORT` (the client adds `/api`).
    pub fn origin(&self) -> reqwest::Url {
        reqwest::Url::parse(&format!("http://{}", self.address))
            .expect("an http URL of a socket address always parses")
    }

    /// The health URL template for deployed apps (`{name}` is replaced by the stack name).
    pub fn health_url_template(&self) -> String {
        format!("http://{}/__sim/apps/{{name}}/health", self.address)
    }

    /// Adds a fault.
    pub fn add_fault(&self, fault: Fault) {
        self.shared.faults().add(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// Everything it holds, as `GET /__sim/state` shows it.
    pub fn state(&self) -> Value {
        self.shared.world().state()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/api/{procedure}", axum::routing::any(api))
        .route("/api/{procedure}/", axum::routing::any(api))
        .route("/__sim/state", get(control_state))
        .route(
            "/__sim/faults",
            axum::routing::post(control_add).delete(control_clear),
        )
        .route("/__sim/apps/{name}/health", get(app_health))
        .with_state(shared)
}

/// A tRPC-shaped error answer.
fn failure_response(failure: &Failure, procedure: Option<&str>) -> Response {
    let mut body = json!({
        "message": failure.message,
        "code": failure.code,
        "data": {"code": failure.code, "httpStatus": failure.status, "zodError": null},
    });
    if let Some(procedure) = procedure {
        body["data"]["path"] = json!(procedure);
    }
    if let Some(issues) = &failure.issues {
        body["issues"] = issues.clone();
    }
    let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"message": "Unauthorized"})),
    )
        .into_response()
}

/// Finds the route, ignoring case and one trailing slash, as Dokploy does.
fn route(method: &Method, procedure: &str) -> Option<&'static str> {
    let procedure = procedure.strip_suffix('/').unwrap_or(procedure);
    ROUTES
        .iter()
        .find(|(route_method, name)| {
            route_method.as_str() == method.as_str() && name.eq_ignore_ascii_case(procedure)
        })
        .map(|(_, name)| *name)
}

async fn api(
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
        Err(response) => return *response,
    };
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(RecordedRequest {
            method: method.to_string(),
            procedure: procedure.clone(),
            input: Value::Object(input.clone()),
            authorized,
        });
    if !authorized {
        return unauthorized();
    }
    let Some(name) = route(&method, &procedure) else {
        let not_found = Failure {
            status: 404,
            code: "NOT_FOUND",
            message: "Not found".to_owned(),
            issues: None,
        };
        return failure_response(&not_found, None);
    };
    let fault = shared.faults().take_call(name);
    match fault {
        Some(fault) => faulty(&shared, name, &input, fault).await,
        None => answer(&shared, name, &input),
    }
}

/// The input of a call: the query of a GET, the JSON object body of a POST (415 without a JSON
/// content type, 400 for a body that is not a JSON object).
fn read_input(
    method: &Method,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, Box<Response>> {
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
    let message = match content_type {
        None => Some("Missing content-type header".to_owned()),
        Some(kind) if !kind.starts_with("application/json") => {
            Some(format!("Unsupported content-type \"{kind}\""))
        }
        Some(_) => None,
    };
    if let Some(message) = message {
        let failure = Failure {
            status: 415,
            code: "UNSUPPORTED_MEDIA_TYPE",
            message,
            issues: None,
        };
        return Err(Box::new(failure_response(&failure, None)));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(input)) => Ok(input),
        _ => {
            let failure = Failure {
                status: 400,
                code: "PARSE_ERROR",
                message: "Invalid JSON body".to_owned(),
                issues: None,
            };
            Err(Box::new(failure_response(&failure, None)))
        }
    }
}

fn answer(shared: &Shared, procedure: &'static str, input: &Map<String, Value>) -> Response {
    let deploy_outcome = if procedure == "application.deploy" {
        shared.faults().take_deploy_outcome()
    } else {
        None
    };
    let lower = procedure.to_ascii_lowercase();
    let result = shared.world().call(&lower, input, deploy_outcome);
    match result {
        Ok(Answer::Json(value)) => (StatusCode::OK, Json(value)).into_response(),
        Ok(Answer::Encoded(body)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Ok(Answer::Empty) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            Body::empty(),
        )
            .into_response(),
        Err(failure) => failure_response(&failure, Some(procedure)),
    }
}

/// Applies a scripted fault to one call.
async fn faulty(
    shared: &Shared,
    procedure: &'static str,
    input: &Map<String, Value>,
    fault: Fault,
) -> Response {
    if let Some(delay) = fault.delay_ms {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if fault.hang {
        std::future::pending::<()>().await;
    }
    if fault.drop {
        if fault.after_effect {
            let _ = answer(shared, procedure, input);
        }
        return dropped_connection();
    }
    if let Some(status) = fault.status {
        let failure = Failure {
            status,
            code: "INTERNAL_SERVER_ERROR",
            message: format!("Simulated failure ({status})"),
            issues: None,
        };
        let mut response = failure_response(&failure, Some(procedure));
        let retry_after = fault
            .retry_after
            .map(|seconds| seconds.to_string())
            .or(fault.retry_after_raw);
        if let Some(value) = retry_after.and_then(|value| value.parse().ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    if fault.malformed {
        let page = "<html><body>502 Bad Gateway</body></html>";
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], page).into_response();
    }
    if let Some(bytes) = fault.huge_bytes {
        return huge_answer(bytes);
    }
    answer(shared, procedure, input)
}

/// A 200 with a JSON array holding one string of about `bytes` bytes, streamed in chunks so
/// that it starts at once and costs the simulator no memory.
fn huge_answer(bytes: usize) -> Response {
    const CHUNK: usize = 64 * 1024;
    let filler = Bytes::from(vec![b'x'; CHUNK]);
    let chunks = bytes.div_ceil(CHUNK);
    let body = std::iter::once(Bytes::from_static(b"[\""))
        .chain(std::iter::repeat_n(filler, chunks))
        .chain(std::iter::once(Bytes::from_static(b"\"]")))
        .map(Ok::<Bytes, std::io::Error>);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures_util::stream::iter(body)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A 200 whose body breaks off: the client sees the connection die without an answer.
fn dropped_connection() -> Response {
    let broken = futures_util::stream::iter([Err::<Bytes, std::io::Error>(std::io::Error::other(
        "simulated dropped connection",
    ))]);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "64")
        .body(Body::from_stream(broken))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The refusal for a peer that is not on loopback, if it is not.
fn refuse_remote(peer: SocketAddr) -> Option<Response> {
    if peer.ip().is_loopback() {
        return None;
    }
    let body = json!({"message": "the simulator's control API answers loopback peers only"});
    Some((StatusCode::FORBIDDEN, Json(body)).into_response())
}

async fn control_state(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(refused) = refuse_remote(peer) {
        return refused;
    }
    Json(shared.world().state()).into_response()
}

async fn control_add(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    if let Some(refused) = refuse_remote(peer) {
        return refused;
    }
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            shared.faults().add(fault);
            (StatusCode::CREATED, Json(json!({"ok": true}))).into_response()
        }
        Err(error) => {
            let body = json!({"message": format!("not a fault: {error}")});
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
    }
}

async fn control_clear(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(refused) = refuse_remote(peer) {
        return refused;
    }
    shared.faults().clear();
    Json(json!({"ok": true})).into_response()
}

async fn app_health(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let deployed = shared.world().app_health(&name);
    match deployed {
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"status": "unknown app"})),
        )
            .into_response(),
        Some(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not deployed"})),
        )
            .into_response(),
        Some(true) if shared.faults().take_unhealthy(&name) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unhealthy"})),
        )
            .into_response(),
        Some(true) => Json(json!({"status": "ok"})).into_response(),
    }
}
