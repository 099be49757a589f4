//! The background audit: once the ledger serves, a thread of its own verifies the whole stored
//! chain from seq 1 to the head as of its start, through the store's scan and the one check of
//! `verify.rs`, and publishes its progress ([`VerificationStatus`]). Damage found this way
//! stops the writer: every later append is refused with [`LedgerError::ChainDamaged`], naming
//! the bad seq.
//!
//! It never takes a lock the writer needs (it only scans the store), never repairs anything,
//! and never keeps the store alive once the ledger is gone: it holds weak handles only, checks
//! them as it goes and stops when the ledger is shut down or dropped, so that a directory can
//! be reopened at once.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::watch;

use crate::ids::Seq;
use crate::ledger::error::LedgerError;
use crate::ledger::shared::Shared;
use crate::ledger::store::{Head, Store};
use crate::ledger::verify::{self, CheckThreads};
use crate::ledger::{Ledger, LedgerOptions};

/// Events checked between two looks at whether the ledger is still there (and two progress
/// reports).
const EVENTS_PER_LOOK: u64 = 4096;

/// Where the background verification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationState {
    /// Checking.
    Running,
    /// Every event up to the target verified.
    Verified,
    /// Damage was found at `first_bad_seq`; the ledger takes no more appends.
    Damaged,
    /// Not run (turned off, or a read-only ledger), or the store could not be read.
    Unavailable,
}

impl VerificationState {
    /// The name `/health` gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Verified => "verified",
            Self::Damaged => "damaged",
            Self::Unavailable => "unavailable",
        }
    }
}

/// The background verification's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationStatus {
    /// Where it stands.
    pub state: VerificationState,
    /// Every event from seq 1 up to this one verified.
    pub verified_seq: Seq,
    /// The head it verifies up to (the head when it started).
    pub target_seq: Seq,
    /// The first bad seq, once damage is found.
    pub first_bad_seq: Option<Seq>,
    /// What was found, or why it is unavailable.
    pub message: Option<String>,
}

impl VerificationStatus {
    fn unavailable(message: &str) -> Self {
        Self {
            state: VerificationState::Unavailable,
            verified_seq: Seq::ZERO,
            target_seq: Seq::ZERO,
            first_bad_seq: None,
            message: Some(message.to_owned()),
        }
    }
}

/// The audit of one ledger: its status and its thread.
pub(crate) struct Audit {
    status: watch::Sender<VerificationStatus>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Audit {
    /// An audit that does not run, saying why.
    pub(crate) fn off(why: &str) -> Arc<Self> {
        Arc::new(Self {
            status: watch::Sender::new(VerificationStatus::unavailable(why)),
            thread: Mutex::new(None),
        })
    }

    /// Where it stands.
    pub(crate) fn status(&self) -> VerificationStatus {
        self.status.borrow().clone()
    }

    /// Resolves once no verification is running.
    pub(crate) async fn ended(&self) {
        let mut status = self.status.subscribe();
        let _ = status
            .wait_for(|status| status.state != VerificationState::Running)
            .await;
    }

    /// Starts verifying `store` up to `target` on a thread of its own, unless a verification
    /// is running or has found damage; whether one was started.
    pub(crate) fn start(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        shared: &Arc<Shared>,
        target: Head,
    ) -> bool {
        let mut thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
        let state = self.status.borrow().state;
        if matches!(
            state,
            VerificationState::Running | VerificationState::Damaged
        ) {
            return false;
        }
        if let Some(finished) = thread.take() {
            let _ = finished.join();
        }
        self.status.send_replace(VerificationStatus {
            state: VerificationState::Running,
            verified_seq: Seq::ZERO,
            target_seq: target.seq,
            first_bad_seq: None,
            message: None,
        });
        let run = Run {
            audit: Arc::clone(self),
            store: Arc::downgrade(store),
            shared: Arc::downgrade(shared),
            target,
        };
        match std::thread::Builder::new()
            .name("ledger-audit".into())
            .spawn(move || run.run())
        {
            Ok(handle) => *thread = Some(handle),
            Err(error) => {
                tracing::error!(%error, "cannot start the background verification");
                self.status.send_replace(VerificationStatus::unavailable(
                    "the background verification could not start a thread",
                ));
                return false;
            }
        }
        true
    }

    /// Waits for the thread to end (the ledger is stopped, so it stops at its next look).
    pub(crate) fn join(&self) {
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Ledger {
    /// Where the background verification of the whole chain stands.
    pub fn verification(&self) -> VerificationStatus {
        self.audit.status()
    }

    /// Resolves once no background verification is running (at once when none is).
    pub async fn verification_ended(&self) {
        self.audit.ended().await;
    }

    /// Starts a background verification of the whole chain up to the current head, unless one
    /// is running or has found damage (or the ledger is read-only or stopped); whether it
    /// started. Damage it finds stops appends, as [`LedgerOptions::audit`]'s at open does.
    pub fn start_verification(&self) -> bool {
        if self.read_only.is_some() || self.shared.is_stopped() {
            return false;
        }
        self.audit.start(&self.store, &self.shared, self.head())
    }

    /// The store under this ledger, for tests that damage it as a disk fault would.
    #[doc(hidden)]
    pub fn store_for_tests(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// This ledger, with its background verification started if `options` ask for one.
    pub(super) fn audited(self, options: LedgerOptions) -> Self {
        if options.audit {
            self.start_verification();
        }
        self
    }
}

/// One verification pass.
struct Run {
    audit: Arc<Audit>,
    store: Weak<dyn Store>,
    shared: Weak<Shared>,
    target: Head,
}

impl Run {
    fn run(self) {
        let Some(store) = self.store.upgrade() else {
            return self.called_off();
        };
        let mut verified = Seq::ZERO;
        let checked = verify::verify_store_watched(
            store.as_ref(),
            self.target.seq,
            Some(self.target),
            CheckThreads::One,
            &mut |envelope| {
                verified = envelope.seq;
                if !verified.0.is_multiple_of(EVENTS_PER_LOOK) {
                    return ControlFlow::Continue(());
                }
                self.audit
                    .status
                    .send_modify(|status| status.verified_seq = verified);
                if self.ledger_is_gone() {
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            },
        );
        drop(store);
        match checked {
            Ok(Some(verification)) => self.found(verification),
            Ok(None) => self.called_off(),
            Err(error) => {
                tracing::error!(%error, "the background verification could not read the ledger");
                self.audit.status.send_modify(|status| {
                    status.state = VerificationState::Unavailable;
                    status.message = Some(format!("the ledger could not be read: {error}"));
                });
            }
        }
    }

    fn ledger_is_gone(&self) -> bool {
        self.shared
            .upgrade()
            .is_none_or(|shared| shared.is_stopped())
    }

    fn called_off(&self) {
        self.audit.status.send_modify(|status| {
            status.state = VerificationState::Unavailable;
            status.message = Some("the ledger stopped before the verification ended".to_owned());
        });
    }

    fn found(&self, verification: verify::Verification) {
        let intact = verification.last.seq;
        let Some(damage) = verification.damage else {
            self.audit.status.send_modify(|status| {
                status.state = VerificationState::Verified;
                status.verified_seq = intact;
            });
            return;
        };
        let seq = damage.first_bad_seq();
        let error = LedgerError::ChainDamaged {
            seq,
            damage: damage.clone(),
            intact,
        };
        tracing::error!(%error, "the background verification found damage: appends stop");
        if let Some(shared) = self.shared.upgrade() {
            shared.stop_for_damage(error.clone());
        }
        self.audit.status.send_replace(VerificationStatus {
            state: VerificationState::Damaged,
            verified_seq: intact,
            target_seq: self.target.seq,
            first_bad_seq: Some(seq),
            message: Some(error.to_string()),
        });
    }
}
