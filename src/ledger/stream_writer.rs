//! [`StreamWriter`]: one run's pen on its deployment's stream.
//!
//! It never appends at any version but the one it last wrote (a second writer of the stream
//! gets a version conflict, never a mixed history), and its version moves only once an append
//! is durable.

use std::sync::Arc;

use crate::crash::{CrashPoint, CrashPoints};
use crate::ids::{DeploymentId, StreamVersion};
use crate::ledger::envelope::Envelope;
use crate::ledger::error::LedgerError;
use crate::ledger::{ExpectedVersion, Ledger, NewEvent};

/// The pen of one stream: appends at the stream's next version, so that whoever holds it
/// (one deployment run) can never interleave with itself, and a second writer of the same
/// stream is refused with a version conflict instead of silently mixing histories.
#[derive(Debug)]
pub struct StreamWriter {
    ledger: Ledger,
    stream: DeploymentId,
    version: StreamVersion,
    crash: Arc<CrashPoints>,
}

impl StreamWriter {
    /// A writer of `stream`, which must currently be at `version`.
    pub fn new(ledger: Ledger, stream: DeploymentId, version: StreamVersion) -> Self {
        Self::with_crash_points(ledger, stream, version, Arc::new(CrashPoints::disabled()))
    }

    /// The same, reaching `before_append` and `after_append` around every append.
    pub fn with_crash_points(
        ledger: Ledger,
        stream: DeploymentId,
        version: StreamVersion,
        crash: Arc<CrashPoints>,
    ) -> Self {
        Self {
            ledger,
            stream,
            version,
            crash,
        }
    }

    /// The stream's version after the last append.
    pub fn version(&self) -> StreamVersion {
        self.version
    }

    /// Moves the writer to `version`, past events another writer appended, which the caller
    /// has read and folded (a run folds a cancel appended by the cancel endpoint so). It must
    /// never be used to skip events nobody read.
    pub fn caught_up(&mut self, version: StreamVersion) {
        assert!(version > self.version, "a writer only moves forward");
        self.version = version;
    }

    /// Appends one event and returns it as written, once durable.
    pub async fn append(&mut self, event: NewEvent) -> Result<Arc<Envelope>, LedgerError> {
        self.crash.hit(CrashPoint::BeforeAppend);
        let written = self
            .ledger
            .append_one(self.stream, ExpectedVersion::Exact(self.version), event)
            .await?;
        self.version = written.version;
        self.crash.hit(CrashPoint::AfterAppend);
        Ok(written)
    }
}
