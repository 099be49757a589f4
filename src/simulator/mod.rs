//! The Dokploy simulator: an axum app that answers like Dokploy v0.30 for the procedures
//! StackLedger uses (`../shared/dokploy-api.md`), with scripted faults, a record of every
//! request, and the deployed apps' health. It stands in for Dokploy in tests and in the
//! embedded default run; the real client talks to it over HTTP, so it is never a shortcut
//! around the client.
//!
//! Besides Dokploy's routes it serves a control API (loopback peers only, no key):
//! `GET /__sim/state`, `POST /__sim/faults`, `DELETE /__sim/faults`, `POST /__sim/restart`
//! (Dokploy restarts: its build queue is lost and running deployments are cancelled), and the
//! apps' health at `GET /__sim/apps/NAME/health`, answered through the simulated routes and
//! services.
//!
//! This file is the public face: the procedure table, the options, the running server and its
//! shared state, and the router. The door to the procedures is `api.rs`, their answers' wire
//! shapes `answer.rs`, the faults `fault.rs` (the plan) and `fault_effect.rs` (what one does to
//! an answer), the control routes `control.rs`, and Dokploy's state and procedures `world/`.
//! It must never be kinder than Dokploy (`../shared/dokploy-behaviour.md`).

mod answer;
mod api;
mod control;
pub mod fault;
mod fault_effect;
mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::deployment::Procedure;
use crate::secret::ApiKey;
pub use fault::{Fault, Polls};
use world::World;

/// Every Dokploy procedure the simulator serves (each with its method in the table).
pub const ROUTES: &[Procedure] = &Procedure::ALL;

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
#[derive(Clone)]
pub struct SimulatorOptions {
    /// The key callers must send as `x-api-key`.
    pub api_key: ApiKey,
    /// Seed of the id generator.
    pub seed: u64,
    /// `deployment.all` polls a deploy's row stays `running` before its final status.
    pub deploy_polls: std::num::NonZeroU32,
    /// Builds Dokploy runs at once on its server (`buildsConcurrency`, default 1).
    pub builds: std::num::NonZeroU32,
    /// How long one build runs on `clock` (zero: only `deploy_polls` counts).
    pub build_duration: std::time::Duration,
    /// The time builds are measured on (the tests' `ManualClock`, or the system's).
    pub clock: Arc<dyn crate::clock::Clock>,
    /// Dokploy's "remote servers only" (or Cloud): `application.create` needs a `serverId`.
    pub remote_servers_only: bool,
    /// The id of the one remote server the simulated Dokploy knows, if any.
    pub server_id: Option<String>,
}

impl std::fmt::Debug for SimulatorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorOptions")
            .field("seed", &self.seed)
            .field("deploy_polls", &self.deploy_polls)
            .field("builds", &self.builds)
            .field("build_duration", &self.build_duration)
            .field("remote_servers_only", &self.remote_servers_only)
            .field("server_id", &self.server_id)
            .finish_non_exhaustive()
    }
}

impl SimulatorOptions {
    /// A simulator that expects `api_key`, draws ids from `seed`, builds one deploy at a time
    /// with no build duration, and lets every row finish on its first poll.
    pub fn new(api_key: ApiKey, seed: u64) -> Self {
        Self {
            api_key,
            seed,
            deploy_polls: std::num::NonZeroU32::MIN,
            builds: std::num::NonZeroU32::MIN,
            build_duration: std::time::Duration::ZERO,
            clock: Arc::new(crate::clock::SystemClock),
            remote_servers_only: false,
            server_id: None,
        }
    }
}

/// What the handlers share. Lock order: the fault plan may be locked while the world is (an
/// `application.deploy` asks for its forced outcome), never the other way round.
struct Shared {
    world: Mutex<World>,
    faults: Mutex<fault::FaultPlan>,
    requests: Mutex<Vec<RecordedRequest>>,
    api_key: ApiKey,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn faults(&self) -> MutexGuard<'_, fault::FaultPlan> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn requests(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, request: RecordedRequest) {
        self.requests().push(request);
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
            world: Mutex::new(World::new(&options)),
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

    /// Everything it holds, as `GET /__sim/state` shows it: `projects`, `applications`,
    /// `domains`, `deployments` (rows), `services` (`appName`, `applicationId`, `image`,
    /// `running`), `routes` (`host`, `domainId`, `appName`) and `queue` (the waiting jobs'
    /// `applicationId` and `title`, oldest first).
    pub fn state(&self) -> Value {
        self.shared.world().state()
    }

    /// Restarts the simulated Dokploy as `POST /__sim/restart` does: waiting jobs are lost,
    /// running deployments become `cancelled` (no `finishedAt`, their apps `idle`); rows,
    /// services, routes, faults and the request record stay.
    pub fn restart(&self) {
        self.shared.world().restart();
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests().clone()
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
        .route("/api/{procedure}", any(api::api))
        .route("/api/{procedure}/", any(api::api))
        .route("/__sim/state", get(control::state))
        .route(
            "/__sim/faults",
            post(control::add_fault).delete(control::clear_faults),
        )
        .route("/__sim/restart", post(control::restart))
        .route("/__sim/apps/{name}/health", get(control::app_health))
        .with_state(shared)
}
