//! `sup import` / `supctl import`: systemd `.service` files → sup unit files.
//!
//! `ini` reads the unit file syntax, `words` systemd's quoting, `command` the `Exec*=`
//! command lines (prefixes, specifiers, variables), `values` time spans and sizes,
//! `names` unit names, `map` (with `reader`, `exec`, `limits`) the directives → sup keys
//! (every directive not mapped is a warning `FILE:LINE: warning: …`), `emit` the YAML.
//! The result is checked with sup's own unit parser before it is written. docs/import.md
//! is the user's view.

mod command;
mod emit;
mod exec;
mod ini;
mod limits;
mod map;
mod names;
mod reader;
mod values;
mod words;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A systemd unit file is read up to this size (as a sup unit file).
pub const MAX_UNIT_FILE: u64 = 1 << 20;

/// A converted unit: its sup name, the YAML, and the warnings (`FILE:LINE: warning: …`).
#[derive(Debug)]
pub struct Imported {
    pub name: String,
    pub yaml: String,
    pub warnings: Vec<String>,
}

/// A file that could not be converted: why (`FILE:LINE: error: …`), and the warnings met
/// before.
#[derive(Debug)]
pub struct Failed {
    pub error: String,
    pub warnings: Vec<String>,
}

/// Converts the bytes of one unit file. `label` names the file in messages; `file_name`
/// (like `ssh.service`) gives the unit's name.
pub fn convert_bytes(label: &str, file_name: &str, bytes: &[u8]) -> Result<Imported, Failed> {
    let fail = |line: usize, text: String| Failed {
        error: format!("{label}:{line}: error: {text}"),
        warnings: Vec::new(),
    };
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        return Err(fail(
            line,
            "binary data (a NUL byte): not a unit file".to_string(),
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.valid_up_to();
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
            return Err(fail(line, "not UTF-8 text: not a unit file".to_string()));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let parts = names::parts(file_name).map_err(|e| fail(1, e))?;
    let (ini, problems) = ini::parse(text);
    let mut reader = map::Reader::new(&ini.entries);
    for (line, text) in problems {
        reader.warn(line, text);
    }
    for (section, line) in &ini.sections {
        if !["Unit", "Service", "Install"].contains(&section.as_str())
            && !ini.entries.iter().any(|e| &e.section == section)
        {
            reader.warn(
                *line,
                format!("[{section}]: sup has no such section (empty here)"),
            );
        }
    }
    if !ini.sections.iter().any(|(s, _)| s == "Service") {
        let what = if ini.entries.is_empty() {
            "no directives at all"
        } else {
            "no [Service] section"
        };
        return Err(fail(1, format!("{what}: not a service unit")));
    }
    let converted = map::convert(&mut reader, &parts);
    let mut notes = std::mem::take(&mut reader.notes);
    map::sort_notes(&mut notes);
    let warnings: Vec<String> = notes
        .iter()
        .map(|n| format!("{label}:{}: warning: {}", n.line, n.text))
        .collect();
    let converted = match converted {
        Ok(c) => c,
        Err(note) => {
            return Err(Failed {
                error: format!("{label}:{}: error: {}", note.line, note.text),
                warnings,
            })
        }
    };
    let mut yaml = format!(
        "# {}.yaml: imported from {} by `sup import` (see docs/import.md).\n",
        converted.name,
        label.rsplit('/').next().unwrap_or(label)
    );
    for c in &converted.comments {
        yaml.push_str(&comment(c));
    }
    if !notes.is_empty() {
        yaml.push_str("# Not imported or changed (line in the systemd file):\n");
        for n in &notes {
            yaml.push_str(&comment(&format!("  {}: {}", n.line, n.text)));
        }
    }
    yaml.push_str(&emit::to_yaml(&converted.keys));
    self_check(&converted.name, &yaml).map_err(|e| Failed {
        error: format!("{label}:1: error: the converted unit is not valid for sup: {e}"),
        warnings: warnings.clone(),
    })?;
    Ok(Imported {
        name: converted.name,
        yaml,
        warnings,
    })
}

/// One comment line (newlines and control characters cannot break out of it).
fn comment(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "#{}{clean}\n",
        if clean.starts_with(' ') { "" } else { " " }
    )
}

/// Parses the YAML as sup would.
fn self_check(name: &str, yaml: &str) -> Result<(), String> {
    let unit_name = crate::unit::UnitName::new(name)?;
    let path = PathBuf::from(format!("{name}.yaml"));
    crate::unit::parse::parse_file(&path, &unit_name, yaml)
        .map(|_| ())
        .map_err(|errors| errors.join("; "))
}

/// Reads and converts one file.
pub fn convert_file(path: &Path) -> Result<Imported, Failed> {
    let label = path.display().to_string();
    if std::fs::canonicalize(path).is_ok_and(|p| p == Path::new("/dev/null")) {
        return Err(Failed {
            error: format!(
                "{label}: error: a masked unit (a link to /dev/null): nothing to import"
            ),
            warnings: Vec::new(),
        });
    }
    let bytes =
        crate::unit::envfile::read_small_regular(path, MAX_UNIT_FILE).map_err(|e| Failed {
            error: format!("{label}: error: cannot read: {e}"),
            warnings: Vec::new(),
        })?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    convert_bytes(&label, &file_name, &bytes)
}

/// Exit codes of the import command.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;

/// The arguments of `supctl import` and `sup import` (one definition for both).
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// systemd unit files (NAME.service)
    #[arg(value_name = "FILE.service", required = true)]
    pub files: Vec<PathBuf>,
    /// Write DIR/NAME.yaml for each file instead of printing the YAML
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --out: replace files that exist
    #[arg(long, requires = "out")]
    pub force: bool,
}

impl ImportArgs {
    /// Converts the files (stdout, stderr of this process); the exit code.
    pub fn run(&self) -> u8 {
        run(
            &self.files,
            self.out.as_deref(),
            self.force,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )
    }
}

/// The `import` command of both binaries: converts each file; with `out`, writes
/// `OUT/NAME.yaml` (an existing file only with `force`), else prints the YAML. Warnings and
/// errors go to `err`. Exit 0 when every file was converted, 1 otherwise.
pub fn run(
    files: &[PathBuf],
    out_dir: Option<&Path>,
    force: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut code = EXIT_OK;
    let mut names = HashSet::new();
    if let Some(dir) = out_dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            let _ = writeln!(
                err,
                "{}: error: cannot create the directory: {e}",
                dir.display()
            );
            return EXIT_FAILED;
        }
    }
    let mut printed = 0;
    for path in files {
        let imported = match convert_file(path) {
            Ok(i) => i,
            Err(f) => {
                for w in &f.warnings {
                    let _ = writeln!(err, "{w}");
                }
                let _ = writeln!(err, "{}", f.error);
                code = EXIT_FAILED;
                continue;
            }
        };
        for w in &imported.warnings {
            let _ = writeln!(err, "{w}");
        }
        let label = path.display();
        if !names.insert(imported.name.clone()) {
            let _ = writeln!(
                err,
                "{label}: error: another file given here is also imported as {}.yaml; import them one at a time",
                imported.name
            );
            code = EXIT_FAILED;
            continue;
        }
        match out_dir {
            Some(dir) => {
                let target = dir.join(format!("{}.yaml", imported.name));
                match write_unit(&target, &imported.yaml, force) {
                    Ok(()) => {
                        let _ = writeln!(
                            err,
                            "{label}: imported as {} ({} warnings)",
                            target.display(),
                            imported.warnings.len()
                        );
                    }
                    Err(e) => {
                        let _ = writeln!(err, "{label}: error: {e}");
                        code = EXIT_FAILED;
                    }
                }
            }
            None => {
                if printed > 0 {
                    let _ = writeln!(out);
                }
                let _ = out.write_all(imported.yaml.as_bytes());
                printed += 1;
            }
        }
    }
    let _ = out.flush();
    code
}

/// Writes a unit file through a temporary file and a rename, so a reader (or a sup
/// reload) never sees half of it; refuses to replace one unless `force`.
fn write_unit(target: &Path, yaml: &str, force: bool) -> Result<(), String> {
    if !force && std::fs::symlink_metadata(target).is_ok() {
        return Err(format!(
            "{} exists (use --force to replace it)",
            target.display()
        ));
    }
    let tmp = target.with_extension("yaml.import-tmp");
    std::fs::write(&tmp, yaml).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, target).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", target.display())
    })
}
