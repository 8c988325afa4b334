//! Unit files: typed specs (`spec`), YAML parsing and validation with `FILE:LINE:COL`
//! errors (`parse`), and loading a unit directory (`load`).

pub mod load;
pub mod parse;
pub mod spec;

pub use load::{check_dir, load_dir, read_env_file};
pub use spec::*;
