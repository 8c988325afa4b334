//! A linear pre-pass over a unit file before serde_yaml reads it: rejects what the YAML
//! library would spend unbounded time or memory on, or silently drop — collections nested
//! deeper than `MAX_DEPTH`, aliases (`*a`, each a full copy of its anchor's value), tags
//! (`!!python/object`, `!foo`), characters YAML does not allow.
//!
//! libyaml's scanner does work proportional to the flow nesting depth at every token, so
//! 200 KB of `[[[[…` costs minutes; serde_yaml's own depth limit applies only after the
//! whole document is scanned. This pass follows libyaml's rules for where tokens start
//! (quoted, plain and block scalars, comments, indentation), so that every `[`/`{` that
//! libyaml would count is counted here. Where libyaml stops with a syntax error, this
//! pass stops too and leaves the message to serde_yaml.

mod scalars;

use crate::unit::limits::MAX_DEPTH;

/// A problem found by the pre-pass, with its 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("collections are nested more than {MAX_DEPTH} deep (the limit for a unit file)")]
    TooDeep { line: usize, col: usize },
    #[error("tag {tag:?} is not supported (unit values are plain strings, numbers, booleans, lists and maps; remove the tag)")]
    Tag {
        line: usize,
        col: usize,
        tag: String,
    },
    #[error("alias {name:?} is not supported (an alias can expand a small file into gigabytes; write the value out)")]
    Alias {
        line: usize,
        col: usize,
        name: String,
    },
    #[error("control character U+{code:04X} is not allowed in a unit file")]
    ControlChar { line: usize, col: usize, code: u32 },
}

impl ScanError {
    /// 1-based `(line, column)`.
    pub fn position(&self) -> (usize, usize) {
        match *self {
            ScanError::TooDeep { line, col }
            | ScanError::Tag { line, col, .. }
            | ScanError::Alias { line, col, .. }
            | ScanError::ControlChar { line, col, .. } => (line, col),
        }
    }
}

/// Checks `text`; see the module doc.
pub fn prescan(text: &str) -> Result<(), ScanError> {
    // libyaml's reader drops a leading byte order mark without counting it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    check_chars(text)?;
    let chars: Vec<char> = text.chars().collect();
    Scanner {
        s: &chars,
        i: 0,
        index: 0,
        line: 0,
        col: 0,
        flow: 0,
        indent: -1,
        indents: Vec::new(),
        allowed: true,
        key: None,
    }
    .run()
}

/// The characters libyaml's reader accepts (YAML's printable set).
fn printable(c: char) -> bool {
    matches!(u32::from(c),
        0x9 | 0xA | 0xD | 0x20..=0x7E | 0x85 | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `END` stands for the end of the text (control characters, NUL included, are refused
/// before scanning, so it cannot occur inside).
const END: char = '\0';

fn is_blankz(c: char) -> bool {
    is_blank(c) || is_break(c) || c == END
}

/// Positions counted as libyaml counts them: `\r\n` is one break, every character one
/// column.
fn check_chars(text: &str) -> Result<(), ScanError> {
    let (mut line, mut col) = (1, 1);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !printable(c) {
            let code = u32::from(c);
            return Err(ScanError::ControlChar { line, col, code });
        }
        if is_break(c) {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    Ok(())
}

/// Where a simple key (`key:` without `?`) started, as libyaml saves it.
#[derive(Clone, Copy)]
struct Mark {
    index: usize,
    line: usize,
    col: usize,
}

struct Scanner<'a> {
    s: &'a [char],
    i: usize,
    /// Byte offset (libyaml's `mark.index`).
    index: usize,
    line: usize,
    col: usize,
    flow: usize,
    /// Current block indentation column, -1 outside any block collection.
    indent: isize,
    indents: Vec<isize>,
    /// libyaml's `simple_key_allowed`.
    allowed: bool,
    /// The possible simple key of flow level 0 (the only level where keys set the
    /// indentation).
    key: Option<Mark>,
}

impl Scanner<'_> {
    fn peek(&self, k: usize) -> char {
        self.s.get(self.i + k).copied().unwrap_or(END)
    }

    fn mark(&self) -> Mark {
        Mark {
            index: self.index,
            line: self.line,
            col: self.col,
        }
    }

    fn skip(&mut self) {
        if let Some(c) = self.s.get(self.i) {
            self.index += c.len_utf8();
            self.i += 1;
            self.col += 1;
        }
    }

    fn skip_line(&mut self) {
        if self.peek(0) == '\r' && self.peek(1) == '\n' {
            self.i += 2;
            self.index += 2;
        } else if is_break(self.peek(0)) {
            self.index += self.peek(0).len_utf8();
            self.i += 1;
        } else {
            return;
        }
        self.line += 1;
        self.col = 0;
    }

    fn too_deep(&self, at: Mark) -> Result<(), ScanError> {
        if self.flow + self.indents.len() > MAX_DEPTH {
            return Err(ScanError::TooDeep {
                line: at.line + 1,
                col: at.col + 1,
            });
        }
        Ok(())
    }

    fn roll_indent(&mut self, at: Mark) -> Result<(), ScanError> {
        if self.flow == 0 && self.indent < at.col as isize {
            self.indents.push(self.indent);
            self.indent = at.col as isize;
            self.too_deep(at)?;
        }
        Ok(())
    }

    fn unroll_indent(&mut self, col: isize) {
        if self.flow == 0 {
            while self.indent > col {
                self.indent = self.indents.pop().unwrap_or(-1);
            }
        }
    }

    fn save_key(&mut self) {
        if self.allowed && self.flow == 0 {
            self.key = Some(self.mark());
        }
    }

    fn remove_key(&mut self) {
        if self.flow == 0 {
            self.key = None;
        }
    }

    fn document_marker(&self) -> bool {
        self.col == 0
            && matches!(
                (self.peek(0), self.peek(1), self.peek(2)),
                ('-', '-', '-') | ('.', '.', '.')
            )
            && is_blankz(self.peek(3))
    }

    /// The token loop (libyaml `fetch_next_token`). `Ok` also when libyaml would stop
    /// with a syntax error: serde_yaml reports that one.
    fn run(&mut self) -> Result<(), ScanError> {
        loop {
            self.skip_to_next_token();
            if let Some(k) = self.key {
                if k.line < self.line || k.index + 1024 < self.index {
                    self.key = None;
                }
            }
            self.unroll_indent(self.col as isize);
            let c = self.peek(0);
            let next = self.peek(1);
            if c == END {
                return Ok(());
            }
            if self.col == 0 && c == '%' {
                // A directive: libyaml reads it to the end of the line (or fails).
                self.unroll_indent(-1);
                self.remove_key();
                self.allowed = false;
                while !(is_break(self.peek(0)) || self.peek(0) == END) {
                    self.skip();
                }
                continue;
            }
            if self.document_marker() {
                self.unroll_indent(-1);
                self.remove_key();
                self.allowed = false;
                (0..3).for_each(|_| self.skip());
                continue;
            }
            match c {
                '[' | '{' => {
                    let at = self.mark();
                    self.save_key();
                    self.flow += 1;
                    self.too_deep(at)?;
                    self.allowed = true;
                    self.skip();
                }
                ']' | '}' => {
                    self.remove_key();
                    self.flow = self.flow.saturating_sub(1);
                    self.allowed = false;
                    self.skip();
                }
                ',' => {
                    self.remove_key();
                    self.allowed = true;
                    self.skip();
                }
                '-' if is_blankz(next) => {
                    if self.flow == 0 {
                        if !self.allowed {
                            return Ok(());
                        }
                        self.roll_indent(self.mark())?;
                    }
                    self.remove_key();
                    self.allowed = true;
                    self.skip();
                }
                '?' if self.flow > 0 || is_blankz(next) => {
                    if self.flow == 0 {
                        if !self.allowed {
                            return Ok(());
                        }
                        self.roll_indent(self.mark())?;
                    }
                    self.remove_key();
                    self.allowed = self.flow == 0;
                    self.skip();
                }
                ':' if self.flow > 0 || is_blankz(next) => {
                    if self.flow > 0 {
                        self.allowed = false;
                    } else if let Some(key) = self.key.take() {
                        self.roll_indent(key)?;
                        self.allowed = false;
                    } else {
                        if !self.allowed {
                            return Ok(());
                        }
                        self.roll_indent(self.mark())?;
                        self.allowed = true;
                    }
                    self.skip();
                }
                '*' => {
                    let name: String = self.s[self.i..]
                        .iter()
                        .take_while(|c| !is_blankz(**c) && !matches!(c, ',' | ']' | '}'))
                        .take(60)
                        .collect();
                    return Err(ScanError::Alias {
                        line: self.line + 1,
                        col: self.col + 1,
                        name,
                    });
                }
                '&' => {
                    self.save_key();
                    self.allowed = false;
                    self.skip();
                    while matches!(self.peek(0), '0'..='9' | 'A'..='Z' | 'a'..='z' | '_' | '-') {
                        self.skip();
                    }
                }
                '!' => {
                    let tag: String = self.s[self.i..]
                        .iter()
                        .take_while(|c| !is_blankz(**c) && !matches!(c, ',' | ']' | '}'))
                        .take(60)
                        .collect();
                    return Err(ScanError::Tag {
                        line: self.line + 1,
                        col: self.col + 1,
                        tag,
                    });
                }
                '|' | '>' if self.flow == 0 => {
                    self.remove_key();
                    self.allowed = true;
                    if !self.block_scalar() {
                        return Ok(());
                    }
                }
                '\'' | '"' => {
                    self.save_key();
                    self.allowed = false;
                    if !self.quoted(c == '\'') {
                        return Ok(());
                    }
                }
                _ if self.plain_can_start(c, next) => {
                    self.save_key();
                    self.allowed = false;
                    if !self.plain() {
                        return Ok(());
                    }
                }
                // "found character that cannot start any token"
                _ => return Ok(()),
            }
        }
    }

    /// Spaces, comments and line breaks between tokens (libyaml `scan_skip_to_next_token`).
    fn skip_to_next_token(&mut self) {
        loop {
            if self.col == 0 && self.peek(0) == '\u{feff}' {
                self.skip();
            }
            while self.peek(0) == ' ' || ((self.flow > 0 || !self.allowed) && self.peek(0) == '\t')
            {
                self.skip();
            }
            if self.peek(0) == '#' {
                while !(is_break(self.peek(0)) || self.peek(0) == END) {
                    self.skip();
                }
            }
            if !is_break(self.peek(0)) {
                return;
            }
            self.skip_line();
            if self.flow == 0 {
                self.allowed = true;
            }
        }
    }
}
