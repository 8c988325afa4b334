//! Loading a unit directory: one unit (or slice) per `NAME.yaml`, bad files kept as `InvalidUnit`.

use std::path::{Path, PathBuf};

use super::spec::LoadResult;

/// Reads every `NAME.yaml` in `dir`. Only an unreadable directory is an `Err`; bad files
/// end up in `LoadResult::invalid`. Cross-file problems that make a single file unusable
/// are not checked here (unknown dependencies and cycles are the engine's business).
pub fn load_dir(dir: &Path) -> std::io::Result<LoadResult> {
    let _ = dir;
    todo!("helper: unit loader")
}

/// `sup check`: every problem in the directory as `FILE:LINE:COL: message` lines
/// (empty when all files are valid).
pub fn check_dir(dir: &Path) -> std::io::Result<Vec<String>> {
    let _ = dir;
    todo!("helper: unit check")
}

/// Reads an `env_file`: `KEY=VALUE` lines, `#` comments and blank lines ignored.
/// The error names the file and line.
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let _ = path;
    let _: Option<PathBuf> = None;
    todo!("helper: env file")
}
