//! Finding a command's program on Windows: a name with a path separator is taken as a
//! path, any other is looked up in `PATH` (`;`-separated); a name without an extension
//! also matches with each extension of `PATHEXT` (`.COM;.EXE;.BAT;.CMD` by default).
//! A directory where a program was looked for is not executable (126).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::platform::program::Unrunnable;

const DEFAULT_PATHEXT: &str = ".COM;.EXE;.BAT;.CMD";

/// `prog` as given, then (without an extension) with each of `PATHEXT`'s.
fn names(prog: &Path) -> Vec<PathBuf> {
    let mut out = vec![prog.to_path_buf()];
    if prog.extension().is_none() {
        let exts = std::env::var_os("PATHEXT").unwrap_or_else(|| DEFAULT_PATHEXT.into());
        for ext in exts.to_string_lossy().split(';').filter(|e| !e.is_empty()) {
            let mut name = OsString::from(prog.as_os_str());
            name.push(ext);
            out.push(PathBuf::from(name));
        }
    }
    out
}

/// The first of `prog`'s names that is a file; `Some(Err(()))` when only something else
/// (a directory) is there; `None` when nothing is.
fn find(prog: &Path) -> Option<Result<PathBuf, ()>> {
    let mut seen = None;
    for name in names(prog) {
        match std::fs::metadata(&name) {
            Ok(m) if m.is_file() => return Some(Ok(name)),
            Ok(_) => seen = Some(Err(())),
            Err(_) => {}
        }
    }
    seen
}

/// The file `prog` names, looked up in `path_var` (else the process's `PATH`) unless it
/// has a path separator; a directory in the way gives 126, nothing 127.
pub fn resolve(prog: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, Unrunnable> {
    if prog.is_empty() {
        return Err(Unrunnable::NotFound);
    }
    let bytes = prog.as_encoded_bytes();
    if bytes.iter().any(|b| matches!(b, b'/' | b'\\' | b':')) {
        return match find(Path::new(prog)) {
            Some(Ok(p)) => Ok(p),
            Some(Err(())) => Err(Unrunnable::NotExecutable),
            None => Err(Unrunnable::NotFound),
        };
    }
    let path = match path_var {
        Some(p) => p.to_os_string(),
        None => std::env::var_os("PATH").unwrap_or_default(),
    };
    let mut seen = false;
    for dir in std::env::split_paths(&path).filter(|d| !d.as_os_str().is_empty()) {
        match find(&dir.join(prog)) {
            Some(Ok(p)) => return Ok(p),
            Some(Err(())) => seen = true,
            None => {}
        }
    }
    Err(if seen {
        Unrunnable::NotExecutable
    } else {
        Unrunnable::NotFound
    })
}
