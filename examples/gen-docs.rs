//! Writes the man pages and shell completions of sup and supctl:
//! `OUT/man/{sup.8,supctl.1,sup.d.5}` and `OUT/completions/{supctl.bash,_supctl,supctl.fish,
//! sup.bash,_sup,sup.fish}` (OUT: the first argument, default `target`).
//!
//! `sup(8)` and `supctl(1)` come from the clap definitions of the two programs (their
//! `src/bin` files are compiled in here as modules, so the pages always match the real
//! command lines), `sup.d(5)` from the key reference `docs/units.md`. A separate program so
//! that `sup`, an init, carries neither clap_mangen nor clap_complete. Run it with
//! `scripts/gen-docs`.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command, CommandFactory};
use clap_complete::Shell;

#[allow(dead_code)]
#[path = "../src/bin/sup.rs"]
mod sup_cli;
#[allow(dead_code)]
#[path = "../src/bin/supctl.rs"]
mod supctl_cli;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn main() {
    let out = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .unwrap_or_else(|| "target".into()),
    );
    if let Err(e) = generate(&out) {
        eprintln!("gen-docs: {e}");
        std::process::exit(1);
    }
}

fn generate(out: &Path) -> io::Result<()> {
    let man = out.join("man");
    let comp = out.join("completions");
    fs::create_dir_all(&man)?;
    fs::create_dir_all(&comp)?;

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let units_md = root.join("docs/units.md");
    let md = fs::read_to_string(&units_md)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", units_md.display())))?;

    write(&man.join("sup.8"), &sup_page()?)?;
    write(&man.join("supctl.1"), &supctl_page()?)?;
    write(&man.join("sup.d.5"), &units_page(&md))?;

    for (name, mut cmd) in [
        ("sup", sup_cli::Cli::command()),
        ("supctl", supctl_cli::Cli::command()),
    ] {
        for (shell, file) in [
            (Shell::Bash, format!("{name}.bash")),
            (Shell::Zsh, format!("_{name}")),
            (Shell::Fish, format!("{name}.fish")),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, name, &mut buf);
            let mut text = String::from_utf8(buf).expect("completion scripts are UTF-8");
            if name == "supctl" && shell == Shell::Bash {
                text.push_str(&bash_units(&cmd));
            }
            write(&comp.join(file), &text)?;
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> io::Result<()> {
    fs::write(path, text)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    println!("{}", path.display());
    Ok(())
}

// --- roff ------------------------------------------------------------------------------

/// Text for roff: backslashes as `\e`, `-` as `\-` (a real minus, so options can be
/// searched and copied), other than ASCII as `\[uXXXX]`, a leading `.` or `'` protected.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            // groff's named Unicode escape: the page is plain ASCII.
            c if !c.is_ascii() => {
                let _ = write!(out, "\\[u{:04X}]", c as u32);
            }
            _ => out.push(c),
        }
    }
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

/// Markdown inline text to roff: `code` bold, **strong** bold, *em* italic, links as their
/// text; the rest escaped.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['`', '*', '[']) {
        out.push_str(&esc(&rest[..i]));
        let tail = &rest[i..];
        if let Some(code) = tail.strip_prefix('`') {
            if let Some(end) = code.find('`') {
                out.push_str(&format!("\\fB{}\\fR", esc(&code[..end])));
                rest = &code[end + 1..];
                continue;
            }
        } else if let Some(strong) = tail.strip_prefix("**") {
            if let Some(end) = strong.find("**") {
                out.push_str(&format!("\\fB{}\\fR", esc(&strong[..end])));
                rest = &strong[end + 2..];
                continue;
            }
        } else if let Some(em) = tail.strip_prefix('*') {
            if let Some(end) = em.find('*').filter(|&e| e > 0) {
                out.push_str(&format!("\\fI{}\\fR", esc(&em[..end])));
                rest = &em[end + 1..];
                continue;
            }
        } else if let Some(link) = tail.strip_prefix('[') {
            if let Some((text, after)) = link.split_once("](") {
                if let Some(end) = after.find(')') {
                    out.push_str(&inline(text));
                    rest = &after[end + 1..];
                    continue;
                }
            }
        }
        out.push_str(&esc(&tail[..1]));
        rest = &tail[1..];
    }
    out.push_str(&esc(rest));
    // The doubled backslash of an escaped `\|` table pipe.
    out.replace("\\e|", "|")
}

fn title(name: &str, section: &str) -> String {
    format!(
        ".TH {} {section} \"\" \"sup {VERSION}\" \"sup manual\"\n",
        name.to_uppercase()
    )
}

// --- sup.d(5) from docs/units.md ------------------------------------------------------------

/// Renders the key reference: `#` is the page (its text the DESCRIPTION), `##` a section,
/// `###` a subsection, each table row a tagged paragraph (the key, then its type, default
/// and platforms, then its meaning), ```yaml blocks as examples, HTML comments dropped.
fn units_page(md: &str) -> String {
    let mut out = title("sup.d", "5");
    out.push_str(
        ".SH NAME\nsup.d \\- sup unit files\n.SH SYNOPSIS\n\\fB/etc/sup.d/\\fINAME\\fB.yaml\\fR\n",
    );
    let mut in_code = false;
    let mut in_comment = false;
    // The paragraph being read: its lines, and how it starts (`.PP`, or `.IP` for an
    // item of a list; the lines after an item's first belong to it until a blank line).
    let mut para = Vec::<String>::new();
    let mut head = String::new();
    let mut header: Option<Vec<String>> = None;
    let flush = |para: &mut Vec<String>, head: &String, out: &mut String| {
        if !para.is_empty() {
            out.push_str(head);
            out.push_str(&inline(&para.join(" ")));
            out.push('\n');
            para.clear();
        }
    };
    let mut described = false;
    for line in md.lines() {
        if in_comment {
            in_comment = !line.contains("-->");
            continue;
        }
        if in_code {
            if line.trim_start().starts_with("```") {
                out.push_str(".EE\n.RE\n");
                in_code = false;
            } else {
                out.push_str(&format!("\\&{}\n", esc(line)));
            }
            continue;
        }
        let t = line.trim();
        if t.starts_with("<!--") {
            flush(&mut para, &head, &mut out);
            in_comment = !t.contains("-->");
            continue;
        }
        if t.starts_with("```") {
            flush(&mut para, &head, &mut out);
            out.push_str(".PP\n.RS 4\n.EX\n");
            in_code = true;
            continue;
        }
        if let Some(cells) = table_row(t) {
            flush(&mut para, &head, &mut out);
            if cells
                .iter()
                .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':')))
            {
                continue;
            }
            match &header {
                None => header = Some(cells.iter().map(|c| c.to_lowercase()).collect()),
                Some(h) => out.push_str(&key_entry(h, &cells)),
            }
            continue;
        }
        header = None;
        if let Some(h) = t.strip_prefix("# ") {
            flush(&mut para, &head, &mut out);
            let _ = h;
            if !described {
                out.push_str(".SH DESCRIPTION\n");
                described = true;
            }
        } else if let Some(h) = t.strip_prefix("## ") {
            flush(&mut para, &head, &mut out);
            out.push_str(&format!(".SH {}\n", inline(&h.to_uppercase())));
        } else if let Some(h) = t.strip_prefix("### ") {
            flush(&mut para, &head, &mut out);
            out.push_str(&format!(".SS {}\n", inline(h)));
        } else if t.is_empty() {
            flush(&mut para, &head, &mut out);
        } else if let Some(item) = t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) {
            flush(&mut para, &head, &mut out);
            head = ".IP \\(bu 2\n".into();
            para.push(item.to_string());
        } else if let Some((n, item)) = numbered(t) {
            flush(&mut para, &head, &mut out);
            head = format!(".IP {n}. 4\n");
            para.push(item.to_string());
        } else {
            if para.is_empty() {
                head = ".PP\n".into();
            }
            para.push(t.to_string());
        }
    }
    flush(&mut para, &head, &mut out);
    if in_code {
        out.push_str(".EE\n.RE\n");
    }
    out.push_str(".SH SEE ALSO\n\\fBsup\\fR(8), \\fBsupctl\\fR(1)\n");
    out
}

/// `3. text` → (3, text).
fn numbered(line: &str) -> Option<(u32, &str)> {
    let (n, rest) = line.split_once(". ")?;
    Some((n.parse().ok()?, rest))
}

/// The cells of a markdown table row (`| a | b |`), `\|` kept inside a cell.
fn table_row(line: &str) -> Option<Vec<String>> {
    let inner = line.strip_prefix('|')?.strip_suffix('|')?;
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                cell.push('|');
            }
            '|' => cells.push(std::mem::take(&mut cell).trim().to_string()),
            _ => cell.push(c),
        }
    }
    cells.push(cell.trim().to_string());
    Some(cells)
}

/// One table row as a tagged paragraph: the first column as the tag, `type`, `default`
/// and `platforms` on a line, the other columns (`meaning`) as the text.
fn key_entry(header: &[String], cells: &[String]) -> String {
    let mut out = String::from(".TP\n");
    out.push_str(&inline(cells.first().map_or("", String::as_str)));
    out.push('\n');
    let mut facts = Vec::new();
    let mut text = Vec::new();
    for (h, c) in header.iter().zip(cells).skip(1) {
        if c.is_empty() {
            continue;
        }
        match h.as_str() {
            "type" => facts.push(inline(c)),
            "default" | "platforms" => facts.push(format!("{h}: {}", inline(c))),
            _ => text.push(inline(c)),
        }
    }
    if !facts.is_empty() {
        out.push_str(&format!("\\fI{}\\fR\n", facts.join("; ")));
        if !text.is_empty() {
            out.push_str(".br\n");
        }
    }
    for t in text {
        out.push_str(&t);
        out.push('\n');
    }
    out
}

// --- sup(8), supctl(1) from clap ---------------------------------------------------------------

fn mangen_head(cmd: Command, section: &str, out: &mut Vec<u8>) -> io::Result<()> {
    let man = clap_mangen::Man::new(cmd)
        .section(section)
        .source(format!("sup {VERSION}"))
        .manual("sup manual");
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    Ok(())
}

fn sup_page() -> io::Result<String> {
    let mut cmd = sup_cli::Cli::command();
    cmd.build();
    let mut out = Vec::new();
    mangen_head(cmd.clone(), "8", &mut out)?;
    let mut s = String::from_utf8(out).expect("roff is UTF-8");
    s.push_str(".SH COMMANDS\n");
    push_subcommands(&mut s, &cmd, "sup");
    s.push_str(SUP_EXTRA);
    Ok(s)
}

fn supctl_page() -> io::Result<String> {
    let mut cmd = supctl_cli::Cli::command();
    cmd.build();
    let mut out = Vec::new();
    mangen_head(cmd.clone(), "1", &mut out)?;
    let mut s = String::from_utf8(out).expect("roff is UTF-8");
    s.push_str(".SH COMMANDS\n");
    push_subcommands(&mut s, &cmd, "supctl");
    s.push_str(SUPCTL_EXTRA);
    Ok(s)
}

/// Each visible subcommand: its synopsis as the tag, its help, then its arguments.
fn push_subcommands(s: &mut String, cmd: &Command, bin: &str) {
    for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        let _ = writeln!(
            s,
            ".TP\n\\fB{} {}\\fR{}",
            esc(bin),
            esc(sub.get_name()),
            synopsis(sub)
        );
        let help = sub
            .get_long_about()
            .or(sub.get_about())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let _ = writeln!(s, "{}", esc(&help.replace('\n', " ")));
        let args: Vec<&Arg> = sub
            .get_arguments()
            .filter(|a| {
                !a.is_hide_set()
                    && !a.is_global_set()
                    && !matches!(a.get_id().as_str(), "help" | "version")
            })
            .collect();
        if args.is_empty() {
            continue;
        }
        s.push_str(".RS\n");
        for a in args {
            let _ = writeln!(s, ".TP\n{}", arg_tag(a));
            let help = a
                .get_long_help()
                .or(a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let mut text = help.replace('\n', " ");
            let defaults: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            if !defaults.is_empty() && !matches!(a.get_action(), ArgAction::SetTrue) {
                let _ = write!(text, " [default: {}]", defaults.join(", "));
            }
            if let Some(env) = a.get_env() {
                let _ = write!(text, " [env: {}]", env.to_string_lossy());
            }
            let _ = writeln!(s, "{}", esc(text.trim()));
        }
        s.push_str(".RE\n");
    }
}

fn value_names(a: &Arg) -> String {
    a.get_value_names()
        .map(|v| {
            v.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| a.get_id().to_string().to_uppercase())
}

fn takes_value(a: &Arg) -> bool {
    matches!(a.get_action(), ArgAction::Set | ArgAction::Append)
}

fn arg_tag(a: &Arg) -> String {
    if a.is_positional() {
        let dots = if matches!(a.get_action(), ArgAction::Append)
            || a.get_num_args().is_some_and(|n| n.max_values() > 1)
        {
            "..."
        } else {
            ""
        };
        return format!("\\fI{}\\fR{}", esc(&value_names(a)), dots);
    }
    let mut names = Vec::new();
    if let Some(c) = a.get_short() {
        names.push(format!("\\fB\\-{c}\\fR"));
    }
    if let Some(l) = a.get_long() {
        names.push(format!("\\fB\\-\\-{}\\fR", esc(l)));
    }
    let mut tag = names.join(", ");
    if takes_value(a) {
        let _ = write!(tag, " \\fI{}\\fR", esc(&value_names(a)));
    }
    tag
}

/// ` [\-r] [UNIT]...` style: options then positionals, optional ones in brackets.
fn synopsis(sub: &Command) -> String {
    let mut parts = Vec::new();
    for a in sub
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_global_set())
    {
        if matches!(a.get_id().as_str(), "help" | "version") {
            continue;
        }
        let mut p = if a.is_positional() {
            arg_tag(a)
        } else {
            let name = match (a.get_short(), a.get_long()) {
                (Some(c), _) => format!("\\fB\\-{c}\\fR"),
                (None, Some(l)) => format!("\\fB\\-\\-{}\\fR", esc(l)),
                _ => continue,
            };
            if takes_value(a) {
                format!("{name} \\fI{}\\fR", esc(&value_names(a)))
            } else {
                name
            }
        };
        if a.is_last_set() {
            p = format!("\\-\\- {p}");
        }
        if !a.is_required_set() {
            p = format!("[{p}]");
        }
        parts.push(p);
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" {}", parts.join(" "))
    }
}

const SUP_EXTRA: &str = r#".SH MODES
With no command and no \fB\-\-\fR, sup supervises the units of the unit directory
(as PID 1 it is the init of the machine or container). With \fB\-\-\fR \fICMD\fR...
(entrypoint mode) it runs \fICMD\fR as the main process beside the units and exits
with its status. \fBsup check\fR validates the unit files and exits.
.SH SIGNALS
SIGHUP re-reads the unit directory (as \fBsupctl reload\fR). As PID 1: SIGTERM and SIGPWR
power off (in a container: stop everything and exit), SIGINT reboots, SIGUSR1 halts.
.SH EXIT STATUS
\fBsup check\fR exits 0 when every file is valid (warnings allowed), 1 otherwise.
In entrypoint mode sup exits with the main command's status. 2 is a usage error.
.SH FILES
.TP
\fI/etc/sup.d/*.yaml\fR
unit files, see \fBsup.d\fR(5)
.TP
\fI/run/sup/control.sock\fR
control socket (root; \fI$XDG_RUNTIME_DIR/sup/control.sock\fR for other users)
.TP
\fI/var/log/sup/NAME.log\fR
unit output (root; \fI$XDG_STATE_HOME/sup/log\fR for other users)
.SH SEE ALSO
\fBsupctl\fR(1), \fBsup.d\fR(5)
"#;

const SUPCTL_EXTRA: &str = r#".SH EXIT STATUS
.TP
0
success
.TP
1
the operation failed: a unit failed to start or stop, \fBhealth\fR found a unit not
healthy, \fBstatus\fR \fIUNIT\fR... named a unit that is \fBfailed\fR or \fBinvalid\fR,
\fBcheck\fR found problems, sup's reply could not be read
.TP
2
usage error
.TP
3
a named unit does not exist
.TP
4
sup cannot be reached: no socket, connection refused, permission denied
.PP
\fBrun \-\-wait\fR exits with the unit's own status (128+N for signal N, 124 at its
\fB\-\-timeout\fR).
.SH ENVIRONMENT
.TP
\fBSUP_SOCKET\fR
the control socket (as \fB\-\-socket\fR)
.TP
\fBSUP_UNITS\fR
the unit directory of \fBcheck\fR, and of the unit names the bash completion offers
when sup does not answer
.SH SEE ALSO
\fBsup\fR(8), \fBsup.d\fR(5)
"#;

// --- bash: unit names ----------------------------------------------------------------------

/// Appended to clap's bash completion of supctl: after a command that takes units, offer
/// the names of the units of the running sup (`supctl status`, the program being completed,
/// with the `--socket` of the command line), or when it does not answer the unit files of
/// `$SUP_UNITS` (default /etc/sup.d).
fn bash_units(cmd: &Command) -> String {
    let mut unit_cmds = Vec::new();
    let mut value_opts = Vec::new();
    for sub in cmd.get_subcommands() {
        let mut takes_units = false;
        for a in sub.get_arguments() {
            if a.is_positional() && value_names(a) == "UNIT" {
                takes_units = true;
            }
            if !a.is_positional() && takes_value(a) {
                if let Some(c) = a.get_short() {
                    value_opts.push(format!("-{c}"));
                }
                if let Some(l) = a.get_long() {
                    value_opts.push(format!("--{l}"));
                }
            }
        }
        if takes_units {
            unit_cmds.push(sub.get_name().to_string());
        }
    }
    value_opts.sort();
    value_opts.dedup();
    format!(
        r#"
# --- unit names (added by sup's gen-docs) ---
# After a command that takes units, complete the names of the units of the running sup
# (`supctl status`, with the --socket given on the command line or $SUP_SOCKET); when sup
# does not answer, the unit files NAME.yaml of $SUP_UNITS (default /etc/sup.d).
_supctl_unit_cmds=" {cmds} "
_supctl_value_opts=" {opts} "

_supctl_unit_names() {{
    local prog=$1; shift
    local names
    names=$("$prog" "$@" status 2>/dev/null | awk 'NR == 1 {{ next }} /^$/ {{ exit }} /^[^ ]/ {{ print $1 }}')
    if [[ -z $names ]]; then
        local f
        for f in "${{SUP_UNITS:-/etc/sup.d}}"/*.yaml; do
            [[ -f $f ]] || continue
            f=${{f##*/}}
            names+="${{f%.yaml}}"$'\n'
        done
    fi
    printf '%s' "$names"
}}

_supctl_with_units() {{
    _supctl "$@"
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
    [[ $cur == -* ]] && return 0
    [[ $COMP_CWORD -gt 1 && $_supctl_value_opts == *" $prev "* ]] && return 0
    local i sub= socket=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${{COMP_WORDS[i]}} in
            --socket) socket=(--socket "${{COMP_WORDS[i+1]}}"); ((i++)) ;;
            --socket=*) socket=("${{COMP_WORDS[i]}}") ;;
            --) return 0 ;;
            -*) ;;
            *) [[ -z $sub ]] && sub=${{COMP_WORDS[i]}} ;;
        esac
    done
    [[ -n $sub && $_supctl_unit_cmds == *" $sub "* ]] || return 0
    local prog=${{COMP_WORDS[0]}}
    [[ $prog == */* ]] || prog=$(type -P "$prog") || return 0
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$(_supctl_unit_names "$prog" "${{socket[@]}}")" -- "$cur"))
    return 0
}}

if [[ "${{BASH_VERSINFO[0]}}" -eq 4 && "${{BASH_VERSINFO[1]}}" -ge 4 || "${{BASH_VERSINFO[0]}}" -gt 4 ]]; then
    complete -F _supctl_with_units -o nosort -o bashdefault -o default supctl
else
    complete -F _supctl_with_units -o bashdefault -o default supctl
fi
"#,
        cmds = unit_cmds.join(" "),
        opts = value_opts.join(" "),
    )
}
