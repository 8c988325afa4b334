//! Loading a unit directory: one unit (or slice) per `NAME.yaml`, bad files kept as
//! `InvalidUnit`.

use std::path::{Path, PathBuf};

use super::files::{list_dir, read_unit_file};
use super::parse::{parse_file, Parsed};
use super::spec::{InvalidUnit, LoadResult, UnitName};

/// One `NAME.yaml` file that could be read, with its text when the caller keeps it
/// (`sup check` looks up key positions for cross-file problems).
pub(super) struct Entry {
    pub stem: String,
    pub path: PathBuf,
    pub text: Option<String>,
}

/// Everything read from a directory: the result, the files read, and the `*.yml` files
/// that were passed over.
pub(super) struct Loaded {
    pub result: LoadResult,
    pub entries: Vec<Entry>,
    pub ignored: Vec<PathBuf>,
}

/// Reads and parses every `NAME.yaml` of `dir`; an entry that is not a readable regular
/// unit file (FIFO, device, directory, dangling or looping link, over 1 MiB, not UTF-8)
/// is an invalid unit with its reason.
pub(super) fn load_entries(dir: &Path, keep_text: bool) -> std::io::Result<Loaded> {
    let listing = list_dir(dir)?;
    let mut result = LoadResult::default();
    let mut entries = Vec::new();
    for (stem, path) in listing.yaml {
        let file = path.display().to_string();
        let invalid = |message: String| InvalidUnit {
            name: stem.clone(),
            path: path.clone(),
            message,
        };
        let name = match UnitName::new(&stem) {
            Ok(name) => name,
            Err(e) => {
                result.invalid.push(invalid(format!(
                    "{file}:1:1: {e} (the file name is the unit name: [A-Za-z0-9][A-Za-z0-9_.-]*.yaml)"
                )));
                continue;
            }
        };
        let text = match read_unit_file(&path) {
            Ok(text) => text,
            Err(e) => {
                let (line, col) = e.position();
                result
                    .invalid
                    .push(invalid(format!("{file}:{line}:{col}: {e}")));
                continue;
            }
        };
        match parse_file(&path, &name, &text) {
            Ok(Parsed::Unit(unit)) => result.units.push(*unit),
            Ok(Parsed::Slice(slice)) => result.slices.push(slice),
            Err(errors) => result.invalid.push(invalid(errors.join("\n"))),
        }
        entries.push(Entry {
            stem,
            path,
            text: keep_text.then_some(text),
        });
    }
    Ok(Loaded {
        result,
        entries,
        ignored: listing.yml,
    })
}

/// Reads every `NAME.yaml` in `dir`. Only an unreadable directory is an `Err`; bad files
/// end up in `LoadResult::invalid`. Cross-file problems (unknown required units, cycles)
/// are the engine's business at run time and `check_dir`'s before.
pub fn load_dir(dir: &Path) -> std::io::Result<LoadResult> {
    load_entries(dir, false).map(|loaded| loaded.result)
}
