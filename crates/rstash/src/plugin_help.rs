//! `--list-plugins` and `--describe-plugin`: the plugins and their declared options, as
//! Logstash users look them up in the plugin docs.

use std::fmt::Write;

use rstash_pipeline::options;

/// Every plugin, a line per kind.
pub fn list() -> String {
    let plugins = rstash_plugins::registry().plugins();
    let mut out = String::new();
    for kind in ["input", "filter", "output", "codec"] {
        let names: Vec<_> = plugins
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, n, _)| *n)
            .collect();
        let _ = writeln!(out, "{kind}s: {}", names.join(", "));
    }
    out
}

/// The options table of each plugin `query` names: `grok` (every kind with that name),
/// `input/tcp`, or a gem name `logstash-input-tcp`.
pub fn describe(query: &str) -> Result<String, String> {
    let (kind, name) = match query
        .strip_prefix("logstash-")
        .unwrap_or(query)
        .split_once(['/', '-'])
    {
        Some((k, n)) if ["input", "filter", "output", "codec"].contains(&k) => (Some(k), n),
        _ => (None, query),
    };
    let found: Vec<String> = rstash_plugins::registry()
        .plugins()
        .into_iter()
        .filter(|(k, n, _)| *n == name && kind.is_none_or(|want| want == *k))
        .map(|(k, n, opts)| options::describe(k, n, opts))
        .collect();
    if found.is_empty() {
        return Err(format!(
            "no plugin `{query}`; `rstash --list-plugins` prints them all"
        ));
    }
    Ok(found.join("\n"))
}
