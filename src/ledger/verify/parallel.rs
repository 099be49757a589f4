//! The full check on every core: one thread scans the store into chunks, workers decode and
//! hash each record on its own ([`chain::prepare`]), and the calling thread checks the chunks
//! in log order against the chain ([`ChainCheck::check_prepared`]), so every answer is the
//! sequential check's, damage for damage. It never reorders what it reports or visits, and it
//! must never read past the first damage for longer than the chunks already in flight.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
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

/// Scans `store` from seq 1 through `until` on `workers` worker threads, `chunk_records` at a
/// time, feeding `verifier` in order and visiting each event that verifies until `visit`
/// breaks: what `store.scan` with the sequential check answers. A scan error past the first
/// damage (or the break) is not reported: the sequential check stops reading there.
pub(super) fn scan(
    store: &dyn Store,
    until: Seq,
    workers: usize,
    chunk_records: usize,
    verifier: &mut Verifier,
    visit: &mut dyn FnMut(Envelope) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (to_workers, work) = sync_channel::<Chunk>(workers * CHUNKS_QUEUED_PER_WORKER);
        let (to_checker, prepared) =
            sync_channel::<PreparedChunk>(workers * CHUNKS_QUEUED_PER_WORKER);
        let stop = &stop;
        let reader = scope.spawn(move || read(store, until, chunk_records, stop, &to_workers));
        // Only the workers hold the queue: once they are gone, the reader's sends fail.
        let work = Arc::new(Mutex::new(work));
        for _ in 0..workers {
            let work = Arc::clone(&work);
            let to_checker = to_checker.clone();
            scope.spawn(move || prepare_chunks(&work, &to_checker));
        }
        drop((work, to_checker));
        let ended_early = check_in_order(prepared, verifier, visit);
        stop.store(true, Ordering::Relaxed);
        let scanned = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        if ended_early { Ok(()) } else { scanned }
    })
}

fn read(
    store: &dyn Store,
    until: Seq,
    chunk_records: usize,
    stop: &AtomicBool,
    to_workers: &SyncSender<Chunk>,
) -> Result<(), StoreError> {
    let mut chunk = Chunk::new(0, chunk_records);
    let mut gone = false;
    let scanned = store.scan(Seq::ZERO, &mut |seq, record| {
        if seq > until || stop.load(Ordering::Relaxed) {
            return ControlFlow::Break(());
        }
        chunk.push(seq, record);
        if chunk.len() >= chunk_records {
            let next = Chunk::new(chunk.index + 1, chunk_records);
            if to_workers
                .send(std::mem::replace(&mut chunk, next))
                .is_err()
            {
                gone = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    // The records before a scan error are checked, as the sequential check does.
    if !gone && chunk.len() > 0 {
        let _ = to_workers.send(chunk);
    }
    scanned
}

fn prepare_chunks(work: &Mutex<Receiver<Chunk>>, to_checker: &SyncSender<PreparedChunk>) {
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

/// Checks the chunks in their log order; whether it ended early (damage, or `visit` broke).
/// Returning drops the receiver, which stops the workers (and through them the reader).
fn check_in_order(
    prepared: Receiver<PreparedChunk>,
    verifier: &mut Verifier,
    visit: &mut dyn FnMut(Envelope) -> ControlFlow<()>,
) -> bool {
    let mut waiting = BTreeMap::new();
    let mut next = 0;
    for done in prepared {
        waiting.insert(done.chunk.index, done);
        while let Some(done) = waiting.remove(&next) {
            next += 1;
            for (at, prepared) in done.prepared.into_iter().enumerate() {
                let seq = done.chunk.seqs[at];
                let Ok(envelope) = verifier.prepared(seq, done.chunk.record(at), prepared) else {
                    return true;
                };
                if visit(envelope).is_break() {
                    return true;
                }
            }
        }
    }
    false
}
