//! The scalar scanners of the pre-pass (plain, single- and double-quoted, block), each
//! following libyaml's `scan_*_scalar` so that the text they pass over is exactly the
//! text libyaml reads as one scalar.

use super::{is_blank, is_blankz, is_break, Scanner, END};

impl Scanner<'_> {
    pub(super) fn plain_can_start(&self, c: char, next: char) -> bool {
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
    pub(super) fn plain(&mut self) -> bool {
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
    pub(super) fn quoted(&mut self, single: bool) -> bool {
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
    pub(super) fn block_scalar(&mut self) -> bool {
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
