//! The full check on every core: the calling thread scans the store into chunks, workers decode
//! and hash each record on its own ([`chain::prepare`]), and the calling thread checks the
//! chunks in log order against the chain (`ChainCheck::check_prepared`) between its reads, so every answer is the
//! sequential check's, damage for damage. It never reorders what it reports or visits, and it
//! must never read past the first damage for longer than the chunks already in flight.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use crate::ids::Seq;
use crate::ledger::chain::{self, Prepared};
use crate::ledger::envelope::Envelope;
use crate::ledger::error::StoreError;
use crate::ledger::store::Store;
use crate::ledger::verify::Verifier;

/// Records per chunk handed to a worker.
pub(super) const CHUNK_RECORDS: usize = 2048;

/// About the size of a stored record, to size a chunk's buffer once.
const RECORD_BYTES_EXPECTED: usize = 256;

/// Chunks queued per worker, each way.
const CHUNKS_QUEUED_PER_WORKER: usize = 2;

/// Consecutive records as the store holds them, in one buffer.
struct Chunk {
    index: u64,
    seqs: Vec<Seq>,
    ends: Vec<usize>,
    bytes: Vec<u8>,
}

impl Chunk {
    fn new(index: u64, records: usize) -> Self {
        Self {
            index,
            seqs: Vec::with_capacity(records),
            ends: Vec::with_capacity(records),
            bytes: Vec::with_capacity(records * RECORD_BYTES_EXPECTED),
        }
    }

    fn push(&mut self, seq: Seq, record: &[u8]) {
        self.seqs.push(seq);
        self.bytes.extend_from_slice(record);
        self.ends.push(self.bytes.len());
    }

    fn len(&self) -> usize {
        self.seqs.len()
    }

    fn record(&self, at: usize) -> &[u8] {
        let start = if at == 0 { 0 } else { self.ends[at - 1] };
        &self.bytes[start..self.ends[at]]
    }
}

/// A chunk with what each of its records shows on its own.
struct PreparedChunk {
    chunk: Chunk,
    prepared: Vec<Prepared>,
}

/// Scans `store` from seq 1 through `until` on the calling thread with `workers` hashing
/// threads beside it, `chunk_records` at a time, feeding `verifier` in order and visiting each
/// event that verifies until `visit` breaks: what `store.scan` with the sequential check
/// answers. A scan error past the first damage (or the break) is not reported: the sequential
/// check stops reading there.
pub(super) fn scan(
    store: &dyn Store,
    until: Seq,
    workers: usize,
    chunk_records: usize,
    verifier: &mut Verifier,
    visit: &mut dyn FnMut(Envelope) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    std::thread::scope(|scope| {
        let (to_workers, work) = sync_channel::<Chunk>(workers * CHUNKS_QUEUED_PER_WORKER);
        // Unbounded, yet it never holds more than the queued chunks and one per worker: the
        // scan takes what is ready before it queues another.
        let (to_checker, prepared) = channel::<PreparedChunk>();
        let work = Arc::new(Mutex::new(work));
        for _ in 0..workers {
            let work = Arc::clone(&work);
            let to_checker = to_checker.clone();
            scope.spawn(move || prepare_chunks(&work, &to_checker));
        }
        drop((work, to_checker));
        let mut checker = InOrder {
            prepared,
            waiting: BTreeMap::new(),
            next: 0,
            verifier,
            visit,
            ended_early: false,
        };
        let mut chunk = Chunk::new(0, chunk_records);
        let mut workers_gone = false;
        let scanned = store.scan(Seq::ZERO, &mut |seq, record| {
            if seq > until {
                return ControlFlow::Break(());
            }
            chunk.push(seq, record);
            if chunk.len() < chunk_records {
                return ControlFlow::Continue(());
            }
            checker.take_ready();
            let next = Chunk::new(chunk.index + 1, chunk_records);
            workers_gone = to_workers
                .send(std::mem::replace(&mut chunk, next))
                .is_err();
            if checker.ended_early || workers_gone {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        // The records before a scan error are checked, as the sequential check does.
        if !checker.ended_early && !workers_gone && chunk.len() > 0 {
            let _ = to_workers.send(chunk);
        }
        drop(to_workers);
        checker.take_rest();
        if checker.ended_early { Ok(()) } else { scanned }
    })
}

fn prepare_chunks(work: &Mutex<Receiver<Chunk>>, to_checker: &Sender<PreparedChunk>) {
    loop {
        let received = work.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(chunk) = received else { return };
        let prepared = (0..chunk.len())
            .map(|at| chain::prepare(chunk.record(at)))
            .collect();
        if to_checker.send(PreparedChunk { chunk, prepared }).is_err() {
            return;
        }
    }
}

/// The chain check of prepared chunks, in their log order whatever order they come back in.
struct InOrder<'a> {
    prepared: Receiver<PreparedChunk>,
    waiting: BTreeMap<u64, PreparedChunk>,
    next: u64,
    verifier: &'a mut Verifier,
    visit: &'a mut dyn FnMut(Envelope) -> ControlFlow<()>,
    /// Damage was found, or `visit` broke: nothing more is checked.
    ended_early: bool,
}

impl InOrder<'_> {
    /// Checks what the workers have finished, without waiting.
    fn take_ready(&mut self) {
        while !self.ended_early {
            let Ok(done) = self.prepared.try_recv() else {
                return;
            };
            self.take(done);
        }
    }

    /// Checks everything until the workers are gone (or the check ends early).
    fn take_rest(&mut self) {
        while !self.ended_early {
            let Ok(done) = self.prepared.recv() else {
                return;
            };
            self.take(done);
        }
    }

    fn take(&mut self, done: PreparedChunk) {
        self.waiting.insert(done.chunk.index, done);
        while let Some(done) = self.waiting.remove(&self.next) {
            self.next += 1;
            for (at, prepared) in done.prepared.into_iter().enumerate() {
                let seq = done.chunk.seqs[at];
                let checked = self.verifier.prepared(seq, done.chunk.record(at), prepared);
                let Ok(envelope) = checked else {
                    self.ended_early = true;
                    return;
                };
                if (self.visit)(envelope).is_break() {
                    self.ended_early = true;
                    return;
                }
            }
        }
    }
}
