//! The format-2 layout of [`SledStore`] beside format 1: where a record is written and read
//! by seq (tree `events` up to `format1_last`, tree `groups` after it), and the end of format 1
//! at the first append by this version. It must never rewrite a format-1 record.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::Ordering;

use super::{ALL_FORMAT_1, FORMAT_KEY, FORMAT1_LAST_KEY, SledStore, decode_seq, sled_error};
use crate::ids::Seq;
use crate::ledger::error::StoreError;
use crate::ledger::store::{Store, StoredRecord, groups};

impl SledStore {
    /// Rewrites the store in `dir` in format 1 (every record, bytes unchanged, in tree
    /// `events`; format 1): for tests that damage records through sled's own trees. Never for
    /// a real ledger.
    #[doc(hidden)]
    pub fn rewrite_as_format_1(dir: &Path) -> Result<(), StoreError> {
        let store = Self::open_existing(dir)?;
        let mut records = Vec::new();
        store.scan(Seq::ZERO, &mut |seq, bytes| {
            records.push(StoredRecord {
                seq,
                bytes: bytes.to_vec(),
            });
            ControlFlow::Continue(())
        })?;
        store.write_format_1(&records)?;
        let sled = store.sled();
        sled.groups.clear().map_err(sled_error("clear groups"))?;
        sled.meta
            .remove(FORMAT1_LAST_KEY)
            .map_err(sled_error("write format 1 end"))?;
        if store.format_version()?.is_some() {
            sled.meta
                .insert(FORMAT_KEY, &1u32.to_be_bytes())
                .map_err(sled_error("write format"))?;
        }
        store.sync()
    }

    /// The last seq kept in tree `events`.
    pub(super) fn format1_last(&self) -> u64 {
        self.format1_last.load(Ordering::SeqCst)
    }

    /// The last seq in tree `events` (0 if it is empty).
    pub(super) fn last_in_events(&self) -> Result<u64, StoreError> {
        let last = self.sled().events.last().map_err(sled_error("read"))?;
        last.map(|(key, _)| decode_seq(&key).map(|seq| seq.0))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Ends format 1 before the first write of this version: records where tree `events` ends,
    /// then format 2 (in this order: sled recovers a prefix of its log, so a group is never
    /// found without both before it).
    pub(super) fn begin_format_2(&self) -> Result<(), StoreError> {
        let mut last = self.format1_last();
        if last == ALL_FORMAT_1 {
            last = self.last_in_events()?;
            self.sled()
                .meta
                .insert(FORMAT1_LAST_KEY, &last.to_be_bytes())
                .map_err(sled_error("write format 1 end"))?;
        }
        if self.format_version()? == Some(1) {
            self.sled()
                .meta
                .insert(FORMAT_KEY, &2u32.to_be_bytes())
                .map_err(sled_error("write format"))?;
        }
        self.format1_last.store(last, Ordering::SeqCst);
        self.format2_pending.store(false, Ordering::SeqCst);
        Ok(())
    }

    pub(super) fn write_format_1(&self, records: &[StoredRecord]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for record in records {
            batch.insert(&record.seq.0.to_be_bytes(), record.bytes.as_slice());
        }
        self.sled()
            .events
            .apply_batch(batch)
            .map_err(sled_error("write events"))
    }

    pub(super) fn write_groups(&self, records: &[StoredRecord]) -> Result<(), StoreError> {
        if self.format2_pending.load(Ordering::SeqCst) {
            self.begin_format_2()?;
        }
        let mut batch = sled::Batch::default();
        for (first, value) in groups::encode(records) {
            batch.insert(&first.0.to_be_bytes(), value);
        }
        self.sled()
            .groups
            .apply_batch(batch)
            .map_err(sled_error("write events"))
    }

    /// Visits the format-1 records after `after` up to `format1_last`; whether `visit` broke.
    pub(super) fn scan_events(
        &self,
        after: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<bool, StoreError> {
        let start = after.0.saturating_add(1).to_be_bytes();
        let end = self.format1_last().to_be_bytes();
        let mut last = after;
        for entry in self.sled().events.range(start..=end) {
            let (key, value) = entry.map_err(sled_error("read"))?;
            last = decode_seq(&key).map_err(|_| StoreError::MalformedKey { after: last })?;
            if visit(last, &value).is_break() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Visits the format-2 records after `after`.
    pub(super) fn scan_groups(
        &self,
        after: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let from = after.0.saturating_add(1).to_be_bytes();
        let groups = &self.sled().groups;
        let start = match groups.range(..=from).next_back() {
            Some(entry) => entry.map_err(sled_error("read"))?.0.to_vec(),
            None => from.to_vec(),
        };
        let mut last = after;
        for entry in groups.range(start..) {
            let (key, value) = entry.map_err(sled_error("read"))?;
            let first = decode_seq(&key).map_err(|_| StoreError::MalformedKey { after: last })?;
            let mut stopped = false;
            groups::records(first, &value, &mut |seq, record| {
                if seq <= after {
                    return true;
                }
                last = seq;
                stopped = visit(seq, record).is_break();
                !stopped
            })
            .map_err(|broken| StoreError::MalformedGroup {
                after: Seq(broken.first_bad.0.saturating_sub(1)).max(last),
            })?;
            if stopped {
                break;
            }
        }
        Ok(())
    }

    pub(super) fn get_grouped(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        let key = seq.0.to_be_bytes();
        let Some(entry) = self.sled().groups.range(..=key).next_back() else {
            return Ok(None);
        };
        let (key, value) = entry.map_err(sled_error("read"))?;
        let first = decode_seq(&key).map_err(|_| StoreError::MalformedKey { after: seq })?;
        let record =
            groups::record(first, &value, seq).map_err(|broken| StoreError::MalformedGroup {
                after: Seq(broken.first_bad.0.saturating_sub(1)),
            })?;
        Ok(record.map(<[u8]>::to_vec))
    }
}
