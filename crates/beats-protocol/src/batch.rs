//! Server side: frames → batches, as Logstash's beats input assembles them.

use bytes::{Bytes, BytesMut};

use crate::frame::{decode, inflate, Frame, Limits, ProtocolError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawEvent {
    Json(Bytes),
    Data(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The protocol version of the batch; the ACK is written with it.
    pub version: u8,
    pub events: Vec<RawEvent>,
    /// What to ACK: the highest sequence number seen (0 for an empty window).
    pub highest_seq: u32,
}

pub struct Assembler {
    limits: Limits,
    window: Option<u32>,
    version: u8,
    events: Vec<RawEvent>,
    highest: u32,
}

impl Assembler {
    pub fn new(limits: Limits) -> Assembler {
        Assembler {
            limits,
            window: None,
            version: b'2',
            events: Vec::new(),
            highest: 0,
        }
    }

    /// Whether a batch has started and is not complete yet.
    pub fn pending(&self) -> bool {
        self.window.is_some()
    }

    pub fn push(&mut self, f: Frame, out: &mut Vec<Batch>) -> Result<(), ProtocolError> {
        self.push_nested(f, out, 0)
    }

    fn push_nested(
        &mut self,
        f: Frame,
        out: &mut Vec<Batch>,
        depth: usize,
    ) -> Result<(), ProtocolError> {
        match f {
            Frame::Window { version, count } => {
                if count > self.limits.max_window {
                    return Err(ProtocolError::TooLarge {
                        what: "window",
                        len: count as usize,
                        limit: self.limits.max_window as usize,
                    });
                }
                if !self.events.is_empty() {
                    tracing::warn!("new window before the previous batch was complete: passing on its {} events", self.events.len());
                    self.emit(out);
                }
                self.version = version;
                self.highest = 0;
                if count == 0 {
                    out.push(Batch {
                        version,
                        events: Vec::new(),
                        highest_seq: 0,
                    });
                    self.window = None;
                } else {
                    self.window = Some(count);
                }
            }
            Frame::Json { seq, payload, .. } => self.event(RawEvent::Json(payload), seq, out)?,
            Frame::Data { seq, pairs, .. } => self.event(RawEvent::Data(pairs), seq, out)?,
            Frame::Compressed { payload, .. } => {
                if depth >= self.limits.max_nesting {
                    return Err(ProtocolError::Invalid("nesting of compressed frames"));
                }
                // Taken over, not copied: the frames decoded from it are slices of this buffer.
                let mut inner =
                    BytesMut::from(Bytes::from(inflate(&payload, self.limits.max_inflated)?));
                while let Some(f) = decode(&mut inner, &self.limits)? {
                    self.push_nested(f, out, depth + 1)?;
                }
                if !inner.is_empty() {
                    return Err(ProtocolError::Compression(
                        "insufficient bytes in compressed content to decode a frame".into(),
                    ));
                }
            }
            Frame::Ack { .. } => return Err(ProtocolError::Unexpected("ACK")),
        }
        Ok(())
    }

    fn event(&mut self, e: RawEvent, seq: u32, out: &mut Vec<Batch>) -> Result<(), ProtocolError> {
        let Some(window) = self.window else {
            return Err(ProtocolError::Unexpected("data (no window announced)"));
        };
        self.events.push(e);
        self.highest = self.highest.max(seq);
        if self.events.len() as u64 >= window as u64 {
            self.emit(out);
        }
        Ok(())
    }

    fn emit(&mut self, out: &mut Vec<Batch>) {
        let events = std::mem::take(&mut self.events);
        out.push(Batch {
            version: self.version,
            events,
            highest_seq: self.highest,
        });
        self.window = None;
        self.highest = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::encode_batch;

    #[test]
    fn empty_window_acks_zero_and_counters_continue() {
        let limits = Limits::default();
        let mut asm = Assembler::new(limits);
        let mut out = Vec::new();
        let mut buf = BytesMut::new();
        crate::frame::encode_window(&mut buf, 0);
        encode_batch(&mut buf, 4, &[b"{}", b"{}", b"{}"], 6);
        while let Some(f) = decode(&mut buf, &limits).unwrap() {
            asm.push(f, &mut out).unwrap();
        }
        assert_eq!(
            out[0],
            Batch {
                version: b'2',
                events: vec![],
                highest_seq: 0
            }
        );
        assert_eq!(out[1].highest_seq, 6, "pylogbeat-style running sequence");
        assert!(!asm.pending());
    }

    #[test]
    fn data_without_window_is_an_error() {
        let mut asm = Assembler::new(Limits::default());
        let f = Frame::Json {
            version: b'2',
            seq: 1,
            payload: Bytes::from_static(b"{}"),
        };
        assert!(asm.push(f, &mut Vec::new()).is_err());
    }
}
