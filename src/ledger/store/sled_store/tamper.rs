//! Damage made on purpose, for tests only: a bit of one stored record flipped where that
//! record really lives (tree `events` in format 1, inside its group value in format 2), so that
//! a test damages a data dir exactly as a disk fault would. It must never be called on a real
//! ledger, and it never changes anything but that one byte.

use std::path::Path;

use super::{SledStore, decode_seq, sled_error};
use crate::ids::Seq;
use crate::ledger::error::StoreError;
use crate::ledger::store::{Store, groups};

impl SledStore {
    /// Flips the lowest bit of the byte at `offset` (the last byte if `offset` is past it) of
    /// event `seq`'s stored record in the store in `dir`, in place, and syncs; whether that
    /// record was found. For tests that damage a format-2 data dir. Never for a real ledger.
    #[doc(hidden)]
    pub fn flip_record_bit(dir: &Path, seq: Seq, offset: usize) -> Result<bool, StoreError> {
        let store = Self::open_existing(dir)?;
        let flipped = if seq.0 <= store.format1_last() {
            store.flip_in_events(seq, offset)?
        } else {
            store.flip_in_group(seq, offset)?
        };
        store.sync()?;
        Ok(flipped)
    }

    fn flip_in_events(&self, seq: Seq, offset: usize) -> Result<bool, StoreError> {
        let events = &self.sled().events;
        let key = seq.0.to_be_bytes();
        let Some(value) = events.get(key).map_err(sled_error("read"))? else {
            return Ok(false);
        };
        let mut value = value.to_vec();
        let Some(last) = value.len().checked_sub(1) else {
            return Ok(false);
        };
        value[offset.min(last)] ^= 0x01;
        events
            .insert(key, value)
            .map_err(sled_error("write events"))?;
        Ok(true)
    }

    fn flip_in_group(&self, seq: Seq, offset: usize) -> Result<bool, StoreError> {
        let groups_tree = &self.sled().groups;
        let Some(entry) = groups_tree.range(..=seq.0.to_be_bytes()).next_back() else {
            return Ok(false);
        };
        let (key, value) = entry.map_err(sled_error("read"))?;
        let first = decode_seq(&key).map_err(|_| StoreError::MalformedKey { after: seq })?;
        let range = groups::record_range(first, &value, seq).map_err(|broken| {
            StoreError::MalformedGroup {
                after: Seq(broken.first_bad.0.saturating_sub(1)),
            }
        })?;
        let Some(range) = range.filter(|range| !range.is_empty()) else {
            return Ok(false);
        };
        let mut value = value.to_vec();
        value[range.start.saturating_add(offset).min(range.end - 1)] ^= 0x01;
        groups_tree
            .insert(key, value)
            .map_err(sled_error("write events"))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::envelope::Hash;
    use crate::ledger::store::{Head, StoredRecord};

    fn written(dir: &Path, store: SledStore) {
        let records: Vec<StoredRecord> = (1..=3)
            .map(|n| StoredRecord {
                seq: Seq(n),
                bytes: vec![n as u8; 40],
            })
            .collect();
        let head = Head {
            seq: Seq(3),
            hash: Hash([3; 32]),
        };
        store.write(&records, &head).expect("write");
        store.sync().expect("sync");
        drop(store);
        assert!(SledStore::exists_in(dir));
    }

    fn stored(dir: &Path) -> Vec<Option<Vec<u8>>> {
        let store = SledStore::open_existing(dir).expect("reopens");
        (1..=4).map(|n| store.get(Seq(n)).expect("get")).collect()
    }

    #[test]
    fn one_bit_of_one_record_is_flipped_in_either_format_and_nothing_else_changes() {
        for format_1 in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = if format_1 {
                SledStore::create_format_1(dir.path())
            } else {
                SledStore::open(dir.path())
            };
            written(dir.path(), store.expect("opens"));
            let flipped = SledStore::flip_record_bit(dir.path(), Seq(2), 5).expect("flips");
            assert!(flipped, "format 1: {format_1}");
            let mut expected = vec![2u8; 40];
            expected[5] ^= 0x01;
            let expected = vec![Some(vec![1; 40]), Some(expected), Some(vec![3; 40]), None];
            assert_eq!(stored(dir.path()), expected, "format 1: {format_1}");
            let flipped = SledStore::flip_record_bit(dir.path(), Seq(4), 0).expect("reads");
            assert!(!flipped, "no record at 4");
        }
    }
}
