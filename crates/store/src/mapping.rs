//! Index mappings: the `mappings` object as Elasticsearch shows it (explicit, from templates or
//! `PUT _mapping`, plus what dynamic mapping learned) and, derived from it, each field's type.
//!
//! Dynamic mapping as Elasticsearch's for new fields: strings are `text` with a `keyword`
//! sub-field (or `date` when they look like one), integers `long`, decimals `float`, booleans
//! `boolean`, objects `object`. Values are coerced to their field's type (a bad one is a
//! `mapper_parsing_exception` unless the field has `ignore_malformed`).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};
use tantivy::DateTime;

use crate::error::EsError;
use crate::json::Json;
use crate::view::{Leaf, View, Views, Which};

type FieldMap = HashMap<String, Field, foldhash::fast::RandomState>;

/// One mapped field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The type as declared (`integer`, `date_nanos`, ...).
    pub ty: String,
    /// `ignore_above` of the field (keyword) or of its `keyword` sub-field (text).
    pub ignore_above: Option<usize>,
    /// `format` of a date field, split on `||`.
    pub formats: Vec<String>,
    pub ignore_malformed: bool,
    /// `family(ty)`, asked for every value of every document.
    fam: &'static str,
}

impl Field {
    /// The family the store indexes and queries by.
    pub fn family(&self) -> &'static str {
        self.fam
    }
}

pub fn family(ty: &str) -> &'static str {
    match ty {
        "text" | "match_only_text" | "search_as_you_type" => "text",
        "keyword" | "constant_keyword" | "wildcard" | "version" => "keyword",
        "long" | "integer" | "short" | "byte" | "token_count" => "long",
        "double" | "float" | "half_float" | "scaled_float" => "float",
        "unsigned_long" => "unsigned_long",
        "date" | "date_nanos" => "date",
        "boolean" => "boolean",
        "ip" => "ip",
        "object" | "nested" | "flattened" | "flat_object" => "object",
        "alias" => "alias",
        _ => "other",
    }
}

const KNOWN: &[&str] = &[
    "text",
    "match_only_text",
    "search_as_you_type",
    "keyword",
    "constant_keyword",
    "wildcard",
    "version",
    "long",
    "integer",
    "short",
    "byte",
    "token_count",
    "double",
    "float",
    "half_float",
    "scaled_float",
    "unsigned_long",
    "date",
    "date_nanos",
    "boolean",
    "ip",
    "object",
    "nested",
    "flattened",
    "flat_object",
    "alias",
    "geo_point",
    "geo_shape",
    "binary",
    "integer_range",
    "long_range",
    "float_range",
    "double_range",
    "date_range",
    "ip_range",
    "completion",
    "dense_vector",
    "knn_vector",
    "rank_feature",
    "rank_features",
    "percolator",
    "join",
    "histogram",
    "semantic_text",
    "sparse_vector",
];

/// Keys a root `mappings` object may have besides `properties`.
const ROOT_KEYS: &[&str] = &[
    "properties",
    "dynamic",
    "_source",
    "_meta",
    "_routing",
    "_field_names",
    "_data_stream_timestamp",
    "_size",
    "dynamic_templates",
    "dynamic_date_formats",
    "date_detection",
    "numeric_detection",
    "runtime",
    "enabled",
    "subobjects",
];

#[derive(Debug, Clone, Default)]
pub struct Mapping {
    /// The root `mappings` object (`properties`, `dynamic`, `_source`, `dynamic_templates`...).
    root: Map<String, Value>,
    /// Looked up for every value of every document: hashed (a hash and one comparison instead
    /// of a tree descent comparing strings); `fields()` lists them in order.
    fields: FieldMap,
    /// Multi-fields (`fields` of a field): `date.nanos` → `date`; they index their parent's value.
    subfields: BTreeMap<String, String>,
}

fn mapper_error(reason: impl Into<String>) -> EsError {
    EsError::bad_request("mapper_parsing_exception", reason)
}

impl Mapping {
    pub fn new() -> Mapping {
        Mapping::default()
    }

    /// A mapping from a `mappings` body (with or without a `_doc` type level).
    pub fn from_json(v: &Value) -> Result<Mapping, EsError> {
        let mut m = Mapping::new();
        m.merge(v)?;
        Ok(m)
    }

    /// Reads a stored `mapping.json`: the `mappings` object, or the older flat path → type map.
    pub fn load(v: &Value) -> Mapping {
        if let Ok(m) = Mapping::from_json(v) {
            if v.get("properties").is_some() || v.as_object().is_some_and(Map::is_empty) {
                return m;
            }
        }
        let mut m = Mapping::new();
        if let Some(flat) = v.as_object() {
            for (path, t) in flat {
                if let Some(t) = t.as_str() {
                    m.add(path, t);
                }
            }
        }
        m
    }

    /// Merges a `mappings` body into this one, as `PUT _mapping` and templates do. A field
    /// cannot change type.
    pub fn merge(&mut self, v: &Value) -> Result<(), EsError> {
        let body = v
            .as_object()
            .ok_or_else(|| mapper_error("mapping must be an object"))?;
        let unknown: Vec<String> = body
            .iter()
            .filter(|(k, _)| !ROOT_KEYS.contains(&k.as_str()))
            .map(|(k, v)| format!("{k} : {v}"))
            .collect();
        if !unknown.is_empty() {
            return Err(mapper_error(format!(
                "Root mapping definition has unsupported parameters:  [{}]",
                unknown.join(", ")
            )));
        }
        if let Some(d) = body.get("dynamic") {
            let ok = matches!(d, Value::Bool(_))
                || matches!(
                    d.as_str(),
                    Some("true" | "false" | "strict" | "runtime" | "strict_allow_templates")
                );
            if !ok {
                return Err(mapper_error(format!(
                    "Could not convert [dynamic] to boolean or strict: [{d}]"
                )));
            }
        }
        let mut fields = self.fields.clone();
        let mut subs = self.subfields.clone();
        if let Some(props) = body.get("properties") {
            let props = props
                .as_object()
                .ok_or_else(|| mapper_error("[properties] must be an object"))?;
            collect(&mut fields, &mut subs, "", props)?;
        }
        self.fields = fields;
        self.subfields = subs;
        for (k, val) in body {
            if k == "properties" {
                let props = self.root.entry("properties").or_insert_with(|| json!({}));
                deep_merge(props, val);
            } else {
                self.root.insert(k.clone(), val.clone());
            }
        }
        Ok(())
    }

    pub fn get(&self, path: &str) -> Option<&'static str> {
        self.fields.get(path).map(Field::family)
    }

    pub fn field(&self, path: &str) -> Option<&Field> {
        self.fields.get(path)
    }

    /// The fields by path, in path order.
    pub fn fields(&self) -> impl Iterator<Item = (&String, &Field)> {
        let mut all: Vec<_> = self.fields.iter().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }

    /// What `index.mapping.total_fields.limit` counts: every field and object mapper and every
    /// multi-field (metadata fields are not in the mapping).
    pub fn total_fields(&self) -> usize {
        self.fields.len() + self.subfields.len()
    }

    /// Elasticsearch's refusal when this mapping has more fields than `limit`; `before`: the
    /// count before dynamic mapping grew it (the error then says by how much).
    pub fn check_total_fields(&self, limit: usize, before: Option<usize>) -> Result<(), EsError> {
        let n = self.total_fields();
        if n <= limit {
            return Ok(());
        }
        let adding = before.map_or(String::new(), |b| {
            format!(" while adding new fields [{}]", n.saturating_sub(b))
        });
        Err(EsError::bad_request(
            "illegal_argument_exception",
            format!("Limit of total fields [{limit}] has been exceeded{adding}"),
        ))
    }

    pub fn contains(&self, path: &str) -> bool {
        self.fields.contains_key(path) || self.subfields.contains_key(path)
    }

    /// The field whose values `path` indexes: a multi-field's parent, or itself.
    pub fn resolve<'a>(&'a self, path: &'a str) -> &'a str {
        self.subfields.get(path).map_or(path, String::as_str)
    }

    /// `dynamic` of the root: `true`, `false` or `strict`.
    fn dynamic(&self) -> &str {
        match self.root.get("dynamic") {
            Some(Value::Bool(false)) => "false",
            Some(Value::String(s)) => s.as_str(),
            _ => "true",
        }
    }

    /// `GET /{index}/_mapping` body for one index.
    pub fn to_json(&self) -> Value {
        Value::Object(self.root.clone())
    }

    /// Adds a dynamically detected field.
    fn add(&mut self, path: &str, t: &str) {
        self.fields.insert(
            path.to_string(),
            Field {
                ty: t.to_string(),
                ignore_above: (t == "text").then_some(256),
                formats: Vec::new(),
                ignore_malformed: false,
                fam: family(t),
            },
        );
        if t == "text" {
            // The `keyword` multi-field `to_json` shows, as a reloaded mapping has it.
            self.subfields
                .insert(format!("{path}.keyword"), path.to_string());
        }
        let parts: Vec<&str> = path.split('.').collect();
        let props = self.root.entry("properties").or_insert_with(|| json!({}));
        if let Some(p) = props.as_object_mut() {
            insert_path(p, &parts, t);
        }
    }

    /// Whether the document has a field the mapping lacks (the common answer, no, allocates little).
    pub fn has_new(&self, prefix: &str, obj: &[(Cow<'_, str>, Json<'_>)]) -> bool {
        if self.dynamic() != "true" && self.dynamic() != "strict" {
            return false;
        }
        let mut path = String::with_capacity(64);
        obj.iter().any(|(k, v)| {
            path.clear();
            if !prefix.is_empty() {
                path.push_str(prefix);
                path.push('.');
            }
            path.push_str(k);
            // The lookup first: detecting a string's type tries to parse it as a date.
            (!self.fields.contains_key(&path) && detect(v).is_some())
                || match v {
                    Json::Object(o) => self.has_new(&path, o),
                    Json::Array(a) => a
                        .iter()
                        .filter_map(Json::as_object)
                        .any(|o| self.has_new(&path, o)),
                    _ => false,
                }
        })
    }

    /// Adds mappings for the document's new fields; returns whether anything was added. With
    /// `dynamic: strict` a new field is an error.
    pub fn learn(
        &mut self,
        prefix: &str,
        obj: &[(Cow<'_, str>, Json<'_>)],
    ) -> Result<bool, EsError> {
        let mut changed = false;
        for (k, v) in obj {
            let path = if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            };
            if let Some(t) = detect(v) {
                if !self.fields.contains_key(&path) {
                    match self.dynamic() {
                        "strict" => {
                            return Err(EsError::bad_request(
                                "strict_dynamic_mapping_exception",
                                format!("mapping set to strict, dynamic introduction of [{k}] within [{}] is not allowed", if prefix.is_empty() { "_doc" } else { prefix }),
                            ))
                        }
                        "true" => {
                            self.add(&path, t);
                            changed = true;
                        }
                        _ => continue,
                    }
                }
            }
            if self.get(&path) == Some("object") || !self.contains(&path) {
                let objects: Vec<&[(Cow<str>, Json)]> = match v {
                    Json::Object(o) => vec![o],
                    Json::Array(a) => a.iter().filter_map(Json::as_object).collect(),
                    _ => vec![],
                };
                for o in objects {
                    changed |= self.learn(&path, o)?;
                }
            }
        }
        Ok(changed)
    }

    /// The document as tantivy indexes it, typed by the mapping, in one walk written into `out`:
    /// the analysed-text view (text fields, and fields no mapping names) and the exact-value view
    /// (every field; keyword sub-fields honour `ignore_above`). A value its field's type cannot
    /// take is an error naming the field, unless the field has `ignore_malformed`. Returns
    /// whether dynamic mapping would add a field (the document must then be learned and built
    /// again), so the common document is walked once.
    pub fn views(&self, doc: &Json<'_>, out: &mut Views) -> Result<bool, EsError> {
        let mut walk = Walk {
            path: String::with_capacity(64),
            learns: matches!(self.dynamic(), "true" | "strict"),
            new: false,
        };
        self.views_at(&mut walk, doc, out)?;
        Ok(walk.new)
    }

    /// Writes the views of `v` into `out`; says which view holds it (text, exact).
    fn views_at(&self, walk: &mut Walk, v: &Json<'_>, out: &mut Views) -> Result<In, EsError> {
        let field = self.fields.get(walk.path.as_str());
        let family = field.map(Field::family);
        // As `has_new`: a value dynamic mapping would type, at a path the mapping lacks.
        if field.is_none() && walk.learns && !walk.new && !walk.path.is_empty() {
            walk.new = detect(v).is_some();
        }
        // Types the store keeps in `_source` only (geo points, binary, ranges...): the exact-value
        // view records that the field is there, for `exists`.
        if family == Some("other") {
            match v {
                Json::Null => return Ok((false, false)),
                Json::String(s) => out.scalar(Which::Exact, &View::Str(s)),
                other if out.building() => out.scalar(Which::Exact, &View::Text(other.to_string())),
                _ => {}
            }
            return Ok((false, true));
        }
        match v {
            Json::Null => Ok((false, false)),
            Json::Array(a) => {
                let at = out.open_both(Leaf::Array);
                for x in a {
                    self.views_at(walk, x, out)?;
                }
                out.close_both(at);
                Ok((true, true))
            }
            Json::Object(o) => {
                if family.is_some_and(|f| f != "object") {
                    return malformed(field, &walk.path, v);
                }
                let open = out.open_both(Leaf::Object);
                let len = walk.path.len();
                for (k, x) in o {
                    if len > 0 {
                        walk.path.push('.');
                    }
                    walk.path.push_str(k);
                    let at = out.marks();
                    let got = self.views_at(walk, x, out);
                    walk.path.truncate(len);
                    let (in_text, in_exact) = got?;
                    if out.building() && (in_text || in_exact) {
                        let key = out.span(k);
                        if in_text {
                            out.key(Which::Text, at.0, key);
                        }
                        if in_exact {
                            out.key(Which::Exact, at.1, key);
                        }
                    }
                }
                out.close_both(open);
                Ok((true, true))
            }
            scalar => match field {
                None => {
                    let x = match scalar {
                        Json::Bool(b) => View::Bool(*b),
                        Json::Number(n) => number(n),
                        Json::String(s) => View::Str(s.as_ref()),
                        _ => return Ok((false, false)),
                    };
                    // One leaf for both views: an escaped string is copied once.
                    if out.building() {
                        let leaf = out.leaf(&x);
                        out.open_both(leaf);
                    }
                    Ok((true, true))
                }
                Some(f) => {
                    let Ok(exact) = coerce(f, scalar, true) else {
                        return malformed(field, &walk.path, v);
                    };
                    let text = match family {
                        Some("text") => coerce(f, scalar, false).ok().flatten(),
                        _ => None,
                    };
                    if let Some(x) = &text {
                        out.scalar(Which::Text, x);
                    }
                    if let Some(x) = &exact {
                        out.scalar(Which::Exact, x);
                    }
                    Ok((text.is_some(), exact.is_some()))
                }
            },
        }
    }
}

/// Whether a value is in the (analysed text, exact values) views.
type In = (bool, bool);

struct Walk {
    path: String,
    /// Whether the mapping takes new fields (`dynamic` true or strict).
    learns: bool,
    new: bool,
}

fn malformed(f: Option<&Field>, path: &str, v: &Json) -> Result<In, EsError> {
    match f {
        Some(f) if f.ignore_malformed => Ok((false, false)),
        _ => Err(mapper_error(format!(
            "failed to parse field [{path}] of type [{}]. Preview of field's value: '{}'",
            f.map_or("object", |f| f.ty.as_str()),
            match v {
                Json::String(s) => s.to_string(),
                other => other.to_string(),
            }
        ))),
    }
}

fn number<'a>(n: &serde_json::Number) -> View<'a> {
    match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => View::I64(i),
        (None, Some(u), _) => View::U64(u),
        (_, _, f) => View::F64(f.unwrap_or(f64::NAN)),
    }
}

/// One scalar as its field's type wants it; `Err` when it cannot be.
fn coerce<'a>(f: &Field, v: &'a Json<'_>, keyword: bool) -> Result<Option<View<'a>>, ()> {
    let as_f64 = || match v {
        Json::Number(n) => n.as_f64().ok_or(()),
        Json::String(s) => s.trim().parse::<f64>().map_err(|_| ()),
        _ => Err(()),
    };
    Ok(Some(match f.family() {
        "text" | "keyword" => {
            // ES's default `ignore_above` on keyword sub-fields: longer values are not indexed.
            let too_long =
                |t: &str| keyword && f.ignore_above.is_some_and(|n| t.chars().count() > n);
            match v {
                Json::String(s) if too_long(s) => return Ok(None),
                Json::String(s) => View::Str(s.as_ref()),
                other => {
                    let t = other.to_string();
                    if too_long(&t) {
                        return Ok(None);
                    }
                    View::Text(t)
                }
            }
        }
        "long" => match v {
            Json::Number(n) if n.as_i64().is_some() => View::I64(n.as_i64().ok_or(())?),
            _ => {
                let x = as_f64()?;
                if !x.is_finite() || x.abs() > 9.2e18 {
                    return Err(());
                }
                View::I64(x.trunc() as i64)
            }
        },
        "unsigned_long" => match v {
            Json::Number(n) if n.as_u64().is_some() => View::U64(n.as_u64().ok_or(())?),
            Json::String(s) => View::U64(s.trim().parse::<u64>().map_err(|_| ())?),
            _ => return Err(()),
        },
        "float" => View::F64(as_f64()?),
        "boolean" => match v {
            Json::Bool(b) => View::Bool(*b),
            Json::String(s) if s.as_ref() == "true" => View::Bool(true),
            Json::String(s) if s.as_ref() == "false" || s.is_empty() => View::Bool(false),
            _ => return Err(()),
        },
        "date" => View::Date(date_with(v, &f.formats).ok_or(())?),
        "ip" => match v {
            Json::String(s) if s.parse::<std::net::IpAddr>().is_ok() => View::Str(s.as_ref()),
            _ => return Err(()),
        },
        // geo points, ranges, vectors...: kept in `_source`, not indexed.
        _ => return Ok(None),
    }))
}

/// A date value by the field's formats (default `strict_date_optional_time||epoch_millis`).
pub fn parse_date_with(v: &Value, formats: &[String]) -> Option<DateTime> {
    match v {
        Value::String(s) => date_with(&Json::String(Cow::Borrowed(s)), formats),
        Value::Number(n) => date_with(&Json::Number(n.clone()), formats),
        _ => None,
    }
}

fn date_with(v: &Json, formats: &[String]) -> Option<DateTime> {
    let defaults = [
        "strict_date_optional_time".to_string(),
        "epoch_millis".to_string(),
    ];
    let formats = if formats.is_empty() {
        &defaults[..]
    } else {
        formats
    };
    for f in formats {
        let got = match (f.as_str(), v) {
            ("epoch_millis", Json::Number(n)) => n
                .as_f64()
                .map(|ms| DateTime::from_timestamp_nanos((ms * 1e6) as i64)),
            ("epoch_millis", Json::String(s)) => s
                .parse::<f64>()
                .ok()
                .map(|ms| DateTime::from_timestamp_nanos((ms * 1e6) as i64)),
            ("epoch_second", Json::Number(n)) => n
                .as_f64()
                .map(|s| DateTime::from_timestamp_nanos((s * 1e9) as i64)),
            ("epoch_second", Json::String(s)) => s
                .parse::<f64>()
                .ok()
                .map(|s| DateTime::from_timestamp_nanos((s * 1e9) as i64)),
            (
                "strict_date_optional_time"
                | "date_optional_time"
                | "strict_date_optional_time_nanos"
                | "strict_date_time"
                | "date_time"
                | "iso8601",
                Json::String(s),
            ) => parse_date(s),
            (pattern, Json::String(s)) if !pattern.starts_with("epoch") => {
                rstash_timefmt::Parser::java(pattern).ok().and_then(|p| {
                    p.parse(s, &jiff::tz::TimeZone::UTC, jiff::Timestamp::now())
                        .ok()
                        .map(|ts| DateTime::from_timestamp_nanos(ts.as_nanosecond() as i64))
                })
            }
            _ => None,
        };
        if got.is_some() {
            return got;
        }
    }
    None
}

/// Leaf fields of a `properties` object into `out`, validated.
fn collect(
    out: &mut FieldMap,
    subs: &mut BTreeMap<String, String>,
    prefix: &str,
    props: &Map<String, Value>,
) -> Result<(), EsError> {
    for (name, spec) in props {
        if name.trim().is_empty() {
            return Err(EsError::bad_request(
                "illegal_argument_exception",
                "field name cannot be an empty string",
            ));
        }
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let spec = spec.as_object().ok_or_else(|| {
            mapper_error(format!(
                "Expected map for property [fields] on field [{name}] but got a {}",
                if spec.is_string() {
                    "class java.lang.String"
                } else {
                    "value"
                }
            ))
        })?;
        let ty = match spec.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(_) => {
                return Err(mapper_error(format!(
                    "No type specified for field [{name}]"
                )))
            }
            None if spec.contains_key("properties") || spec.is_empty() => "object".to_string(),
            None => "object".to_string(),
        };
        if !KNOWN.contains(&ty.as_str()) {
            return Err(mapper_error(format!(
                "No handler for type [{ty}] declared on field [{name}]"
            )));
        }
        let formats = spec
            .get("format")
            .and_then(Value::as_str)
            .map(|f| f.split("||").map(str::to_string).collect())
            .unwrap_or_default();
        let ignore_above = match family(&ty) {
            "keyword" => spec.get("ignore_above").and_then(Value::as_u64),
            "text" => spec
                .get("fields")
                .and_then(|f| f.get("keyword"))
                .and_then(|k| k.get("ignore_above"))
                .and_then(Value::as_u64),
            _ => None,
        }
        .map(|n| n as usize);
        if let Some(prev) = out.get(&path) {
            if prev.ty != ty && !(family(&prev.ty) == "object" && family(&ty) == "object") {
                return Err(EsError::bad_request(
                    "illegal_argument_exception",
                    format!(
                        "mapper [{path}] cannot be changed from type [{}] to [{ty}]",
                        prev.ty
                    ),
                ));
            }
        }
        let ignore_malformed = spec
            .get("ignore_malformed")
            .map(|v| v == &json!(true) || v == "true")
            .unwrap_or(false);
        out.insert(
            path.clone(),
            Field {
                fam: family(&ty),
                ty,
                ignore_above,
                formats,
                ignore_malformed,
            },
        );
        if let Some(p) = spec.get("properties").and_then(Value::as_object) {
            collect(out, subs, &path, p)?;
        }
        if let Some(multi) = spec.get("fields").and_then(Value::as_object) {
            for (sub, sub_spec) in multi {
                let t = sub_spec
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("text");
                if !KNOWN.contains(&t) {
                    return Err(mapper_error(format!(
                        "No handler for type [{t}] declared on field [{sub}]"
                    )));
                }
                subs.insert(format!("{path}.{sub}"), path.clone());
            }
        }
    }
    Ok(())
}

fn deep_merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(x) if x.is_object() && v.is_object() => deep_merge(x, v),
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// ES `strict_date_optional_time`: `yyyy-MM-dd` with optional time and zone.
pub fn parse_date(s: &str) -> Option<DateTime> {
    let b = s.as_bytes();
    if b.len() < 4 || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    // `yyyy` and `yyyy-MM`, as strict_date_optional_time allows.
    if b.len() == 4 || (b.len() == 7 && b[4] == b'-' && b[5..].iter().all(u8::is_ascii_digit)) {
        let year: i16 = s[..4].parse().ok()?;
        let month: i8 = if b.len() == 7 {
            s[5..].parse().ok()?
        } else {
            1
        };
        let d = jiff::civil::date(year, month.clamp(1, 12), 1);
        let ts = d
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp();
        return Some(DateTime::from_timestamp_nanos(ts.as_nanosecond() as i64));
    }
    if s.len() < 10 || b[4] != b'-' {
        return None;
    }
    let ts = s
        .parse::<jiff::Timestamp>()
        .ok()
        .or_else(|| {
            s.parse::<jiff::civil::DateTime>()
                .ok()
                .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
                .map(|z| z.timestamp())
        })
        .or_else(|| {
            s.parse::<jiff::civil::Date>()
                .ok()
                .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
                .map(|z| z.timestamp())
        })?;
    Some(DateTime::from_timestamp_nanos(ts.as_nanosecond() as i64))
}

fn detect(v: &Json) -> Option<&'static str> {
    Some(match v {
        // Dynamic detection wants a full date (`yyyy-MM-dd...`), not a bare year.
        Json::String(s) if s.len() >= 10 && parse_date(s).is_some() => "date",
        Json::String(_) => "text",
        Json::Number(n) if n.is_i64() || n.is_u64() => "long",
        Json::Number(_) => "float",
        Json::Bool(_) => "boolean",
        Json::Object(_) => "object",
        Json::Array(a) => return a.iter().find(|x| !x.is_null()).and_then(detect),
        Json::Null => return None,
    })
}

fn insert_path(props: &mut Map<String, Value>, parts: &[&str], t: &str) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    let entry = props.entry(first.to_string()).or_insert_with(|| json!({}));
    let Some(obj) = entry.as_object_mut() else {
        return;
    };
    if rest.is_empty() {
        match t {
            "object" => {
                obj.entry("properties").or_insert_with(|| json!({}));
            }
            "text" => {
                obj.insert("type".into(), json!("text"));
                obj.insert(
                    "fields".into(),
                    json!({"keyword": {"type": "keyword", "ignore_above": 256}}),
                );
            }
            other => {
                obj.insert("type".into(), json!(other));
            }
        }
        return;
    }
    if let Some(p) = obj
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        insert_path(p, rest, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::Node;

    fn walk(path: &str) -> Walk {
        Walk {
            path: path.to_string(),
            learns: true,
            new: false,
        }
    }

    #[test]
    fn detects_types() {
        let mut m = Mapping::new();
        let doc = json!({"@timestamp": "2024-05-01T12:00:00.000Z", "response": 200, "bytes": 1.5, "ok": true, "path": "/x", "http": {"method": "GET"}});
        assert!(m.learn("", Json::from(&doc).as_object().unwrap()).unwrap());
        assert_eq!(m.get("@timestamp"), Some("date"));
        assert_eq!(m.get("response"), Some("long"));
        assert_eq!(m.get("bytes"), Some("float"));
        assert_eq!(m.get("path"), Some("text"));
        assert_eq!(m.get("http.method"), Some("text"));
        assert!(!m.learn("", Json::from(&doc).as_object().unwrap()).unwrap());
        let j = m.to_json();
        assert_eq!(
            j["properties"]["http"]["properties"]["method"]["type"],
            "text"
        );
        assert_eq!(
            j["properties"]["path"]["fields"]["keyword"]["type"],
            "keyword"
        );
    }

    #[test]
    fn explicit_types_coerce_or_refuse() {
        let m = Mapping::from_json(&json!({"properties": {
            "n": {"type": "integer"},
            "d": {"type": "date", "format": "yyyy-MM-dd HH:mm:ss.SSS"},
            "k": {"type": "keyword", "ignore_above": 3},
            "q": {"type": "long", "ignore_malformed": true}
        }}))
        .unwrap();
        let exact = |path: &str, v: Value| {
            let mut out = Views::new("", true);
            m.views_at(&mut walk(path), &Json::from(&v), &mut out)
                .map(|(_, e)| e.then(|| format!("{:?}", out.exact[0].v)))
        };
        assert_eq!(exact("n", json!("12")).unwrap().as_deref(), Some("I64(12)"));
        let e = exact("n", json!("abc")).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(exact("q", json!("abc")).unwrap().is_none());
        let d = json!("2019-10-21 08:30:04.828");
        let mut out = Views::new("", true);
        let got = m.views_at(&mut walk("d"), &Json::from(&d), &mut out);
        match (got, out.text.as_slice(), out.exact.as_slice()) {
            (
                Ok((false, true)),
                [],
                [Node {
                    v: Leaf::Date(d), ..
                }],
            ) => {
                assert_eq!(d.into_timestamp_millis(), 1571646604828)
            }
            other => panic!("{other:?}"),
        }
        assert!(exact("k", json!("long")).unwrap().is_none());
        assert!(Mapping::from_json(&json!({"properties": {"x": {"type": "nope"}}})).is_err());
        let mut m2 = m.clone();
        assert!(m2
            .merge(&json!({"properties": {"n": {"type": "text"}}}))
            .is_err());
    }

    #[test]
    fn strict_refuses_new_fields() {
        let mut m = Mapping::from_json(
            &json!({"dynamic": "strict", "properties": {"a": {"type": "keyword"}}}),
        )
        .unwrap();
        let (a, b) = (json!({"a": "x"}), json!({"b": "x"}));
        assert!(m.learn("", Json::from(&a).as_object().unwrap()).is_ok());
        assert!(m.learn("", Json::from(&b).as_object().unwrap()).is_err());
    }
}
