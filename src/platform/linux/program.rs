//! Finding a command's program on Linux as `execvp` does: `PATH` unless the name has a
//! slash; executable means a regular file with an execute bit.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::platform::env::DEFAULT_PATH;
use crate::platform::program::Unrunnable;

fn is_executable_file(p: &Path) -> Option<bool> {
    let meta = std::fs::metadata(p).ok()?;
    Some(meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Looks `prog` up as `execvp` would (PATH unless it has a slash): the file to run, or why
/// there is none. A file found but not executable gives 126, like a shell.
pub fn resolve(prog: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, Unrunnable> {
    if prog.is_empty() {
        return Err(Unrunnable::NotFound);
    }
    if prog.as_bytes().contains(&b'/') {
        return match is_executable_file(Path::new(prog)) {
            Some(true) => Ok(PathBuf::from(prog)),
            Some(false) => Err(Unrunnable::NotExecutable),
            None => Err(Unrunnable::NotFound),
        };
    }
    let path = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut seen = false;
    for dir in path
        .as_bytes()
        .split(|b| *b == b':')
        .filter(|d| !d.is_empty())
    {
        let candidate = Path::new(OsStr::from_bytes(dir)).join(prog);
        match is_executable_file(&candidate) {
            Some(true) => return Ok(candidate),
            Some(false) => seen = true,
            None => {}
        }
    }
    Err(if seen {
        Unrunnable::NotExecutable
    } else {
        Unrunnable::NotFound
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn resolve_str(prog: &str, path_var: Option<&str>) -> Result<PathBuf, Unrunnable> {
        resolve(OsStr::new(prog), path_var.map(OsStr::new))
    }

    #[test]
    fn resolution() {
        assert!(resolve_str("sh", Some("/bin:/usr/bin")).is_ok());
        assert_eq!(
            resolve_str("no-such-program-xyz", Some("/bin")),
            Err(Unrunnable::NotFound)
        );
        let plain = std::env::temp_dir().join(format!("sup-entry-test-{}", std::process::id()));
        std::fs::write(&plain, "not a program").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            resolve(plain.as_os_str(), None),
            Err(Unrunnable::NotExecutable)
        );
        let _ = std::fs::remove_file(&plain);
        assert_eq!(resolve_str("/etc", None), Err(Unrunnable::NotExecutable));
        assert_eq!(resolve_str("/no/such", None), Err(Unrunnable::NotFound));
        assert_eq!(resolve_str("", None), Err(Unrunnable::NotFound));
    }

    #[test]
    fn resolution_of_names_that_are_not_utf8() {
        let mut name = b"sup-entry-\xff-".to_vec();
        name.extend_from_slice(std::process::id().to_string().as_bytes());
        let dir = std::env::temp_dir().join(OsStr::from_bytes(&name));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let prog = OsStr::from_bytes(b"prog\xfe");
        let file = dir.join(prog);
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut path = OsString::from("/no/such:");
        path.push(&dir);
        let found = resolve(prog, Some(&path));
        let missing = resolve(OsStr::from_bytes(b"other\xfe"), Some(&path));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(found, Ok(file));
        assert_eq!(missing, Err(Unrunnable::NotFound));
    }
}
