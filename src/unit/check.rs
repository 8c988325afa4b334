//! `sup check`: every problem of a unit directory as `FILE:LINE:COL: message`. Besides
//! each file's own errors, the cross-file rules that make units fail at run time (the
//! engine applies the same `unit::deps` rules): a `requires` naming no unit and ordering
//! cycles are errors, as are slices that are unknown, not slices, or in a parent loop.
//! Legal but likely mistakes are warnings (`FILE:LINE:COL: warning: …`): `wants` or
//! `on_failure` naming no unit (ignored at run time), `*.yml` files (never read).
//! `after`/`before`/`conflicts` naming no unit are fine, as in systemd: ordering against
//! a unit that is not there is no ordering.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::deps::{cycle_through, ordering_edges, problems, short_list, DepProblem, Via};
use super::load::load_entries;
use super::parse::key_position;
use super::spec::{UnitName, UnitSpec};

/// Whether a `check_dir` line is a warning rather than an error; `sup check` fails only
/// on errors. Only the start of the message counts (`FILE:LINE:COL: warning: …`): an
/// error that quotes a value containing ": warning: " stays an error.
pub fn is_warning(line: &str) -> bool {
    message_start(line).is_some_and(|i| line[i..].starts_with("warning: "))
}

/// Byte index of the message after the first `:LINE:COL: ` of a problem line.
fn message_start(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let digits = |mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i > start).then_some(i)
    };
    (0..b.len()).filter(|&i| b[i] == b':').find_map(|i| {
        let j = digits(i + 1)?;
        let k = digits(j + 1).filter(|_| b.get(j) == Some(&b':'))?;
        (b.get(k) == Some(&b':') && b.get(k + 1) == Some(&b' ')).then_some(k + 2)
    })
}

/// Cycles with more members than this are reported without a path.
const MAX_CYCLE_PATH: usize = 64;

/// `sup check` over `dir`: the problems, errors and warnings (see the module doc); empty
/// when every file is valid. Only an unreadable directory is an `Err`.
pub fn check_dir(dir: &Path) -> std::io::Result<Vec<String>> {
    let loaded = load_entries(dir, true)?;
    let result = &loaded.result;
    let mut lines: Vec<String> = Vec::new();
    for bad in &result.invalid {
        lines.extend(bad.message.lines().map(str::to_string));
    }
    let texts: HashMap<&Path, &str> = loaded
        .entries
        .iter()
        .map(|e| (e.path.as_path(), e.text.as_deref().unwrap_or("")))
        .collect();
    let at = |path: &Path, key: &str, message: String| {
        let text = texts.get(path).copied().unwrap_or("");
        let (line, col) = key_position(text, key);
        format!("{}:{line}:{col}: {message}", path.display())
    };
    let files: HashSet<&str> = loaded.entries.iter().map(|e| e.stem.as_str()).collect();
    let slices: HashMap<&str, Option<&str>> = result
        .slices
        .iter()
        .map(|s| (s.name.as_str(), s.parent.as_ref().map(UnitName::as_str)))
        .collect();
    let invalid: HashSet<&str> = result.invalid.iter().map(|i| i.name.as_str()).collect();

    // The units as the engine sees them: valid units and rejected files, by name.
    let mut graph: Vec<(UnitName, Option<&UnitSpec>)> = result
        .units
        .iter()
        .map(|u| (u.name.clone(), Some(u)))
        .chain(
            result
                .invalid
                .iter()
                .filter_map(|i| UnitName::new(&i.name).ok().map(|n| (n, None))),
        )
        .collect();
    graph.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<UnitName> = graph.iter().map(|(n, _)| n.clone()).collect();
    let specs: Vec<Option<&UnitSpec>> = graph.iter().map(|(_, s)| *s).collect();
    let edges = ordering_edges(&names, &specs);
    let known: HashSet<&str> = names.iter().map(UnitName::as_str).collect();
    let why_unknown = |name: &str| {
        if slices.contains_key(name) {
            format!("{name}.yaml is a slice, not a unit")
        } else {
            format!("no {name}.yaml here")
        }
    };

    for (i, problem) in problems(&names, &specs, &edges).into_iter().enumerate() {
        let Some(spec) = specs[i] else { continue };
        match problem {
            None => {}
            Some(DepProblem::UnknownRequires(missing)) => {
                let quoted: Vec<String> = missing
                    .iter()
                    .map(|m| format!("{:?}", m.as_str()))
                    .collect();
                let quoted: Vec<&str> = quoted.iter().map(String::as_str).collect();
                let message = format!(
                    "requires: unknown unit {} ({}); {} would fail to start (reason dependency)",
                    short_list(&quoted),
                    why_unknown(missing[0].as_str()),
                    spec.name
                );
                lines.push(at(&spec.path, "requires", message));
            }
            Some(DepProblem::Cycle(members)) => {
                lines.push(cycle_line(spec, i, &members, &names, &specs, &edges, &at));
            }
        }
        for (key, list) in [("wants", &spec.wants), ("on_failure", &spec.on_failure)] {
            for dep in list.iter().filter(|d| !known.contains(d.as_str())) {
                let message = format!(
                    "warning: {key} unknown unit {:?} ({}; ignored at run time)",
                    dep.as_str(),
                    why_unknown(dep.as_str())
                );
                lines.push(at(&spec.path, key, message));
            }
        }
    }

    // Why `name` cannot be used as a slice, if it cannot (invalid files are already reported).
    let slice_problem = |name: &str| {
        if slices.contains_key(name) || invalid.contains(name) {
            None
        } else if files.contains(name) {
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
                let message = format!("slice: parent loop ({chain})");
                lines.push(at(&slice.path, "slice", message));
                break;
            }
            if seen.contains(&parent) {
                break;
            }
            seen.push(parent);
            next = slices.get(parent).copied().flatten();
        }
    }
    for path in &loaded.ignored {
        let message = "warning: ignored (unit files must be named NAME.yaml)".to_string();
        lines.push(format!("{}:1:1: {message}", path.display()));
    }
    Ok(lines)
}

/// The line for unit `i` in the ordering cycle `members`: at its own key that names
/// another member, with the cycle through it and the file and key of every step.
fn cycle_line(
    spec: &UnitSpec,
    i: usize,
    members: &[usize],
    names: &[UnitName],
    specs: &[Option<&UnitSpec>],
    edges: &[Vec<(usize, Via)>],
    at: &dyn Fn(&Path, &str, String) -> String,
) -> String {
    let path_of = |j: usize| specs[j].map_or_else(String::new, |s| s.path.display().to_string());
    let in_cycle = |list: &[UnitName]| {
        list.iter().any(|n| {
            names
                .binary_search(n)
                .is_ok_and(|j| members.binary_search(&j).is_ok())
        })
    };
    // The unit's own key that names another member, if it has one (a unit can be in a
    // cycle only through the others' `before`).
    let key = [
        ("requires", &spec.requires),
        ("after", &spec.after),
        ("before", &spec.before),
    ]
    .into_iter()
    .find(|(_, list)| in_cycle(list))
    .map(|(key, _)| key);
    let detail = if members.len() <= MAX_CYCLE_PATH {
        let steps = cycle_through(i, members, edges);
        let mut chain = vec![names[i].as_str()];
        chain.extend(steps.iter().map(|&(_, _, to)| names[to].as_str()));
        let why: Vec<String> = steps
            .iter()
            .map(|&(from, via, to)| match via {
                Via::Before => format!("{}: before {}", path_of(to), names[from]),
                _ => format!("{}: {} {}", path_of(from), via.key(), names[to]),
            })
            .collect();
        format!(
            "{} (each waits for the next: {})",
            chain.join(" -> "),
            why.join("; ")
        )
    } else {
        let all: Vec<&str> = members.iter().map(|&j| names[j].as_str()).collect();
        format!("between {} units: {}", members.len(), short_list(&all))
    };
    let message =
        format!("dependency cycle {detail}; the units of a cycle never start (reason dependency)");
    match key {
        Some(key) => at(&spec.path, key, format!("{key}: {message}")),
        None => format!("{}:1:1: {message}", spec.path.display()),
    }
}
