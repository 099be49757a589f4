//! The mirror's file format, frozen: 16 bytes of magic and the codec's format version
//! (big-endian u32), then one frame per event: `len` (big-endian u32) ‖ `seq` (big-endian u64) ‖
//! the exact stored record bytes (`len` of them) ‖ the first 8 bytes of
//! `SHA-256("mirror" ‖ len ‖ seq ‖ record)`.
//!
//! A scan verifies every frame's checksum and the whole chain with the ledger's own
//! [`Verifier`]; it must never hand out a record it has not verified. A partial frame at the end
//! (never synced, so never acknowledged) is reported, not read; any other deviation is damage,
//! named with its offset and the last good seq. Nothing here writes a frame but
//! [`encode_frame`], and nothing ever rewrites one.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::ids::Seq;
use crate::ledger::codec;
use crate::ledger::envelope::Hash;
use crate::ledger::error::MirrorError;
use crate::ledger::store::Head;
use crate::ledger::verify::Verifier;

const MAGIC: [u8; 16] = *b"stackledger-mir1";
pub(super) const HEADER_LEN: u64 = 20;
pub(super) const FRAME_HEAD_LEN: usize = 12;
pub(super) const CHECK_LEN: usize = 8;

/// A frame longer than this is damage, not a record. The writer's payload cap (4 KiB) is far
/// below; the bound is kept tight because a changed length field in the middle of the file
/// that points past its end would otherwise read as a torn last frame and hide the frames
/// after it: with it, only a change within the last 64 KiB can.
const RECORD_BYTES_MAX: usize = 64 << 10;

/// What a scan of a mirror file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// The last verified event (seq 0 when the mirror holds none).
    pub(crate) head: Head,
    /// Where the last whole frame ends.
    pub(crate) whole_len: u64,
    /// The bytes of a partial frame after it (never synced, so never acknowledged).
    pub(crate) torn: u64,
}

/// A visitor of verified records: seq, exact stored bytes, hash; it breaks to stop early.
pub(crate) type Visit<'a> = dyn FnMut(Seq, &[u8], Hash) -> ControlFlow<()> + 'a;

/// Reads the mirror file at `path`, verifying every frame and the whole chain, and visits each
/// verified record in order (seq, exact bytes, hash). None when there is no file.
pub(crate) fn scan(path: &Path, visit: &mut Visit<'_>) -> Result<Option<Scanned>, MirrorError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_failure(path, "open")(source)),
    };
    let file_len = file.metadata().map_err(io_failure(path, "read"))?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let damaged = |offset: u64, after: Seq, reason| MirrorError::Damaged {
        path: path.display().to_string(),
        offset,
        after,
        reason,
    };
    let mut header = [0u8; HEADER_LEN as usize];
    let got = fill(&mut reader, &mut header).map_err(io_failure(path, "read"))?;
    if got < header.len() || header[..16] != MAGIC {
        return Err(damaged(
            0,
            Seq::ZERO,
            "it does not start with the mirror header",
        ));
    }
    if header[16..] != codec::RECORD_VERSION.to_be_bytes() {
        return Err(damaged(
            16,
            Seq::ZERO,
            "it was written in another ledger format",
        ));
    }
    let mut verifier = Verifier::new();
    let mut at = HEADER_LEN;
    let mut head = Head::default();
    loop {
        let frame = match read_frame(&mut reader).map_err(io_failure(path, "read"))? {
            Frame::End | Frame::Torn => break,
            Frame::TooLong => return Err(damaged(at, head.seq, "a frame's length is impossible")),
            Frame::Whole(frame) => frame,
        };
        if !frame.checks() {
            return Err(damaged(at, head.seq, "a frame's checksum is wrong"));
        }
        let envelope = verifier
            .record(frame.seq, &frame.record)
            .map_err(|damage| MirrorError::Chain {
                path: path.display().to_string(),
                damage,
            })?;
        head = Head {
            seq: envelope.seq,
            hash: envelope.hash,
        };
        at += frame.len();
        if visit(head.seq, &frame.record, head.hash).is_break() {
            break;
        }
    }
    Ok(Some(Scanned {
        head,
        whole_len: at,
        torn: file_len.saturating_sub(at),
    }))
}

/// Whether the mirror file holds nothing yet: empty, or a header cut short by a crash while the
/// mirror was being created (it held no event then).
pub(super) fn is_new(file: &File, path: &Path) -> Result<bool, MirrorError> {
    let len = file.metadata().map_err(io_failure(path, "read"))?.len();
    if len >= HEADER_LEN {
        return Ok(false);
    }
    let bytes = std::fs::read(path).map_err(io_failure(path, "read"))?;
    let mut header = MAGIC.to_vec();
    header.extend_from_slice(&codec::RECORD_VERSION.to_be_bytes());
    if !header.starts_with(&bytes) {
        return Ok(false);
    }
    file.set_len(0).map_err(io_failure(path, "reset"))?;
    Ok(true)
}

/// Writes a new mirror's header, durably (the file and its directory entry).
pub(super) fn write_header(file: &mut File, path: &Path) -> Result<Scanned, MirrorError> {
    let mut header = Vec::with_capacity(HEADER_LEN as usize);
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&codec::RECORD_VERSION.to_be_bytes());
    file.write_all(&header)
        .and_then(|()| file.sync_all())
        .map_err(io_failure(path, "write the header of"))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(io_failure(dir, "sync the directory of"))?;
    Ok(Scanned {
        head: Head::default(),
        whole_len: HEADER_LEN,
        torn: 0,
    })
}

/// One frame as read.
struct WholeFrame {
    seq: Seq,
    record: Vec<u8>,
    check: [u8; CHECK_LEN],
}

impl WholeFrame {
    fn checks(&self) -> bool {
        checksum(self.seq, &self.record) == self.check
    }

    fn len(&self) -> u64 {
        (FRAME_HEAD_LEN + self.record.len() + CHECK_LEN) as u64
    }
}

enum Frame {
    /// The file ends at a frame boundary.
    End,
    /// The file ends inside a frame.
    Torn,
    /// The length field is beyond any record's.
    TooLong,
    Whole(WholeFrame),
}

fn read_frame(reader: &mut impl Read) -> std::io::Result<Frame> {
    let mut head = [0u8; FRAME_HEAD_LEN];
    match fill(reader, &mut head)? {
        0 => return Ok(Frame::End),
        n if n < FRAME_HEAD_LEN => return Ok(Frame::Torn),
        _ => {}
    }
    let len = u32::from_be_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    let seq = Seq(u64::from_be_bytes(head[4..].try_into().expect("8 bytes")));
    if len > RECORD_BYTES_MAX {
        return Ok(Frame::TooLong);
    }
    let mut rest = vec![0u8; len + CHECK_LEN];
    if fill(reader, &mut rest)? < rest.len() {
        return Ok(Frame::Torn);
    }
    let check = rest.split_off(len);
    Ok(Frame::Whole(WholeFrame {
        seq,
        record: rest,
        check: check.try_into().expect("split_off left the checksum"),
    }))
}

/// Reads until `buffer` is full or the input ends; how many bytes it read.
fn fill(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buffer.len() {
        match reader.read(&mut buffer[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(got)
}

pub(super) fn encode_frame(out: &mut Vec<u8>, seq: Seq, record: &[u8]) {
    let len = u32::try_from(record.len()).expect("a record is far shorter than 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&seq.0.to_be_bytes());
    out.extend_from_slice(record);
    out.extend_from_slice(&checksum(seq, record));
}

fn checksum(seq: Seq, record: &[u8]) -> [u8; CHECK_LEN] {
    let len = u32::try_from(record.len()).unwrap_or(u32::MAX);
    let digest = Sha256::new()
        .chain_update(b"mirror")
        .chain_update(len.to_be_bytes())
        .chain_update(seq.0.to_be_bytes())
        .chain_update(record)
        .finalize();
    digest[..CHECK_LEN]
        .try_into()
        .expect("a SHA-256 digest has 32 bytes")
}

pub(super) fn io_failure(
    path: &Path,
    operation: &'static str,
) -> impl Fn(std::io::Error) -> MirrorError {
    let path = path.display().to_string();
    move |source| MirrorError::Io {
        path: path.clone(),
        operation,
        source: Arc::new(source),
    }
}
