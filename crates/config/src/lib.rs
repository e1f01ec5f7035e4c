//! The Logstash configuration language (LSCL): sources with file:line:col locations, the AST,
//! a parser that reports what it expected and found, and a printer (parse ∘ print is the identity).

pub mod ast;
pub mod env;
mod error;
mod parser;
mod printer;
pub mod settings;
mod source;

pub use error::ConfigError;
pub use parser::parse;
pub use printer::print;
pub use source::{Location, Source};
