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

use super::limits::MAX_DEPTH;

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

    fn plain_can_start(&self, c: char, next: char) -> bool {
        let indicator = matches!(
            c,
            '-' | '?'
                | ':'
                | ','
                | '['
                | ']'
                | '{'
                | '}'
                | '#'
                | '&'
                | '*'
                | '!'
                | '|'
                | '>'
                | '\''
                | '"'
                | '%'
                | '@'
                | '`'
        );
        !(is_blankz(c) || indicator)
            || (c == '-' && !is_blank(next))
            || (self.flow == 0 && (c == '?' || c == ':') && !is_blankz(next))
    }

    /// A plain scalar (libyaml `scan_plain_scalar`); false where libyaml fails.
    fn plain(&mut self) -> bool {
        let indent = self.indent + 1;
        let mut leading_blanks = false;
        loop {
            if self.document_marker() || self.peek(0) == '#' {
                break;
            }
            while !is_blankz(self.peek(0)) {
                let (c, next) = (self.peek(0), self.peek(1));
                if self.flow > 0 && c == ':' && matches!(next, ',' | '?' | '[' | ']' | '{' | '}') {
                    return false;
                }
                if (c == ':' && is_blankz(next))
                    || (self.flow > 0 && matches!(c, ',' | '[' | ']' | '{' | '}'))
                {
                    break;
                }
                leading_blanks = false;
                self.skip();
            }
            if !(is_blank(self.peek(0)) || is_break(self.peek(0))) {
                break;
            }
            while is_blank(self.peek(0)) || is_break(self.peek(0)) {
                if is_blank(self.peek(0)) {
                    if leading_blanks && (self.col as isize) < indent && self.peek(0) == '\t' {
                        return false;
                    }
                    self.skip();
                } else {
                    self.skip_line();
                    leading_blanks = true;
                }
            }
            if self.flow == 0 && (self.col as isize) < indent {
                break;
            }
        }
        if leading_blanks {
            self.allowed = true;
        }
        true
    }

    /// A single- or double-quoted scalar (libyaml `scan_flow_scalar`); false where
    /// libyaml fails.
    fn quoted(&mut self, single: bool) -> bool {
        let quote = if single { '\'' } else { '"' };
        self.skip();
        loop {
            if self.document_marker() || self.peek(0) == END {
                return false;
            }
            while !is_blankz(self.peek(0)) {
                let (c, next) = (self.peek(0), self.peek(1));
                if single && c == '\'' && next == '\'' {
                    self.skip();
                    self.skip();
                } else if c == quote {
                    break;
                } else if !single && c == '\\' && is_break(next) {
                    self.skip();
                    self.skip_line();
                    break;
                } else if !single && c == '\\' {
                    let digits = match next {
                        '0' | 'a' | 'b' | 't' | '\t' | 'n' | 'v' | 'f' | 'r' | 'e' | ' ' | '"'
                        | '/' | '\\' | 'N' | '_' | 'L' | 'P' => 0,
                        'x' => 2,
                        'u' => 4,
                        'U' => 8,
                        _ => return false,
                    };
                    self.skip();
                    self.skip();
                    let mut value: u32 = 0;
                    for _ in 0..digits {
                        match self.peek(0).to_digit(16) {
                            Some(d) => value = (value << 4) | d,
                            None => return false,
                        }
                        self.skip();
                    }
                    if (0xD800..=0xDFFF).contains(&value) || value > 0x10FFFF {
                        return false;
                    }
                } else {
                    self.skip();
                }
            }
            if self.peek(0) == quote {
                self.skip();
                return true;
            }
            while is_blank(self.peek(0)) || is_break(self.peek(0)) {
                if is_blank(self.peek(0)) {
                    self.skip();
                } else {
                    self.skip_line();
                }
            }
        }
    }

    /// A `|` or `>` block scalar (libyaml `scan_block_scalar`); false where libyaml
    /// fails.
    fn block_scalar(&mut self) -> bool {
        self.skip();
        let mut increment: isize = 0;
        let digit = |c: char| c.to_digit(10).map(|d| d as isize);
        if matches!(self.peek(0), '+' | '-') {
            self.skip();
            if let Some(d) = digit(self.peek(0)) {
                if d == 0 {
                    return false;
                }
                increment = d;
                self.skip();
            }
        } else if let Some(d) = digit(self.peek(0)) {
            if d == 0 {
                return false;
            }
            increment = d;
            self.skip();
            if matches!(self.peek(0), '+' | '-') {
                self.skip();
            }
        }
        while is_blank(self.peek(0)) {
            self.skip();
        }
        if self.peek(0) == '#' {
            while !(is_break(self.peek(0)) || self.peek(0) == END) {
                self.skip();
            }
        }
        if !(is_break(self.peek(0)) || self.peek(0) == END) {
            return false;
        }
        self.skip_line();
        let mut indent: isize = 0;
        if increment != 0 {
            indent = if self.indent >= 0 {
                self.indent + increment
            } else {
                increment
            };
        }
        if !self.block_breaks(&mut indent) {
            return false;
        }
        while self.col as isize == indent && self.peek(0) != END {
            while !(is_break(self.peek(0)) || self.peek(0) == END) {
                self.skip();
            }
            if self.peek(0) == END {
                break;
            }
            self.skip_line();
            if !self.block_breaks(&mut indent) {
                return false;
            }
        }
        true
    }

    /// Indentation and empty lines inside a block scalar; detects the indentation when
    /// it is not given (libyaml `scan_block_scalar_breaks`).
    fn block_breaks(&mut self, indent: &mut isize) -> bool {
        let mut max_indent: isize = 0;
        loop {
            while (*indent == 0 || (self.col as isize) < *indent) && self.peek(0) == ' ' {
                self.skip();
            }
            max_indent = max_indent.max(self.col as isize);
            if (*indent == 0 || (self.col as isize) < *indent) && self.peek(0) == '\t' {
                return false;
            }
            if !is_break(self.peek(0)) {
                break;
            }
            self.skip_line();
        }
        if *indent == 0 {
            *indent = max_indent.max(self.indent + 1).max(1);
        }
        true
    }
}
