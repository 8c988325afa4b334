//! YAML → validated `UnitSpec` / `SliceSpec`, every problem reported as `FILE:LINE:COL: message`.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_yaml::Value;

use super::convert;
use super::hints;
use super::limits::{clip, MAX_ERRORS, MAX_FILE_SIZE};
use super::raw::{RawSlice, RawUnit, ReadCtx, Top, TopLevel};
use super::scan::prescan;
use super::spec::{SliceSpec, UnitName, UnitSpec};

/// Reading a file again after a bad key (see `read_all`) stops once this many bytes of
/// YAML have been read in all, so a large file with many bad keys stays cheap.
const REREAD_BUDGET: usize = 16 << 20;

/// The message for a file over `MAX_FILE_SIZE`, reported where the limit is crossed.
pub const TOO_LARGE: &str =
    "the file is larger than 1 MiB, the limit for a unit file (it is crossed here)";

/// What one file holds.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Parsed {
    Unit(Box<UnitSpec>),
    Slice(SliceSpec),
}

/// Parses one file's text. `Err` holds every problem found, each `FILE:LINE:COL: message`.
///
/// A file with `kind: slice` is a slice; anything else (including `kind: unit`) a unit.
pub fn parse_file(path: &Path, name: &UnitName, text: &str) -> Result<Parsed, Vec<String>> {
    let file = path.display().to_string();
    parse_text(&file, path, name, text).map_err(|errors| at_most(&file, errors))
}

fn parse_text(file: &str, path: &Path, name: &UnitName, text: &str) -> Result<Parsed, Vec<String>> {
    if text.len() > MAX_FILE_SIZE {
        let (line, col) = byte_position(text.as_bytes(), MAX_FILE_SIZE);
        return Err(vec![format!("{file}:{line}:{col}: {TOO_LARGE}")]);
    }
    if let Err(e) = prescan(text) {
        let (line, col) = e.position();
        return Err(vec![format!(
            "{file}:{line}:{col}: {}",
            clip(&e.to_string())
        )]);
    }
    let systemd = || {
        hints::looks_like_systemd(text)
            .map(|line| vec![format!("{file}:{line}:1: {}", hints::SYSTEMD_FILE)])
    };
    let shape: Shape = serde_yaml::from_str(text)
        .map_err(|e| systemd().unwrap_or_else(|| vec![syntax_error(file, text, &e)]))?;
    if !matches!(shape, Shape::Map { .. }) {
        if let Some(errors) = systemd() {
            return Err(errors);
        }
    }
    let is_slice = match shape {
        Shape::Map { slice } => slice,
        Shape::Empty => {
            return Err(vec![format!(
                "{file}:1:1: empty file (a unit needs at least an exec key)"
            )])
        }
        Shape::Other(found) => {
            let (line, col) = first_content(text);
            return Err(vec![format!(
                "{file}:{line}:{col}: expected a map of keys, found {found}"
            )]);
        }
    };
    let ctx = convert::Ctx {
        file,
        text,
        path,
        name,
    };
    if is_slice {
        let (raw, mut errors, skipped) = read_all::<RawSlice>(file, text);
        let slice = raw.and_then(|raw| convert::slice(&ctx, raw, &skipped, &mut errors));
        match slice {
            Some(slice) if errors.is_empty() => Ok(Parsed::Slice(slice)),
            _ => Err(errors),
        }
    } else {
        let (raw, mut errors, skipped) = read_all::<RawUnit>(file, text);
        let unit = raw.and_then(|raw| convert::unit(&ctx, raw, &skipped, &mut errors));
        match unit {
            Some(unit) if errors.is_empty() => Ok(Parsed::Unit(Box::new(unit))),
            _ => Err(errors),
        }
    }
}

/// Keeps the first `MAX_ERRORS` problems and says how many more there were.
fn at_most(file: &str, mut errors: Vec<String>) -> Vec<String> {
    if errors.len() <= MAX_ERRORS {
        return errors;
    }
    let more = errors.len() - MAX_ERRORS;
    // The position of the first problem left out.
    let at = errors[MAX_ERRORS]
        .strip_prefix(file)
        .and_then(|rest| {
            let mut parts = rest.splitn(4, ':');
            parts.next();
            Some(format!("{}:{}", parts.next()?, parts.next()?))
        })
        .unwrap_or_else(|| "1:1".to_string());
    errors.truncate(MAX_ERRORS);
    errors.push(format!("{file}:{at}: {more} more problems not shown"));
    errors
}

/// 1-based line and column of byte `offset` in `bytes` (columns count UTF-8 characters).
pub fn byte_position(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let col = 1 + before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    (line, col)
}

/// Reads the document as `T`; after an error in one key, reads again without that key,
/// so each bad key is reported once. Returns what could be read, the errors and the
/// keys that were skipped because they were bad.
fn read_all<T: TopLevel>(file: &str, text: &str) -> (Option<T>, Vec<String>, HashSet<String>) {
    let mut skip = HashSet::new();
    let mut errors = Vec::new();
    loop {
        let current = RefCell::new(None);
        let ctx = ReadCtx {
            skip: &skip,
            current: &current,
        };
        let result =
            Top::<T>(&ctx, PhantomData).deserialize(serde_yaml::Deserializer::from_str(text));
        match result {
            Ok(raw) => return (Some(raw), errors, skip),
            Err(e) => {
                errors.push(format_error(file, &e));
                let budget_left = (skip.len() + 2) * text.len() <= REREAD_BUDGET;
                match current.into_inner() {
                    Some(key) if !skip.contains(&key) && skip.len() < 100 && budget_left => {
                        skip.insert(key);
                    }
                    _ => return (None, errors, skip),
                }
            }
        }
    }
}

/// YAML syntax errors that come from indentation.
const INDENTATION_ERRORS: &[&str] = &[
    "mapping values are not allowed",
    "did not find expected key",
    "did not find expected '-' indicator",
    "cannot start any token",
    "block sequence entries are not allowed",
];

/// `format_error` for a syntax error, saying which block a mis-indented line broke.
fn syntax_error(file: &str, text: &str, e: &serde_yaml::Error) -> String {
    let plain = format_error(file, e);
    let message = e.to_string();
    let hint = e
        .location()
        .filter(|_| INDENTATION_ERRORS.iter().any(|m| message.contains(m)))
        .and_then(|loc| hints::indentation_hint(text, loc.line()));
    match (hint, e.location()) {
        (Some(hint), Some(loc)) => {
            let prefix = format!("{file}:{}:{}: ", loc.line(), loc.column());
            let yaml = plain.strip_prefix(&prefix).unwrap_or(&plain);
            format!(
                "{prefix}{}",
                clip(&format!("bad indentation: {hint} ({yaml})"))
            )
        }
        _ => plain,
    }
}

/// `FILE:LINE:COL: message` for a serde_yaml error, with serde's wording made plainer.
pub fn format_error(file: &str, e: &serde_yaml::Error) -> String {
    let mut message = e.to_string();
    let (line, col) = match e.location() {
        Some(loc) => {
            let at = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(i) = message.find(&at) {
                message.replace_range(i..i + at.len(), "");
            }
            (loc.line(), loc.column())
        }
        None => (1, 1),
    };
    format!("{file}:{line}:{col}: {}", clip(&plain_message(&message)))
}

/// Rewrites serde's generic messages (`unknown field`, `missing field`, `invalid type`)
/// in the words the rest of sup uses. Any `path: ` prefix is kept.
fn plain_message(message: &str) -> String {
    let (prefix, body) = match [
        "unknown field `",
        "missing field `",
        "duplicate field `",
        "invalid type: ",
    ]
    .iter()
    .filter_map(|m| message.find(m))
    .min()
    {
        Some(i) => message.split_at(i),
        None => return message.to_string(),
    };
    let quoted = |s: &str| s.split('`').nth(1).unwrap_or_default().to_string();
    let rewritten = if let Some(rest) = body.strip_prefix("unknown field ") {
        let field = quoted(rest);
        let expected: Vec<String> = rest
            .split_once(", expected ")
            .map(|(_, list)| {
                list.split(", ")
                    .map(quoted)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let keys: Vec<&str> = expected.iter().map(String::as_str).collect();
        unknown_key_message(&field, &keys, "key")
    } else if body.starts_with("missing field ") {
        format!("missing required key {:?}", quoted(body))
    } else if body.starts_with("duplicate field ") {
        format!("duplicate key {:?}", quoted(body))
    } else {
        let rest = body.trim_start_matches("invalid type: ");
        match rest.split_once(", expected ") {
            Some((found, expected)) => {
                let found = match found {
                    "unit value" => "an empty value".to_string(),
                    "sequence" => "a list".to_string(),
                    "map" => "a map".to_string(),
                    other => other.replace('`', ""),
                };
                let expected = expected.replace("a sequence", "a list");
                format!("expected {expected}, found {found}")
            }
            None => body.to_string(),
        }
    };
    format!("{prefix}{rewritten}")
}

/// `unknown WHAT "x" (did you mean "y"?)`, or listing the valid keys when there are few.
pub fn unknown_key_message(key: &str, keys: &[&str], what: &str) -> String {
    if let Some(hint) = hints::key_hint(key, what, keys) {
        return format!("unknown {what} {key:?} ({hint})");
    }
    // The distance is at least the difference in length: skip the keys (and the huge
    // words) that cannot be within 2 edits.
    let best = keys
        .iter()
        .filter(|k| key.len() <= 64 && key.chars().count().abs_diff(k.chars().count()) <= 2)
        .map(|k| (edit_distance(key, k), *k))
        .filter(|&(d, k)| d > 0 && d <= 2 && d * 3 <= key.len().max(k.len()))
        .min();
    match best {
        Some((_, k)) => format!("unknown {what} {key:?} (did you mean {k:?}?)"),
        None if what == "unit key" && key == "max_units" => {
            format!("unknown {what} {key:?} (max_units belongs in a slice file with kind: slice)")
        }
        None if !keys.is_empty() && keys.len() <= 12 => {
            format!("unknown {what} {key:?} (expected {})", or_list(keys))
        }
        None => format!("unknown {what} {key:?}"),
    }
}

/// `a, b or c`.
pub fn or_list(words: &[&str]) -> String {
    match words.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Optimal string alignment distance: edits, counting a swap of neighbours as one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// What a document is, read before choosing between unit and slice (this also reports
/// YAML syntax errors).
enum Shape {
    Empty,
    /// A map; `slice` when it has `kind: slice`.
    Map {
        slice: bool,
    },
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of keys")
            }
            fn visit_unit<E>(self) -> Result<Shape, E> {
                Ok(Shape::Empty)
            }
            fn visit_none<E>(self) -> Result<Shape, E> {
                Ok(Shape::Empty)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Other("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Other("a number"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::Other("a string"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Shape::Other("a list"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                let mut slice = false;
                while let Some(key) = map.next_key::<Value>()? {
                    if key.as_str() == Some("kind") {
                        slice |= map.next_value::<Value>()?.as_str() == Some("slice");
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Shape::Map { slice })
            }
        }
        d.deserialize_any(V)
    }
}

/// Position of the first line that is neither blank, a comment nor a `---` marker.
fn first_content(text: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if !(trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---")) {
            return (i + 1, line.len() - trimmed.len() + 1);
        }
    }
    (1, 1)
}

/// Line and column (1-based) of a top-level `key:` in the text: first a key at the start
/// of a line, otherwise any `key:` (flow style); `(1, 1)` if it cannot be found.
pub fn key_position(text: &str, key: &str) -> (usize, usize) {
    let forms = [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ];
    for (i, line) in text.lines().enumerate() {
        if forms.iter().any(|f| line.starts_with(f.as_str())) {
            return (i + 1, 1);
        }
    }
    for (i, line) in text.lines().enumerate() {
        let mut from = 0;
        while let Some(found) = line[from..].find(&forms[0]) {
            let at = from + found;
            let before = line[..at].chars().next_back();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                return (i + 1, line[..at].chars().count() + 1);
            }
            from = at + forms[0].len();
        }
    }
    (1, 1)
}
