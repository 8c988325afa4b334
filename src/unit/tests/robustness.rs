//! No input makes the parser panic, and every error it gives is well formed.

use super::{parse, EVERY_KEY};

/// Every error line is `t.yaml:LINE:COL: message` with a 1-based position inside the file
/// and a lowercase message.
#[track_caller]
fn assert_well_formed(text: &str, errors: &[String]) {
    let lines = text.lines().count().max(1);
    for e in errors {
        let mut parts = e.splitn(4, ':');
        let (file, line, col, msg) = (parts.next(), parts.next(), parts.next(), parts.next());
        assert_eq!(file, Some("t.yaml"), "{e:?} for {text:?}");
        let line: usize = line.and_then(|l| l.parse().ok()).expect("line number");
        let col: usize = col.and_then(|c| c.parse().ok()).expect("column number");
        assert!(
            line >= 1 && line <= lines + 1 && col >= 1,
            "{e:?} for {text:?}"
        );
        let msg = msg.expect("message");
        assert!(msg.starts_with(' ') && msg.len() > 1, "{e:?}");
        let first = msg.chars().nth(1).unwrap_or(' ');
        assert!(!first.is_uppercase(), "message should be lowercase: {e:?}");
    }
}

#[test]
fn no_panic_on_truncated_or_damaged_files() {
    let mut inputs: Vec<String> = Vec::new();
    for (i, _) in EVERY_KEY.char_indices() {
        inputs.push(EVERY_KEY[..i].to_string());
    }
    let lines: Vec<&str> = EVERY_KEY.lines().collect();
    for skip in 0..lines.len() {
        let damaged: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != skip)
            .map(|(_, l)| *l)
            .collect();
        inputs.push(damaged.join("\n"));
        let mut swapped = lines.clone();
        swapped[skip] = "  : ][ {";
        inputs.push(swapped.join("\n"));
    }
    for junk in ["\0", "\u{feff}exec: x", "exec: *a", "&a exec: x", "? [a]\n: b", "exec: !!binary aGk=", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["] {
        inputs.push(junk.to_string());
    }
    for text in &inputs {
        if let Err(errors) = parse(text) {
            assert!(!errors.is_empty(), "no message for {text:?}");
            assert_well_formed(text, &errors);
        }
    }
}
