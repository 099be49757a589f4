//! [`MemoryStore`]: the log in memory, gone with the process. For `stackledger-replay
//! redrive`, which runs the orchestrator against a scratch ledger, and for tests.
//!
//! It keeps the trait's contract except durability: a write is visible at once and a sync has
//! nothing to do. It never holds its lock while a scan's visitor runs, so a long verification
//! does not stall the writer.

use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::ids::Seq;
use crate::ledger::error::StoreError;
use crate::ledger::store::{Head, IndexVisitor, IndexWrite, ScanOrder, Store, StoredRecord};

/// Records copied out per lock while scanning.
const SCAN_CHUNK: usize = 256;

/// A [`Store`] in memory. Share it as an `Arc` to open a ledger over it again.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    records: BTreeMap<Seq, Vec<u8>>,
    head: Option<Head>,
    format: Option<u32>,
    index: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Up to [`SCAN_CHUNK`] records after `after`, copied out.
    fn chunk_after(&self, after: Seq) -> Vec<(Seq, Vec<u8>)> {
        self.inner()
            .records
            .range((Bound::Excluded(after), Bound::Unbounded))
            .take(SCAN_CHUNK)
            .map(|(seq, bytes)| (*seq, bytes.clone()))
            .collect()
    }
}

impl Store for MemoryStore {
    fn write(&self, records: &[StoredRecord], head: &Head) -> Result<(), StoreError> {
        let mut inner = self.inner();
        for record in records {
            inner.records.insert(record.seq, record.bytes.clone());
        }
        inner.head = Some(*head);
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn scan(
        &self,
        after: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let mut last = after;
        loop {
            let chunk = self.chunk_after(last);
            let Some((end, _)) = chunk.last() else {
                return Ok(());
            };
            last = *end;
            for (seq, bytes) in &chunk {
                if visit(*seq, bytes).is_break() {
                    return Ok(());
                }
            }
        }
    }

    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner().records.get(&seq).cloned())
    }

    fn head(&self) -> Result<Option<Head>, StoreError> {
        Ok(self.inner().head)
    }

    fn format_version(&self) -> Result<Option<u32>, StoreError> {
        Ok(self.inner().format)
    }

    fn set_format_version(&self, version: u32) -> Result<(), StoreError> {
        self.inner().format = Some(version);
        Ok(())
    }

    fn write_index(&self, writes: &[IndexWrite]) -> Result<(), StoreError> {
        let mut inner = self.inner();
        for write in writes {
            match &write.value {
                Some(value) => inner.index.insert(write.key.clone(), value.clone()),
                None => inner.index.remove(&write.key),
            };
        }
        Ok(())
    }

    fn get_index(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner().index.get(key).cloned())
    }

    fn scan_index(
        &self,
        from: &[u8],
        to: &[u8],
        order: ScanOrder,
        visit: &mut IndexVisitor<'_>,
    ) -> Result<(), StoreError> {
        if from >= to {
            return Ok(());
        }
        // Copied out in chunks, so that the lock is never held while `visit` runs.
        let mut low = Bound::Included(from.to_vec());
        let mut high = Bound::Excluded(to.to_vec());
        loop {
            let chunk: Vec<(Vec<u8>, Vec<u8>)> = {
                let inner = self.inner();
                let range = inner.index.range((low.clone(), high.clone()));
                let copy = |(key, value): (&Vec<u8>, &Vec<u8>)| (key.clone(), value.clone());
                match order {
                    ScanOrder::Forward => range.take(SCAN_CHUNK).map(copy).collect(),
                    ScanOrder::Backward => range.rev().take(SCAN_CHUNK).map(copy).collect(),
                }
            };
            let Some((last, _)) = chunk.last() else {
                return Ok(());
            };
            match order {
                ScanOrder::Forward => low = Bound::Excluded(last.clone()),
                ScanOrder::Backward => high = Bound::Excluded(last.clone()),
            }
            for (key, value) in &chunk {
                if visit(key, value).is_break() {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::envelope::Hash;

    fn records(seqs: std::ops::RangeInclusive<u64>) -> Vec<StoredRecord> {
        seqs.map(|n| StoredRecord {
            seq: Seq(n),
            bytes: vec![n as u8; 40],
        })
        .collect()
    }

    #[test]
    fn a_scan_visits_every_record_after_its_seq_in_order_across_chunks() {
        let store = MemoryStore::new();
        let count = SCAN_CHUNK as u64 * 2 + 3;
        let head = Head {
            seq: Seq(count),
            hash: Hash([1; 32]),
        };
        store.write(&records(1..=count), &head).expect("writes");
        let mut seen = Vec::new();
        store
            .scan(Seq(2), &mut |seq, bytes| {
                assert_eq!(bytes[0], seq.0 as u8);
                seen.push(seq.0);
                ControlFlow::Continue(())
            })
            .expect("scans");
        assert_eq!(seen, (3..=count).collect::<Vec<_>>());
        assert_eq!(store.head().expect("head"), Some(head));
        assert_eq!(store.get(Seq(4)).expect("get"), Some(vec![4; 40]));
        assert_eq!(store.get(Seq(count + 1)).expect("get"), None);
    }

    #[test]
    fn a_scan_stops_where_its_visitor_breaks_and_a_new_store_is_blank() {
        let store = MemoryStore::new();
        assert_eq!(store.head().expect("head"), None);
        assert_eq!(store.format_version().expect("format"), None);
        store
            .write(&records(1..=5), &Head::default())
            .expect("writes");
        let mut seen = Vec::new();
        store
            .scan(Seq::ZERO, &mut |seq, _| {
                seen.push(seq.0);
                if seq == Seq(2) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .expect("scans");
        assert_eq!(seen, vec![1, 2]);
        store.set_format_version(1).expect("stamps");
        assert_eq!(store.format_version().expect("format"), Some(1));
    }

    fn key(n: u16) -> Vec<u8> {
        let mut key = vec![b'p'];
        key.extend_from_slice(&n.to_be_bytes());
        key
    }

    fn scanned(store: &MemoryStore, from: u16, to: u16, order: ScanOrder) -> Vec<u16> {
        let mut seen = Vec::new();
        store
            .scan_index(&key(from), &key(to), order, &mut |key, _| {
                seen.push(u16::from_be_bytes([key[1], key[2]]));
                ControlFlow::Continue(())
            })
            .expect("scans");
        seen
    }

    #[test]
    fn an_index_scan_walks_its_range_both_ways_across_chunks_and_sees_deletes() {
        let store = MemoryStore::new();
        let count = u16::try_from(SCAN_CHUNK * 2 + 3).expect("small");
        let writes: Vec<IndexWrite> = (0..count)
            .map(|n| IndexWrite::put(key(n), n.to_be_bytes().to_vec()))
            .collect();
        store.write_index(&writes).expect("writes");
        store
            .write_index(&[IndexWrite::delete(key(5))])
            .expect("deletes");
        let expected: Vec<u16> = (3..count - 1).filter(|n| *n != 5).collect();
        assert_eq!(scanned(&store, 3, count - 1, ScanOrder::Forward), expected);
        let backward: Vec<u16> = expected.iter().rev().copied().collect();
        assert_eq!(scanned(&store, 3, count - 1, ScanOrder::Backward), backward);
        assert_eq!(store.get_index(&key(5)).expect("reads"), None);
        assert_eq!(store.get_index(&key(6)).expect("reads"), Some(vec![0, 6]));
        assert!(scanned(&store, 9, 2, ScanOrder::Forward).is_empty());
    }
}
