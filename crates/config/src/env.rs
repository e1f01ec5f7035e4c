//! `${VAR}` and `${VAR:default}` in config values, resolved from the environment.

use std::borrow::Cow;

/// Replaces every `${NAME}` / `${NAME:default}`; an undefined name without default is an error.
pub fn substitute(s: &str) -> Result<Cow<'_, str>, String> {
    substitute_with(s, |k| std::env::var(k).ok())
}

pub fn substitute_with(
    s: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Cow<'_, str>, String> {
    if !s.contains("${") {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let Some(j) = rest[i..].find('}') else { break };
        out.push_str(&rest[..i]);
        let inner = &rest[i + 2..i + j];
        let (name, default) = match inner.split_once(':') {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (lookup(name.trim()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "Cannot evaluate `${{{name}}}`. Replacement variable `{name}` is not defined as an environment entry and there is no default value given."
                ))
            }
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_and_defaults() {
        let env = |k: &str| (k == "HOST").then(|| "db1".to_string());
        assert_eq!(
            substitute_with("h=${HOST}:${PORT:5432}", env).unwrap(),
            "h=db1:5432"
        );
        assert!(substitute_with("${NOPE}", env)
            .unwrap_err()
            .contains("NOPE"));
        assert_eq!(substitute_with("plain", env).unwrap(), "plain");
    }
}
