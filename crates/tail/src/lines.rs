//! Lines from a file, read in large blocks from a given offset. A line is emitted only once its
//! `\n` (or another delimiter) is on disk (a partial last line waits), without its terminator
//! (`\n` or `\r\n`); content past `max_bytes` is dropped (the line is marked truncated) without
//! buffering it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

const BLOCK: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Offset of the line's first byte.
    pub offset: u64,
    /// Offset just past its terminator: where reading resumes.
    pub end: u64,
    pub bytes: Vec<u8>,
    pub truncated: bool,
    /// What a container runtime's log line said besides its text (container inputs only).
    pub container: Option<Box<crate::container::Container>>,
}

pub struct LineReader {
    file: File,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..]`; `file_pos` is the file offset of `buf.len()`.
    start: usize,
    file_pos: u64,
    max_bytes: usize,
    /// While a line longer than `max_bytes` is skipped: its kept prefix and start offset.
    oversized: Option<(Vec<u8>, u64)>,
    delimiter: Vec<u8>,
}

impl LineReader {
    pub fn open(path: &Path, offset: u64, max_bytes: usize) -> io::Result<LineReader> {
        LineReader::from_file(File::open(path)?, offset, max_bytes)
    }

    pub fn from_file(mut file: File, offset: u64, max_bytes: usize) -> io::Result<LineReader> {
        file.seek(SeekFrom::Start(offset))?;
        Ok(LineReader {
            file,
            buf: Vec::with_capacity(BLOCK),
            start: 0,
            file_pos: offset,
            max_bytes: max_bytes.max(1),
            oversized: None,
            delimiter: b"\n".to_vec(),
        })
    }

    /// Lines end with `delimiter` instead of `\n` (Logstash's file input `delimiter`).
    pub fn with_delimiter(mut self, delimiter: &[u8]) -> LineReader {
        if !delimiter.is_empty() {
            self.delimiter = delimiter.to_vec();
        }
        self
    }

    fn find_delimiter(&self, data: &[u8]) -> Option<usize> {
        match self.delimiter.as_slice() {
            [b] => memchr::memchr(*b, data),
            d => memchr::memmem::find(data, d),
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Offset after the last line returned: what a restart would resume from.
    pub fn offset(&self) -> u64 {
        match &self.oversized {
            Some((_, start)) => *start,
            None => self.file_pos - (self.buf.len() - self.start) as u64,
        }
    }

    /// Starts over at `offset` (after a truncation, at 0).
    pub fn seek(&mut self, offset: u64) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(offset))?;
        self.buf.clear();
        self.start = 0;
        self.file_pos = offset;
        self.oversized = None;
        Ok(())
    }

    /// The next complete line, or `None` when none is complete yet (end of file for now).
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        loop {
            if let Some(line) = self.take_line() {
                return Ok(Some(line));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn take_line(&mut self) -> Option<Line> {
        let data = &self.buf[self.start..];
        let buffered_start = self.file_pos - data.len() as u64;
        let dlen = self.delimiter.len();
        match self.find_delimiter(data) {
            Some(nl) => {
                let end = buffered_start + (nl + dlen) as u64;
                let (mut bytes, offset, truncated) = match self.oversized.take() {
                    Some((kept, offset)) => (kept, offset, true),
                    None => {
                        let take = nl.min(self.max_bytes);
                        (data[..take].to_vec(), buffered_start, nl > self.max_bytes)
                    }
                };
                if !truncated
                    && dlen == 1
                    && self.delimiter[0] == b'\n'
                    && bytes.last() == Some(&b'\r')
                {
                    bytes.pop();
                }
                self.start += nl + dlen;
                Some(Line {
                    offset,
                    end,
                    bytes,
                    truncated,
                    container: None,
                })
            }
            None => {
                // No newline yet: a line already past the limit keeps only its prefix.
                if self.oversized.is_none() && data.len() > self.max_bytes {
                    self.oversized = Some((data[..self.max_bytes].to_vec(), buffered_start));
                }
                if self.oversized.is_some() {
                    self.start = self.buf.len();
                }
                None
            }
        }
    }

    /// Reads one more block; false at end of file.
    fn fill(&mut self) -> io::Result<bool> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + BLOCK, 0);
        let n = loop {
            match self.file.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(old + n);
        self.file_pos += n as u64;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(r: &mut LineReader) -> Vec<(u64, u64, String, bool)> {
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push((
                l.offset,
                l.end,
                String::from_utf8(l.bytes).unwrap(),
                l.truncated,
            ));
        }
        out
    }

    #[test]
    fn reads_complete_lines_and_waits_for_the_rest() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"one\r\ntwo\nthr").unwrap();
        let mut r = LineReader::open(f.path(), 0, 100).unwrap();
        assert_eq!(
            lines(&mut r),
            vec![(0, 5, "one".into(), false), (5, 9, "two".into(), false)]
        );
        assert_eq!(r.offset(), 9);
        f.write_all(b"ee\n").unwrap();
        assert_eq!(lines(&mut r), vec![(9, 15, "three".into(), false)]);
        let mut again = LineReader::open(f.path(), 5, 100).unwrap();
        assert_eq!(lines(&mut again).len(), 2);
    }

    #[test]
    fn long_lines_are_truncated_without_buffering() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let long = "x".repeat(300_000);
        writeln!(f, "{long}").unwrap();
        writeln!(f, "short").unwrap();
        let mut r = LineReader::open(f.path(), 0, 10).unwrap();
        let got = lines(&mut r);
        assert_eq!(got[0], (0, 300_001, "x".repeat(10), true));
        assert_eq!(got[1], (300_001, 300_007, "short".into(), false));
    }

    #[test]
    fn other_delimiters_end_lines() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"a||b\r||c").unwrap();
        let mut r = LineReader::open(f.path(), 0, 100)
            .unwrap()
            .with_delimiter(b"||");
        assert_eq!(
            lines(&mut r),
            vec![(0, 3, "a".into(), false), (3, 7, "b\r".into(), false)]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_split_of_writes_gives_the_same_lines(text in "[a-c\\n]{0,200}", cut in 0usize..200) {
            let cut = cut.min(text.len());
            let mut f = tempfile::NamedTempFile::new().unwrap();
            f.write_all(&text.as_bytes()[..cut]).unwrap();
            let mut r = LineReader::open(f.path(), 0, 1000).unwrap();
            let mut got = lines(&mut r);
            f.write_all(&text.as_bytes()[cut..]).unwrap();
            got.extend(lines(&mut r));
            let want: Vec<String> = text.split_inclusive('\n').filter(|l| l.ends_with('\n'))
                .map(|l| l.trim_end_matches('\n').to_string()).collect();
            proptest::prop_assert_eq!(got.iter().map(|g| g.2.clone()).collect::<Vec<_>>(), want);
        }
    }
}
