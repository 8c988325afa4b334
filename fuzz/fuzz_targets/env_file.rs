//! Fuzz target: an `env_file`'s bytes through `sup::unit::envfile::parse_env_bytes`, the
//! parser behind `read_env_file`. It must never panic, hang or exhaust memory; what it
//! accepts must be passable to execve (names without `=` or NUL, values without NUL), and
//! every error must name the file and line.
#![no_main]

use std::os::unix::ffi::OsStrExt;

use libfuzzer_sys::fuzz_target;
use sup::unit::envfile::{parse_env_bytes, MAX_ENV_FILE};

fuzz_target!(|data: &[u8]| {
    if data.len() as u64 > MAX_ENV_FILE {
        return;
    }
    match parse_env_bytes("fuzz.env", data) {
        Ok(vars) => {
            let lines = data.split(|b| *b == b'\n').count();
            assert!(vars.len() <= lines, "more variables than lines");
            for (name, value) in &vars {
                let name = name.as_bytes();
                assert!(!name.is_empty(), "empty variable name");
                assert!(!name.contains(&b'='), "'=' in name {name:?}");
                assert!(!name.contains(&0), "NUL in name {name:?}");
                assert!(
                    !value.as_bytes().contains(&0),
                    "NUL in the value of {name:?}"
                );
            }
        }
        Err(error) => {
            let rest = error
                .strip_prefix("fuzz.env:")
                .unwrap_or_else(|| panic!("error without the file name: {error:?}"));
            let (line, message) = rest
                .split_once(": ")
                .unwrap_or_else(|| panic!("error without a line: {error:?}"));
            let line: usize = line
                .parse()
                .unwrap_or_else(|_| panic!("error without a line: {error:?}"));
            assert!(line >= 1 && !message.is_empty(), "{error:?}");
            assert!(!error.contains('\n'), "error on several lines: {error:?}");
        }
    }
});
