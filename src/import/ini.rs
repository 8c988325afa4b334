//! The systemd unit file syntax (systemd.syntax(7)): `[Section]` headers, `Key=Value`
//! lines, `#`/`;` comments, a backslash at the end of a line joining it to the next (a
//! comment line inside such a run is skipped, as systemd does). Values are kept raw:
//! quoting belongs to each directive.

/// One `Key=Value` assignment, with the line where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub section: String,
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// What the file holds: its assignments, in order, and the sections named, with the
/// line of their header.
#[derive(Debug, Default)]
pub struct Ini {
    pub entries: Vec<Entry>,
    pub sections: Vec<(String, usize)>,
}

/// A line systemd would ignore with a warning: `(line, message)`.
pub type Problem = (usize, String);

/// Parses the text of a unit file. Lines that systemd ignores (no `=`, an assignment
/// before any section, a malformed header) come back as problems; nothing is dropped
/// without one.
pub fn parse(text: &str) -> (Ini, Vec<Problem>) {
    let mut ini = Ini::default();
    let mut problems = Vec::new();
    let mut section: Option<String> = None;
    // A logical line being joined across backslash-newlines: (first line, text so far).
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let number = i + 1;
        let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r'));
        if pending.is_some() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        let (start, joined) = match pending.take() {
            Some((start, mut so_far)) => {
                so_far.push_str(line);
                (start, so_far)
            }
            None => (number, line.to_string()),
        };
        if ends_with_continuation(&joined) {
            let mut so_far = joined;
            so_far.pop();
            so_far.push(' ');
            pending = Some((start, so_far));
            continue;
        }
        logical_line(&joined, start, &mut section, &mut ini, &mut problems);
    }
    if let Some((start, joined)) = pending {
        // A backslash on the last line: systemd takes what was joined so far.
        logical_line(
            joined.trim_end(),
            start,
            &mut section,
            &mut ini,
            &mut problems,
        );
    }
    (ini, problems)
}

/// Whether a line ends in a backslash that is not itself escaped (an odd run of them).
fn ends_with_continuation(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

fn logical_line(
    line: &str,
    number: usize,
    section: &mut Option<String>,
    ini: &mut Ini,
    problems: &mut Vec<Problem>,
) {
    let line = line.trim_start_matches([' ', '\t']);
    if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
        return;
    }
    if let Some(rest) = line.strip_prefix('[') {
        match rest.strip_suffix(']') {
            Some(name) if !name.is_empty() && !name.contains(['[', ']']) => {
                ini.sections.push((name.to_string(), number));
                *section = Some(name.to_string());
            }
            _ => {
                problems.push((
                    number,
                    format!(
                        "invalid section header {}; the lines up to the next section are not imported",
                        shorten(line)
                    ),
                ));
                // systemd ignores the assignments that follow a bad header.
                *section = Some(String::new());
            }
        }
        return;
    }
    let Some((key, value)) = line.split_once('=') else {
        problems.push((
            number,
            format!(
                "not an assignment (no \"=\"), not imported: {}",
                shorten(line)
            ),
        ));
        return;
    };
    let key = key.trim_end_matches([' ', '\t']);
    let value = value.trim_matches([' ', '\t']);
    match section {
        None => problems.push((
            number,
            format!("{key}= before any [Section] header, not imported"),
        )),
        Some(s) if s.is_empty() => problems.push((
            number,
            format!("{key}= under an invalid section header, not imported"),
        )),
        Some(s) => ini.entries.push(Entry {
            section: s.clone(),
            key: key.to_string(),
            value: value.to_string(),
            line: number,
        }),
    }
}

/// A piece of text for a message: at most 80 characters, quoted.
pub fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("{out:?}")
}
