//! `${VAR}` references in filebeat.yml, resolved as Beats' config library does once the YAML is
//! read: `${VAR}`, `${VAR:default}`, `${VAR:?error text}`, `$${` for a literal `${`. A name is
//! looked up among the config's own settings first (`${path.data}`), then the environment; an
//! undefined one without a default becomes the empty string (a value that was only that reference
//! is then unset: the setting's default applies). A value that is one whole reference
//! takes the type of what it resolves to: `worker: "${WORKERS}"` with WORKERS=4 is the number 4,
//! `hosts: ${HOSTS}` with HOSTS=`a:5044,b:5044` (or `["a:5044","b:5044"]`) a list.

use serde_json::Value;

use crate::config::{parse_yaml, ConfigError};

/// Resolves every reference in `root`'s string values (and in list items and nested maps).
pub fn resolve(root: &mut Value) -> Result<(), ConfigError> {
    resolve_with(root, &|name| std::env::var(name).ok())
}

fn resolve_with(root: &mut Value, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    let settings = root.clone();
    resolve_at(root, "", &|name| lookup(&settings, name, env))
}

fn lookup(settings: &Value, name: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    setting(settings, name).or_else(|| env(name))
}

/// A scalar setting of the config itself, by dotted name.
fn setting(settings: &Value, name: &str) -> Option<String> {
    let mut cur = settings;
    for part in name.split('.') {
        cur = cur.as_object()?.get(part)?;
    }
    match cur {
        Value::String(s) if !s.contains("${") => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn resolve_at(
    v: &mut Value,
    path: &str,
    look: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let at = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(m) => {
            for (k, item) in m.iter_mut() {
                resolve_at(item, &at(k), look)?;
            }
        }
        Value::Array(a) => {
            for (i, item) in a.iter_mut().enumerate() {
                resolve_at(item, &at(&i.to_string()), look)?;
            }
        }
        Value::String(s) if s.contains('$') => {
            let whole = is_one_reference(s);
            let text =
                substitute(s, look).map_err(|e| ConfigError(format!("setting `{path}`: {e}")))?;
            *v = if whole {
                typed(&text)
            } else {
                Value::String(text)
            };
        }
        _ => {}
    }
    Ok(())
}

/// Whether `s` is exactly one `${...}` reference (its value then keeps its own type).
fn is_one_reference(s: &str) -> bool {
    s.starts_with("${") && s.ends_with('}') && s[2..].find('}') == Some(s.len() - 3)
}

/// The text of `s` with every reference replaced.
fn substitute(s: &str, look: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        // `$${` and `$}` are escapes for a literal `${` and `}`.
        if let Some(tail) = after.strip_prefix("${") {
            out.push_str("${");
            rest = tail;
            continue;
        }
        if let Some(tail) = after.strip_prefix('}') {
            out.push('}');
            rest = tail;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err(format!("`{s}`: a `${{` without its closing `}}`"));
        };
        let inner = &body[..end];
        let (name, default) = match inner.split_once(':') {
            Some((n, d)) => (n.trim(), Some(d)),
            None => (inner.trim(), None),
        };
        match (look(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => match d.strip_prefix('?') {
                Some(msg) => return Err(format!("{msg}: `{name}` is not set")),
                None => out.push_str(d),
            },
            (None, None) => {}
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// What a whole-reference value means: a list when it has top-level commas or is `[..]`, a
/// mapping for `{..}`, a number or boolean when it reads as one, else the string.
fn typed(text: &str) -> Value {
    let t = text.trim();
    if t.is_empty() {
        // Nothing set: the setting takes its default.
        return Value::Null;
    }
    if (t.starts_with('[') && t.ends_with(']')) || (t.starts_with('{') && t.ends_with('}')) {
        if let Ok(v) = parse_yaml(t) {
            return v;
        }
    }
    if t.contains(',') {
        return Value::Array(t.split(',').map(|p| scalar(p.trim())).collect());
    }
    scalar(t)
}

fn scalar(t: &str) -> Value {
    if let Ok(i) = t.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = t.parse::<f64>() {
        if f.is_finite() && t.contains('.') {
            return Value::from(f);
        }
    }
    match t {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(t.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(yaml: &str, env: &[(&str, &str)]) -> Result<Value, ConfigError> {
        let mut v = parse_yaml(yaml).unwrap();
        resolve_with(&mut v, &|name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })?;
        Ok(v)
    }

    #[test]
    fn references_resolve_with_types_defaults_errors_and_escapes() {
        let v = resolved(
            "output.logstash:\n  hosts: ${HOSTS}\n  worker: \"${WORKERS}\"\n  loadbalance: ${LB:true}\n  index: \"logs-${ENV:dev}-x\"\nname: ${MISSING}\nliteral: \"$${NOT}\"\npath.data: /var/lib/rbeat\nregistry: ${path.data}/registry\n",
            &[("HOSTS", "a:5044,b:5044"), ("WORKERS", "4")],
        )
        .unwrap();
        let ls = &v["output"]["logstash"];
        assert_eq!(ls["hosts"], serde_json::json!(["a:5044", "b:5044"]));
        assert_eq!(ls["worker"], serde_json::json!(4));
        assert_eq!(ls["loadbalance"], serde_json::json!(true));
        assert_eq!(ls["index"], "logs-dev-x");
        assert_eq!(v["name"], Value::Null);
        assert_eq!(v["literal"], "${NOT}");
        assert_eq!(v["registry"], "/var/lib/rbeat/registry");

        let v = resolved("hosts: ${H}\n", &[("H", "[\"x:1\", \"y:2\"]")]).unwrap();
        assert_eq!(v["hosts"], serde_json::json!(["x:1", "y:2"]));

        let e = resolved("password: ${PW:?set the password}\n", &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "setting `password`: set the password: `PW` is not set"
        );
        let e = resolved("a: \"${OPEN\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("without its closing"), "{e}");
    }
}
