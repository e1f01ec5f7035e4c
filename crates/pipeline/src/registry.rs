//! Name → constructor, one table per plugin kind. Adding a plugin is one file and one line here.

use std::collections::BTreeMap;
use std::sync::Arc;

use rstash_config::{ast, ConfigError, Source};
use rstash_event::{Event, FieldRef, Template};

use crate::args::{add_field, Args};
use crate::metrics::PluginStats;
use crate::options::Options;
use crate::plugin::{
    Codec, Decoration, Filter, FilterOutcome, Input, InputContext, Output, PipelineSettings,
    PluginError,
};

pub type InputCtor = fn(&mut Args) -> Result<Box<dyn Input>, ConfigError>;
pub type FilterCtor = fn(&mut Args) -> Result<Box<dyn Filter>, ConfigError>;
pub type OutputCtor = fn(&mut Args) -> Result<Box<dyn Output>, ConfigError>;
pub type CodecCtor = fn(&mut Args) -> Result<Box<dyn Codec>, ConfigError>;

/// An input with what every input has, and its counters.
pub type BuiltInput = (Box<dyn Input>, Decoration, Arc<PluginStats>);

#[derive(Default)]
pub struct Registry {
    inputs: BTreeMap<&'static str, (Options, InputCtor)>,
    filters: BTreeMap<&'static str, (Options, FilterCtor)>,
    outputs: BTreeMap<&'static str, (Options, OutputCtor)>,
    codecs: BTreeMap<&'static str, (Options, CodecCtor)>,
}

/// What `-t` builds in place of a plugin whose `register` would refuse: never run.
struct Unbuilt;

impl Filter for Unbuilt {
    fn filter(&self, _: &mut Event, _: &mut Vec<Event>) -> FilterOutcome {
        FilterOutcome::Unmatched
    }
}

impl Input for Unbuilt {
    fn run(&mut self, _: &InputContext) -> Result<(), PluginError> {
        Err(PluginError("built by -t only".into()))
    }
}

impl Output for Unbuilt {
    fn receive(&mut self, _: &[&Event]) -> Result<(), PluginError> {
        Err(PluginError("built by -t only".into()))
    }
}

/// A plugin's constructor result, and whether the plugin was built completely. Under `-t`, what
/// only `register` would refuse is recorded as a warning and the plugin stands in as `Unbuilt`;
/// its options were checked against its declaration before (`Args::new`), but those past the
/// failure were not read, so `Args::finish`'s check of undeclared reads is skipped.
fn checked<T>(
    settings: &PipelineSettings,
    built: Result<T, ConfigError>,
    unbuilt: impl FnOnce() -> T,
) -> Result<(T, bool), ConfigError> {
    match (built, &settings.check_only) {
        (Ok(p), _) => Ok((p, true)),
        (Err(e), Some(warnings)) if e.unavailable => {
            warnings.lock().unwrap_or_else(|p| p.into_inner()).push(e);
            Ok((unbuilt(), false))
        }
        (Err(e), _) => Err(e),
    }
}

fn unknown<T>(
    kind: &str,
    p: &ast::Plugin,
    src: &Source,
    known: impl Iterator<Item = &'static str>,
) -> Result<T, ConfigError> {
    let names: Vec<_> = known.collect();
    Err(ConfigError::at(
        src.locate(p.span.start),
        format!(
            "unknown {kind} plugin `{}` (available: {})",
            p.name,
            names.join(", ")
        ),
    ))
}

/// A filter with the options every filter has, applied when it matched.
pub struct FilterNode {
    pub filter: Box<dyn Filter>,
    pub stats: Arc<PluginStats>,
    add_field: Vec<(Template, Template)>,
    add_tag: Vec<Template>,
    remove_field: Vec<Template>,
    remove_tag: Vec<Template>,
}

impl FilterNode {
    pub fn run(&self, e: &mut Event, emit: &mut Vec<Event>) {
        let first_new = emit.len();
        let outcome = self.filter.filter(e, emit);
        self.apply(outcome, e, &mut emit[first_new..]);
    }

    /// The common options, as the outcome says (`new` are the events the filter made).
    pub fn apply(&self, outcome: FilterOutcome, e: &mut Event, new: &mut [Event]) {
        match outcome {
            FilterOutcome::Matched => self.matched(e),
            FilterOutcome::Unmatched => {}
            FilterOutcome::Emitted => {
                for n in new {
                    self.matched(n)
                }
            }
        }
    }

    /// Logstash's `filter_matched`: add_field, remove_field, add_tag, remove_tag.
    fn matched(&self, e: &mut Event) {
        for (k, v) in &self.add_field {
            if let Err(why) = add_field(e, k, v) {
                tracing::warn!("{why}");
                for t in self.filter.failure_tags() {
                    e.tag(t);
                }
            }
        }
        for f in &self.remove_field {
            if let Ok(r) = FieldRef::parse(&f.render(e)) {
                e.remove(&r);
            }
        }
        for t in &self.add_tag {
            let tag = t.render(e).into_owned();
            e.push_tag(tag);
        }
        for t in &self.remove_tag {
            let tag = t.render(e).into_owned();
            e.with_tags(|tags| tags.retain(|x| x.as_str() != Some(tag.as_str())));
        }
    }
}

fn templates(args: &mut Args, name: &str) -> Result<Vec<Template>, ConfigError> {
    args.strings(name)?
        .iter()
        .map(|s| args.make_template(name, s))
        .collect()
}

fn field_templates(args: &mut Args, name: &str) -> Result<Vec<(Template, Template)>, ConfigError> {
    args.string_hash(name)?
        .iter()
        .map(|(k, v)| Ok((args.make_template(name, k)?, args.make_template(name, v)?)))
        .collect()
}

impl Registry {
    pub fn input(&mut self, name: &'static str, o: Options, c: InputCtor) -> &mut Self {
        self.inputs.insert(name, (o, c));
        self
    }
    pub fn filter(&mut self, name: &'static str, o: Options, c: FilterCtor) -> &mut Self {
        self.filters.insert(name, (o, c));
        self
    }
    pub fn output(&mut self, name: &'static str, o: Options, c: OutputCtor) -> &mut Self {
        self.outputs.insert(name, (o, c));
        self
    }
    pub fn codec(&mut self, name: &'static str, o: Options, c: CodecCtor) -> &mut Self {
        self.codecs.insert(name, (o, c));
        self
    }

    /// Every plugin as (kind, name, declared options), by kind then name.
    pub fn plugins(&self) -> Vec<(&'static str, &'static str, Options)> {
        let mut all = Vec::new();
        all.extend(self.inputs.iter().map(|(n, (o, _))| ("input", *n, *o)));
        all.extend(self.filters.iter().map(|(n, (o, _))| ("filter", *n, *o)));
        all.extend(self.outputs.iter().map(|(n, (o, _))| ("output", *n, *o)));
        all.extend(self.codecs.iter().map(|(n, (o, _))| ("codec", *n, *o)));
        all
    }

    pub fn build_input(
        &self,
        p: &ast::Plugin,
        src: &Source,
        settings: &PipelineSettings,
    ) -> Result<BuiltInput, ConfigError> {
        let Some((declared, ctor)) = self.inputs.get(p.name.as_str()) else {
            return unknown("input", p, src, self.inputs.keys().copied());
        };
        let mut args = Args::new(p, "input", declared, src, self, settings)?;
        let (input, complete) = checked(settings, ctor(&mut args), || Box::new(Unbuilt))?;
        let decoration = Decoration {
            type_: args.string("type")?,
            tags: templates(&mut args, "tags")?,
            add_field: field_templates(&mut args, "add_field")?,
        };
        let stats = common(&mut args, p)?;
        if complete {
            args.finish()?;
        }
        Ok((input, decoration, stats))
    }

    pub fn build_filter(
        &self,
        p: &ast::Plugin,
        src: &Source,
        settings: &PipelineSettings,
    ) -> Result<FilterNode, ConfigError> {
        let Some((declared, ctor)) = self.filters.get(p.name.as_str()) else {
            return unknown("filter", p, src, self.filters.keys().copied());
        };
        let mut args = Args::new(p, "filter", declared, src, self, settings)?;
        let (filter, complete) = checked(settings, ctor(&mut args), || Box::new(Unbuilt))?;
        let node = FilterNode {
            filter,
            stats: common(&mut args, p)?,
            add_field: field_templates(&mut args, "add_field")?,
            add_tag: templates(&mut args, "add_tag")?,
            remove_field: templates(&mut args, "remove_field")?,
            remove_tag: templates(&mut args, "remove_tag")?,
        };
        if complete {
            args.finish()?;
        }
        Ok(node)
    }

    pub fn build_output(
        &self,
        p: &ast::Plugin,
        src: &Source,
        settings: &PipelineSettings,
    ) -> Result<(Box<dyn Output>, Arc<PluginStats>), ConfigError> {
        let Some((declared, ctor)) = self.outputs.get(p.name.as_str()) else {
            return unknown("output", p, src, self.outputs.keys().copied());
        };
        let mut args = Args::new(p, "output", declared, src, self, settings)?;
        let (mut out, complete) = checked(settings, ctor(&mut args), || Box::new(Unbuilt))?;
        let stats = common(&mut args, p)?;
        if complete {
            args.finish()?;
        }
        out.report_problems_to(stats.problem.clone());
        Ok((out, stats))
    }

    pub fn build_codec(
        &self,
        p: &ast::Plugin,
        src: &Source,
        settings: &PipelineSettings,
    ) -> Result<Box<dyn Codec>, ConfigError> {
        let Some((declared, ctor)) = self.codecs.get(p.name.as_str()) else {
            return unknown("codec", p, src, self.codecs.keys().copied());
        };
        let mut args = Args::new(p, "codec", declared, src, self, settings)?;
        let c = ctor(&mut args)?;
        common(&mut args, p)?;
        args.finish()?;
        Ok(c)
    }
}

/// `id` and `enable_metric`, which every plugin accepts; the plugin's counters under that id.
fn common(args: &mut Args, p: &ast::Plugin) -> Result<Arc<PluginStats>, ConfigError> {
    let id = args.plugin_id()?;
    args.bool("enable_metric", true)?;
    Ok(PluginStats::new(id, &p.name))
}
