//! The pre-scan: nesting counted as libyaml counts it (brackets in quotes, comments,
//! block scalars and plain text are not nesting; brackets after tricky text are), on
//! fixed cases and on generated documents checked against serde_yaml.

use crate::unit::limits::MAX_DEPTH;
use crate::unit::scan::{prescan, ScanError};

fn depth_error(text: &str) -> Option<(usize, usize)> {
    match prescan(text) {
        Err(ScanError::TooDeep { line, col }) => Some((line, col)),
        Ok(()) => None,
        Err(other) => panic!("{text:?}: unexpected {other:?}"),
    }
}

#[test]
fn nesting_is_counted_up_to_the_limit() {
    // The top-level map is one level, each bracket one more.
    let ok = format!(
        "exec: {}{}\n",
        "[".repeat(MAX_DEPTH - 1),
        "]".repeat(MAX_DEPTH - 1)
    );
    assert_eq!(depth_error(&ok), None);
    let deep = format!("exec: {}{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert_eq!(depth_error(&deep), Some((1, 7 + MAX_DEPTH - 1)));
    let maps = format!(
        "exec: {}x{}\n",
        "{a: ".repeat(MAX_DEPTH),
        "}".repeat(MAX_DEPTH)
    );
    assert_eq!(depth_error(&maps), Some((1, 7 + 4 * (MAX_DEPTH - 1))));
    // Block nesting counts too: each deeper key is one level.
    let mut block = String::new();
    for i in 0..=MAX_DEPTH {
        block.push_str(&format!("{}k:\n", " ".repeat(i)));
    }
    assert_eq!(depth_error(&block), Some((MAX_DEPTH + 1, MAX_DEPTH + 1)));
    // A block sequence under a key at the same column is not a level (libyaml).
    assert_eq!(depth_error("a:\n- b:\n  - c\n"), None);
}

#[test]
fn brackets_that_are_text_are_not_nesting() {
    let many = "[".repeat(200);
    let texts = [
        format!("description: \"{many}\"\nexec: x\n"),
        format!("description: '{many}'\nexec: x\n"),
        format!("description: '''{many}'\nexec: x\n"),
        format!("description: \"\\\"{many}\"\nexec: x\n"),
        format!("# {many}\nexec: x # {many}\n"),
        format!("exec: |\n  {many}\n  ' \" #\nenv: {{A: 1}}\n"),
        format!("exec: >-\n   {many}\n\n   {many}\nenv: {{A: 1}}\n"),
        format!("exec: echo {many}\n"),
        format!("exec: echo\n  {many} ' \"\n  {many}\nenv: {{A: 1}}\n"),
        format!("exec: [\"{many}\", '{many}', a#b]\n"),
        format!("exec: x\nlog: {{file: \"/x\"}} # {many}\n"),
        format!("exec: 'a\n  {many}\n  b'\n"),
        format!("exec: \"a\\\n  {many}\\\"\n  b\"\n"),
        format!("\u{feff}exec: x\n---\n# {many}\n"),
    ];
    for text in &texts {
        assert_eq!(depth_error(text), None, "{text:?}");
    }
}

#[test]
fn brackets_after_tricky_text_are_nesting() {
    let deep = "[".repeat(MAX_DEPTH + 5);
    let texts = [
        // A quote inside a plain scalar does not open a quoted string…
        format!("exec: [a'b, {deep}"),
        format!("exec: [a\"b, {deep}"),
        format!("exec: a'b\nenv: {deep}"),
        // …nor does one on a continuation line of a plain scalar.
        format!("exec: a\n  'b\nenv: {deep}"),
        // `#` without a space before it is text, not a comment.
        format!("exec: [a#b, {deep}"),
        // A block scalar ends at a less indented line.
        format!("exec: |\n  text '\nenv: {deep}"),
        format!("a:\n  b: |\n    text \"\n  c: {deep}"),
        // `''` inside single quotes is a quote, the string goes on.
        format!("exec: 'it''s', x: {deep}"),
        // An escaped quote does not end a double-quoted string; the real end does.
        format!("exec: \"a\\\"b\"\nenv: {deep}"),
        // A comment ends at the line break.
        format!("exec: x # '\nenv: {deep}"),
        // Anchors are allowed and do not hide what follows.
        format!("exec: &a [x, {deep}"),
        // Flow collections spread over lines.
        format!("exec: [\n  x,\n  {deep}"),
    ];
    for text in &texts {
        assert!(depth_error(text).is_some(), "not caught: {text:?}");
    }
}

#[test]
fn tags_aliases_and_control_characters() {
    let cases = [
        (
            "exec: !!python/object:os.system ls\n",
            (1, 7),
            "tag \"!!python/object:os.system\"",
        ),
        ("exec: [a, !foo b]\n", (1, 11), "tag \"!foo\""),
        ("exec: !!str x\n", (1, 7), "tag \"!!str\""),
        (
            "a: &x y\nexec: *x\n",
            (2, 7),
            "alias \"*x\" is not supported",
        ),
        ("exec: \"a\0b\"\n", (1, 9), "control character U+0000"),
        ("exec: x\n\u{1b}\n", (2, 1), "control character U+001B"),
    ];
    for (text, (line, col), needle) in cases {
        let e = prescan(text).expect_err(text);
        assert_eq!(e.position(), (line, col), "{text:?}: {e}");
        assert!(e.to_string().contains(needle), "{text:?}: {e}");
    }
    // Text that only looks like a tag or alias.
    for text in [
        "exec: \"!x *y\"\n",
        "exec: a!b\n",
        "exec: echo *\n",
        "exec: [a*b]\n",
        "# !x\nexec: x\n",
        "exec: |\n  !x *y\n",
    ] {
        assert_eq!(prescan(text), Ok(()), "{text:?}");
    }
}

/// xorshift64*, enough to vary generated documents deterministically.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Scalars with the characters that decide where tokens start, valid in any context.
const QUOTED: &[&str] = &[
    "'[{'",
    "'it''s ]}'",
    "\"[\\\"]}\"",
    "\"a # b\"",
    "'#[{ \" '",
    "\"\\\\\"",
    "\"\\x41\\u00e9 ]\"",
    "'two\n   [[ lines'",
    "\"two \\\n   [[ \\\" lines\"",
];
const PLAIN_FLOW: &[&str] = &["a", "a'b", "a\"b", "a#b", "a b 'c", "-x", "a:b", "é"];
const PLAIN_BLOCK: &[&str] = &[
    "a",
    "a'b ]",
    "x[y {",
    "a#b [",
    "web-{{instance}}",
    "a b \"c",
    "-x",
    "a:b",
];
const COMMENTS: &[&str] = &["", "", " # [[ '\" {{", " #!x *y"];

/// A flow collection nested `depth` levels (a scalar at 0), at least one branch that deep.
fn flow(rng: &mut Rng, depth: usize, out: &mut String) {
    if depth == 0 {
        let s = if rng.below(2) == 0 {
            rng.pick(QUOTED)
        } else {
            rng.pick(PLAIN_FLOW)
        };
        out.push_str(s);
        return;
    }
    let map = rng.below(2) == 0;
    out.push(if map { '{' } else { '[' });
    let items = 1 + rng.below(3);
    let deep = rng.below(items);
    for i in 0..items {
        if i > 0 {
            out.push_str(if rng.below(3) == 0 { ",\n   " } else { ", " });
        }
        if map {
            out.push_str(&format!("k{i}: "));
        }
        let d = if i == deep {
            depth - 1
        } else {
            rng.below(depth.min(3))
        };
        flow(rng, d, out);
    }
    out.push(if map { '}' } else { ']' });
}

/// The value of a block key at column `indent - 2`: a block collection nested `depth`
/// levels (starting on the next line at `indent`), a flow one, or a scalar at 0.
fn block(rng: &mut Rng, depth: usize, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    if depth == 0 {
        match rng.below(3) {
            0 => out.push_str(&format!(" {}", rng.pick(QUOTED))),
            1 => out.push_str(&format!(" {}", rng.pick(PLAIN_BLOCK))),
            _ => {
                out.push_str(" |\n");
                out.push_str(&format!("{pad}[[ ' \" # ]] {{{{\n{pad}  ]] '\n"));
                return;
            }
        }
        out.push_str(rng.pick(COMMENTS));
        out.push('\n');
        return;
    }
    match rng.below(4) {
        0 => {
            out.push(' ');
            flow(rng, depth, out);
            out.push_str(rng.pick(COMMENTS));
            out.push('\n');
        }
        1 => {
            // A block sequence; an item may be a map starting on the dash's line.
            out.push('\n');
            let items = 1 + rng.below(2);
            let deep = rng.below(items);
            for i in 0..items {
                let d = if i == deep {
                    depth - 1
                } else {
                    rng.below(depth.min(3))
                };
                if d > 0 && rng.below(2) == 0 {
                    out.push_str(&format!("{pad}- k:"));
                    block(rng, d - 1, indent + 4, out);
                } else {
                    out.push_str(&format!("{pad}-"));
                    block(rng, d, indent + 2, out);
                }
            }
        }
        _ => {
            out.push_str(rng.pick(COMMENTS));
            out.push('\n');
            let keys = 1 + rng.below(3);
            let deep = rng.below(keys);
            for i in 0..keys {
                let d = if i == deep {
                    depth - 1
                } else {
                    rng.below(depth.min(3))
                };
                out.push_str(&format!("{pad}k{i}:"));
                block(rng, d, indent + 2, out);
            }
        }
    }
}

/// Depth of a parsed value: collections nested.
fn value_depth(v: &serde_yaml::Value) -> usize {
    match v {
        serde_yaml::Value::Sequence(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
        serde_yaml::Value::Mapping(map) => 1 + map.values().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[test]
fn generated_documents_agree_with_serde_yaml() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut counted = [0usize; 2];
    for n in 0..1500 {
        let depth = 1 + rng.below(MAX_DEPTH + 12);
        let mut text = String::from("exec: x\ndoc:");
        block(&mut rng, depth - 1, 2, &mut text);
        let value: serde_yaml::Value = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("generated document {n} is not YAML ({e}):\n{text}"));
        assert_eq!(value_depth(&value), depth, "document {n}:\n{text}");
        let too_deep = depth_error(&text).is_some();
        assert_eq!(
            too_deep,
            depth > MAX_DEPTH,
            "document {n}, depth {depth}:\n{text}"
        );
        counted[usize::from(too_deep)] += 1;
    }
    assert!(counted[0] > 300 && counted[1] > 300, "{counted:?}");
}
