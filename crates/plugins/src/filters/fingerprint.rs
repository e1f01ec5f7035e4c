//! `fingerprint`: a consistent hash of fields (SHA1/256/384/512, MD5, HMAC with `key`,
//! MURMUR3), or IPV4_NETWORK, PUNCTUATION, UUID. Values hash as Ruby's `to_s` shows them, with
//! hash keys sorted, so fingerprints equal Logstash's.

use base64::Engine;
use hmac::{KeyInit, Mac, SimpleHmac};
use regex::Regex;
use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Map, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};
use sha2::Digest;

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    Md5,
    Murmur3,
    Ipv4Network(u32),
    Uuid,
    Punctuation,
}

pub struct Fingerprint {
    sources: Vec<String>,
    target: FieldRef,
    method: Method,
    key: Option<String>,
    base64: bool,
    concatenate_sources: bool,
    concatenate_all_fields: bool,
    punct: Regex,
}

const METHODS: [&str; 9] = [
    "SHA1",
    "SHA256",
    "SHA384",
    "SHA512",
    "MD5",
    "MURMUR3",
    "IPV4_NETWORK",
    "UUID",
    "PUNCTUATION",
];

pub const OPTIONS: Options = &[&[
    opt("source", Ty::Array).default("[\"message\"]"),
    opt("target", Ty::Str),
    opt("method", Ty::Choice(&METHODS)).default("SHA1"),
    opt("key", Ty::Password),
    opt("base64encode", Ty::Boolean).default("false"),
    opt("concatenate_sources", Ty::Boolean).default("false"),
    opt("concatenate_all_fields", Ty::Boolean).default("false"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let name = args.choice("method", &METHODS, "SHA1")?;
    let key = args.string("key")?;
    let method = match name.as_str() {
        "SHA1" => Method::Sha1,
        "SHA256" => Method::Sha256,
        "SHA384" => Method::Sha384,
        "SHA512" => Method::Sha512,
        "MD5" => Method::Md5,
        "MURMUR3" => Method::Murmur3,
        "UUID" => Method::Uuid,
        "PUNCTUATION" => Method::Punctuation,
        _ => match key.as_deref().map(str::parse::<u32>) {
            Some(Ok(bits)) if bits <= 32 => Method::Ipv4Network(bits),
            _ => {
                return Err(args.error_at(
                    "key",
                    "IPV4_NETWORK needs `key`: a subnet prefix length from 0 to 32",
                ))
            }
        },
    };
    let ecs = args.ecs()?;
    let target = match args.field("target")? {
        Some(t) => t,
        None if ecs.enabled() => {
            FieldRef::parse("[event][hash]").unwrap_or_else(|_| FieldRef::key("fingerprint"))
        }
        None => FieldRef::key("fingerprint"),
    };
    let sources = if args.has("source") {
        args.strings("source")?
    } else {
        vec!["message".into()]
    };
    Ok(Box::new(Fingerprint {
        sources,
        target,
        method,
        key,
        base64: args.bool("base64encode", false)?,
        concatenate_sources: args.bool("concatenate_sources", false)?,
        concatenate_all_fields: args.bool("concatenate_all_fields", false)?,
        punct: Regex::new(r"[^\p{P}\p{S}]").map_err(|e| args.error(e.to_string()))?,
    }))
}

/// Hash keys sorted, recursively (Logstash's `deep_sort_hashes`).
fn deep_sort(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), deep_sort(v)))
                    .collect::<Map>(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(deep_sort).collect()),
        other => other.clone(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac<D>(key: &str, data: &[u8]) -> Vec<u8>
where
    D: Digest + hmac::digest::common::BlockSizeUser,
{
    match SimpleHmac::<D>::new_from_slice(key.as_bytes()) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

impl Fingerprint {
    fn digest(&self, data: &[u8]) -> Vec<u8> {
        macro_rules! run {
            ($d:ty) => {
                match &self.key {
                    Some(k) => hmac::<$d>(k, data),
                    None => <$d>::digest(data).to_vec(),
                }
            };
        }
        match self.method {
            Method::Sha1 => run!(sha1::Sha1),
            Method::Sha256 => run!(sha2::Sha256),
            Method::Sha384 => run!(sha2::Sha384),
            Method::Sha512 => run!(sha2::Sha512),
            _ => run!(md5::Md5),
        }
    }

    fn fingerprint(&self, v: &Value) -> Value {
        match self.method {
            Method::Murmur3 => {
                let bytes = match v {
                    Value::Int(i) => i.to_le_bytes().to_vec(),
                    other => other.to_ruby_string().into_bytes(),
                };
                Value::Int(murmur3::murmur3_32(&mut bytes.as_slice(), 0).unwrap_or(0) as i64)
            }
            Method::Ipv4Network(bits) => {
                let text = v.to_ruby_string();
                match text.trim().parse::<std::net::Ipv4Addr>() {
                    Ok(ip) => {
                        let mask = if bits == 0 {
                            0
                        } else {
                            u32::MAX << (32 - bits)
                        };
                        Value::String(
                            std::net::Ipv4Addr::from(u32::from(ip) & mask)
                                .to_string()
                                .into(),
                        )
                    }
                    Err(_) => Value::Null,
                }
            }
            _ => {
                let d = self.digest(v.to_ruby_string().as_bytes());
                Value::String(if self.base64 {
                    base64::engine::general_purpose::STANDARD.encode(d).into()
                } else {
                    hex(&d).into()
                })
            }
        }
    }
}

impl Filter for Fingerprint {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let result = match self.method {
            Method::Uuid => Some(Value::String(uuid::Uuid::new_v4().to_string().into())),
            Method::Punctuation => {
                let mut sorted = self.sources.clone();
                sorted.sort();
                let mut last = None;
                for s in sorted {
                    if let Some(v) = e.get(&super::field_or_key(&s)) {
                        last = Some(Value::String(
                            self.punct
                                .replace_all(&v.to_ruby_string(), "")
                                .into_owned()
                                .into(),
                        ));
                    }
                }
                last
            }
            _ if self.concatenate_sources || self.concatenate_all_fields => {
                let mut text = String::new();
                if self.concatenate_all_fields {
                    if let Value::Object(all) = deep_sort(&Value::Object(e.data().clone())) {
                        for (k, v) in &all {
                            text.push_str(&format!("|{k}|{}", v.to_ruby_string()));
                        }
                    }
                } else {
                    let mut sorted = self.sources.clone();
                    sorted.sort();
                    for s in sorted {
                        let v = e
                            .get(&super::field_or_key(&s))
                            .map(deep_sort)
                            .unwrap_or(Value::Null);
                        text.push_str(&format!("|{s}|{}", v.to_ruby_string()));
                    }
                }
                text.push('|');
                Some(self.fingerprint(&Value::String(text.into())))
            }
            _ => {
                let mut last = None;
                for s in &self.sources {
                    match e.get(&super::field_or_key(s)) {
                        None => {}
                        Some(Value::Array(items)) => {
                            last = Some(Value::Array(
                                items
                                    .iter()
                                    .map(|i| self.fingerprint(&deep_sort(i)))
                                    .collect(),
                            ))
                        }
                        Some(v) => last = Some(self.fingerprint(&deep_sort(v))),
                    }
                }
                last
            }
        };
        if let Some(v) = result {
            let _ = e.set(&self.target, v);
        }
        FilterOutcome::Matched
    }
}
