//! The documentation users read is checked against the program (issue 16):
//! - every key the parser accepts (`sup::unit::keys`: top-level and nested keys, dotted)
//!   is a row of a key table in `docs/units.md`, and every row names a key the parser
//!   accepts (tables after a `<!-- check: pending -->` line are exempt from the second
//!   rule: keys being implemented);
//! - every ```yaml block of `docs/*.md` and `README.md` that is a unit file (a top-level
//!   `exec:` or `kind:` line, or a `# file: NAME.yaml` line) passes the real `sup check`.
//!   `# file: NAME.yaml` lines split a block into several files of one directory (for
//!   examples with dependencies); without one the file is `example.yaml`. A block after
//!   `<!-- check: pending -->` must still FAIL `sup check` (it uses keys not parsed yet):
//!   when it passes, the marker is stale and this test says so.
//!
//! `scripts/doc-check` runs this test on its own.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const PENDING: &str = "<!-- check: pending -->";
const KEY_HEADER: &str = "| key | type | default | platforms | meaning |";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A key table's rows: (line number, key, pending).
fn table_keys(text: &str) -> Vec<(usize, String, bool)> {
    let mut out = Vec::new();
    let mut in_table = false;
    let mut pending = false;
    let mut marker = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t == PENDING {
            marker = true;
            continue;
        }
        if t == KEY_HEADER {
            in_table = true;
            pending = marker;
            marker = false;
            continue;
        }
        if !t.starts_with('|') {
            in_table = false;
            if !t.is_empty() {
                marker = false;
            }
            continue;
        }
        if !in_table || t.starts_with("|---") {
            continue;
        }
        let first = t
            .trim_start_matches('|')
            .split('|')
            .next()
            .unwrap_or("")
            .trim();
        // A row may name several keys that share a description: `a`, `b`.
        for key in first.split(", ") {
            out.push((i + 1, key.trim().trim_matches('`').to_string(), pending));
        }
    }
    out
}

#[test]
fn every_parser_key_is_in_units_md_and_every_documented_key_is_parsed() {
    let path = root().join("docs/units.md");
    let text = fs::read_to_string(&path).expect("docs/units.md");
    let rows = table_keys(&text);
    assert!(
        rows.len() > 50,
        "docs/units.md: only {} key rows found (header must be {KEY_HEADER:?})",
        rows.len()
    );
    let documented: BTreeSet<&str> = rows.iter().map(|(_, k, _)| k.as_str()).collect();
    let mut accepted: BTreeSet<String> = sup::unit::keys::unit_keys().into_iter().collect();
    accepted.extend(sup::unit::keys::slice_keys());

    let missing: Vec<&String> = accepted
        .iter()
        .filter(|k| !documented.contains(k.as_str()))
        .collect();
    let unknown: Vec<String> = rows
        .iter()
        .filter(|(_, k, pending)| !pending && !accepted.contains(k))
        .map(|(line, k, _)| format!("docs/units.md:{line}: {k}"))
        .collect();
    assert!(
        missing.is_empty(),
        "keys the parser accepts but docs/units.md has no row for (add a row \
         `| KEY | type | default | platforms | meaning |`): {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "rows of docs/units.md naming keys the parser does not accept (a typo, a removed \
         key, or a key being implemented: put `{PENDING}` before its table): {unknown:?}"
    );
}

/// Every map a top-level key accepts must be known to `unit::keys`: an unknown key inside
/// it is refused by the parser, so its keys have a list that `keys` must report.
#[test]
fn every_nested_map_of_the_parser_is_listed() {
    let nested: Vec<&str> = sup::unit::keys::nested_maps()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let dir = unique_dir("docs-nested");
    for key in sup::unit::keys::unit_top_keys() {
        for value in ["{zz_probe: 1}", "[{zz_probe: 1}]"] {
            let file = dir.join("probe.yaml");
            let exec = if *key == "exec" {
                ""
            } else {
                "exec: [/bin/true]\n"
            };
            fs::write(&file, format!("{exec}{key}: {value}\n")).unwrap();
            let (_, out) = sup_check(&dir);
            let refused_inside = out.contains("\"zz_probe\"") && out.contains(*key);
            let open_map = ["env", "rlimits"].contains(key);
            if refused_inside && !open_map && out.contains("unknown") {
                assert!(
                    nested.contains(key),
                    "{key}: the parser refuses unknown keys inside it ({out}) but \
                     sup::unit::keys::nested_maps() does not list its keys"
                );
            }
        }
    }
}

/// `sup check --units DIR`: exit code and everything it printed.
fn sup_check(dir: &Path) -> (i32, String) {
    let mut cmd = Command::new(SUP);
    cmd.env_remove("SUP_UNITS")
        .arg("check")
        .arg("--units")
        .arg(dir);
    let (code, out, err) = run_bounded(cmd, SUPCTL_TIMEOUT);
    (code, format!("{out}{err}"))
}

/// A fenced ```yaml block: where it starts, its text, and whether it is marked pending.
struct Block {
    file: String,
    line: usize,
    text: String,
    pending: bool,
}

fn yaml_blocks(file: &str, text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut marker = false;
    let mut current: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(block) = current.as_mut() {
            if t == "```" {
                out.push(current.take().unwrap());
            } else {
                block.text.push_str(line);
                block.text.push('\n');
            }
            continue;
        }
        if t == PENDING {
            marker = true;
        } else if t == "```yaml" {
            current = Some(Block {
                file: file.to_string(),
                line: i + 1,
                text: String::new(),
                pending: marker,
            });
            marker = false;
        } else if !t.is_empty() {
            marker = false;
        }
    }
    out
}

/// The unit files of a block, split at `# file: NAME.yaml` lines.
fn unit_files(text: &str) -> Option<Vec<(String, String)>> {
    let is_unit = text
        .lines()
        .any(|l| l.starts_with("exec:") || l.starts_with("kind:") || l.starts_with("# file: "));
    if !is_unit {
        return None;
    }
    let mut files: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("# file: ") {
            files.push((name.trim().to_string(), String::new()));
            continue;
        }
        if files.is_empty() {
            files.push(("example.yaml".to_string(), String::new()));
        }
        let last = files.last_mut().unwrap();
        last.1.push_str(line);
        last.1.push('\n');
    }
    Some(files)
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn every_unit_example_in_the_docs_passes_sup_check() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in doc_files() {
        let name = path.strip_prefix(root()).unwrap().display().to_string();
        let text = fs::read_to_string(&path).unwrap();
        for block in yaml_blocks(&name, &text) {
            let Some(files) = unit_files(&block.text) else {
                continue;
            };
            let dir = unique_dir("docs-example");
            for (file, body) in &files {
                assert!(
                    !file.contains('/'),
                    "{}:{}: # file: {file} must be a bare NAME.yaml",
                    block.file,
                    block.line
                );
                fs::write(dir.join(file), body).unwrap();
            }
            let (code, out) = sup_check(&dir);
            checked += 1;
            match (code, block.pending) {
                (0, false) | (1, true) => {}
                (0, true) => failures.push(format!(
                    "{}:{}: this example is marked `{PENDING}` but now passes `sup check`: \
                     remove the marker",
                    block.file, block.line
                )),
                _ => failures.push(format!(
                    "{}:{}: example fails `sup check` (exit {code}):\n{out}",
                    block.file, block.line
                )),
            }
        }
    }
    assert!(checked >= 10, "only {checked} unit examples found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
