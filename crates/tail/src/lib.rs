//! Tailing files: reading lines from an offset in large blocks, joining multiline messages,
//! knowing a file by (device, inode) across renames, and the registry that remembers, per file,
//! the offset up to which the output has acknowledged. Shared by rbeat and rstash's file input.

pub mod acks;
pub mod container;
pub mod identity;
pub mod lines;
pub mod multiline;
pub mod registry;
pub mod sincedb;
pub mod watch;

pub use identity::FileId;
pub use lines::{Line, LineReader};
pub use multiline::{Multiline, MultilineConfig};
pub use registry::{Entry, Registry};
pub use watch::{FileSink, Sink, WatchConfig};
