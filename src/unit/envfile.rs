//! Reading a unit's `env_file`s. The file is read as bytes: values need not be UTF-8 and
//! reach the unit as written; names must be valid (UTF-8, no whitespace, no NUL).

use std::ffi::OsString;
use std::path::Path;

/// The largest `env_file` read (1 MiB, like a unit file).
pub const MAX_ENV_FILE: u64 = 1 << 20;

/// Reads a regular file of at most `cap` bytes without ever blocking: opened with
/// `O_NONBLOCK` (a FIFO cannot hang the caller in `open` or `read`) and refused unless
/// it is a regular file.
pub fn read_small_regular(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind, Read};
    let f = crate::platform::fs::open_read_nonblocking(path)?;
    let meta = f.metadata()?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else {
            crate::platform::fs::special_kind(&kind).unwrap_or("not a file")
        };
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("not a regular file ({what})"),
        ));
    }
    if meta.len() > cap {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{} bytes, more than the {cap} allowed", meta.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("more than the {cap} bytes allowed"),
        ));
    }
    Ok(bytes)
}

/// Reads an `env_file`: `KEY=VALUE` lines, `#` comments and blank lines ignored, an
/// optional `export ` prefix, values optionally in single (literal) or double quotes
/// (`\"`, `\\`, `\n`, `\$` escapes). The error names the file and line.
pub fn read_env_file(path: &Path) -> Result<Vec<(OsString, OsString)>, String> {
    let file = path.display();
    let bytes =
        read_small_regular(path, MAX_ENV_FILE).map_err(|e| format!("{file}: cannot read: {e}"))?;
    parse_env_bytes(&file.to_string(), &bytes)
}

/// Parses an `env_file`'s bytes (the grammar of [`read_env_file`]); errors read
/// `FILE_LABEL:LINE: message`.
pub fn parse_env_bytes(
    file_label: &str,
    bytes: &[u8],
) -> Result<Vec<(OsString, OsString)>, String> {
    let file = file_label;
    let mut vars = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let n = i + 1;
        let line = raw.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let line = line
            .strip_prefix(b"export ")
            .map_or(line, <[u8]>::trim_ascii_start);
        let Some(eq) = line.iter().position(|b| *b == b'=') else {
            return Err(format!("{file}:{n}: expected KEY=VALUE"));
        };
        let key = line[..eq].trim_ascii_end();
        let Some(key) = valid_name(key) else {
            return Err(format!("{file}:{n}: invalid variable name {}", shown(key)));
        };
        let value = unquote(line[eq + 1..].trim_ascii()).map_err(|e| format!("{file}:{n}: {e}"))?;
        if value.contains(&0) {
            return Err(format!(
                "{file}:{n}: the value of {key} contains a NUL byte"
            ));
        }
        let value = crate::platform::fs::os_string_from_bytes(value).map_err(|v| {
            format!(
                "{file}:{n}: the value of {key} is not valid text on this platform ({})",
                shown(&v)
            )
        })?;
        vars.push((OsString::from(key), value));
    }
    Ok(vars)
}

/// `key` as a variable name: non-empty UTF-8 without whitespace or NUL.
fn valid_name(key: &[u8]) -> Option<&str> {
    let key = std::str::from_utf8(key).ok()?;
    let bad = key.is_empty() || key.chars().any(|c| c.is_whitespace() || c == '\0');
    (!bad).then_some(key)
}

/// Bytes quoted for a message: as a string when UTF-8, else with `\xNN` escapes.
fn shown(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => format!("{s:?}"),
        Err(_) => format!("\"{}\"", bytes.escape_ascii()),
    }
}

/// A value without its quotes and escapes. Quotes and escapes are ASCII, so working on
/// bytes leaves every other byte (UTF-8 or not) as it is.
fn unquote(value: &[u8]) -> Result<Vec<u8>, String> {
    let Some(&quote) = value.first().filter(|c| **c == b'"' || **c == b'\'') else {
        return Ok(value.to_vec());
    };
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value[1..].iter();
    while let Some(&c) = rest.next() {
        match c {
            c if c == quote => {
                let after = rest.as_slice().trim_ascii();
                if after.is_empty() || after.starts_with(b"#") {
                    return Ok(out);
                }
                let after = shown(after);
                return Err(format!("unexpected text after the closing quote: {after}"));
            }
            b'\\' if quote == b'"' => match rest.next() {
                Some(b'n') => out.push(b'\n'),
                Some(&e @ (b'"' | b'\\' | b'$' | b'`')) => out.push(e),
                Some(&other) => out.extend_from_slice(&[b'\\', other]),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(format!("unterminated {} quote", quote as char))
}
