//! `LogStash::Event` and `LogStash::Timestamp` for Ruby code, backed by rstash's own event so
//! that field references, `set` and `tag` behave exactly as in the rest of the pipeline.

use std::cell::RefCell;

use magnus::{
    function, method, prelude::*, r_hash::ForEach, scan_args::scan_args, typed_data::Obj, Error,
    Float, Integer, RArray, RClass, RHash, RString, Ruby, Symbol, TryConvert, Value,
};
use rstash_event::{Event, FieldRef, Map, Template, Timestamp};

type RValue = rstash_event::Value;

#[magnus::wrap(class = "LogStash::Event", free_immediately, size)]
pub struct RbEvent(pub RefCell<Event>);

#[magnus::wrap(class = "LogStash::Timestamp", free_immediately, size)]
pub struct RbTimestamp(pub Timestamp);

pub fn define(ruby: &Ruby) -> Result<(), Error> {
    let ls = ruby.define_module("LogStash")?;
    let ev = ls.define_class("Event", ruby.class_object())?;
    ev.undef_default_alloc_func();
    ev.define_singleton_method("new", function!(event_new, -1))?;
    ev.define_method("get", method!(RbEvent::get, 1))?;
    ev.define_method("set", method!(RbEvent::set, 2))?;
    ev.define_method("remove", method!(RbEvent::remove, 1))?;
    ev.define_method("include?", method!(RbEvent::include, 1))?;
    ev.define_method("tag", method!(RbEvent::tag, 1))?;
    ev.define_method("cancel", method!(RbEvent::cancel, 0))?;
    ev.define_method("uncancel", method!(RbEvent::uncancel, 0))?;
    ev.define_method("cancelled?", method!(RbEvent::cancelled, 0))?;
    ev.define_method("to_hash", method!(RbEvent::to_hash, 0))?;
    ev.define_method("to_hash_with_metadata", method!(RbEvent::to_hash_meta, 0))?;
    ev.define_method("__to_json", method!(RbEvent::to_json, 0))?;
    ev.define_method("to_s", method!(RbEvent::to_s, 0))?;
    ev.define_method("clone", method!(RbEvent::clone, 0))?;
    ev.define_method("dup", method!(RbEvent::clone, 0))?;
    ev.define_method("timestamp", method!(RbEvent::timestamp, 0))?;
    ev.define_method("timestamp=", method!(RbEvent::set_timestamp, 1))?;
    ev.define_method("sprintf", method!(RbEvent::sprintf, 1))?;
    ev.define_method("append", method!(RbEvent::append, 1))?;
    let ts = ls.define_class("Timestamp", ruby.class_object())?;
    ts.undef_default_alloc_func();
    ts.define_singleton_method("at_nanos", function!(ts_at_nanos, 1))?;
    ts.define_singleton_method("parse_iso8601", function!(ts_parse, 1))?;
    ts.define_method("nanos", method!(RbTimestamp::nanos, 0))?;
    ts.define_method("to_s", method!(RbTimestamp::to_s, 0))?;
    Ok(())
}

fn event_new(ruby: &Ruby, args: &[Value]) -> Result<RbEvent, Error> {
    let args = scan_args::<(), (Option<Value>,), (), (), (), ()>(args)?;
    let event = match args.optional.0 {
        None => Event::new(),
        Some(v) if v.is_nil() => Event::new(),
        Some(v) => {
            let hash = RHash::try_convert(v)?;
            Event::from_map(to_map(ruby, hash)?)
        }
    };
    Ok(RbEvent(RefCell::new(event)))
}

fn ts_at_nanos(ruby: &Ruby, n: Integer) -> Result<RbTimestamp, Error> {
    let n = n.to_i128()?;
    jiff::Timestamp::from_nanosecond(n)
        .map(|t| RbTimestamp(Timestamp(t)))
        .map_err(|e| Error::new(ruby.exception_range_error(), e.to_string()))
}

fn ts_parse(ruby: &Ruby, s: String) -> Result<RbTimestamp, Error> {
    Timestamp::parse_lenient(&s)
        .map(RbTimestamp)
        .ok_or_else(|| {
            Error::new(
                ruby.exception_arg_error(),
                format!("invalid timestamp: {s}"),
            )
        })
}

impl RbTimestamp {
    fn nanos(&self) -> i128 {
        self.0 .0.as_nanosecond()
    }

    fn to_s(&self) -> String {
        self.0.to_iso()
    }
}

fn field(ruby: &Ruby, s: &str) -> Result<FieldRef, Error> {
    FieldRef::parse(s).map_err(|_| {
        Error::new(
            ruby.exception_runtime_error(),
            format!("Invalid FieldReference: `{s}`"),
        )
    })
}

/// Field names may be given as strings or symbols.
fn name(v: Value) -> Result<String, Error> {
    match Symbol::from_value(v) {
        Some(s) => Ok(s.name()?.into_owned()),
        None => String::try_convert(v),
    }
}

impl RbEvent {
    fn get(ruby: &Ruby, rb_self: &Self, f: Value) -> Result<Value, Error> {
        let r = field(ruby, &name(f)?)?;
        let e = rb_self.0.borrow();
        match e.get_value(&r) {
            Some(v) => to_ruby(ruby, &v),
            None => Ok(ruby.qnil().as_value()),
        }
    }

    fn set(ruby: &Ruby, rb_self: &Self, f: Value, v: Value) -> Result<Value, Error> {
        let r = field(ruby, &name(f)?)?;
        let value = to_value(ruby, v)?;
        if r.is_top("@timestamp") && !matches!(value, RValue::Timestamp(_)) {
            return Err(Error::new(
                ruby.exception_type_error(),
                "wrong argument type (expected LogStash::Timestamp)",
            ));
        }
        rb_self
            .0
            .borrow_mut()
            .set(&r, value)
            .map_err(|e| Error::new(ruby.exception_runtime_error(), e.to_string()))?;
        Ok(v)
    }

    fn remove(ruby: &Ruby, rb_self: &Self, f: Value) -> Result<Value, Error> {
        let r = field(ruby, &name(f)?)?;
        let old = rb_self.0.borrow_mut().remove(&r);
        match old {
            Some(v) => to_ruby(ruby, &v),
            None => Ok(ruby.qnil().as_value()),
        }
    }

    fn include(ruby: &Ruby, rb_self: &Self, f: Value) -> Result<bool, Error> {
        let r = field(ruby, &name(f)?)?;
        Ok(rb_self.0.borrow().includes(&r))
    }

    fn tag(&self, t: String) {
        self.0.borrow_mut().tag(&t);
    }

    fn cancel(&self) {
        self.0.borrow_mut().cancel();
    }

    fn uncancel(&self) {
        let mut e = self.0.borrow_mut();
        let (data, meta) = (e.data().clone(), e.metadata().clone());
        *e = Event::from_parts(data, meta);
    }

    fn cancelled(&self) -> bool {
        self.0.borrow().is_cancelled()
    }

    fn to_hash(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        map_to_ruby(ruby, rb_self.0.borrow().data())
    }

    fn to_hash_meta(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let e = rb_self.0.borrow();
        let h = map_to_ruby(ruby, e.data())?;
        if !e.metadata().is_empty() {
            h.aset("@metadata", map_to_ruby(ruby, e.metadata())?)?;
        }
        Ok(h)
    }

    fn to_json(&self) -> String {
        rstash_event::json::event_to_string(&self.0.borrow())
    }

    /// Java Event#toString: timestamp, host and message.
    fn to_s(&self) -> String {
        let e = self.0.borrow();
        let part = |k: &str| {
            e.data()
                .get(k)
                .map(|v| v.to_ruby_string())
                .unwrap_or_else(|| format!("%{{{k}}}"))
        };
        let ts = e.timestamp().map(|t| t.to_iso()).unwrap_or_default();
        format!("{ts} {} {}", part("host"), part("message"))
    }

    fn clone(&self) -> RbEvent {
        let e = self.0.borrow();
        let copy = Event::from_parts(e.data().clone(), e.metadata().clone());
        RbEvent(RefCell::new(copy))
    }

    fn timestamp(&self) -> Option<RbTimestamp> {
        self.0.borrow().timestamp().map(RbTimestamp)
    }

    fn set_timestamp(&self, t: &RbTimestamp) {
        self.0.borrow_mut().set_timestamp(t.0);
    }

    fn sprintf(ruby: &Ruby, rb_self: &Self, fmt: String) -> Result<String, Error> {
        let t = Template::parse(&fmt)
            .map_err(|e| Error::new(ruby.exception_arg_error(), e.to_string()))?;
        Ok(t.render(&rb_self.0.borrow()).into_owned())
    }

    /// Logstash's `append`: the other event's fields are merged in, values becoming arrays.
    fn append(&self, other: &RbEvent) {
        let theirs = other.0.borrow().data().clone();
        let mut mine = self.0.borrow_mut();
        for (k, v) in theirs {
            let slot = mine.data_mut().entry(k).or_insert(RValue::Null);
            match (std::mem::replace(slot, RValue::Null), v) {
                (RValue::Null, v) => *slot = v,
                (RValue::Array(mut a), RValue::Array(b)) => {
                    for x in b {
                        if !a.contains(&x) {
                            a.push(x);
                        }
                    }
                    *slot = RValue::Array(a);
                }
                (RValue::Array(mut a), v) => {
                    if !a.contains(&v) {
                        a.push(v);
                    }
                    *slot = RValue::Array(a);
                }
                (old, v) if old == v => *slot = old,
                (old, RValue::Array(b)) => {
                    let mut a = vec![old];
                    a.extend(b);
                    *slot = RValue::Array(a);
                }
                (old, v) => *slot = RValue::Array(vec![old, v]),
            }
        }
    }
}

/// Moves the event out of a Ruby object (the object is left empty).
pub fn take(obj: &RbEvent) -> Event {
    std::mem::take(&mut *obj.0.borrow_mut())
}

pub fn wrap(ruby: &Ruby, e: Event) -> Obj<RbEvent> {
    ruby.obj_wrap(RbEvent(RefCell::new(e)))
}

pub fn to_ruby(ruby: &Ruby, v: &RValue) -> Result<Value, Error> {
    Ok(match v {
        RValue::Null => ruby.qnil().as_value(),
        RValue::Bool(true) => ruby.qtrue().as_value(),
        RValue::Bool(false) => ruby.qfalse().as_value(),
        RValue::Int(i) => ruby.integer_from_i64(*i).as_value(),
        // A Bignum, from its digits (`String#to_i`).
        RValue::BigInt(d) => ruby.str_new(d).funcall("to_i", ())?,
        RValue::Float(f) => ruby.float_from_f64(*f).as_value(),
        RValue::String(s) => ruby.str_new(s).as_value(),
        RValue::Array(a) => {
            let out = ruby.ary_new_capa(a.len());
            for x in a {
                out.push(to_ruby(ruby, x)?)?;
            }
            out.as_value()
        }
        RValue::Object(m) => map_to_ruby(ruby, m)?.as_value(),
        RValue::Timestamp(t) => ruby.obj_wrap(RbTimestamp(*t)).as_value(),
    })
}

pub fn map_to_ruby(ruby: &Ruby, m: &Map) -> Result<RHash, Error> {
    let h = ruby.hash_new();
    for (k, v) in m {
        h.aset(ruby.str_new(k), to_ruby(ruby, v)?)?;
    }
    Ok(h)
}

fn to_map(ruby: &Ruby, h: RHash) -> Result<Map, Error> {
    let mut m = Map::default();
    h.foreach(|k: Value, v: Value| {
        let key = match Symbol::from_value(k) {
            Some(s) => s.name()?.into_owned(),
            None => k.to_r_string()?.to_string()?,
        };
        m.insert(key.into(), to_value(ruby, v)?);
        Ok(ForEach::Continue)
    })?;
    Ok(m)
}

/// A Ruby value as an event value. Like Logstash, types an event cannot hold are refused.
pub fn to_value(ruby: &Ruby, v: Value) -> Result<RValue, Error> {
    if v.is_nil() {
        return Ok(RValue::Null);
    }
    if v.is_kind_of(ruby.class_true_class()) {
        return Ok(RValue::Bool(true));
    }
    if v.is_kind_of(ruby.class_false_class()) {
        return Ok(RValue::Bool(false));
    }
    if let Some(s) = RString::from_value(v) {
        return Ok(RValue::String(string(s).into()));
    }
    if let Some(i) = Integer::from_value(v) {
        if let Ok(n) = i.to_i64() {
            return Ok(RValue::Int(n));
        }
        // A Bignum keeps its digits (Logstash's events hold a BigInteger).
        let digits: String = v.funcall("to_s", ())?;
        return RValue::big_int(&digits)
            .ok_or_else(|| Error::new(ruby.exception_range_error(), "an integer without digits"));
    }
    if let Some(f) = Float::from_value(v) {
        return Ok(RValue::Float(f.to_f64()));
    }
    if let Some(s) = Symbol::from_value(v) {
        return Ok(RValue::String(s.name()?.into_owned().into()));
    }
    if let Some(a) = RArray::from_value(v) {
        let mut out = Vec::with_capacity(a.len());
        for x in a.into_iter() {
            out.push(to_value(ruby, x)?);
        }
        return Ok(RValue::Array(out));
    }
    if let Some(h) = RHash::from_value(v) {
        return Ok(RValue::Object(to_map(ruby, h)?));
    }
    if let Ok(t) = <&RbTimestamp>::try_convert(v) {
        return Ok(RValue::Timestamp(t.0));
    }
    if v.is_kind_of(ruby.class_time()) {
        let nanos: i128 = v.funcall::<_, _, i64>("to_i", ())? as i128 * 1_000_000_000
            + v.funcall::<_, _, i64>("nsec", ())? as i128;
        return jiff::Timestamp::from_nanosecond(nanos)
            .map(|t| RValue::Timestamp(Timestamp(t)))
            .map_err(|e| Error::new(ruby.exception_range_error(), e.to_string()));
    }
    let class: RClass = v.class();
    let cname = unsafe { class.name() }.into_owned();
    if cname == "BigDecimal" || cname == "Rational" {
        return Ok(RValue::Float(v.funcall("to_f", ())?));
    }
    if let Ok(e) = <&RbEvent>::try_convert(v) {
        return Ok(RValue::Object(e.0.borrow().data().clone()));
    }
    Err(Error::new(
        ruby.exception_arg_error(),
        format!("Missing Ruby class handling for full class name={cname}"),
    ))
}

/// Ruby strings are bytes: invalid UTF-8 is replaced, as the event only holds text.
fn string(s: RString) -> String {
    // SAFETY: the slice is copied before any Ruby code can run again.
    let bytes = unsafe { s.as_slice() };
    String::from_utf8_lossy(bytes).into_owned()
}
