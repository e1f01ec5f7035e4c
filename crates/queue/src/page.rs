//! Page files: `page.<n>`, an 8-byte header then records `[len u32][crc32 u32][seq u64][payload]`
//! (little endian; the CRC covers seq and payload). A page is only ever appended to, and only by
//! the process that created it; after a restart writing continues on a new page.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub const MAGIC: &[u8; 8] = b"RSTQPG01";
pub const HEADER: u64 = MAGIC.len() as u64;
pub const RECORD_HEADER: usize = 16;

pub fn path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("page.{n}"))
}

/// Page numbers in `dir`, ascending.
pub fn list(dir: &Path) -> io::Result<Vec<u64>> {
    numbered(dir, "page.", "")
}

/// The numbers of the files in `dir` named `<prefix><n><suffix>`, ascending (queue pages,
/// dead letter segments).
pub fn numbered(dir: &Path, prefix: &str, suffix: &str) -> io::Result<Vec<u64>> {
    let mut v: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(prefix))
                .and_then(|n| n.strip_suffix(suffix))
                .and_then(|n| n.parse().ok())
        })
        .collect();
    v.sort_unstable();
    Ok(v)
}

pub fn encode_record(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// One record read back, or why the bytes at `offset` are not one.
#[derive(Debug)]
pub enum Parsed<'a> {
    Record {
        seq: u64,
        payload: &'a [u8],
        size: usize,
    },
    /// Fewer bytes than the record needs: the end of what was written (a torn tail if final).
    Incomplete,
    Corrupt(String),
}

pub fn parse(buf: &[u8]) -> Parsed<'_> {
    if buf.len() < RECORD_HEADER {
        return Parsed::Incomplete;
    }
    let word = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    let len = word(0) as usize;
    let crc = word(4);
    let mut seq_bytes = [0u8; 8];
    seq_bytes.copy_from_slice(&buf[8..16]);
    let seq = u64::from_le_bytes(seq_bytes);
    if buf.len() < RECORD_HEADER + len {
        return Parsed::Incomplete;
    }
    let payload = &buf[RECORD_HEADER..RECORD_HEADER + len];
    let mut h = crc32fast::Hasher::new();
    h.update(&seq_bytes);
    h.update(payload);
    if h.finalize() != crc {
        return Parsed::Corrupt(format!("checksum mismatch (record of {len} bytes)"));
    }
    Parsed::Record {
        seq,
        payload,
        size: RECORD_HEADER + len,
    }
}

/// What a scan of one page found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Scan {
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Where the last good record ends: the page's valid length.
    pub valid_len: u64,
    pub file_len: u64,
    /// Why the bytes after `valid_len` are not records, if there are any.
    pub problem: Option<String>,
    /// The bytes after `valid_len` are an unfinished record (a write cut short), not damage.
    pub torn: bool,
}

/// Reads a whole page, calling `each(seq, payload, offset)` for every good record in order.
pub fn scan(path: &Path, mut each: impl FnMut(u64, &[u8], u64)) -> io::Result<Scan> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut s = Scan {
        file_len: bytes.len() as u64,
        ..Scan::default()
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        s.torn = bytes.len() < MAGIC.len() && MAGIC.starts_with(&bytes);
        s.problem = Some("not a queue page (bad header)".into());
        return Ok(s);
    }
    let mut at = MAGIC.len();
    s.valid_len = at as u64;
    while at < bytes.len() {
        match parse(&bytes[at..]) {
            Parsed::Record { seq, payload, size } => {
                if s.last_seq.is_some_and(|l| seq <= l) {
                    s.problem = Some(format!("sequence goes back at byte {at}"));
                    break;
                }
                each(seq, payload, at as u64);
                s.records += 1;
                s.first_seq.get_or_insert(seq);
                s.last_seq = Some(seq);
                at += size;
                s.valid_len = at as u64;
            }
            Parsed::Incomplete => {
                s.torn = true;
                s.problem = Some(format!(
                    "{} bytes of an unfinished record at byte {at}",
                    bytes.len() - at
                ));
                break;
            }
            Parsed::Corrupt(why) => {
                s.problem = Some(format!("{why} at byte {at}"));
                break;
            }
        }
    }
    Ok(s)
}
