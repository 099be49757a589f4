//! The syncer: the last stages of the single writer. It makes written batches durable in the
//! store, one sync for every batch waiting; then the keeper appends them to the mirror and
//! fdatasyncs it (`--mirror`), records their head in the witness, publishes them (stream
//! index, projection, live subscribers) and answers their appenders, in seq order. The witness
//! only ever records a head once the store's sync and the mirror's returned, so it never claims
//! more than both hold.
//!
//! With a witness or a mirror the keeper runs on a thread of its own, so that its fdatasyncs
//! overlap the store's sync of the next batches instead of adding to them. After any failed
//! sync the writer stops and everything still handed over is refused: it never acknowledges
//! what may not be on disk.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};

use tokio::sync::{broadcast, oneshot};

use crate::clock::Stopwatch;
use crate::ledger::checkpoint::Checkpointer;
use crate::ledger::envelope::Envelope;
use crate::ledger::error::{LedgerError, StoreError};
use crate::ledger::mirror::Mirror;
use crate::ledger::shared::Shared;
use crate::ledger::store::{Head, Store, StoredRecord};
use crate::ledger::witness::Witness;
use crate::ledger::writer::Reply;

/// Groups synced by the store, waiting for the keeper.
const SYNCED_QUEUE_MAX: usize = 4;

/// A batch written to the store, waiting to be made durable.
pub(crate) struct Written {
    pub(crate) head: Head,
    /// The exact bytes written, for the mirror.
    pub(crate) records: Vec<StoredRecord>,
    pub(crate) envelopes: Vec<Arc<Envelope>>,
    pub(crate) replies: Vec<Reply>,
    /// Who asked for a checkpoint once this batch is published.
    pub(crate) checkpoints: Vec<oneshot::Sender<()>>,
}

/// Makes written batches durable, then publishes them and answers their appenders, in order.
pub(crate) struct Syncer {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) witness: Option<Witness>,
    pub(crate) mirror: Option<Mirror>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) live: broadcast::Sender<Arc<Envelope>>,
    pub(crate) checkpointer: Checkpointer,
}

/// What happens after the store's sync: the mirror, the witness, publishing, the answers.
struct Keeper {
    witness: Option<Witness>,
    mirror: Option<Mirror>,
    shared: Arc<Shared>,
    live: broadcast::Sender<Arc<Envelope>>,
    checkpointer: Checkpointer,
}

impl Syncer {
    pub(crate) fn run(self, written: Receiver<Written>) {
        let Syncer {
            store,
            witness,
            mirror,
            shared,
            live,
            checkpointer,
        } = self;
        let mut keeper = Keeper {
            witness,
            mirror,
            shared: Arc::clone(&shared),
            live,
            checkpointer,
        };
        let stages = StoreSync {
            store,
            shared: Arc::clone(&shared),
        };
        if keeper.witness.is_none() && keeper.mirror.is_none() {
            stages.run(&written, &mut |group| keeper.keep(group));
        } else {
            let (to_keeper, synced) = std::sync::mpsc::sync_channel(SYNCED_QUEUE_MAX);
            std::thread::scope(|scope| {
                let spawned = std::thread::Builder::new()
                    .name("ledger-keeper".into())
                    .spawn_scoped(scope, || keeper.run(synced));
                if let Err(error) = spawned {
                    tracing::error!(%error, "cannot start the ledger keeper; the writer stops");
                    shared.stop();
                    return;
                }
                stages.run(&written, &mut |group| hand_over(&to_keeper, group));
                drop(to_keeper);
            });
        }
        refuse_rest(&written);
    }
}

/// The store's sync: one for every batch waiting.
struct StoreSync {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
}

impl StoreSync {
    /// Syncs every group handed over and passes it `on`, until a failure on either side.
    fn run(&self, written: &Receiver<Written>, on: &mut dyn FnMut(Vec<Written>) -> bool) {
        while let Ok(first) = written.recv() {
            let mut group = vec![first];
            group.extend(written.try_iter());
            let stopwatch = Stopwatch::start();
            if let Err(error) = self.store.sync() {
                fail(&self.shared, group, &error);
                return;
            }
            let events = group.iter().map(|written| written.envelopes.len()).sum();
            self.shared.stats.record_flush(stopwatch.elapsed(), events);
            if !on(group) {
                return;
            }
        }
    }
}

/// Gives a synced group to the keeper; false when the keeper has stopped.
fn hand_over(to_keeper: &SyncSender<Vec<Written>>, group: Vec<Written>) -> bool {
    match to_keeper.send(group) {
        Ok(()) => true,
        Err(std::sync::mpsc::SendError(group)) => {
            refuse(group);
            false
        }
    }
}

impl Keeper {
    fn run(mut self, synced: Receiver<Vec<Written>>) {
        while let Ok(mut group) = synced.recv() {
            group.extend(synced.try_iter().flatten());
            if !self.keep(group) {
                break;
            }
        }
        for group in synced.iter() {
            refuse(group);
        }
    }

    /// The mirror, the witness, then publishing and answering. False when storage failed.
    fn keep(&mut self, group: Vec<Written>) -> bool {
        if let Err(error) = self.make_durable(&group) {
            fail(&self.shared, group, &error);
            return false;
        }
        for Written {
            head,
            envelopes,
            replies,
            checkpoints,
            ..
        } in group
        {
            self.shared.publish(head, &envelopes, Some(&self.live));
            for (reply, staged) in replies {
                let _ = reply.send(staged.map(|range| envelopes[range].to_vec()));
            }
            if !self
                .checkpointer
                .after(&self.shared, &envelopes, checkpoints)
            {
                return false;
            }
        }
        true
    }

    /// The mirror's append and sync, then the witness of the group's last head.
    fn make_durable(&mut self, group: &[Written]) -> Result<(), StoreError> {
        if let Some(mirror) = &mut self.mirror {
            mirror.append(group.iter().flat_map(|written| &written.records))?;
        }
        match (&mut self.witness, group.last()) {
            (Some(witness), Some(last)) => witness.record(last.head),
            _ => Ok(()),
        }
    }
}

/// A failed sync: the writer stops and the group's appenders get the error.
fn fail(shared: &Shared, group: Vec<Written>, error: &StoreError) {
    tracing::error!(%error, "ledger sync failed; the writer stops");
    shared.stop();
    for Written { replies, .. } in group {
        for (reply, staged) in replies {
            let _ = reply.send(staged.and(Err(LedgerError::Storage(error.clone()))));
        }
    }
}

/// Refuses a group that was never made durable.
fn refuse(group: Vec<Written>) {
    for Written { replies, .. } in group {
        for (reply, staged) in replies {
            let _ = reply.send(staged.and(Err(LedgerError::Stopped)));
        }
    }
}

/// After a failure, whatever the writer still hands over is refused, never acknowledged.
fn refuse_rest(written: &Receiver<Written>) {
    for group in written.iter() {
        refuse(vec![group]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Seq;
    use crate::ledger::chain::test_log;
    use crate::ledger::error::StoreError;
    use crate::ledger::mirror::tests::unwritable;
    use crate::ledger::store::MemoryStore;

    #[test]
    fn a_mirror_that_cannot_be_written_fails_the_group_and_stops_the_writer() {
        let root = tempfile::tempdir().expect("temp dir");
        let (records, envelopes) = test_log(1);
        let (mirror, gauge) = unwritable(root.path());
        let (live, _) = broadcast::channel(8);
        let store: Arc<dyn crate::ledger::store::Store> = Arc::new(MemoryStore::new());
        let shared = Arc::new(Shared::new(Arc::clone(&store), Arc::new(()), live.clone()));
        let (commands, _) = tokio::sync::mpsc::channel(1);
        let syncer = Syncer {
            store: Arc::clone(&store),
            witness: None,
            mirror: Some(mirror),
            shared: Arc::clone(&shared),
            live,
            checkpointer: Checkpointer::new(
                None,
                store,
                commands.downgrade(),
                Arc::new(crate::crash::CrashPoints::disabled()),
                None,
            ),
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let (to_syncer, written) = std::sync::mpsc::channel();
        let head = Head {
            seq: envelopes[0].seq,
            hash: envelopes[0].hash,
        };
        let envelopes = envelopes.into_iter().map(Arc::new).collect();
        to_syncer
            .send(Written {
                head,
                records,
                envelopes,
                replies: vec![(reply, Ok(0..1))],
                checkpoints: Vec::new(),
            })
            .expect("sends");
        drop(to_syncer);
        syncer.run(written);
        let answered = answer.blocking_recv().expect("answered");
        assert!(
            matches!(answered, Err(LedgerError::Storage(StoreError::Mirror(_)))),
            "never acknowledged: {answered:?}"
        );
        assert!(shared.is_stopped(), "the writer stops");
        assert_eq!(
            shared.published().head,
            Head::default(),
            "nothing published"
        );
        assert!(!gauge.status(Seq::ZERO).in_sync);
    }
}
