//! `ruby`: runs users' Ruby (`init` + `code`, or a `path` script with `register`/`filter`) in
//! embedded CRuby, as Logstash does. A Ruby exception tags the event (`tag_on_exception`); code
//! that runs past `timeout` seconds (an rstash option, 10 s by default) is interrupted and tagged
//! the same way. Built only with the `ruby` cargo feature; otherwise configs using it are refused.

use rstash_config::ConfigError;
use rstash_pipeline::{opt, Ty};
use rstash_pipeline::{Args, Filter};

/// What a ruby filter was configured with.
pub struct Options {
    pub id: String,
    pub init: Option<String>,
    pub code: Option<String>,
    pub path: Option<String>,
    pub params: rstash_event::Map,
    pub tag_on_exception: String,
    pub tag_with_message: bool,
    pub timeout: std::time::Duration,
}

pub const OPTIONS: rstash_pipeline::Options = &[&[
    opt("init", Ty::Str),
    opt("code", Ty::Str),
    opt("path", Ty::Path),
    opt("script_params", Ty::Hash).default("{}"),
    opt("tag_on_exception", Ty::Str).default("_rubyexception"),
    opt("tag_with_exception_message", Ty::Boolean).default("false"),
    opt("timeout", Ty::Number).default("10"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let opts = Options {
        id: args.plugin_id()?,
        init: args.string("init")?,
        code: args.string("code")?,
        path: args.string("path")?,
        params: args
            .hash("script_params")?
            .into_iter()
            .map(|(k, v)| (k.into(), v.to_value()))
            .collect(),
        tag_on_exception: args.string_or("tag_on_exception", "_rubyexception")?,
        tag_with_message: args.bool("tag_with_exception_message", false)?,
        timeout: std::time::Duration::from_secs_f64(args.number("timeout")?.unwrap_or(10.0)),
    };
    if opts.timeout.is_zero() {
        return Err(args.error_at("timeout", "`timeout` must be more than 0 seconds"));
    }
    match (&opts.code, &opts.path) {
        (Some(_), None) | (None, Some(_)) => {}
        _ => {
            return Err(args.error(
                "You must either use an inline script with the \"code\" option or a script file \
                 using \"path\".",
            ))
        }
    }
    // A script file is read by `register`: one missing or failing here is the machine's state,
    // which `-t` reports as a warning (Logstash's -t does not load it either).
    let inline = opts.code.is_some();
    embedded::build(opts).map_err(|msg| {
        if inline {
            args.error_at("code", msg)
        } else {
            args.unavailable("path", msg)
        }
    })
}

#[cfg(feature = "ruby")]
pub mod embedded {
    use rstash_event::Event;
    use rstash_pipeline::{Filter, FilterOutcome};
    use rstash_ruby::{Filtered, Script, Source, Status};

    use super::Options;

    pub struct Ruby {
        id: String,
        script: Script,
        inline: bool,
        tag: String,
        tag_with_message: bool,
    }

    pub fn build(o: Options) -> Result<Box<dyn Filter>, String> {
        let inline = o.code.is_some();
        let source = match (o.code, o.path) {
            (Some(code), _) => Source::Inline { init: o.init, code },
            (None, Some(path)) => Source::File {
                path: path.into(),
                params: o.params,
            },
            (None, None) => return Err("no code".into()),
        };
        let script = Script::compile(&o.id, source, o.timeout)?;
        Ok(Box::new(Ruby {
            id: o.id,
            script,
            inline,
            tag: o.tag_on_exception,
            tag_with_message: o.tag_with_message,
        }))
    }

    impl Ruby {
        fn finish(&self, out: Filtered) -> (Event, Vec<Event>, FilterOutcome) {
            let mut event = out.event;
            // New events are not `filter_matched`, as in Logstash: they only go on downstream.
            let new = out.new_events;
            if let Some(err) = out.error {
                tracing::error!(plugin = %self.id, "Ruby exception occurred: {}", err.detail);
                event.tag(&self.tag);
                if self.tag_with_message {
                    event.tag(&format!("{}: {}", self.tag, err.message));
                }
                return (event, new, FilterOutcome::Unmatched);
            }
            if out.status == Status::Dropped {
                event.cancel();
            }
            // Logstash applies add_field & co. after inline code, never after a file script.
            let outcome = if self.inline {
                FilterOutcome::Matched
            } else {
                FilterOutcome::Unmatched
            };
            (event, new, outcome)
        }
    }

    impl Filter for Ruby {
        fn filter(&self, event: &mut Event, emit: &mut Vec<Event>) -> FilterOutcome {
            rstash_pipeline::filter_as_batch(self, event, emit)
        }

        fn batched(&self) -> bool {
            true
        }

        fn filter_batch(&self, events: Vec<Event>) -> Vec<(Event, Vec<Event>, FilterOutcome)> {
            let results = self.script.filter(events);
            results.into_iter().map(|r| self.finish(r)).collect()
        }
    }
}

#[cfg(not(feature = "ruby"))]
pub mod embedded {
    use rstash_pipeline::Filter;

    use super::Options;

    pub fn build(_: Options) -> Result<Box<dyn Filter>, String> {
        Err(WITHOUT_RUBY.into())
    }

    pub const WITHOUT_RUBY: &str = "this rstash was built without ruby: the ruby filter embeds \
        CRuby; rebuild with `cargo build --release --features rstash/ruby` (needs Debian's \
        ruby-dev and libclang-dev), as ./demo.sh and ./test.sh do";
}
