//! Frame encoding and streaming decoding.

use std::io::Read;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

pub const V1: u8 = b'1';
pub const V2: u8 = b'2';

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest `J` payload, `C` payload or `D` frame, in bytes.
    pub max_frame: usize,
    /// Largest window (`W` count).
    pub max_window: u32,
    /// Largest inflated size of one `C` frame (zip bombs stop here).
    pub max_inflated: usize,
    /// Deepest `C` inside `C`.
    pub max_nesting: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: 64 << 20,
            max_window: 1 << 20,
            max_inflated: 256 << 20,
            max_nesting: 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Window {
        version: u8,
        count: u32,
    },
    Json {
        version: u8,
        seq: u32,
        payload: Bytes,
    },
    Data {
        version: u8,
        seq: u32,
        pairs: Vec<(String, String)>,
    },
    Compressed {
        version: u8,
        payload: Bytes,
    },
    Ack {
        version: u8,
        seq: u32,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("invalid protocol version byte 0x{0:02x}")]
    Version(u8),
    #[error("unknown frame type 0x{0:02x}")]
    FrameType(u8),
    #[error("{what} of {len} bytes is over the limit of {limit}")]
    TooLarge {
        what: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("invalid {0}")]
    Invalid(&'static str),
    #[error("compressed frame: {0}")]
    Compression(String),
    #[error("unexpected {0} frame")]
    Unexpected(&'static str),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Takes one whole frame off the front of `buf`; `Ok(None)` when more bytes are needed.
pub fn decode(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, ProtocolError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (version, kind) = (buf[0], buf[1]);
    if version != V1 && version != V2 {
        return Err(ProtocolError::Version(version));
    }
    let total = match kind {
        b'W' | b'A' => 6,
        b'J' | b'C' => {
            let header = if kind == b'J' { 10 } else { 6 };
            if buf.len() < header {
                return Ok(None);
            }
            let len = be32(&buf[header - 4..header]) as usize;
            if len > limits.max_frame {
                return Err(ProtocolError::TooLarge {
                    what: "frame payload",
                    len,
                    limit: limits.max_frame,
                });
            }
            if kind == b'J' && len == 0 {
                return Err(ProtocolError::Invalid("json length"));
            }
            header + len
        }
        b'D' => match data_frame_len(buf, limits)? {
            Some(n) => n,
            None => return Ok(None),
        },
        other => return Err(ProtocolError::FrameType(other)),
    };
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    let mut f = buf.split_to(total).freeze();
    f.advance(2);
    Ok(Some(match kind {
        b'W' => Frame::Window {
            version,
            count: f.get_u32(),
        },
        b'A' => Frame::Ack {
            version,
            seq: f.get_u32(),
        },
        b'J' => {
            let seq = f.get_u32();
            f.advance(4);
            Frame::Json {
                version,
                seq,
                payload: f,
            }
        }
        b'C' => {
            f.advance(4);
            Frame::Compressed {
                version,
                payload: f,
            }
        }
        _ => {
            let seq = f.get_u32();
            let n = f.get_u32();
            let mut pairs = Vec::with_capacity(n.min(1024) as usize);
            for _ in 0..n {
                let k = take_str(&mut f);
                let v = take_str(&mut f);
                pairs.push((k, v));
            }
            Frame::Data {
                version,
                seq,
                pairs,
            }
        }
    }))
}

fn take_str(f: &mut Bytes) -> String {
    let len = f.get_u32() as usize;
    let s = String::from_utf8_lossy(&f[..len]).into_owned();
    f.advance(len);
    s
}

/// Walks a `D` frame's pairs to find its length without consuming; None if incomplete.
fn data_frame_len(buf: &[u8], limits: &Limits) -> Result<Option<usize>, ProtocolError> {
    if buf.len() < 10 {
        return Ok(None);
    }
    let pairs = be32(&buf[6..10]);
    if pairs == 0 {
        return Err(ProtocolError::Invalid("data frame with no fields"));
    }
    let mut pos = 10usize;
    for _ in 0..pairs.saturating_mul(2) {
        if buf.len() < pos + 4 {
            return Ok(None);
        }
        let len = be32(&buf[pos..pos + 4]) as usize;
        pos += 4 + len;
        if pos > limits.max_frame {
            return Err(ProtocolError::TooLarge {
                what: "data frame",
                len: pos,
                limit: limits.max_frame,
            });
        }
        if buf.len() < pos {
            return Ok(None);
        }
    }
    Ok(Some(pos))
}

/// Inflates a `C` payload (zlib), refusing to produce more than `limit` bytes.
pub fn inflate(payload: &[u8], limit: usize) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::with_capacity((payload.len() * 4).min(limit));
    let mut dec = flate2::read::ZlibDecoder::new(payload).take(limit as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| ProtocolError::Compression(e.to_string()))?;
    if out.len() > limit {
        return Err(ProtocolError::TooLarge {
            what: "inflated data",
            len: out.len(),
            limit,
        });
    }
    Ok(out)
}

pub fn encode_window(out: &mut BytesMut, count: u32) {
    out.put_slice(&[V2, b'W']);
    out.put_u32(count);
}

pub fn encode_json(out: &mut BytesMut, seq: u32, json: &[u8]) {
    out.put_slice(&[V2, b'J']);
    out.put_u32(seq);
    out.put_u32(json.len() as u32);
    out.put_slice(json);
}

pub fn encode_ack(version: u8, seq: u32) -> [u8; 6] {
    let s = seq.to_be_bytes();
    [version, b'A', s[0], s[1], s[2], s[3]]
}

/// A whole batch as libbeat sends it: `W`, then the `J` frames, zlib-wrapped in one `C` when
/// `level > 0`. Sequence numbers run from `first_seq`.
pub fn encode_batch(out: &mut BytesMut, first_seq: u32, events: &[impl AsRef<[u8]>], level: u32) {
    encode_window(out, events.len() as u32);
    let mut frames = BytesMut::with_capacity(events.iter().map(|e| e.as_ref().len() + 10).sum());
    for (i, e) in events.iter().enumerate() {
        encode_json(&mut frames, first_seq.wrapping_add(i as u32), e.as_ref());
    }
    if level == 0 {
        out.put_slice(&frames);
        return;
    }
    let mut z = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(frames.len() / 4),
        flate2::Compression::new(level.min(9)),
    );
    let compressed = std::io::Write::write_all(&mut z, &frames)
        .and_then(|_| z.finish())
        .unwrap_or_default();
    out.put_slice(&[V2, b'C']);
    out.put_u32(compressed.len() as u32);
    out.put_slice(&compressed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn reference_plain_batch_bytes() {
        let mut out = BytesMut::new();
        encode_batch(
            &mut out,
            1,
            &[br#"{"message":"hello"}"#, br#"{"message":"world"}"#],
            0,
        );
        let expected = hex(
            "32 57 00 00 00 02 32 4a 00 00 00 01 00 00 00 13 7b 22 6d 65 73 73 61 67 65 22 3a 22 68 65 6c 6c 6f 22 7d \
             32 4a 00 00 00 02 00 00 00 13 7b 22 6d 65 73 73 61 67 65 22 3a 22 77 6f 72 6c 64 22 7d",
        );
        assert_eq!(&out[..], &expected[..]);
        assert_eq!(encode_ack(V2, 2), [0x32, 0x41, 0, 0, 0, 2]);
    }

    #[test]
    fn reference_compressed_batch_inflates() {
        let payload = hex(
            "78 9c 33 f2 62 60 60 60 04 62 e1 6a a5 dc d4 e2 e2 c4 f4 54 25 2b a5 8c d4 9c 9c 7c a5 5a 23 90 \
             24 13 ba 64 79 7e 51 4e 8a 52 2d 00 79 a4 0e 9c",
        );
        let inner = inflate(&payload, 1 << 20).unwrap();
        assert_eq!(inner.len(), 58);
        let mut b = BytesMut::from(&inner[..]);
        let f = decode(&mut b, &Limits::default()).unwrap().unwrap();
        assert_eq!(
            f,
            Frame::Json {
                version: V2,
                seq: 1,
                payload: Bytes::from_static(br#"{"message":"hello"}"#)
            }
        );
    }

    #[test]
    fn v1_data_frame() {
        let mut b = BytesMut::from(
            &hex("31 44 00 00 00 01 00 00 00 02 00 00 00 04 6c 69 6e 65 00 00 00 05 68 65 6c 6c 6f 00 00 00 04 68 6f 73 74 00 00 00 03 77 65 62")[..],
        );
        let f = decode(&mut b, &Limits::default()).unwrap().unwrap();
        assert_eq!(
            f,
            Frame::Data {
                version: V1,
                seq: 1,
                pairs: vec![
                    ("line".into(), "hello".into()),
                    ("host".into(), "web".into())
                ]
            }
        );
    }

    #[test]
    fn partial_frames_wait_and_bad_bytes_fail() {
        let mut b = BytesMut::from(&[0x32u8, 0x4a, 0, 0][..]);
        assert_eq!(decode(&mut b, &Limits::default()), Ok(None));
        let mut b = BytesMut::from(&b"GET / HTTP/1.1"[..]);
        assert_eq!(
            decode(&mut b, &Limits::default()),
            Err(ProtocolError::Version(b'G'))
        );
        let mut b = BytesMut::from(&[0x32u8, b'J', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            decode(&mut b, &Limits::default()),
            Err(ProtocolError::TooLarge { .. })
        ));
        let mut b = BytesMut::from(&[0x32u8, b'Z'][..]);
        assert_eq!(
            decode(&mut b, &Limits::default()),
            Err(ProtocolError::FrameType(b'Z'))
        );
    }

    #[test]
    fn zip_bomb_is_refused() {
        let zeros = vec![0u8; 10 << 20];
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut z, &zeros).unwrap();
        let bomb = z.finish().unwrap();
        assert!(bomb.len() < 64 << 10);
        assert!(matches!(
            inflate(&bomb, 1 << 20),
            Err(ProtocolError::TooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_frames_after_a_window_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256), kind in prop_oneof![Just(b'J'), Just(b'C'), Just(b'D'), Just(b'W')]) {
            let limits = Limits { max_frame: 512, max_window: 16, max_inflated: 4096, max_nesting: 2 };
            let mut data = vec![b'2', b'W', 0, 0, 0, 3, b'2', kind];
            data.extend_from_slice(&body);
            let mut b = BytesMut::from(&data[..]);
            let mut asm = crate::Assembler::new(limits);
            let mut out = Vec::new();
            while let Ok(Some(f)) = decode(&mut b, &limits) {
                if asm.push(f, &mut out).is_err() {
                    break;
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let limits = Limits { max_frame: 256, max_window: 16, max_inflated: 1024, max_nesting: 2 };
            let mut b = BytesMut::from(&data[..]);
            let mut asm = crate::Assembler::new(limits);
            let mut out = Vec::new();
            while let Ok(Some(f)) = decode(&mut b, &limits) {
                if asm.push(f, &mut out).is_err() {
                    break;
                }
            }
            prop_assert!(out.iter().all(|b| b.events.len() <= limits.max_window as usize));
        }

        #[test]
        fn encoded_batches_decode_back(events in proptest::collection::vec("[ -~]{1,40}", 0..20), level in 0u32..4, first in any::<u32>()) {
            let mut out = BytesMut::new();
            encode_batch(&mut out, first, &events, level);
            let limits = Limits::default();
            let mut asm = crate::Assembler::new(limits);
            let mut batches = Vec::new();
            while let Some(f) = decode(&mut out, &limits).unwrap() {
                asm.push(f, &mut batches).unwrap();
            }
            prop_assert!(out.is_empty());
            prop_assert_eq!(batches.len(), 1);
            let got: Vec<Vec<u8>> = batches[0].events.iter().map(|e| match e { crate::RawEvent::Json(b) => b.to_vec(), _ => vec![] }).collect();
            let want: Vec<Vec<u8>> = events.iter().map(|e| e.as_bytes().to_vec()).collect();
            prop_assert_eq!(got, want);
            if !events.is_empty() {
                prop_assert_eq!(batches[0].highest_seq, first.saturating_add(events.len() as u32 - 1));
            }
        }
    }
}
