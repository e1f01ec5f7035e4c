//! Ruby's Marshal format (version 4.8) for plain data: nil, true/false, integers, floats,
//! strings, symbols, arrays and hashes. Logstash's memcached filter stores values through Dalli,
//! which marshals them; reading and writing the same bytes keeps rstash and Logstash sharing a
//! cache.

use rstash_event::{Map, Value};

/// Decodes one marshalled value; None for anything outside plain data or malformed input.
pub fn load(bytes: &[u8]) -> Option<Value> {
    let rest = bytes.strip_prefix(&[4, 8])?;
    let mut r = Reader {
        b: rest,
        symbols: Vec::new(),
        depth: 0,
    };
    r.value()
}

struct Reader<'a> {
    b: &'a [u8],
    symbols: Vec<String>,
    /// Values this one is nested in: deeper than `MAX_DECODE_DEPTH` is refused, not recursed.
    depth: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.b.split_first()?;
        self.b = rest;
        Some(first)
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.b.len() < n {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }

    /// Marshal's packed integer (`w_long`).
    fn long(&mut self) -> Option<i64> {
        let c = self.byte()? as i8;
        Some(match c {
            0 => 0,
            5..=127 => i64::from(c) - 5,
            -128..=-5 => i64::from(c) + 5,
            1..=4 => {
                let mut v: i64 = 0;
                for (i, b) in self.take(c as usize)?.iter().enumerate() {
                    v |= i64::from(*b) << (8 * i);
                }
                v
            }
            _ => {
                let n = (-c) as usize;
                let mut v: i64 = -1;
                for (i, b) in self.take(n)?.iter().enumerate() {
                    v &= !(0xff << (8 * i));
                    v |= i64::from(*b) << (8 * i);
                }
                v
            }
        })
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = usize::try_from(self.long()?).ok()?;
        Some(self.take(n)?.to_vec())
    }

    fn symbol(&mut self) -> Option<String> {
        match self.byte()? {
            b':' => {
                let s = String::from_utf8(self.bytes()?).ok()?;
                self.symbols.push(s.clone());
                Some(s)
            }
            b';' => {
                let i = usize::try_from(self.long()?).ok()?;
                self.symbols.get(i).cloned()
            }
            _ => None,
        }
    }

    fn value(&mut self) -> Option<Value> {
        if self.depth >= rstash_event::MAX_DECODE_DEPTH {
            return None;
        }
        self.depth += 1;
        let v = self.value_here();
        self.depth -= 1;
        v
    }

    fn value_here(&mut self) -> Option<Value> {
        Some(match self.byte()? {
            b'0' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' => Value::Int(self.long()?),
            b'f' => {
                let text = String::from_utf8(self.bytes()?).ok()?;
                Value::Float(match text.as_str() {
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    "nan" => f64::NAN,
                    t => t.parse().ok()?,
                })
            }
            b'"' => Value::String(String::from_utf8_lossy(&self.bytes()?).into_owned().into()),
            b':' => {
                let s = String::from_utf8(self.bytes()?).ok()?;
                self.symbols.push(s.clone());
                Value::String(s.into())
            }
            b';' => {
                let i = usize::try_from(self.long()?).ok()?;
                Value::String(self.symbols.get(i)?.as_str().into())
            }
            b'I' => {
                // A value with instance variables (a string's encoding): keep the value.
                let v = self.value()?;
                let n = self.long()?;
                for _ in 0..n {
                    self.symbol()?;
                    self.value()?;
                }
                v
            }
            b'[' => {
                let n = self.long()?;
                let mut a = Vec::new();
                for _ in 0..n {
                    a.push(self.value()?);
                }
                Value::Array(a)
            }
            b'{' => {
                let n = self.long()?;
                let mut m = Map::default();
                for _ in 0..n {
                    let k = match self.value()? {
                        Value::String(s) => s,
                        other => other.to_ruby_string().into(),
                    };
                    m.insert(k, self.value()?);
                }
                Value::Object(m)
            }
            b'l' => {
                let sign = self.byte()?;
                let words = usize::try_from(self.long()?).ok()?;
                let digits = self.take(words.checked_mul(2)?)?;
                let mut v: i128 = 0;
                for (i, b) in digits.iter().enumerate().take(16) {
                    v |= i128::from(*b) << (8 * i);
                }
                let v = if sign == b'-' { -v } else { v };
                i64::try_from(v)
                    .map(Value::Int)
                    .unwrap_or(Value::Float(v as f64))
            }
            _ => return None,
        })
    }
}

/// Marshals plain data the way Ruby does (UTF-8 strings carry `E => true`).
pub fn dump(v: &Value) -> Vec<u8> {
    let mut w = Writer {
        out: vec![4, 8],
        e_symbol: false,
    };
    w.value(v);
    w.out
}

struct Writer {
    out: Vec<u8>,
    /// Whether `:E` was written already (later uses are `;` references to symbol 0).
    e_symbol: bool,
}

impl Writer {
    fn long(&mut self, v: i64) {
        match v {
            0 => self.out.push(0),
            1..=122 => self.out.push((v + 5) as u8),
            -123..=-1 => self.out.push((v - 5) as u8),
            _ => {
                let mut bytes = Vec::new();
                let mut x = v;
                for _ in 0..8 {
                    bytes.push((x & 0xff) as u8);
                    x >>= 8;
                    if (v >= 0 && x == 0) || (v < 0 && x == -1) {
                        break;
                    }
                }
                let n = bytes.len() as i8;
                self.out.push(if v >= 0 { n as u8 } else { (-n) as u8 });
                self.out.extend(bytes);
            }
        }
    }

    fn string(&mut self, s: &str) {
        self.out.push(b'I');
        self.out.push(b'"');
        self.long(s.len() as i64);
        self.out.extend_from_slice(s.as_bytes());
        self.long(1);
        if self.e_symbol {
            self.out.extend_from_slice(b";\x00");
        } else {
            self.out.extend_from_slice(b":\x06E");
            self.e_symbol = true;
        }
        self.out.push(b'T');
    }

    /// A Bignum: sign, then the magnitude in 16-bit words, little-endian.
    fn bignum(&mut self, neg: bool, mut mag: Vec<u8>) {
        self.out.push(b'l');
        self.out.push(if neg { b'-' } else { b'+' });
        while mag.len() > 2 && mag[mag.len() - 1] == 0 && mag[mag.len() - 2] == 0 {
            mag.truncate(mag.len() - 2);
        }
        if mag.len() % 2 == 1 {
            mag.push(0);
        }
        self.long((mag.len() / 2) as i64);
        self.out.extend(mag);
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.out.push(b'0'),
            Value::Bool(true) => self.out.push(b'T'),
            Value::Bool(false) => self.out.push(b'F'),
            // Fixnums are 31-bit in Marshal; larger integers are Bignums.
            Value::Int(i) if (-(1 << 30)..(1 << 30)).contains(i) => {
                self.out.push(b'i');
                self.long(*i);
            }
            Value::Int(i) => self.bignum(*i < 0, i.unsigned_abs().to_le_bytes().to_vec()),
            Value::BigInt(d) => {
                let (neg, digits) = match d.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, &**d),
                };
                self.bignum(neg, decimal_to_le_bytes(digits));
            }
            Value::Float(f) => {
                self.out.push(b'f');
                let text = if f.is_nan() {
                    "nan".to_string()
                } else if f.is_infinite() {
                    if *f > 0.0 { "inf" } else { "-inf" }.to_string()
                } else if f.fract() == 0.0 && f.abs() < 1e16 {
                    format!("{}", *f as i64)
                } else {
                    format!("{f}")
                };
                self.long(text.len() as i64);
                self.out.extend_from_slice(text.as_bytes());
            }
            Value::String(s) => self.string(s),
            Value::Timestamp(t) => self.string(&t.to_string()),
            Value::Array(a) => {
                self.out.push(b'[');
                self.long(a.len() as i64);
                for x in a {
                    self.value(x);
                }
            }
            Value::Object(m) => {
                self.out.push(b'{');
                self.long(m.len() as i64);
                for (k, x) in m {
                    self.string(k);
                    self.value(x);
                }
            }
        }
    }
}

/// The little-endian bytes of a non-negative decimal number (schoolbook division by 256).
fn decimal_to_le_bytes(digits: &str) -> Vec<u8> {
    let mut num: Vec<u8> = digits.bytes().map(|b| b.wrapping_sub(b'0')).collect();
    let mut out = Vec::new();
    while num.iter().any(|&d| d != 0) {
        let mut rem = 0u32;
        let mut next = Vec::with_capacity(num.len());
        for &d in &num {
            let cur = rem * 10 + u32::from(d);
            let q = cur / 256;
            rem = cur % 256;
            if !next.is_empty() || q != 0 {
                next.push(q as u8);
            }
        }
        out.push(rem as u8);
        num = next;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_digits_to_bytes() {
        assert_eq!(super::decimal_to_le_bytes("65536"), vec![0, 0, 1]);
        assert_eq!(super::decimal_to_le_bytes("0"), Vec::<u8>::new());
        assert_eq!(
            super::decimal_to_le_bytes("43947404257507186289"),
            43947404257507186289u128.to_le_bytes()[..9].to_vec()
        );
    }

    use super::*;
    use rstash_event::json;

    /// Bytes printed by Ruby 3.1's `Marshal.dump` for the same values.
    #[test]
    fn dumps_what_ruby_dumps_and_reads_it_back() {
        let cases: [(&str, &[u8]); 7] = [
            (r#""abc""#, b"\x04\x08I\"\x08abc\x06:\x06ET"),
            ("300", b"\x04\x08i\x02,\x01"),
            ("-129", b"\x04\x08i\xff\x7f"),
            ("1099511627776", b"\x04\x08l+\x08\x00\x00\x00\x00\x00\x01"),
            ("1.5", b"\x04\x08f\x081.5"),
            ("2.0", b"\x04\x08f\x062"),
            (
                r#"{"a":["b",null]}"#,
                b"\x04\x08{\x06I\"\x06a\x06:\x06ET[\x07I\"\x06b\x06;\x00T0",
            ),
        ];
        for (text, bytes) in cases {
            let v = json::parse(text.as_bytes()).unwrap();
            assert_eq!(dump(&v), bytes, "{text}");
            assert_eq!(load(bytes), Some(v), "{text}");
        }
        assert_eq!(load(b"\x04\x08o:\x0bObject\x00"), None);
        assert_eq!(load(b"\x04\x08[\x07i"), None);
    }

    proptest::proptest! {
        #[test]
        fn integers_and_strings_round_trip(i in proptest::num::i64::ANY, s in ".*") {
            let v = Value::Array(vec![Value::Int(i), Value::String(s.as_str().into()), Value::String(s.into())]);
            proptest::prop_assert_eq!(load(&dump(&v)), Some(v));
        }
    }
}
