//! Typed access to a plugin's options, with Logstash's coercions and errors that point at the option.
//! The options given are checked against the plugin's declaration (`options.rs`) before it is built.

use std::collections::HashSet;

use indexmap::IndexMap;
use rstash_config::ast::{self, Number, Span};
use rstash_config::{env, ConfigError, Source};
use rstash_event::{Event, FieldRef, Template, Value};

use crate::options::{self, Options, Status};
use crate::plugin::{Codec, Ecs, PipelineSettings};
use crate::registry::Registry;

/// An option value after `${VAR}` substitution.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfValue {
    Str(String),
    Int(i64),
    Float(f64),
    Array(Vec<ConfValue>),
    Hash(IndexMap<String, ConfValue>),
    Plugin(ast::Plugin),
}

impl ConfValue {
    pub fn text(&self) -> Option<String> {
        match self {
            ConfValue::Str(s) => Some(s.clone()),
            ConfValue::Int(i) => Some(i.to_string()),
            ConfValue::Float(f) => Some(f.to_string()),
            _ => None,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            ConfValue::Str(_) => "a string",
            ConfValue::Int(_) | ConfValue::Float(_) => "a number",
            ConfValue::Array(_) => "an array",
            ConfValue::Hash(_) => "a hash",
            ConfValue::Plugin(_) => "a plugin",
        }
    }

    /// As an event value (strings stay strings, numbers stay numbers).
    pub fn to_value(&self) -> Value {
        match self {
            ConfValue::Str(s) => Value::String(s.as_str().into()),
            ConfValue::Int(i) => Value::Int(*i),
            ConfValue::Float(f) => Value::Float(*f),
            ConfValue::Array(a) => Value::Array(a.iter().map(ConfValue::to_value).collect()),
            ConfValue::Hash(h) => Value::Object(
                h.iter()
                    .map(|(k, v)| (k.as_str().into(), v.to_value()))
                    .collect(),
            ),
            ConfValue::Plugin(p) => Value::String(p.name.as_str().into()),
        }
    }
}

pub struct Args<'a> {
    plugin: &'a ast::Plugin,
    src: &'a Source,
    kind: &'static str,
    options: IndexMap<String, (Span, ConfValue)>,
    declared: Options,
    /// Names the plugin read without declaring them: a bug of the plugin, reported by `finish`.
    undeclared: std::cell::RefCell<HashSet<String>>,
    pub registry: &'a Registry,
    pub settings: &'a PipelineSettings,
}

fn convert(v: &ast::Value, src: &Source) -> Result<ConfValue, ConfigError> {
    let sub = |s: &str, span: Span| {
        env::substitute(s)
            .map(|c| c.into_owned())
            .map_err(|e| ConfigError::at(src.locate(span.start), e))
    };
    Ok(match v {
        ast::Value::String { text, span, .. } | ast::Value::Bareword { text, span } => {
            ConfValue::Str(sub(text, *span)?)
        }
        ast::Value::Number {
            value: Number::Int(i),
            ..
        } => ConfValue::Int(*i),
        ast::Value::Number {
            value: Number::Float(f),
            ..
        } => ConfValue::Float(*f),
        ast::Value::Array { items, .. } => ConfValue::Array(
            items
                .iter()
                .map(|i| convert(i, src))
                .collect::<Result<_, _>>()?,
        ),
        ast::Value::Hash { entries, .. } => {
            let mut h = IndexMap::new();
            for (k, v) in entries {
                let key = sub(k.as_text().unwrap_or_default(), k.span())?;
                h.insert(key, convert(v, src)?);
            }
            ConfValue::Hash(h)
        }
        ast::Value::Plugin(p) => ConfValue::Plugin(p.clone()),
    })
}

/// Repeated options: hashes merge, arrays concatenate, scalars become `[first, second]`.
fn merge(old: ConfValue, new: ConfValue) -> ConfValue {
    match (old, new) {
        (ConfValue::Hash(mut a), ConfValue::Hash(b)) => {
            a.extend(b);
            ConfValue::Hash(a)
        }
        (ConfValue::Array(mut a), ConfValue::Array(b)) => {
            a.extend(b);
            ConfValue::Array(a)
        }
        (ConfValue::Array(mut a), b) => {
            a.push(b);
            ConfValue::Array(a)
        }
        (a, b) => ConfValue::Array(vec![a, b]),
    }
}

impl<'a> Args<'a> {
    /// The plugin's options, checked against its declaration: unknown names, obsolete ones,
    /// required ones missing and values of the wrong type are errors; deprecated and ignored
    /// ones are warned about.
    pub fn new(
        plugin: &'a ast::Plugin,
        kind: &'static str,
        declared: Options,
        src: &'a Source,
        registry: &'a Registry,
        settings: &'a PipelineSettings,
    ) -> Result<Args<'a>, ConfigError> {
        let mut options: IndexMap<String, (Span, ConfValue)> = IndexMap::new();
        for a in &plugin.attributes {
            let v = convert(&a.value, src)?;
            let merged = match options.shift_remove(&a.name) {
                Some((span, old)) => (span, merge(old, v)),
                None => (a.span, v),
            };
            options.insert(a.name.clone(), merged);
        }
        let args = Args {
            plugin,
            src,
            kind,
            options,
            declared,
            undeclared: Default::default(),
            registry,
            settings,
        };
        args.check()?;
        Ok(args)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let (kind, plugin) = (self.kind, &self.plugin.name);
        for (name, (span, value)) in &self.options {
            let at = || self.src.locate(span.start);
            let Some(o) = options::find(self.declared, kind, name) else {
                return Err(ConfigError::at(
                    at(),
                    format!("unknown option `{name}` for {kind} plugin `{plugin}`"),
                ));
            };
            match o.status {
                Status::Obsolete(why) => {
                    return Err(ConfigError::at(
                        at(),
                        format!("option `{name}` of {kind} plugin `{plugin}` is obsolete: {why}"),
                    ))
                }
                Status::Deprecated(why) => {
                    tracing::warn!(
                        "{}: option `{name}` of {kind} plugin `{plugin}` is deprecated: {why}",
                        at()
                    )
                }
                Status::Ignored(why) => {
                    tracing::warn!("{}: option `{name}` of {kind} plugin `{plugin}` has no effect in rstash: {why}", at())
                }
                Status::Current => {}
            }
            if !o.ty.accepts(value) {
                return Err(match (o.ty, value.text()) {
                    (options::Ty::Choice(c), Some(v)) => self.error_at(
                        name,
                        format!("option `{name}` must be one of {}, got `{v}`", c.join(", ")),
                    ),
                    _ => self.type_error(name, &o.ty.expected(), value),
                });
            }
        }
        for table in self.declared {
            for o in table.iter().filter(|o| o.required) {
                if !self.options.contains_key(o.name) {
                    return Err(self.error(format!(
                        "{plugin} {kind} needs `{}` ({})",
                        o.name,
                        o.ty.label()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The plugin's `id =>`, or the stable id generated from where it sits in the config.
    pub fn plugin_id(&mut self) -> Result<String, ConfigError> {
        Ok(self.string("id")?.unwrap_or_else(|| {
            crate::metrics::generated_id(
                &self.settings.id,
                self.kind,
                self.plugin.span.start,
                &self.plugin.name,
            )
        }))
    }

    pub fn plugin_name(&self) -> &str {
        &self.plugin.name
    }

    /// An error at the plugin's name.
    pub fn error(&self, msg: impl Into<String>) -> ConfigError {
        ConfigError::at(self.src.locate(self.plugin.span.start), msg.into())
    }

    /// An error at the option.
    pub fn error_at(&self, name: &str, msg: impl Into<String>) -> ConfigError {
        let at = self
            .options
            .get(name)
            .map(|(s, _)| s.start)
            .unwrap_or(self.plugin.span.start);
        ConfigError::at(self.src.locate(at), msg.into())
    }

    /// A resource the option names (a file, a directory, a database) that is not usable here:
    /// the pipeline refuses to start, `-t` only warns (see `ConfigError::unavailable`).
    pub fn unavailable(&self, name: &str, msg: impl Into<String>) -> ConfigError {
        ConfigError {
            unavailable: true,
            ..self.error_at(name, msg)
        }
    }

    fn type_error(&self, name: &str, expected: &str, got: &ConfValue) -> ConfigError {
        self.error_at(
            name,
            format!(
                "option `{name}` of {} `{}` must be {expected}, got {}",
                self.kind,
                self.plugin.name,
                got.type_name()
            ),
        )
    }

    pub fn has(&self, name: &str) -> bool {
        self.note(name);
        self.options.contains_key(name)
    }

    /// The raw value.
    pub fn raw(&mut self, name: &str) -> Option<ConfValue> {
        self.note(name);
        self.options.get(name).map(|(_, v)| v.clone())
    }

    fn note(&self, name: &str) {
        if options::find(self.declared, self.kind, name).is_none() {
            self.undeclared.borrow_mut().insert(name.to_string());
        }
    }

    pub fn string(&mut self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.raw(name) {
            None => Ok(None),
            Some(ConfValue::Array(a)) if a.len() == 1 && a[0].text().is_some() => Ok(a[0].text()),
            Some(v) => v
                .text()
                .map(Some)
                .ok_or_else(|| self.type_error(name, "a string", &v)),
        }
    }

    pub fn string_or(&mut self, name: &str, default: &str) -> Result<String, ConfigError> {
        Ok(self.string(name)?.unwrap_or_else(|| default.to_string()))
    }

    /// One of `choices`.
    pub fn choice(
        &mut self,
        name: &str,
        choices: &[&str],
        default: &str,
    ) -> Result<String, ConfigError> {
        let v = self.string_or(name, default)?;
        if choices.contains(&v.as_str()) {
            Ok(v)
        } else {
            Err(self.error_at(
                name,
                format!(
                    "option `{name}` must be one of {}, got `{v}`",
                    choices.join(", ")
                ),
            ))
        }
    }

    pub fn bool(&mut self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.string(name)?.as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(self.error_at(
                name,
                format!("option `{name}` must be true or false, got `{other}`"),
            )),
        }
    }

    pub fn number(&mut self, name: &str) -> Result<Option<f64>, ConfigError> {
        match self.raw(name) {
            None => Ok(None),
            Some(ConfValue::Int(i)) => Ok(Some(i as f64)),
            Some(ConfValue::Float(f)) => Ok(Some(f)),
            Some(ConfValue::Str(s)) if s.trim().parse::<f64>().is_ok() => Ok(s.trim().parse().ok()),
            Some(v) => Err(self.type_error(name, "a number", &v)),
        }
    }

    pub fn int(&mut self, name: &str, default: i64) -> Result<i64, ConfigError> {
        match self.raw(name) {
            None => Ok(default),
            Some(ConfValue::Int(i)) => Ok(i),
            Some(ConfValue::Str(s)) if s.trim().parse::<i64>().is_ok() => {
                Ok(s.trim().parse().unwrap_or(default))
            }
            Some(v) => Err(self.type_error(name, "a whole number", &v)),
        }
    }

    /// A list of strings; a single value is wrapped.
    pub fn strings(&mut self, name: &str) -> Result<Vec<String>, ConfigError> {
        match self.raw(name) {
            None => Ok(Vec::new()),
            Some(ConfValue::Array(a)) => a
                .iter()
                .map(|v| {
                    v.text()
                        .ok_or_else(|| self.type_error(name, "a list of strings", v))
                })
                .collect(),
            Some(v) => v
                .text()
                .map(|s| vec![s])
                .ok_or_else(|| self.type_error(name, "a list of strings", &v)),
        }
    }

    /// A hash; the old `["k", "v", "k2", "v2"]` pair form is accepted, as Logstash does.
    pub fn hash(&mut self, name: &str) -> Result<Vec<(String, ConfValue)>, ConfigError> {
        match self.raw(name) {
            None => Ok(Vec::new()),
            Some(ConfValue::Hash(h)) => Ok(h.into_iter().collect()),
            Some(ConfValue::Array(a))
                if a.len() % 2 == 0 && a.iter().all(|v| v.text().is_some()) =>
            {
                Ok(a.chunks(2)
                    .map(|p| (p[0].text().unwrap_or_default(), p[1].clone()))
                    .collect())
            }
            Some(v) => Err(self.type_error(name, "a hash like { \"key\" => \"value\" }", &v)),
        }
    }

    /// A hash whose values are strings.
    pub fn string_hash(&mut self, name: &str) -> Result<Vec<(String, String)>, ConfigError> {
        let h = self.hash(name)?;
        h.into_iter()
            .map(|(k, v)| match v.text() {
                Some(t) => Ok((k, t)),
                None => Err(self.type_error(name, "a hash of strings", &v)),
            })
            .collect()
    }

    pub fn template(&mut self, name: &str) -> Result<Option<Template>, ConfigError> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) => self.make_template(name, &s).map(Some),
        }
    }

    pub fn make_template(&self, name: &str, s: &str) -> Result<Template, ConfigError> {
        Template::parse(s).map_err(|e| self.error_at(name, format!("option `{name}`: {e}")))
    }

    pub fn field(&mut self, name: &str) -> Result<Option<FieldRef>, ConfigError> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) => self.make_field(name, &s).map(Some),
        }
    }

    pub fn make_field(&self, name: &str, s: &str) -> Result<FieldRef, ConfigError> {
        FieldRef::parse(s).map_err(|e| self.error_at(name, format!("option `{name}`: {e}")))
    }

    /// The plugin's `ecs_compatibility`, else the pipeline's.
    pub fn ecs(&mut self) -> Result<Ecs, ConfigError> {
        match self.string("ecs_compatibility")? {
            None => Ok(self.settings.ecs),
            Some(s) => Ecs::parse(&s).ok_or_else(|| {
                self.error_at(
                    "ecs_compatibility",
                    format!("ecs_compatibility must be disabled, v1 or v8, got `{s}`"),
                )
            }),
        }
    }

    /// `codec => name` or `codec => name { ... }`, else `default`.
    pub fn codec(&mut self, default: &str) -> Result<Box<dyn Codec>, ConfigError> {
        let at = self
            .options
            .get("codec")
            .map(|(s, _)| s.start)
            .unwrap_or(self.plugin.span.start);
        let owned;
        let plugin = match self.raw("codec") {
            None => {
                owned = ast::Plugin {
                    name: default.to_string(),
                    span: self.plugin.span,
                    attributes: vec![],
                };
                &owned
            }
            Some(ConfValue::Plugin(p)) => {
                owned = p;
                &owned
            }
            Some(ConfValue::Str(name)) => {
                owned = ast::Plugin {
                    name,
                    span: Span { start: at, end: at },
                    attributes: vec![],
                };
                &owned
            }
            Some(v) => return Err(self.type_error("codec", "a codec name", &v)),
        };
        self.registry.build_codec(plugin, self.src, self.settings)
    }

    /// A codec by name with its defaults, reported at option `option` if unknown (the http
    /// input's `additional_codecs`).
    pub fn codec_named(&self, option: &str, name: &str) -> Result<Box<dyn Codec>, ConfigError> {
        let at = self
            .options
            .get(option)
            .map(|(s, _)| s.start)
            .unwrap_or(self.plugin.span.start);
        let plugin = ast::Plugin {
            name: name.to_string(),
            span: Span { start: at, end: at },
            attributes: vec![],
        };
        self.registry.build_codec(&plugin, self.src, self.settings)
    }

    /// Reports an option the plugin read without declaring it (a user could never set it): a
    /// plugin bug, which debug builds (the tests) refuse. Call last.
    pub fn finish(self) -> Result<(), ConfigError> {
        if !cfg!(debug_assertions) {
            return Ok(());
        }
        let undeclared = self.undeclared.borrow();
        let mut names: Vec<_> = undeclared.iter().map(String::as_str).collect();
        names.sort_unstable();
        match names.first() {
            None => Ok(()),
            Some(_) => Err(self.error(format!(
                "internal error: {} plugin `{}` reads options it does not declare: {}",
                self.kind,
                self.plugin.name,
                names.join(", ")
            ))),
        }
    }
}

/// `add_field` semantics: key and value through sprintf; an existing field becomes an array.
/// Err: the key is not a valid field reference (nothing is added).
pub fn add_field(e: &mut Event, k: &Template, v: &Template) -> Result<(), String> {
    let key = k.render(e).into_owned();
    let val = Value::String(v.render(e).into_owned().into());
    let r = FieldRef::parse(&key).map_err(|x| format!("add_field `{key}`: {}", x.0))?;
    match e.get_mut(&r) {
        Some(Value::Array(a)) => a.push(val),
        Some(existing) => {
            let old = std::mem::replace(existing, Value::Null);
            *existing = Value::Array(vec![old, val]);
        }
        None => {
            let _ = e.set(&r, val);
        }
    }
    Ok(())
}
