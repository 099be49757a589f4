//! The single wiring point for `main` and the tests: open the ledger with its read model,
//! record the start, and build the HTTP router over them.

use std::path::Path;
use std::sync::Arc;

use crate::clock::Clock;
use crate::ids::DeploymentId;
use crate::ledger::error::LedgerError;
use crate::ledger::event::Event;
use crate::ledger::{ExpectedVersion, Ledger, NewEvent};
use crate::projection::LiveReadModel;

/// The running application's parts.
#[derive(Debug, Clone)]
pub struct App {
    /// The event log.
    pub ledger: Ledger,
    /// The projection the ledger keeps current.
    pub read_model: LiveReadModel,
}

impl App {
    /// Opens and verifies the ledger in `ledger_dir` and folds it into a fresh read model.
    /// Blocking (it reads the whole log): call it off the async runtime.
    pub fn open(ledger_dir: &Path, clock: Arc<dyn Clock>) -> Result<App, LedgerError> {
        let read_model = LiveReadModel::new();
        let ledger = Ledger::open(ledger_dir, clock, Arc::new(read_model.clone()))?;
        Ok(App { ledger, read_model })
    }

    /// Appends `ServerStarted` to the system stream.
    pub async fn record_start(&self) -> Result<(), LedgerError> {
        let event = Event::ServerStarted {
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        self.ledger
            .append_one(
                DeploymentId::SYSTEM,
                ExpectedVersion::Any,
                NewEvent::new(event),
            )
            .await
            .map(|_| ())
    }

    /// The HTTP router over this application.
    pub fn router(&self) -> axum::Router {
        crate::http::router(crate::http::AppState {
            ledger: self.ledger.clone(),
            read_model: self.read_model.clone(),
        })
    }
}
