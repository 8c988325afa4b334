//! Finding the program a command names, as a shell would before running it (entrypoint
//! mode decides its exit code from this: 127 not found, 126 not executable).

/// Why a command cannot be run, with the shell's exit code for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Unrunnable {
    NotFound,
    NotExecutable,
}

impl Unrunnable {
    pub fn code(&self) -> i32 {
        match self {
            Unrunnable::NotFound => 127,
            Unrunnable::NotExecutable => 126,
        }
    }
}

/// `resolve(prog, path_var) -> Result<PathBuf, Unrunnable>`: the file `prog` names,
/// looked up in `path_var` (the command's `PATH`, else a default) unless it is a path.
#[cfg(target_os = "linux")]
pub use super::linux::program::resolve;
#[cfg(windows)]
pub use super::windows::program::resolve;
