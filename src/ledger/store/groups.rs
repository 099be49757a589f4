//! The framing of format 2's group values: the records of one group commit in one sled value,
//! keyed by the group's first seq. Pure bytes in, bytes out: it never touches sled, and it
//! must never change a record's bytes (they are hashed; receipts depend on them).
//!
//! A group value is `count` (big-endian `u32`) followed by `count` records, each its length
//! (big-endian `u32`) and its bytes exactly as format 1 stores them. The seqs are implied: the
//! key's seq, then one more per record. A value must end exactly after its last record;
//! anything else (cut short, a length past the end, trailing bytes, no record) is a broken
//! group, reported as [`BrokenGroup`].

use crate::ids::Seq;
use crate::ledger::store::StoredRecord;

/// The largest value sled 0.34 keeps inline in its leaf node (about 7 KiB); larger ones are
/// written apart and cost much more.
const SLED_INLINE_MAX: usize = 7 * 1024;

/// The largest group value written (a single record larger than this is a group of its own).
pub(super) const GROUP_BYTES_MAX: usize = 7 * 1024 - 256;

const _: () = assert!(GROUP_BYTES_MAX <= SLED_INLINE_MAX);

const COUNT_LEN: usize = 4;
const LENGTH_LEN: usize = 4;

/// A group value whose framing is broken; `first_bad` is the first seq it fails to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BrokenGroup {
    /// The first seq whose record cannot be read from the value.
    pub first_bad: Seq,
}

/// Splits `records` (contiguous) into group values of at most [`GROUP_BYTES_MAX`] bytes each
/// (a record larger than that alone), each with its first seq.
pub(super) fn encode(records: &[StoredRecord]) -> Vec<(Seq, Vec<u8>)> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < records.len() {
        let mut len = COUNT_LEN + LENGTH_LEN + records[start].bytes.len();
        let mut end = start + 1;
        while end < records.len() {
            let more = LENGTH_LEN + records[end].bytes.len();
            if len + more > GROUP_BYTES_MAX {
                break;
            }
            len += more;
            end += 1;
        }
        groups.push((records[start].seq, frame(&records[start..end], len)));
        start = end;
    }
    groups
}

fn frame(records: &[StoredRecord], len: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(len);
    let count = u32::try_from(records.len()).expect("a group holds far fewer than 2^32 records");
    value.extend_from_slice(&count.to_be_bytes());
    for record in records {
        let length = u32::try_from(record.bytes.len()).expect("a record is far below 4 GiB");
        value.extend_from_slice(&length.to_be_bytes());
        value.extend_from_slice(&record.bytes);
    }
    value
}

/// Visits the records of the group value stored under `first`, in order, with their seqs;
/// `visit` returns false to stop. The records before a break in the framing are visited
/// before it is reported.
pub(super) fn records(
    first: Seq,
    value: &[u8],
    visit: &mut dyn FnMut(Seq, &[u8]) -> bool,
) -> Result<(), BrokenGroup> {
    let count = read_u32(value, 0).ok_or(BrokenGroup { first_bad: first })? as usize;
    if count == 0 {
        return Err(BrokenGroup { first_bad: first });
    }
    let mut at = COUNT_LEN;
    for index in 0..count {
        let (from, to) = span(first, value, at, index)?;
        if !visit(nth(first, index), &value[from..to]) {
            return Ok(());
        }
        at = to;
    }
    if at != value.len() {
        return Err(BrokenGroup {
            first_bad: nth(first, count),
        });
    }
    Ok(())
}

/// The record at `seq` in the group value stored under `first` (None if the group ends before).
pub(super) fn record(first: Seq, value: &[u8], seq: Seq) -> Result<Option<&[u8]>, BrokenGroup> {
    let spans = spans(first, value)?;
    let index = usize::try_from(seq.0.saturating_sub(first.0)).unwrap_or(usize::MAX);
    Ok(spans.get(index).map(|&(from, to)| &value[from..to]))
}

/// The byte range, inside the group value stored under `first`, of the record at `seq` (None
/// if the group ends before it).
pub(super) fn record_range(
    first: Seq,
    value: &[u8],
    seq: Seq,
) -> Result<Option<std::ops::Range<usize>>, BrokenGroup> {
    let spans = spans(first, value)?;
    let index = usize::try_from(seq.0.saturating_sub(first.0)).unwrap_or(usize::MAX);
    Ok(spans.get(index).map(|&(from, to)| from..to))
}

fn nth(first: Seq, index: usize) -> Seq {
    Seq(first.0 + index as u64)
}

/// The byte ranges of the value's records, checked whole.
fn spans(first: Seq, value: &[u8]) -> Result<Vec<(usize, usize)>, BrokenGroup> {
    let broken = BrokenGroup { first_bad: first };
    let count = read_u32(value, 0).ok_or(broken)? as usize;
    if count == 0 {
        return Err(broken);
    }
    let mut spans = Vec::with_capacity(count.min(value.len()));
    let mut at = COUNT_LEN;
    for index in 0..count {
        let (from, to) = span(first, value, at, index)?;
        spans.push((from, to));
        at = to;
    }
    if at != value.len() {
        // Bytes after the last record: the count was cut or changed.
        return Err(BrokenGroup {
            first_bad: nth(first, count),
        });
    }
    Ok(spans)
}

/// The byte range of the record at `index` whose length starts at `at`.
fn span(first: Seq, value: &[u8], at: usize, index: usize) -> Result<(usize, usize), BrokenGroup> {
    let broken = BrokenGroup {
        first_bad: nth(first, index),
    };
    let length = read_u32(value, at).ok_or(broken)? as usize;
    let from = at + LENGTH_LEN;
    let to = from.checked_add(length).ok_or(broken)?;
    if to > value.len() {
        return Err(broken);
    }
    Ok((from, to))
}

fn read_u32(value: &[u8], at: usize) -> Option<u32> {
    let bytes = value.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records_of(sizes: &[usize]) -> Vec<StoredRecord> {
        sizes
            .iter()
            .enumerate()
            .map(|(index, &size)| StoredRecord {
                seq: Seq(10 + index as u64),
                bytes: vec![index as u8; size],
            })
            .collect()
    }

    fn decoded(first: Seq, value: &[u8]) -> Vec<(Seq, Vec<u8>)> {
        let mut seen = Vec::new();
        records(first, value, &mut |seq, bytes| {
            seen.push((seq, bytes.to_vec()));
            true
        })
        .expect("well formed");
        seen
    }

    #[test]
    fn groups_round_trip_the_exact_record_bytes_and_stay_below_the_inline_limit() {
        let written = records_of(&[200; 100]);
        let groups = encode(&written);
        assert!(
            groups.len() > 1,
            "100 records of 200 bytes need several values"
        );
        let mut back = Vec::new();
        for (first, value) in &groups {
            assert!(value.len() <= GROUP_BYTES_MAX, "{}", value.len());
            back.extend(decoded(*first, value));
        }
        let expected: Vec<(Seq, Vec<u8>)> =
            written.iter().map(|r| (r.seq, r.bytes.clone())).collect();
        assert_eq!(back, expected);
        let (first, value) = &groups[0];
        assert_eq!(record(*first, value, Seq(11)), Ok(Some(&[1u8; 200][..])));
        assert_eq!(record(*first, value, Seq(10_000)), Ok(None));
        let range = record_range(*first, value, Seq(11))
            .expect("well formed")
            .expect("held");
        assert_eq!(&value[range], &[1u8; 200][..]);
    }

    #[test]
    fn a_record_above_the_limit_is_a_group_of_its_own() {
        let groups = encode(&records_of(&[10, GROUP_BYTES_MAX + 1, 10]));
        let firsts: Vec<Seq> = groups.iter().map(|(first, _)| *first).collect();
        assert_eq!(firsts, vec![Seq(10), Seq(11), Seq(12)]);
        assert_eq!(
            record(Seq(11), &groups[1].1, Seq(11)).map(|r| r.map(<[u8]>::len)),
            Ok(Some(GROUP_BYTES_MAX + 1))
        );
    }

    #[test]
    fn broken_framing_names_the_first_seq_it_cannot_give() {
        let (first, value) = encode(&records_of(&[30, 30, 30])).remove(0);
        // Cut inside the third record.
        let cut = &value[..value.len() - 5];
        assert_eq!(
            records(first, cut, &mut |_, _| true),
            Err(BrokenGroup { first_bad: Seq(12) })
        );
        // A length past the end of the value, at the second record.
        let mut long = value.clone();
        long[4 + 4 + 30..4 + 4 + 30 + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            record(first, &long, Seq(10)),
            Err(BrokenGroup { first_bad: Seq(11) })
        );
        // A count below the records held leaves bytes over.
        let mut short_count = value;
        short_count[..4].copy_from_slice(&2u32.to_be_bytes());
        assert_eq!(
            record(first, &short_count, Seq(10)),
            Err(BrokenGroup { first_bad: Seq(12) })
        );
        assert!(records(first, &[], &mut |_, _| true).is_err());
        assert!(records(first, &0u32.to_be_bytes(), &mut |_, _| true).is_err());
    }
}
