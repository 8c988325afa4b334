//! systemd command lines (`ExecStart=` and friends, systemd.service(5) "Command lines"):
//! the prefixes `-@:+!`, specifiers (`%n`, `%i`, `%%`, …), `$VAR`/`${VAR}` references,
//! and how a command is written for sup: an argv when it is plain, a `/bin/sh -c` line
//! when the environment must be expanded at run time.

use super::words::{split, Word};

/// What the specifiers of this unit expand to; `None` for those with no static meaning
/// (host name, machine id, …), which are kept as written, with a warning.
pub struct Specifiers {
    /// The unit's systemd name, `foo.service` or `foo@bar.service`.
    pub full_name: String,
    /// `foo` (before `@`, or the whole name without its type).
    pub prefix: String,
    /// The instance (after `@`), empty for a plain unit.
    pub instance: String,
    /// `User=` if set, root otherwise.
    pub user: Option<String>,
    pub group: Option<String>,
}

impl Specifiers {
    /// Expands the specifiers of one value; `warn` hears of each one left as written.
    pub fn expand(&self, text: &str, warn: &mut dyn FnMut(String)) -> String {
        let plain = vec![true; text.len()];
        self.expand_word(
            &Word {
                text: text.to_string(),
                plain,
            },
            warn,
        )
        .text
    }

    /// Expands the `%` specifiers written as plain characters; what they expand to is
    /// marked not plain (a `$` in a unit name is not a variable).
    pub fn expand_word(&self, word: &Word, warn: &mut dyn FnMut(String)) -> Word {
        let mut out = Word {
            text: String::new(),
            plain: Vec::new(),
        };
        let mut chars = word.text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let is_plain = word.plain.get(i).copied().unwrap_or(false);
            if c != '%' || !is_plain {
                push(&mut out, &c.to_string(), is_plain);
                continue;
            }
            let Some((_, s)) = chars.next() else {
                warn("a \"%\" at the end of a value (write \"%%\" for a percent sign); kept as written".to_string());
                push(&mut out, "%", false);
                break;
            };
            match self.lookup(s) {
                Ok(value) => push(&mut out, &value, false),
                Err(why) => {
                    warn(format!("specifier %{s} {why}; kept as written"));
                    push(&mut out, &format!("%{s}"), false);
                }
            }
        }
        out
    }

    fn lookup(&self, s: char) -> Result<String, &'static str> {
        let root = |who: &Option<String>| super::names::is_root(who.as_deref());
        Ok(match s {
            '%' => "%".to_string(),
            'n' => self.full_name.clone(),
            'N' => self
                .full_name
                .rsplit_once('.')
                .map_or(self.full_name.clone(), |(n, _)| n.to_string()),
            'p' | 'P' => self.prefix.clone(),
            'i' | 'I' => self.instance.clone(),
            'j' | 'J' => self
                .prefix
                .rsplit_once('-')
                .map_or(self.prefix.clone(), |(_, last)| last.to_string()),
            'f' => {
                if self.instance.is_empty() {
                    format!("/{}", self.prefix)
                } else {
                    format!("/{}", self.instance)
                }
            }
            't' => "/run".to_string(),
            'S' => "/var/lib".to_string(),
            'C' => "/var/cache".to_string(),
            'L' => "/var/log".to_string(),
            'E' => "/etc".to_string(),
            'T' => "/tmp".to_string(),
            'V' => "/var/tmp".to_string(),
            'u' => self.user.clone().unwrap_or_else(|| "root".to_string()),
            'U' if root(&self.user) => "0".to_string(),
            'U' => match &self.user {
                Some(u) if u.chars().all(|c| c.is_ascii_digit()) => u.clone(),
                _ => return Err("(the user's number) is only known at run time"),
            },
            'g' => self.group.clone().unwrap_or_else(|| "root".to_string()),
            'G' if root(&self.group) => "0".to_string(),
            'G' => match &self.group {
                Some(g) if g.chars().all(|c| c.is_ascii_digit()) => g.clone(),
                _ => return Err("(the group's number) is only known at run time"),
            },
            'h' if root(&self.user) => "/root".to_string(),
            's' if root(&self.user) => "/bin/sh".to_string(),
            'h' | 's' => return Err("(the user's home or shell) is only known at run time"),
            'H' | 'l' | 'q' | 'm' | 'b' | 'o' | 'w' | 'W' | 'B' | 'M' | 'A' | 'v' | 'a' | 'd'
            | 'y' | 'Y' => return Err("depends on the machine or the running manager"),
            _ => return Err("is not a systemd specifier"),
        })
    }
}

fn push(word: &mut Word, text: &str, plain: bool) {
    word.text.push_str(text);
    word.plain.extend(std::iter::repeat(plain).take(text.len()));
}

/// Part of an argument: literal text or a `${NAME}` reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Lit(String),
    Var(String),
}

/// One argument: a whole-word `$NAME` (split into words at run time, as systemd does),
/// or text with `${NAME}` references inside (one word).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Split(String),
    Pieces(Vec<Piece>),
}

/// One command with its prefixes.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// `-`: a failing exit is not a failure.
    pub ignore_failure: bool,
    /// `@`: the second word is argv[0] (dropped: sup passes the path as argv[0]).
    pub argv0: Option<String>,
    /// `+`, `!` or `!!`: run with full privileges / without the user switch's effects.
    pub privileged: Option<&'static str>,
    pub args: Vec<Arg>,
}

impl Command {
    /// The argv when no variable is referenced.
    pub fn plain_argv(&self) -> Option<Vec<String>> {
        self.args
            .iter()
            .map(|a| match a {
                Arg::Pieces(p) => p
                    .iter()
                    .map(|p| match p {
                        Piece::Lit(s) => Some(s.as_str()),
                        Piece::Var(_) => None,
                    })
                    .collect::<Option<String>>(),
                Arg::Split(_) => None,
            })
            .collect()
    }

    /// The variables it references.
    pub fn variables(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for a in &self.args {
            match a {
                Arg::Split(v) => out.push(v.as_str()),
                Arg::Pieces(p) => out.extend(p.iter().filter_map(|p| match p {
                    Piece::Var(v) => Some(v.as_str()),
                    Piece::Lit(_) => None,
                })),
            }
        }
        out
    }

    /// The command as a POSIX shell command (variables expanded by the shell).
    pub fn shell(&self) -> String {
        let words: Vec<String> = self
            .args
            .iter()
            .map(|a| match a {
                Arg::Split(v) => format!("${v}"),
                Arg::Pieces(pieces) if pieces.is_empty() => "''".to_string(),
                Arg::Pieces(pieces) => pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Lit(s) => shell_quote(s),
                        Piece::Var(v) => format!("\"${{{v}}}\""),
                    })
                    .collect(),
            })
            .collect();
        words.join(" ")
    }
}

/// A word for `/bin/sh`: as it is when only safe characters, else single-quoted.
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Parses one `Exec*=` value into its commands (several when separated by a lone `;`).
/// `Err` is why the line cannot be used (bad quoting, no command).
pub fn parse(
    value: &str,
    spec: &Specifiers,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<Command>, String> {
    let words = split(value)?;
    let mut commands = Vec::new();
    for group in words.split(|w| w.text == ";" && w.plain == [true]) {
        if group.is_empty() {
            continue;
        }
        commands.push(command(group, spec, warn)?);
    }
    if commands.is_empty() {
        return Err("no command".to_string());
    }
    Ok(commands)
}

fn command(
    group: &[Word],
    spec: &Specifiers,
    warn: &mut dyn FnMut(String),
) -> Result<Command, String> {
    let first = &group[0];
    let mut cut = 0;
    let (mut ignore, mut at, mut colon, mut privileged) = (false, false, false, None);
    let bytes = first.text.as_bytes();
    while cut < bytes.len() && first.plain[cut] {
        match bytes[cut] {
            b'-' => ignore = true,
            b'@' => at = true,
            b':' => colon = true,
            b'+' => privileged = Some("+"),
            b'!' if bytes.get(cut + 1) == Some(&b'!') => {
                privileged = Some("!!");
                cut += 1;
            }
            b'!' => privileged = Some("!"),
            _ => break,
        }
        cut += 1;
    }
    let path = Word {
        text: first.text[cut..].to_string(),
        plain: first.plain[cut..].to_vec(),
    };
    if path.text.is_empty() {
        return Err("no program after the prefixes".to_string());
    }
    let mut rest = group[1..].iter();
    let argv0 = if at {
        match rest.next() {
            Some(w) => Some(w.text.clone()),
            None => return Err("the @ prefix needs an argv[0] word after the program".to_string()),
        }
    } else {
        None
    };
    let mut args = Vec::new();
    for word in std::iter::once(&path).chain(rest) {
        let word = spec.expand_word(word, warn);
        args.push(if colon {
            Arg::Pieces(vec![Piece::Lit(word.text)])
        } else {
            variables(&word)
        });
    }
    Ok(Command {
        ignore_failure: ignore,
        argv0,
        privileged,
        args,
    })
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Finds `$NAME` (a whole word), `${NAME}` and `$$` in the plain characters of a word.
fn variables(word: &Word) -> Arg {
    let b = word.text.as_bytes();
    let plain = |i: usize| word.plain.get(i).copied().unwrap_or(false);
    if b.len() > 1
        && b[0] == b'$'
        && plain(0)
        && is_name_start(b[1])
        && b[1..].iter().all(|&c| is_name(c))
        && (1..b.len()).all(plain)
    {
        return Arg::Split(word.text[1..].to_string());
    }
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && plain(i) {
            if b.get(i + 1) == Some(&b'$') && plain(i + 1) {
                lit.push('$');
                i += 2;
                continue;
            }
            if b.get(i + 1) == Some(&b'{') && plain(i + 1) {
                let start = i + 2;
                let mut end = start;
                while end < b.len() && is_name(b[end]) && plain(end) {
                    end += 1;
                }
                if end > start && is_name_start(b[start]) && b.get(end) == Some(&b'}') {
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Var(word.text[start..end].to_string()));
                    i = end + 1;
                    continue;
                }
            }
        }
        // Copy one whole character.
        let len = word.text[i..].chars().next().map_or(1, char::len_utf8);
        lit.push_str(&word.text[i..i + len]);
        i += len;
    }
    if !lit.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Arg::Pieces(pieces)
}
