//! Loading a unit directory: one unit (or slice) per `NAME.yaml`, bad files kept as
//! `InvalidUnit`; `sup check` over a directory.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::parse::{key_position, parse_file, Parsed};
use super::spec::{InvalidUnit, LoadResult, UnitName};

/// One `*.yaml` file of the directory, with its text kept for `check_dir`.
struct Entry {
    stem: String,
    path: PathBuf,
    text: String,
}

/// `(stem, path)` of the `NAME.yaml` files.
type YamlFiles = Vec<(String, PathBuf)>;

/// The `NAME.yaml` files of `dir` sorted by name, plus other `*.yml` files (ignored, but
/// worth a warning in `sup check`).
fn list_dir(dir: &Path) -> std::io::Result<(YamlFiles, Vec<PathBuf>)> {
    let mut yaml = Vec::new();
    let mut yml = Vec::new();
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        let Some(file_name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if file_name.starts_with('.') || !fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        if let Some(stem) = file_name.strip_suffix(".yaml") {
            yaml.push((stem.to_string(), path));
        } else if file_name.ends_with(".yml") {
            yml.push(path);
        }
    }
    yaml.sort();
    yml.sort();
    Ok((yaml, yml))
}

fn load_entries(dir: &Path) -> std::io::Result<(LoadResult, Vec<Entry>, Vec<PathBuf>)> {
    let (files, ignored) = list_dir(dir)?;
    let mut result = LoadResult::default();
    let mut entries = Vec::new();
    for (stem, path) in files {
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
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                result
                    .invalid
                    .push(invalid(format!("{file}:1:1: cannot read the file: {e}")));
                continue;
            }
        };
        match parse_file(&path, &name, &text) {
            Ok(Parsed::Unit(unit)) => result.units.push(*unit),
            Ok(Parsed::Slice(slice)) => result.slices.push(slice),
            Err(errors) => result.invalid.push(invalid(errors.join("\n"))),
        }
        entries.push(Entry { stem, path, text });
    }
    Ok((result, entries, ignored))
}

/// Reads every `NAME.yaml` in `dir`. Only an unreadable directory is an `Err`; bad files
/// end up in `LoadResult::invalid`. Cross-file problems that make a single file unusable
/// are not checked here (unknown dependencies and cycles are the engine's business).
pub fn load_dir(dir: &Path) -> std::io::Result<LoadResult> {
    load_entries(dir).map(|(result, _, _)| result)
}

/// Whether a `check_dir` line is a warning (`FILE:LINE:COL: warning: …`) rather than an
/// error; `sup check` should fail only on errors.
pub fn is_warning(line: &str) -> bool {
    line.contains(": warning: ")
}

/// `sup check`: every problem in the directory as `FILE:LINE:COL: message` lines
/// (empty when all files are valid). Besides each file's own errors: a unit whose `slice`
/// is not a slice file here, a slice whose parent is unknown or that is in a parent
/// loop; and, as warnings (see `is_warning`), `requires` naming no file here and
/// `*.yml` files that are ignored.
pub fn check_dir(dir: &Path) -> std::io::Result<Vec<String>> {
    let (result, entries, ignored) = load_entries(dir)?;
    let mut lines: Vec<String> = Vec::new();
    for bad in &result.invalid {
        lines.extend(bad.message.lines().map(str::to_string));
    }
    let all: HashSet<&str> = entries.iter().map(|e| e.stem.as_str()).collect();
    let invalid: HashSet<&str> = result.invalid.iter().map(|i| i.name.as_str()).collect();
    let slices: HashMap<&str, Option<&str>> = result
        .slices
        .iter()
        .map(|s| (s.name.as_str(), s.parent.as_ref().map(UnitName::as_str)))
        .collect();
    let text_of = |path: &Path| {
        entries
            .iter()
            .find(|e| e.path == path)
            .map_or("", |e| e.text.as_str())
    };
    let at = |path: &Path, key: &str, message: String| {
        let (line, col) = key_position(text_of(path), key);
        format!("{}:{line}:{col}: {message}", path.display())
    };
    // Why `name` cannot be used as a slice, if it cannot (invalid files are already reported).
    let slice_problem = |name: &str| {
        if slices.contains_key(name) || invalid.contains(name) {
            None
        } else if all.contains(name) {
            Some(format!(
                "{name:?} is a unit, not a slice (a slice file has kind: slice)"
            ))
        } else {
            Some(format!(
                "unknown slice {name:?} (no {name}.yaml with kind: slice here)"
            ))
        }
    };

    for unit in &result.units {
        if let Some(problem) = unit.slice.as_ref().and_then(|s| slice_problem(s.as_str())) {
            lines.push(at(&unit.path, "slice", format!("slice: {problem}")));
        }
        for dep in &unit.requires {
            if !all.contains(dep.as_str()) {
                let message = format!("warning: requires unknown unit {:?}", dep.as_str());
                lines.push(at(&unit.path, "requires", message));
            }
        }
    }
    for slice in &result.slices {
        if let Some(problem) = slice
            .parent
            .as_ref()
            .and_then(|p| slice_problem(p.as_str()))
        {
            lines.push(at(&slice.path, "slice", format!("slice: parent {problem}")));
            continue;
        }
        // Walk up the parents; coming back to this slice is a loop.
        let mut seen = vec![slice.name.as_str()];
        let mut next = slices.get(slice.name.as_str()).copied().flatten();
        while let Some(parent) = next {
            if parent == slice.name.as_str() {
                let chain = format!("{} -> {parent}", seen.join(" -> "));
                lines.push(at(
                    &slice.path,
                    "slice",
                    format!("slice: parent loop ({chain})"),
                ));
                break;
            }
            if seen.contains(&parent) {
                break;
            }
            seen.push(parent);
            next = slices.get(parent).copied().flatten();
        }
    }
    for path in ignored {
        let message = "warning: ignored (unit files must be named NAME.yaml)".to_string();
        lines.push(format!("{}:1:1: {message}", path.display()));
    }
    Ok(lines)
}
