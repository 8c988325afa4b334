//! Splitting systemd values into words (systemd.syntax(7), "Quoting"): whitespace
//! separates words; double or single quotes group (and may start mid-word); C escapes
//! (`\n`, `\t`, `\\`, `\"`, `\'`, `\s`, `\xHH`, `\NNN`, `\uXXXX`, `\UXXXXXXXX`) are
//! decoded inside and outside quotes. A word is kept with the spans that came from
//! literal `$` characters, so `$VAR` written as `\$VAR` is not taken for a variable.

/// One word: its text and, for each byte, whether it was written as a plain (unescaped)
/// character. Variable references and specifiers are only recognised on plain bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub text: String,
    pub plain: Vec<bool>,
}

impl Word {
    fn push(&mut self, c: char, plain: bool) {
        let before = self.text.len();
        self.text.push(c);
        self.plain
            .extend(std::iter::repeat(plain).take(self.text.len() - before));
    }
}

/// Splits `value` into words. `Err` names the problem (an unterminated quote, a bad
/// escape, a NUL).
pub fn split(value: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| is_space(*c)) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = Word {
            text: String::new(),
            plain: Vec::new(),
        };
        let mut quote: Option<char> = None;
        loop {
            let Some(c) = chars.next() else {
                if let Some(q) = quote {
                    return Err(format!("unterminated {} quote", quote_name(q)));
                }
                break;
            };
            match c {
                '\\' => {
                    let decoded = unescape(&mut chars)?;
                    word.push(decoded, false);
                }
                '"' | '\'' if quote.is_none() => quote = Some(c),
                q if Some(q) == quote => quote = None,
                c if quote.is_none() && is_space(c) => break,
                '\0' => return Err("NUL character in a command line".to_string()),
                c => word.push(c, true),
            }
        }
        words.push(word);
    }
}

fn quote_name(q: char) -> &'static str {
    if q == '"' {
        "double"
    } else {
        "single"
    }
}

/// systemd's whitespace (`WHITESPACE`: space, tab, newline, carriage return).
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Decodes the escape after a backslash.
fn unescape(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<char, String> {
    let Some(c) = chars.next() else {
        return Err("a backslash at the end of the value escapes nothing".to_string());
    };
    let simple = match c {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        's' => Some(' '),
        '\\' | '"' | '\'' | '$' | ';' | ' ' => Some(c),
        _ => None,
    };
    if let Some(s) = simple {
        return Ok(s);
    }
    let (digits, radix) = match c {
        'x' => (2, 16),
        'u' => (4, 16),
        'U' => (8, 16),
        '0'..='7' => (2, 8),
        other => return Err(format!("unknown escape \"\\{other}\"")),
    };
    let mut text = String::new();
    if radix == 8 {
        text.push(c);
    }
    for _ in 0..digits {
        match chars.next() {
            Some(d) if d.is_digit(radix) => text.push(d),
            _ => return Err(format!("incomplete escape \"\\{c}{text}\"")),
        }
    }
    let code = u32::from_str_radix(&text, radix).map_err(|e| e.to_string())?;
    match char::from_u32(code) {
        Some('\0') => Err("NUL character (an escape of 0) in a command line".to_string()),
        Some(ch) => Ok(ch),
        None => Err(format!("escape \"\\{c}{text}\" is not a character")),
    }
}
