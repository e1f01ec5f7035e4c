//! Every option a plugin reads by name in its source is in its declaration, so no option is
//! refused as unknown on a branch the other tests do not reach. (The debug build's `Args::finish`
//! catches the reads the tests do reach, names in variables included.)

use std::collections::HashSet;
use std::path::Path;

use rstash_pipeline::options::common;
use rstash_pipeline::Opt;

const GETTERS: &[&str] = &[
    "string",
    "string_or",
    "bool",
    "int",
    "number",
    "strings",
    "hash",
    "string_hash",
    "template",
    "field",
    "choice",
    "raw",
    "has",
];

/// The names `src` reads with `args.getter("name"` (a call may be split over lines).
fn reads(src: &str) -> HashSet<String> {
    calls(src).into_iter().map(|(name, _)| name).collect()
}

/// Each `args.getter("name", ...)` call: the name, and the default when the call gives it as
/// a literal (`string_or`, `bool`, `int`, `choice`'s last argument).
fn calls(src: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    let mut rest = src;
    while let Some(at) = rest.find("args") {
        rest = &rest[at + 4..];
        let Some(call) = rest.trim_start().strip_prefix('.') else {
            continue;
        };
        let call = call.trim_start();
        let Some(open) = call.find('(') else {
            continue;
        };
        let getter = &call[..open];
        if !GETTERS.contains(&getter) {
            continue;
        }
        let Some(lit) = call[open + 1..].trim_start().strip_prefix('"') else {
            continue;
        };
        let Some(end) = lit.find('"') else {
            continue;
        };
        // The call's other arguments: up to the parenthesis that closes it.
        let mut depth = 1;
        let close = lit[end + 1..]
            .char_indices()
            .find(|(_, c)| {
                depth += match c {
                    '(' | '[' => 1,
                    ')' | ']' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(lit.len(), |(i, _)| end + 1 + i);
        let tail = lit[end + 1..close].trim().trim_start_matches(',').trim();
        let last = tail.rsplit(',').next().unwrap_or("").trim();
        let plain = |t: &str| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        let default = match getter {
            "string_or" | "choice" => last
                .strip_prefix('"')
                .and_then(|l| l.strip_suffix('"'))
                .map(|l| l.replace("\\\"", "\"")),
            "bool" | "int" if plain(last) => Some(last.replace('_', "")),
            _ => None,
        };
        found.push((lit[..end].to_string(), default));
    }
    found
}

fn names<'a>(tables: impl IntoIterator<Item = &'a [Opt]>) -> HashSet<&'a str> {
    tables
        .into_iter()
        .flat_map(|t| t.iter().map(|o| o.name))
        .collect()
}

fn source(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The source file that builds `kind`/`name`, read from its line in `registry()`.
fn plugin_file(lib: &str, kind: &str, name: &str) -> String {
    let line = lib
        .lines()
        .find(|l| l.contains(&format!(".{kind}(\"{name}\",")))
        .unwrap_or_else(|| panic!("no registry line for {kind} {name}"));
    let module = line
        .split(", ")
        .nth(1)
        .and_then(|m| m.rsplit_once("::").map(|(module, _)| module))
        .unwrap_or_else(|| panic!("{line}"));
    format!("{}.rs", module.replace("::", "/"))
}

#[test]
fn every_option_read_is_declared() {
    let lib = source("lib.rs");
    let registry = rstash_plugins::registry().plugins();
    let mut missing = Vec::new();
    for (kind, name, declared) in &registry {
        let file = plugin_file(&lib, kind, name);
        let known = names(declared.iter().copied().chain([common(kind)]));
        for read in reads(&source(&file)) {
            if !known.contains(read.as_str()) {
                missing.push(format!("{kind} {name} ({file}) reads `{read}`"));
            }
        }
    }
    for (file, declared) in [
        ("http_client.rs", rstash_plugins::http_client::OPTIONS),
        ("amqp_link.rs", rstash_plugins::amqp_link::OPTIONS),
        ("redis_link.rs", rstash_plugins::redis_link::OPTIONS),
        ("s3_link.rs", rstash_plugins::s3_link::OPTIONS),
    ] {
        let known = names([declared]);
        for read in reads(&source(file)) {
            if !known.contains(read.as_str()) {
                missing.push(format!("{file} reads `{read}`"));
            }
        }
    }
    missing.sort();
    // Files that build two plugins read some options on one plugin's branch only.
    let one_branch = [
        "codec json (codecs/json.rs) reads `delimiter`",
        "output elasticsearch (outputs/elasticsearch.rs) reads `auth_type`",
        "output opensearch (outputs/elasticsearch.rs) reads `api_key`",
        "output opensearch (outputs/elasticsearch.rs) reads `data_stream`",
    ];
    missing.retain(|m| !one_branch.contains(&m.as_str()));
    assert!(missing.is_empty(), "undeclared:\n{}", missing.join("\n"));
}

/// A default the declaration states is the one the code applies, where the code gives it as a
/// literal.
#[test]
fn declared_defaults_are_the_codes() {
    let lib = source("lib.rs");
    let mut wrong = Vec::new();
    for (kind, name, declared) in rstash_plugins::registry().plugins() {
        let file = plugin_file(&lib, kind, name);
        for (read, default) in calls(&source(&file)) {
            let decl = declared
                .iter()
                .flat_map(|t| t.iter())
                .find(|o| o.name == read);
            if let (Some(o), Some(code)) = (decl, default) {
                if o.default.is_some_and(|d| d != code) {
                    wrong.push(format!(
                        "{kind} {name} `{read}`: declared {:?}, the code {code:?}",
                        o.default
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn declarations_are_well_formed() {
    for (kind, name, declared) in rstash_plugins::registry().plugins() {
        // A name may stand in the plugin's own table and in a shared group (the first wins),
        // not twice in one table.
        for table in declared {
            let mut seen = HashSet::new();
            for o in table.iter() {
                assert!(
                    seen.insert(o.name),
                    "{kind} {name}: `{}` declared twice",
                    o.name
                );
            }
        }
        for o in declared.iter().flat_map(|t| t.iter()) {
            assert!(
                !(o.required && o.default.is_some()),
                "{kind} {name}: `{}` is required and has a default",
                o.name
            );
        }
    }
}
