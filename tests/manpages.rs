//! The man pages and shell completions of `scripts/gen-docs`: every file is written, each
//! page renders with groff and man without a warning, and bash completion of supctl offers
//! its commands and unit names (from a running sup, else from the unit files).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{run_bounded, unique_dir, Sup, SUPCTL};

const PAGES: [&str; 3] = ["man/sup.8", "man/supctl.1", "man/sup.d.5"];
const COMPLETIONS: [&str; 6] = [
    "completions/supctl.bash",
    "completions/_supctl",
    "completions/supctl.fish",
    "completions/sup.bash",
    "completions/_sup",
    "completions/sup.fish",
];

/// Runs `scripts/gen-docs` once (it builds the generator) into a temp dir.
fn generated() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let out = unique_dir("gen-docs");
        let mut cmd = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gen-docs"));
        cmd.arg(&out).env("CARGO", env!("CARGO"));
        let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(600));
        assert_eq!(code, 0, "scripts/gen-docs failed\n{stdout}\n{stderr}");
        out
    })
}

fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is not installed (scripts/install-deps.sh installs man-db and groff)"
    );
    String::from_utf8_lossy(&found.stdout).trim().to_string()
}

#[test]
fn every_file_is_written() {
    let out = generated();
    for f in PAGES.iter().chain(&COMPLETIONS) {
        let path = out.join(f);
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        assert!(len > 200, "{} is only {len} bytes", path.display());
    }
    // The pages carry what their sources say: every supctl command, every key of the
    // reference.
    let supctl = std::fs::read_to_string(out.join("man/supctl.1")).unwrap();
    for cmd in ["status", "logs", "cat", "run", "reload", "EXIT STATUS"] {
        assert!(supctl.contains(cmd), "supctl.1 lacks {cmd}");
    }
    let units = std::fs::read_to_string(out.join("man/sup.d.5")).unwrap();
    let md =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/units.md")).unwrap();
    for line in md.lines().filter(|l| l.starts_with("| `")) {
        let key = line.split('`').nth(1).unwrap();
        assert!(
            units.contains(&format!("\\fB{}\\fR", key.replace('-', "\\-"))),
            "sup.d.5 lacks the key {key}"
        );
    }
}

#[test]
fn pages_render_without_warnings() {
    let groff = tool("groff");
    let man = tool("man");
    let out = generated();
    for page in PAGES {
        let path = out.join(page);
        // Every warning, on the page as written (plain ASCII: no preprocessor needed).
        let mut cmd = Command::new(&groff);
        cmd.args(["-man", "-ww", "-z"]).arg(&path);
        let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(60));
        assert_eq!(
            (code, stderr.as_str()),
            (0, ""),
            "groff on {page}\n{stdout}"
        );
        // As a user reads it.
        let mut cmd = Command::new(&man);
        cmd.args(["--warnings", "-l"])
            .arg(&path)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat");
        let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(60));
        assert_eq!((code, stderr.as_str()), (0, ""), "man -l {page}");
        assert!(stdout.contains("NAME"), "man -l {page} printed:\n{stdout}");
    }
}

/// What bash completes for `supctl WORDS...` (the last word being completed), with the
/// completion of `completions/supctl.bash` and `env` set.
fn complete(words: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let script = generated().join("completions/supctl.bash");
    let words: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = format!(
        r#"source '{}'
func=$(complete -p supctl | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
[ -n "$func" ] || {{ echo "no completion function for supctl" >&2; exit 1; }}
COMP_WORDS=('{SUPCTL}' {})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
"$func" "${{COMP_WORDS[0]}}" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        script.display(),
        words.join(" ")
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(line)
        .env_remove("SUP_SOCKET")
        .env_remove("SUP_UNITS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (code, stdout, stderr) = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(code, 0, "bash completion failed: {stderr}");
    stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn bash_completes_commands_and_options() {
    let got = complete(&["st"], &[]);
    for want in ["start", "status", "stop"] {
        assert!(got.iter().any(|g| g == want), "supctl st<TAB> gave {got:?}");
    }
    assert!(
        !got.iter().any(|g| g == "logs"),
        "supctl st<TAB> gave {got:?}"
    );
    let got = complete(&["logs", "--"], &[]);
    assert!(
        got.iter().any(|g| g == "--follow"),
        "supctl logs --<TAB> gave {got:?}"
    );
}

#[test]
fn bash_completes_unit_files_without_sup() {
    let dir = unique_dir("complete-files");
    for name in ["alpha", "beta", "web.api"] {
        std::fs::write(dir.join(format!("{name}.yaml")), "exec: [true]\n").unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "").unwrap();
    let env = [
        ("SUP_UNITS", dir.to_str().unwrap()),
        ("SUP_SOCKET", "/nonexistent/sup.sock"),
    ];
    let mut got = complete(&["stop", ""], &env);
    got.sort();
    assert_eq!(got, ["alpha", "beta", "web.api"]);
    assert_eq!(complete(&["start", "be"], &env), ["beta"]);
    // Not after a command without units, nor for an option's value.
    assert!(!complete(&["reload", ""], &env).contains(&"alpha".to_string()));
    assert!(!complete(&["logs", "-n", ""], &env).contains(&"alpha".to_string()));
}

#[test]
fn bash_completes_the_units_of_a_running_sup() {
    let sup = Sup::start("complete-sup", &[("sleeper", "exec: [sleep, '600']\n")]);
    // A transient unit has no file: only sup knows it.
    let (code, _, err) = sup.supctl(&["run", "--name", "adhoc", "--", "sleep", "600"]);
    assert_eq!(code, 0, "{err}");
    let empty = unique_dir("complete-empty");
    let socket = sup.socket.to_str().unwrap();
    // Through --socket on the command line, and through $SUP_SOCKET.
    let mut got = complete(
        &["--socket", socket, "stop", ""],
        &[("SUP_UNITS", empty.to_str().unwrap())],
    );
    got.sort();
    assert_eq!(got, ["adhoc", "sleeper"]);
    let got = complete(
        &["logs", "ad"],
        &[
            ("SUP_SOCKET", socket),
            ("SUP_UNITS", empty.to_str().unwrap()),
        ],
    );
    assert_eq!(got, ["adhoc"]);
}
