//! Config AST → plugins and condition trees, checking every plugin and option at load time.

use rstash_config::ast::{Config, SectionKind, Statement};
use rstash_config::{ConfigError, Source};

use crate::condition::{self, Cond};
use std::sync::Arc;

use crate::metrics::PluginStats;
use crate::plugin::{Output, PipelineSettings, PluginError};
use crate::registry::{BuiltInput, FilterNode, Registry};

/// A filter or output position, possibly under conditionals.
pub enum Node {
    Leaf(usize),
    If {
        branches: Vec<(Cond, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
}

pub struct CompiledPipeline {
    pub inputs: Vec<BuiltInput>,
    pub filters: Vec<FilterNode>,
    pub filter_tree: Vec<Node>,
    pub outputs: Vec<(Box<dyn Output>, Arc<PluginStats>)>,
    pub output_tree: Vec<Node>,
    registered: bool,
}

impl CompiledPipeline {
    /// Registers the outputs (`Output::register`), once; an error names the failing output.
    pub fn register(&mut self) -> Result<(), PluginError> {
        if !self.registered {
            for (i, (o, _)) in self.outputs.iter_mut().enumerate() {
                o.register()
                    .map_err(|e| PluginError(format!("output #{}: {e}", i + 1)))?;
            }
            self.registered = true;
        }
        Ok(())
    }
}

pub fn compile(
    cfg: &Config,
    src: &Source,
    registry: &Registry,
    settings: &PipelineSettings,
) -> Result<CompiledPipeline, ConfigError> {
    static BUILDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let settings = &PipelineSettings {
        build_id: BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        ..settings.clone()
    };
    let mut inputs = Vec::new();
    for st in cfg.statements(SectionKind::Input) {
        match st {
            Statement::Plugin(p) => inputs.push(registry.build_input(p, src, settings)?),
            Statement::If(chain) => {
                let at = chain
                    .branches
                    .first()
                    .map(|(c, _)| first_span(c))
                    .unwrap_or(0);
                return Err(ConfigError::at(
                    src.locate(at),
                    "conditionals are not allowed in the input section",
                ));
            }
        }
    }
    if inputs.is_empty() {
        return Err(ConfigError::plain(
            "the pipeline has no inputs: add an input section, e.g. input { stdin {} }",
        ));
    }
    let mut filters = Vec::new();
    let filter_tree = tree(&cfg.statements(SectionKind::Filter), src, &mut |p| {
        filters.push(registry.build_filter(p, src, settings)?);
        Ok(filters.len() - 1)
    })?;
    let mut outputs = Vec::new();
    let output_tree = tree(&cfg.statements(SectionKind::Output), src, &mut |p| {
        outputs.push(registry.build_output(p, src, settings)?);
        Ok(outputs.len() - 1)
    })?;
    Ok(CompiledPipeline {
        inputs,
        filters,
        filter_tree,
        outputs,
        output_tree,
        registered: false,
    })
}

fn first_span(c: &rstash_config::ast::Condition) -> usize {
    use rstash_config::ast::Condition as C;
    match c {
        C::Bool(_, a, _) => first_span(a),
        C::Not(a) | C::Group(a) => first_span(a),
        C::Compare(l, _, _) | C::Match { left: l, .. } | C::In { left: l, .. } | C::Value(l) => {
            l.span().start
        }
    }
}

type Build<'a> = dyn FnMut(&rstash_config::ast::Plugin) -> Result<usize, ConfigError> + 'a;

fn tree(body: &[&Statement], src: &Source, build: &mut Build) -> Result<Vec<Node>, ConfigError> {
    let mut out = Vec::new();
    for st in body {
        match st {
            Statement::Plugin(p) => out.push(Node::Leaf(build(p)?)),
            Statement::If(chain) => {
                let mut branches = Vec::new();
                for (c, b) in &chain.branches {
                    let cond = condition::compile(c, src)?;
                    branches.push((cond, tree(&b.iter().collect::<Vec<_>>(), src, build)?));
                }
                let otherwise = match &chain.otherwise {
                    Some(b) => tree(&b.iter().collect::<Vec<_>>(), src, build)?,
                    None => Vec::new(),
                };
                out.push(Node::If {
                    branches,
                    otherwise,
                });
            }
        }
    }
    Ok(out)
}
