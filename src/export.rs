//! Export files: a community's log as one self-describing file, to move it between stores
//! and machines and to hand it to an auditor.
//!
//! Layout (documented for other implementations in `schemas/README.md`, "Export files"):
//!
//! ```text
//! "OSTROM-EXPORT\n"                      14 bytes of magic
//! u32 little-endian N, then N bytes      the header, JSON (see `Header`)
//! repeated `entries` times:
//!   u32 little-endian L, then L bytes    one entry's canonical bytes, seq 0, 1, 2, ...
//! ```
//!
//! The header repeats facts the entries prove (community, count, head hash) so that a
//! truncated or spliced file is caught even where every remaining entry verifies.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use ostrom_projections::GovernanceState;
use ostrom_schemas::{limits, CommunityId, Hash};
use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 14] = b"OSTROM-EXPORT\n";
pub const FORMAT: &str = "ostrom-export";
pub const FORMAT_VERSION: u32 = 1;
/// Headers are small JSON documents; anything larger is not an export.
pub const HEADER_BYTES_MAX: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub community: CommunityId,
    pub name: String,
    /// Number of entries; the file holds seq 0 to `entries - 1`.
    pub entries: u64,
    /// Hash of the last entry.
    pub head: Hash,
    /// How entries are encoded, for a reader who has only this file.
    pub encoding: String,
}

pub const ENCODING: &str =
    "each entry: u32 little-endian length, then its canonical postcard bytes (schemas/README.md)";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}: not an ostrom export (bad magic)")]
    NotAnExport(String),
    #[error("export header: {0}")]
    Header(String),
    /// The bytes of an entry could not be read; `seq` is its position.
    #[error("entry {seq}: {reason}")]
    Entry { seq: u64, reason: String },
    #[error("export file: {0}")]
    Io(#[from] std::io::Error),
}

/// Write a header and entries.
pub fn write(
    path: &Path,
    header: &Header,
    entries: impl Iterator<Item = Vec<u8>>,
) -> Result<u64, ExportError> {
    let file = File::create(path)?;
    let mut out = BufWriter::new(file);
    out.write_all(MAGIC)?;
    let json = serde_json::to_vec(header).expect("headers always encode");
    out.write_all(&(json.len() as u32).to_le_bytes())?;
    out.write_all(&json)?;
    let mut count = 0u64;
    for bytes in entries {
        out.write_all(&(bytes.len() as u32).to_le_bytes())?;
        out.write_all(&bytes)?;
        count += 1;
    }
    let file = out.into_inner().map_err(|error| error.into_error())?;
    file.sync_all()?;
    Ok(count)
}

/// A reader over an export's entries, after its header.
pub struct Reader {
    input: BufReader<File>,
    pub header: Header,
    next: u64,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, ExportError> {
        let mut input = BufReader::new(File::open(path)?);
        let mut magic = [0u8; MAGIC.len()];
        input
            .read_exact(&mut magic)
            .map_err(|_| ExportError::NotAnExport(path.display().to_string()))?;
        if &magic != MAGIC {
            return Err(ExportError::NotAnExport(path.display().to_string()));
        }
        let length =
            read_u32(&mut input).map_err(|_| ExportError::Header("truncated".into()))? as usize;
        if length > HEADER_BYTES_MAX {
            return Err(ExportError::Header(format!(
                "{length} bytes is larger than any header"
            )));
        }
        let mut json = vec![0u8; length];
        input
            .read_exact(&mut json)
            .map_err(|_| ExportError::Header("truncated".into()))?;
        let header: Header = serde_json::from_slice(&json)
            .map_err(|error| ExportError::Header(format!("not valid: {error}")))?;
        // The header is written in one exact form; any other bytes mean it was edited.
        if serde_json::to_vec(&header).expect("headers always encode") != json {
            return Err(ExportError::Header(
                "not in its canonical form (edited?)".into(),
            ));
        }
        if header.encoding != ENCODING {
            return Err(ExportError::Header("unknown entry encoding".into()));
        }
        if header.format != FORMAT || header.version != FORMAT_VERSION {
            return Err(ExportError::Header(format!(
                "format {} version {} (this build reads {FORMAT} version {FORMAT_VERSION})",
                header.format, header.version
            )));
        }
        Ok(Reader {
            input,
            header,
            next: 0,
        })
    }
}

impl Iterator for Reader {
    type Item = Result<Vec<u8>, ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        let seq = self.next;
        let entry_error = |reason: String| Some(Err(ExportError::Entry { seq, reason }));
        let mut prefix = [0u8; 4];
        match read_exact_or_eof(&mut self.input, &mut prefix) {
            Ok(false) => {
                if seq < self.header.entries {
                    return entry_error(format!(
                        "missing: the file ends after {seq} entries but its header says {}",
                        self.header.entries
                    ));
                }
                return None;
            }
            Ok(true) => {}
            Err(error) => return entry_error(format!("truncated length: {error}")),
        }
        if seq >= self.header.entries {
            return entry_error(format!(
                "the header says {} entries, but more follow",
                self.header.entries
            ));
        }
        let length = u32::from_le_bytes(prefix) as usize;
        if length > limits::ENTRY_BYTES_MAX {
            return entry_error(format!("length {length} is over the entry limit"));
        }
        let mut bytes = vec![0u8; length];
        if let Err(error) = self.input.read_exact(&mut bytes) {
            return entry_error(format!("truncated: {error}"));
        }
        self.next += 1;
        Some(Ok(bytes))
    }
}

fn read_u32(input: &mut impl Read) -> std::io::Result<u32> {
    let mut bytes = [0u8; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// `Ok(false)` at a clean end of file, `Ok(true)` when `buffer` was filled.
fn read_exact_or_eof(input: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..])? {
            0 if filled == 0 => return Ok(false),
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            read => filled += read,
        }
    }
    Ok(true)
}

/// Why an export does not verify: the first bad entry's position when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub seq: Option<u64>,
    pub code: &'static str,
    pub reason: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "entry {seq} [{}]: {}", self.code, self.reason),
            None => write!(f, "[{}]: {}", self.code, self.reason),
        }
    }
}

/// Verify a whole export: every entry (chain, signatures, members, keys, state rules), and
/// that the header's community, count and head agree with the entries. Entries are
/// verified up to the first unreadable one, so a damaged length prefix is named at the
/// entry it belongs to.
pub fn verify_file(path: &Path, show_progress: bool) -> Result<(Header, GovernanceState), Invalid> {
    verify_file_inspecting(path, show_progress, &mut |_, _| Ok(()))
}

/// `verify_file`, showing `inspect` every entry with the state just before it (`ostrom
/// verify --file` re-executes evaluations there).
pub fn verify_file_inspecting(
    path: &Path,
    show_progress: bool,
    inspect: &mut crate::ledger::Inspect<'_>,
) -> Result<(Header, GovernanceState), Invalid> {
    let invalid =
        |seq: Option<u64>, code: &'static str, reason: String| Invalid { seq, code, reason };
    let reader = Reader::open(path).map_err(|error| match error {
        ExportError::Io(error) => invalid(None, "io_error", format!("{}: {error}", path.display())),
        other => invalid(None, "invalid_export", other.to_string()),
    })?;
    let header = reader.header.clone();
    let bar = if show_progress {
        crate::ledger::progress_bar(header.entries, "verifying")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut state = GovernanceState::default();
    let mut chunk = Vec::with_capacity(crate::ledger::VERIFY_CHUNK_ENTRIES);
    let mut flush = |state: &mut GovernanceState, chunk: &[Vec<u8>]| -> Result<(), Invalid> {
        crate::ledger::verify_and_apply_inspecting(state, chunk, |_| {}, inspect)
            .map_err(|bad| invalid(Some(bad.seq), bad.code, bad.reason))?;
        bar.inc(chunk.len() as u64);
        Ok(())
    };
    let mut unreadable = None;
    for item in reader {
        match item {
            Ok(bytes) => chunk.push(bytes),
            Err(ExportError::Entry { seq, reason }) => {
                unreadable = Some((seq, reason));
                break;
            }
            Err(error) => return Err(invalid(None, "io_error", error.to_string())),
        }
        if chunk.len() == crate::ledger::VERIFY_CHUNK_ENTRIES {
            flush(&mut state, &chunk)?;
            chunk.clear();
        }
    }
    flush(&mut state, &chunk)?;
    bar.finish_and_clear();
    if let Some((seq, reason)) = unreadable {
        return Err(invalid(Some(seq), "malformed", reason));
    }
    let founded_name = state
        .community
        .as_ref()
        .map(|community| community.name.as_str());
    if state.community_id() != Some(header.community) || founded_name != Some(header.name.as_str())
    {
        return Err(invalid(
            None,
            "invalid_export",
            "the header names another community than its entries".into(),
        ));
    }
    if state.position.head != header.head {
        // Every entry verified and the count matched, so either the header's head was
        // edited or the whole tail was re-signed by the sequencer key; no entry is bad.
        return Err(invalid(
            None,
            "invalid_export",
            format!(
                "the header names head {} but the entries end at {}",
                header.head.short(),
                state.position.head.short()
            ),
        ));
    }
    Ok((header, state))
}
