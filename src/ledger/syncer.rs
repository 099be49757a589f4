//! The syncer: the second stage of the single writer. It makes written batches durable, one
//! sync for every batch waiting, appends them to the mirror and fdatasyncs it (`--mirror`),
//! records their head in the witness (once the store's sync and the mirror's returned, so the
//! witness never claims more than both hold), then publishes them (stream index, projection,
//! live subscribers) and answers their appenders, in seq order. After a failed sync it stops the
//! writer and refuses everything still handed to it: it never acknowledges what may not be
//! on disk.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::clock::Stopwatch;
use crate::ledger::envelope::Envelope;
use crate::ledger::error::{LedgerError, StoreError};
use crate::ledger::mirror::Mirror;
use crate::ledger::shared::Shared;
use crate::ledger::store::{Head, Store, StoredRecord};
use crate::ledger::witness::Witness;
use crate::ledger::writer::Reply;

/// A batch written to the store, waiting to be made durable.
pub(crate) struct Written {
    pub(crate) head: Head,
    /// The exact bytes written, for the mirror.
    pub(crate) records: Vec<StoredRecord>,
    pub(crate) envelopes: Vec<Arc<Envelope>>,
    pub(crate) replies: Vec<Reply>,
}

/// Makes written batches durable, then publishes them and answers their appenders, in order.
pub(crate) struct Syncer {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) witness: Option<Witness>,
    pub(crate) mirror: Option<Mirror>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) live: broadcast::Sender<Arc<Envelope>>,
}

impl Syncer {
    pub(crate) fn run(mut self, written: std::sync::mpsc::Receiver<Written>) {
        while let Ok(first) = written.recv() {
            let mut group = vec![first];
            group.extend(written.try_iter());
            if !self.sync(group) {
                break;
            }
        }
        // After a failure, whatever the writer still hands over is refused, never acknowledged.
        for Written { replies, .. } in written.iter() {
            for (reply, staged) in replies {
                let _ = reply.send(staged.and(Err(LedgerError::Stopped)));
            }
        }
    }

    /// One sync for the whole group. False when storage failed.
    fn sync(&mut self, group: Vec<Written>) -> bool {
        let stopwatch = Stopwatch::start();
        if let Err(error) = self.make_durable(&group) {
            tracing::error!(%error, "ledger sync failed; the writer stops");
            self.shared.stop();
            for Written { replies, .. } in group {
                for (reply, staged) in replies {
                    let _ = reply.send(staged.and(Err(LedgerError::Storage(error.clone()))));
                }
            }
            return false;
        }
        let events = group.iter().map(|written| written.envelopes.len()).sum();
        self.shared.stats.record_flush(stopwatch.elapsed(), events);
        for Written {
            head,
            envelopes,
            replies,
            ..
        } in group
        {
            self.shared.publish(head, &envelopes, Some(&self.live));
            for (reply, staged) in replies {
                let _ = reply.send(staged.map(|range| envelopes[range].to_vec()));
            }
        }
        true
    }

    /// The store's sync, then the mirror's, then the witness of the group's last head.
    fn make_durable(&mut self, group: &[Written]) -> Result<(), StoreError> {
        self.store.sync()?;
        if let Some(mirror) = &mut self.mirror {
            mirror.append(group.iter().flat_map(|written| &written.records))?;
        }
        match (&mut self.witness, group.last()) {
            (Some(witness), Some(last)) => witness.record(last.head),
            _ => Ok(()),
        }
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
        let shared = Arc::new(Shared::new(Arc::new(()), live.clone()));
        let syncer = Syncer {
            store: Arc::new(MemoryStore::new()),
            witness: None,
            mirror: Some(mirror),
            shared: Arc::clone(&shared),
            live,
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
