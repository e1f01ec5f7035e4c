//! A compact, lossless binary form of an event (data and `@metadata`), for the persistent and
//! dead letter queues: every value keeps its type (timestamps stay timestamps, floats floats),
//! which JSON cannot promise. Decoding untrusted bytes never panics: it fails with a message.

use crate::event::Event;
use crate::timestamp::Timestamp;
use crate::value::{Key, Map, Value};

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const FLOAT: u8 = 4;
const STRING: u8 = 5;
const ARRAY: u8 = 6;
const OBJECT: u8 = 7;
const TIMESTAMP: u8 = 8;
/// An integer beyond 64 bits: its decimal digits as a string.
const BIGINT: u8 = 9;

/// Format version, first byte of every encoded event.
const VERSION: u8 = 1;
/// Nesting deeper than this is refused when decoding (a crafted record cannot blow the stack).
const MAX_DEPTH: usize = 512;

pub fn encode(e: &Event, out: &mut Vec<u8>) {
    out.push(VERSION);
    write_map(e.data(), out);
    write_map(e.metadata(), out);
}

pub fn decode(bytes: &[u8]) -> Result<Event, String> {
    let mut r = Reader { b: bytes, at: 0 };
    let v = r.u8()?;
    if v != VERSION {
        return Err(format!("unknown event format version {v}"));
    }
    let data = r.map(0)?;
    let metadata = r.map(0)?;
    if r.at != bytes.len() {
        return Err(format!("{} bytes after the event", bytes.len() - r.at));
    }
    Ok(Event::from_parts(data, metadata))
}

fn write_len(n: usize, out: &mut Vec<u8>) {
    // LEB128: short strings and maps cost one byte of length.
    let mut n = n as u64;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    write_len(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

fn write_map(m: &Map, out: &mut Vec<u8>) {
    write_len(m.len(), out);
    for (k, v) in m {
        write_str(k, out);
        write_value(v, out);
    }
}

fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Int(i) => {
            out.push(INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::BigInt(digits) => {
            out.push(BIGINT);
            write_str(digits, out);
        }
        Value::Float(f) => {
            out.push(FLOAT);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::String(s) => {
            out.push(STRING);
            write_str(s, out);
        }
        Value::Array(a) => {
            out.push(ARRAY);
            write_len(a.len(), out);
            for x in a {
                write_value(x, out);
            }
        }
        Value::Object(m) => {
            out.push(OBJECT);
            write_map(m, out);
        }
        Value::Timestamp(t) => {
            out.push(TIMESTAMP);
            out.extend_from_slice(&t.0.as_nanosecond().to_le_bytes());
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            return Err(format!("truncated at byte {}", self.at));
        };
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len(&mut self) -> Result<usize, String> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            n |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                // A length can never exceed what is left to read.
                return usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= self.b.len() - self.at)
                    .ok_or_else(|| format!("length {n} past the end at byte {}", self.at));
            }
        }
        Err("length too long".into())
    }

    fn str(&mut self) -> Result<&str, String> {
        let n = self.len()?;
        let at = self.at;
        std::str::from_utf8(self.take(n)?).map_err(|e| format!("bad UTF-8 at byte {at}: {e}"))
    }

    fn map(&mut self, depth: usize) -> Result<Map, String> {
        let n = self.len()?;
        let mut m = Map::with_capacity(n);
        for _ in 0..n {
            let k = Key::from(self.str()?);
            let v = self.value(depth + 1)?;
            m.insert(k, v);
        }
        Ok(m)
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("nesting too deep".into());
        }
        let at = self.at;
        Ok(match self.u8()? {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT => Value::Int(i64::from_le_bytes(self.fixed()?)),
            FLOAT => Value::Float(f64::from_bits(u64::from_le_bytes(self.fixed()?))),
            STRING => Value::String(self.str()?.into()),
            BIGINT => Value::big_int(self.str()?)
                .ok_or_else(|| format!("bad big integer at byte {at}"))?,
            ARRAY => {
                let n = self.len()?;
                let mut a = Vec::with_capacity(n);
                for _ in 0..n {
                    a.push(self.value(depth + 1)?);
                }
                Value::Array(a)
            }
            OBJECT => Value::Object(self.map(depth)?),
            TIMESTAMP => {
                let nanos = i128::from_le_bytes(self.fixed()?);
                let t = jiff::Timestamp::from_nanosecond(nanos)
                    .map_err(|e| format!("bad timestamp at byte {at}: {e}"))?;
                Value::Timestamp(Timestamp(t))
            }
            t => return Err(format!("unknown value type {t} at byte {at}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>()
                .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
                .prop_map(Value::Float),
            ".*".prop_map(Value::from),
            (-10_000_000_000i64..10_000_000_000i64).prop_map(|s| Value::Timestamp(Timestamp(
                jiff::Timestamp::from_second(s).unwrap()
            ))),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((".{0,8}", inner), 0..6).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (Key::from(k), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trips(fields in prop::collection::vec(("[a-z@]{1,8}", value()), 0..8), meta in prop::collection::vec(("[a-z]{1,5}", value()), 0..3)) {
            let mut e = Event::new();
            for (k, v) in fields {
                e.data_mut().insert(Key::from(k), v);
            }
            for (k, v) in meta {
                e.metadata_mut().insert(Key::from(k), v);
            }
            let mut buf = Vec::new();
            encode(&e, &mut buf);
            prop_assert_eq!(decode(&buf).unwrap(), e);
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn every_truncation_is_an_error(cut in 0usize..100) {
            let mut e = Event::with_message("hello");
            e.metadata_mut().insert("k".into(), Value::Array(vec![Value::Int(1), Value::Float(2.5)]));
            let mut buf = Vec::new();
            encode(&e, &mut buf);
            let cut = cut % buf.len();
            prop_assert!(decode(&buf[..cut]).is_err());
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut buf = vec![VERSION, 1, 1, b'a'];
        for _ in 0..1000 {
            buf.extend_from_slice(&[ARRAY, 1]);
        }
        buf.push(NULL);
        buf.push(0);
        assert!(decode(&buf).unwrap_err().contains("deep"));
    }
}
