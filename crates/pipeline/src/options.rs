//! What options a plugin takes, declared once per plugin: checked before the plugin is built
//! (names, types, required, obsolete), and printed by `rstash --describe-plugin`, the table
//! Logstash users look up in the plugin docs.

use std::fmt::Write;

use crate::args::ConfValue;

/// An option's type, as Logstash's plugin docs name them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ty {
    Str,
    Number,
    Boolean,
    /// A list; a single value is taken as a list of one.
    Array,
    /// `{ "k" => "v" }`, or the old `["k", "v"]` pair form.
    Hash,
    Codec,
    Path,
    Password,
    Uri,
    /// A number of seconds, or `"500 ms"`, `"5s"`, `"1 hour"`…
    Duration,
    /// A size: a number of bytes or `"10 MiB"`, `"1kb"`…
    Bytes,
    /// One of these strings.
    Choice(&'static [&'static str]),
    /// Shapes that depend on the plugin (a string or a hash, a number or a list…).
    Any,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Status {
    Current,
    /// Still works; a warning says what to use instead.
    Deprecated(&'static str),
    /// Logstash removed it: setting it is an error saying why.
    Obsolete(&'static str),
    /// Accepted as Logstash accepts it, without effect in rstash: a warning says why.
    Ignored(&'static str),
}

#[derive(Clone, Copy, Debug)]
pub struct Opt {
    pub name: &'static str,
    pub ty: Ty,
    pub default: Option<&'static str>,
    pub required: bool,
    pub status: Status,
}

pub const fn opt(name: &'static str, ty: Ty) -> Opt {
    Opt {
        name,
        ty,
        default: None,
        required: false,
        status: Status::Current,
    }
}

impl Opt {
    pub const fn default(self, value: &'static str) -> Opt {
        Opt {
            default: Some(value),
            ..self
        }
    }
    pub const fn required(self) -> Opt {
        Opt {
            required: true,
            ..self
        }
    }
    pub const fn deprecated(self, why: &'static str) -> Opt {
        Opt {
            status: Status::Deprecated(why),
            ..self
        }
    }
    pub const fn obsolete(self, why: &'static str) -> Opt {
        Opt {
            status: Status::Obsolete(why),
            ..self
        }
    }
    pub const fn ignored(self, why: &'static str) -> Opt {
        Opt {
            status: Status::Ignored(why),
            ..self
        }
    }
}

/// A plugin's declaration: its own table, then groups it shares with others (an HTTP client's
/// options, an AWS link's...). An earlier entry of a name wins.
pub type Options = &'static [&'static [Opt]];

use Ty::*;

/// `ecs_compatibility`, which every plugin takes (Logstash's base plugin class has it); it
/// changes what the plugins that name fields by ECS do.
pub const ECS: Ty = Choice(&["disabled", "v1", "v8"]);

pub const INPUT_COMMON: &[Opt] = &[
    opt("id", Str),
    opt("enable_metric", Boolean).default("true"),
    opt("ecs_compatibility", ECS).default("pipeline.ecs_compatibility"),
    opt("codec", Codec).default("plain"),
    opt("add_field", Hash).default("{}"),
    opt("tags", Array),
    opt("type", Str),
];

pub const FILTER_COMMON: &[Opt] = &[
    opt("id", Str),
    opt("enable_metric", Boolean).default("true"),
    opt("ecs_compatibility", ECS).default("pipeline.ecs_compatibility"),
    opt("add_field", Hash).default("{}"),
    opt("add_tag", Array).default("[]"),
    opt("remove_field", Array).default("[]"),
    opt("remove_tag", Array).default("[]"),
    opt("periodic_flush", Boolean)
        .default("false")
        .ignored("filters that flush (aggregate, throttle, multiline) always do"),
];

pub const OUTPUT_COMMON: &[Opt] = &[
    opt("id", Str),
    opt("enable_metric", Boolean).default("true"),
    opt("ecs_compatibility", ECS).default("pipeline.ecs_compatibility"),
    opt("codec", Codec).default("plain"),
    opt("workers", Number)
        .default("1")
        .ignored("outputs run on every pipeline worker"),
];

pub const CODEC_COMMON: &[Opt] = &[
    opt("id", Str),
    opt("enable_metric", Boolean).default("true"),
    opt("ecs_compatibility", ECS).default("pipeline.ecs_compatibility"),
];

/// The options every plugin of `kind` takes.
pub fn common(kind: &str) -> &'static [Opt] {
    match kind {
        "input" => INPUT_COMMON,
        "filter" => FILTER_COMMON,
        "output" => OUTPUT_COMMON,
        _ => CODEC_COMMON,
    }
}

/// The declaration of `name`: the plugin's own first, then the kind's common options.
pub fn find(own: Options, kind: &str, name: &str) -> Option<&'static Opt> {
    own.iter()
        .copied()
        .chain(std::iter::once(common(kind)))
        .flat_map(|t| t.iter())
        .find(|o| o.name == name)
}

impl Ty {
    pub fn label(&self) -> String {
        match self {
            Str => "string".into(),
            Number => "number".into(),
            Boolean => "boolean".into(),
            Array => "array".into(),
            Hash => "hash".into(),
            Codec => "codec".into(),
            Path => "path".into(),
            Password => "password".into(),
            Uri => "uri".into(),
            Duration => "number or duration".into(),
            Bytes => "bytes".into(),
            Choice(c) => format!("one of {}", c.join(", ")),
            Any => "any".into(),
        }
    }

    /// The type as an error says what was expected.
    pub fn expected(&self) -> String {
        match self {
            Boolean => "true or false".into(),
            Array => "an array".into(),
            Uri => "a URI".into(),
            Duration => "a number of seconds or a duration like \"5s\"".into(),
            Bytes => "a size like \"10 MiB\"".into(),
            Choice(_) | Any => self.label(),
            other => format!("a {}", other.label()),
        }
    }

    /// Whether `v` has this type's shape. The plugin's own reading coerces further; this catches
    /// a wrong value of an option the plugin only reads on another branch.
    pub fn accepts(&self, v: &ConfValue) -> bool {
        let scalar = |v: &ConfValue| {
            matches!(
                v,
                ConfValue::Str(_) | ConfValue::Int(_) | ConfValue::Float(_)
            )
        };
        // A one-element list stands for its element, as Logstash's validation takes it.
        let one = match v {
            ConfValue::Array(a) if a.len() == 1 => &a[0],
            other => other,
        };
        match self {
            Str | Path | Password | Uri | Duration | Bytes => scalar(one),
            Number => match one {
                ConfValue::Int(_) | ConfValue::Float(_) => true,
                ConfValue::Str(s) => s.trim().parse::<f64>().is_ok(),
                _ => false,
            },
            Boolean => matches!(one, ConfValue::Str(s) if s == "true" || s == "false"),
            Array => !matches!(v, ConfValue::Hash(_) | ConfValue::Plugin(_)),
            Hash => match v {
                ConfValue::Hash(_) => true,
                ConfValue::Array(a) => a.len() % 2 == 0 && a.iter().all(scalar),
                _ => false,
            },
            Codec => matches!(v, ConfValue::Str(_) | ConfValue::Plugin(_)),
            Choice(c) => match one.text() {
                Some(s) => c.contains(&s.as_str()),
                None => false,
            },
            Any => true,
        }
    }
}

/// The options table of one plugin, as `--describe-plugin` prints it.
pub fn describe(kind: &str, name: &str, own: Options) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut notes = Vec::new();
    let tables = own.iter().copied().chain(std::iter::once(common(kind)));
    for o in tables.flat_map(|t| t.iter()) {
        if !seen.insert(o.name) {
            continue;
        }
        let mut setting = o.name.to_string();
        match o.status {
            Status::Current => {}
            Status::Deprecated(w) => {
                setting.push_str(" (deprecated)");
                notes.push(format!("{}: deprecated: {w}", o.name));
            }
            Status::Obsolete(w) => {
                setting.push_str(" (obsolete)");
                notes.push(format!("{}: obsolete: {w}", o.name));
            }
            Status::Ignored(w) => {
                setting.push_str(" (no effect)");
                notes.push(format!("{}: accepted without effect: {w}", o.name));
            }
        }
        rows.push([
            setting,
            o.ty.label(),
            if o.required { "yes" } else { "no" }.into(),
            o.default.unwrap_or("").into(),
        ]);
    }
    let common_names: Vec<_> = common(kind)
        .iter()
        .filter(|c| !own.iter().any(|t| t.iter().any(|o| o.name == c.name)))
        .map(|c| c.name)
        .collect();
    let head = ["Setting", "Input type", "Required", "Default"];
    let width: Vec<usize> = (0..4)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([head[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{kind} plugin `{name}`\n\n");
    let line = |cells: [&str; 4], out: &mut String| {
        let text = format!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2]
        );
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(head, &mut out);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3]], &mut out);
    }
    if !common_names.is_empty() {
        let _ = writeln!(
            out,
            "\nCommon to every {kind}: {}.",
            common_names.join(", ")
        );
    }
    for n in notes {
        let _ = writeln!(out, "{n}");
    }
    out
}
