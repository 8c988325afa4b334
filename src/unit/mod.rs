//! Unit files: typed specs (`spec`), YAML parsing and validation with `FILE:LINE:COL`
//! errors (`parse`), loading a unit directory (`load`),
//! and reading `env_file`s (`envfile`).
//!
//! Inside: `values` (the grammar of durations, sizes, signals, …), `de`, `shapes`,
//! `nested` and `probes` (serde types that validate while reading), `raw` (top-level maps), `convert`
//! (defaults and cross-key checks).

mod convert;
mod de;
pub mod envfile;
pub mod load;
mod nested;
pub mod parse;
mod probes;
mod raw;
mod shapes;
pub mod spec;
pub mod values;

#[cfg(test)]
mod tests;

pub use envfile::read_env_file;
pub use load::{check_dir, is_warning, load_dir};
pub use spec::*;
