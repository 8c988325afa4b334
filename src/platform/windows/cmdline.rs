//! Building a Windows command line from an argv so that the child's parser
//! (`CommandLineToArgvW`, and the C runtime's and Rust's, which agree on these rules)
//! gives back exactly that argv.
//!
//! The rules being inverted: arguments are split on spaces and tabs outside double
//! quotes; `"` toggles quoting; `2n` backslashes before a `"` are `n` backslashes and
//! the quote is a delimiter, `2n+1` are `n` backslashes and a literal `"`; backslashes
//! not before a `"` are literal. The program name (`argv[0]`) is parsed apart: up to
//! the next `"` if it starts with one, else up to the first space or tab, with no
//! escapes at all.

use std::ffi::{OsStr, OsString};
use std::os::windows::ffi::OsStrExt;

/// The longest command line `CreateProcessW` takes, in UTF-16 units (NUL excluded).
pub const MAX_COMMAND_LINE: usize = 32766;

/// Why an argv cannot be written as a command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdlineError {
    #[error("the command is empty")]
    Empty,
    #[error("argument {index} ({arg:?}) contains a NUL character")]
    Nul { index: usize, arg: OsString },
    #[error("the program name {0:?} contains a double quote, which Windows cannot pass")]
    QuoteInProgram(OsString),
    #[error("the command line is {len} UTF-16 units long, more than Windows' {MAX_COMMAND_LINE}")]
    TooLong { len: usize },
}

/// `n` backslashes.
fn backslash_run(n: usize) -> impl Iterator<Item = u16> {
    std::iter::repeat(u16::from(b'\\')).take(n)
}

/// Appends one argument (not the program name) to `out`, quoted only when needed.
pub fn push_arg(out: &mut Vec<u16>, arg: &OsStr) {
    let units: Vec<u16> = arg.encode_wide().collect();
    let quote = units.is_empty()
        || units
            .iter()
            .any(|&c| c == u16::from(b' ') || c == u16::from(b'\t'));
    if quote {
        out.push(u16::from(b'"'));
    }
    let mut backslashes = 0usize;
    for &c in &units {
        if c == u16::from(b'\\') {
            backslashes += 1;
            continue;
        }
        if c == u16::from(b'"') {
            // The run before a quote doubles, and the quote itself is escaped.
            out.extend(backslash_run(2 * backslashes + 1));
        } else {
            out.extend(backslash_run(backslashes));
        }
        backslashes = 0;
        out.push(c);
    }
    if quote {
        // A run before the closing quote doubles, so that quote stays a delimiter.
        out.extend(backslash_run(2 * backslashes));
        out.push(u16::from(b'"'));
    } else {
        out.extend(backslash_run(backslashes));
    }
}

/// The command line for `argv` (program name first), without the terminating NUL.
pub fn command_line(argv: &[OsString]) -> Result<Vec<u16>, CmdlineError> {
    let (program, args) = argv.split_first().ok_or(CmdlineError::Empty)?;
    for (index, arg) in argv.iter().enumerate() {
        if arg.encode_wide().any(|c| c == 0) {
            return Err(CmdlineError::Nul {
                index,
                arg: arg.clone(),
            });
        }
    }
    let name: Vec<u16> = program.encode_wide().collect();
    if name.contains(&u16::from(b'"')) {
        return Err(CmdlineError::QuoteInProgram(program.clone()));
    }
    let mut out = Vec::with_capacity(name.len() + 2);
    // Always quoted: a name with spaces then needs no special case, and an empty one
    // stays one argument.
    out.push(u16::from(b'"'));
    out.extend_from_slice(&name);
    out.push(u16::from(b'"'));
    for arg in args {
        out.push(u16::from(b' '));
        push_arg(&mut out, arg);
    }
    if out.len() > MAX_COMMAND_LINE {
        return Err(CmdlineError::TooLong { len: out.len() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(s: &str) -> String {
        let mut out = Vec::new();
        push_arg(&mut out, OsStr::new(s));
        String::from_utf16(&out).unwrap()
    }

    #[test]
    fn quotes_only_what_needs_it() {
        let table = [
            ("plain", "plain"),
            ("", r#""""#),
            ("two words", r#""two words""#),
            ("tab\there", "\"tab\there\""),
            (r#"say "hi""#, r#""say \"hi\"""#),
            (r#"a"b"#, r#"a\"b"#),
            (r#"a b"c"#, r#""a b\"c""#),
            (r"C:\dir\", r"C:\dir\"),
            (r"C:\my dir\", r#""C:\my dir\\""#),
            (r#"back\"quote"#, r#"back\\\"quote"#),
            (r#"\\"#, r#"\\"#),
            (r#"\\" "#, r#""\\\\\" ""#),
            ("ünï cødé", "\"ünï cødé\""),
        ];
        for (input, want) in table {
            assert_eq!(arg(input), want, "quoting {input:?}");
        }
    }

    #[test]
    fn program_is_quoted_without_escapes_and_checked() {
        let argv = [
            OsString::from(r"C:\Program Files\x.exe"),
            OsString::from("a"),
        ];
        let line = String::from_utf16(&command_line(&argv).unwrap()).unwrap();
        assert_eq!(line, r#""C:\Program Files\x.exe" a"#);
        assert_eq!(command_line(&[]), Err(CmdlineError::Empty));
        let quoted = [OsString::from(r#"x"y"#)];
        assert!(matches!(
            command_line(&quoted),
            Err(CmdlineError::QuoteInProgram(_))
        ));
        let nul = [OsString::from("x"), OsString::from("a\0b")];
        assert!(matches!(
            command_line(&nul),
            Err(CmdlineError::Nul { index: 1, .. })
        ));
        let long = [
            OsString::from("x"),
            OsString::from("a".repeat(MAX_COMMAND_LINE)),
        ];
        assert!(matches!(
            command_line(&long),
            Err(CmdlineError::TooLong { .. })
        ));
    }
}
