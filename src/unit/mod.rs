//! Unit files: typed specs (`spec`), YAML parsing and validation with `FILE:LINE:COL`
//! errors (`parse`), loading a unit directory (`load`), `sup check` (`check`), the
//! dependency rules shared with the engine (`deps`), and reading `env_file`s (`envfile`).
//!
//! Inside: `limits` (every documented maximum), `files` (reading without blocking or
//! without bound), `scan` (the pre-pass that keeps YAML parsing linear), `values` (the
//! grammar of durations, sizes, signals, …), `de`, `shapes`, `nested` and `probes` (serde
//! types that validate while reading), `raw` (top-level maps), `convert` (defaults and
//! cross-key checks).

pub mod check;
mod convert;
mod de;
pub mod deps;
pub mod envfile;
mod files;
mod hints;
pub mod keys;
pub mod limits;
pub mod load;
mod nested;
pub mod parse;
pub mod pool;
mod probes;
mod raw;
pub mod render;
mod scan;
mod shapes;
pub mod spec;
pub mod transient;
pub mod values;

#[cfg(test)]
mod tests;

pub use check::{check_dir, is_warning};
pub use envfile::read_env_file;
pub use load::load_dir;
pub use spec::*;
