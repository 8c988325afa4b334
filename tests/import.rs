//! `supctl import` / `sup import` on real systemd unit files (SPEC section 6, issue 16):
//! Debian's ssh, cron, rsyslog and nginx units (fetched by scripts/systemd-units.sh) and
//! every `.service` file of this machine import or are refused with a reason, the output
//! passes `sup check`, every directive left out is a `FILE:LINE` warning, and the
//! imported cron and rsyslog units run under a real sup.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;

/// Runs `PROGRAM import ARGS...` (PROGRAM is `sup` or `supctl`).
fn import(program: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(program);
    cmd.env_remove("SUP_SOCKET").env_remove("SUP_UNITS");
    cmd.arg("import").args(args);
    run_bounded(cmd, SUPCTL_TIMEOUT)
}

fn sup_check(dir: &Path) -> Output {
    let mut cmd = Command::new(SUP);
    cmd.env_remove("SUP_UNITS")
        .arg("check")
        .arg("--units")
        .arg(dir);
    run_bounded(cmd, SUPCTL_TIMEOUT)
}

/// The Debian unit files, fetched once (scripts/systemd-units.sh); `None` (with the
/// reason printed) when they cannot be had.
fn debian_units() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (code, _, err) = run_bounded(
            {
                let mut c = Command::new("bash");
                c.arg(root.join("scripts/systemd-units.sh"));
                c
            },
            std::time::Duration::from_secs(300),
        );
        if code != 0 {
            eprintln!("SKIP: the Debian unit files are not available: {err}");
            return None;
        }
        let dir = ["lib/systemd/system", "usr/lib/systemd/system"]
            .iter()
            .map(|d| root.join("target/systemd-units/root").join(d))
            .find(|d| d.join("ssh.service").exists())?;
        Some(dir)
    })
    .as_deref()
}

/// The line numbers (1-based) of the `Key=` assignments of a unit file, with their keys
/// (continuation lines are not starts of assignments).
fn assignments(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut continued = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        let starts = !continued && !t.starts_with(['#', ';', '[']) && t.contains('=');
        if starts {
            out.push((i + 1, t.split('=').next().unwrap().trim().to_string()));
        }
        continued = t.ends_with('\\') && !(t.starts_with('#') || t.starts_with(';'));
    }
    out
}

/// Directives whose value is imported as a whole (a warning may still be given).
const MAPPED: &[&str] = &[
    "Description",
    "Documentation",
    "Type",
    "ExecStart",
    "ExecStartPre",
    "Restart",
    "LimitNOFILE",
    "WantedBy",
    "RuntimeDirectory",
    "RuntimeDirectoryMode",
    "TimeoutStopSec",
    "ExecStop",
    "Wants",
    "Requires",
    "After",
    "EnvironmentFile",
    "IgnoreSIGPIPE",
];

#[test]
fn debian_units_import_and_pass_check() {
    let Some(src) = debian_units() else { return };
    let out = unique_dir("import-debian");
    let files: Vec<String> = ["ssh", "cron", "rsyslog", "nginx"]
        .iter()
        .map(|u| src.join(format!("{u}.service")).display().to_string())
        .collect();
    let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
    let out_s = out.display().to_string();
    args.extend(["--out", &out_s]);
    let (code, stdout, stderr) = import(SUPCTL, &args);
    // nginx is Type=forking: refused with the reason, the others imported.
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stdout, "");
    let nginx = &files[3];
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("{nginx}:")) && l.contains("error: Type=forking")),
        "{stderr}"
    );
    for (file, name) in files.iter().zip(["ssh", "cron", "rsyslog"]) {
        assert!(
            stderr.contains(&format!("{file}: imported as {out_s}/{name}.yaml")),
            "{stderr}"
        );
        // Each assignment not imported as a whole has a warning at its line.
        for (line, key) in assignments(Path::new(file)) {
            if MAPPED.contains(&key.as_str()) {
                continue;
            }
            let prefix = format!("{file}:{line}: warning: ");
            assert!(
                stderr.lines().any(|l| l.starts_with(&prefix)),
                "no warning for {key} at {file}:{line}:\n{stderr}"
            );
        }
    }
    // Every stderr line is a warning, an error or a report, with the file name.
    for l in stderr.lines() {
        assert!(
            files.iter().any(|f| l.starts_with(&format!("{f}:"))),
            "unexpected line {l:?}"
        );
    }
    let written: BTreeSet<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = ["cron.yaml", "rsyslog.yaml", "ssh.yaml"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(written, expected);
    let (code, stdout, stderr) = sup_check(&out);
    assert_eq!(code, 0, "sup check: {stdout}{stderr}");
    // What the units say, read back: the daemons run in the foreground as systemd ran them.
    let cron = fs::read_to_string(out.join("cron.yaml")).unwrap();
    assert!(
        cron.contains("exec: exec /usr/sbin/cron -f $EXTRA_OPTS"),
        "{cron}"
    );
    let rsyslog = fs::read_to_string(out.join("rsyslog.yaml")).unwrap();
    assert!(rsyslog.contains("ready: notify"), "{rsyslog}");
    assert!(rsyslog.contains("nofile: 16384"), "{rsyslog}");
    let ssh = fs::read_to_string(out.join("ssh.yaml")).unwrap();
    assert!(
        ssh.contains(
            "mkdir -p -m 0755 /run/sshd && /usr/sbin/sshd -t && exec /usr/sbin/sshd -D $SSHD_OPTS"
        ),
        "{ssh}"
    );
    // `sup import` prints the same unit that `supctl import --out` wrote.
    let (code, printed, _) = import(SUP, &[&files[1]]);
    assert_eq!(code, 0);
    assert_eq!(printed, cron);
    let _ = fs::remove_dir_all(&out);
}

#[test]
fn every_service_of_this_machine_imports_or_is_refused_with_a_reason() {
    let mut files = Vec::new();
    for dir in [
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
        "/etc/systemd/system",
    ] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "service") && p.is_file() {
                files.push(p.display().to_string());
            }
        }
    }
    if let Some(src) = debian_units() {
        for u in ["ssh", "cron", "rsyslog", "nginx"] {
            files.push(src.join(format!("{u}.service")).display().to_string());
        }
    }
    if files.is_empty() {
        eprintln!("SKIP: no .service files on this machine");
        return;
    }
    let mut converted = 0;
    let mut refused = 0;
    for (i, file) in files.iter().enumerate() {
        // One directory each: a template and its plain namesake share a sup name.
        let out = unique_dir(&format!("import-all-{i}"));
        let out_s = out.display().to_string();
        let (code, stdout, stderr) = import(SUPCTL, &[file, "--out", &out_s]);
        assert!(code == 0 || code == 1, "{file}: exit {code}\n{stderr}");
        assert_eq!(stdout, "");
        for l in stderr.lines() {
            assert!(
                l.starts_with(&format!("{file}:")),
                "{file}: unexpected line {l:?}"
            );
        }
        if code == 0 {
            converted += 1;
            let (c, o, e) = sup_check(&out);
            // A unit that requires one not imported here fails the check; nothing else.
            let problems: Vec<&str> = o
                .lines()
                .filter(|l| !l.contains(": warning: ") && !l.contains("requires: unknown unit"))
                .collect();
            assert!(
                c == 0 || problems.is_empty(),
                "{file}: sup check exit {c}: {o}{e}\n{}",
                fs::read_to_string(fs::read_dir(&out).unwrap().next().unwrap().unwrap().path())
                    .unwrap_or_default()
            );
        } else {
            refused += 1;
            assert!(
                stderr
                    .lines()
                    .any(|l| l.starts_with(&format!("{file}:")) && l.contains(": error: ")),
                "{file}: refused without a reason: {stderr}"
            );
        }
        let _ = fs::remove_dir_all(&out);
    }
    eprintln!(
        "{} files: {converted} imported, {refused} refused with a reason",
        files.len()
    );
    assert!(converted > 0);
}

#[test]
fn import_command_line() {
    let dir = unique_dir("import-cli");
    let unit = dir.join("demo.service");
    fs::write(
        &unit,
        "[Unit]\nDescription=demo\n[Service]\nExecStart=/bin/sleep 60\nNice=5\n[Install]\nWantedBy=multi-user.target\n",
    )
    .unwrap();
    let unit_s = unit.display().to_string();
    let out = dir.join("out");
    let out_s = out.display().to_string();
    // Printed without --out, the warning on stderr.
    let (code, stdout, stderr) = import(SUPCTL, &[&unit_s]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("exec: [/bin/sleep, '60']"), "{stdout}");
    assert_eq!(
        stderr,
        format!("{unit_s}:5: warning: [Service] Nice=5: not imported: sup has no nice setting; wrap the command in `nice -n N`\n")
    );
    // Written with --out (the directory is made), not replaced without --force.
    let (code, _, stderr) = import(SUPCTL, &[&unit_s, "--out", &out_s]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("imported as"), "{stderr}");
    fs::write(out.join("demo.yaml"), "exec: [mine]\n").unwrap();
    let (code, _, stderr) = import(SUP, &[&unit_s, "--out", &out_s]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("exists (use --force to replace it)"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(out.join("demo.yaml")).unwrap(),
        "exec: [mine]\n"
    );
    let (code, _, stderr) = import(SUP, &[&unit_s, "--out", &out_s, "--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fs::read_to_string(out.join("demo.yaml")).unwrap(), stdout);
    // Unreadable and missing files: exit 1 with the reason; the others still converted.
    let missing = dir.join("missing.service").display().to_string();
    let (code, stdout2, stderr) = import(SUPCTL, &[&missing, &unit_s]);
    assert_eq!(code, 1);
    assert_eq!(stdout2, stdout);
    assert!(
        stderr.starts_with(&format!("{missing}: error: cannot read: ")),
        "{stderr}"
    );
    let (code, _, stderr) = import(SUPCTL, &[&dir.display().to_string()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    // Usage errors exit 2.
    assert_eq!(import(SUPCTL, &[]).0, 2);
    assert_eq!(import(SUP, &[]).0, 2);
    assert_eq!(import(SUPCTL, &[&unit_s, "--force"]).0, 2);
    let _ = fs::remove_dir_all(&dir);
}

/// Whether a process with this command name (comm) runs on the machine.
fn running(comm: &str) -> bool {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|e| fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == comm))
}

#[test]
fn imported_cron_and_rsyslog_run_under_sup() {
    if !is_root() {
        eprintln!("SKIP: running cron and rsyslogd needs root");
        return;
    }
    let Some(src) = debian_units() else { return };
    let mut wanted = Vec::new();
    for (unit, program, comm) in [
        ("cron", "/usr/sbin/cron", "cron"),
        ("rsyslog", "/usr/sbin/rsyslogd", "rsyslogd"),
    ] {
        if !Path::new(program).exists() {
            eprintln!("SKIP: {program} is not installed (scripts/install-deps.sh installs it)");
        } else if running(comm) {
            eprintln!(
                "SKIP: a {comm} already runs on this machine; a second would refuse to start"
            );
        } else {
            wanted.push(unit);
        }
    }
    if wanted.is_empty() {
        return;
    }
    let mut sup = Sup::prepare("import-run");
    for unit in &wanted {
        let file = src.join(format!("{unit}.service")).display().to_string();
        let units = sup.units.display().to_string();
        let (code, _, stderr) = import(SUPCTL, &[&file, "--out", &units]);
        assert_eq!(code, 0, "{stderr}");
    }
    sup.launch();
    for unit in &wanted {
        // rsyslog is Type=notify: running means it sent READY=1.
        let st = sup.wait_for(
            unit,
            |s| s["state"] == "running" || s["state"] == "failed",
            std::time::Duration::from_secs(30),
        );
        assert_eq!(st["state"], "running", "{unit}: {st}");
        let pid = st["pid"].as_i64().unwrap() as i32;
        assert!(process_alive(pid));
    }
    let (code, out, err) = sup.supctl(&["status"]);
    assert_eq!(code, 0, "{err}");
    for unit in &wanted {
        assert!(
            out.lines()
                .any(|l| l.starts_with(unit) && l.contains("running")),
            "{out}"
        );
    }
    for unit in &wanted {
        let (code, _, err) = sup.supctl(&["stop", unit]);
        assert_eq!(code, 0, "{unit}: {err}");
        assert_eq!(sup.status(unit)["state"], "stopped");
    }
}
