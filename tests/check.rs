//! Integration tests of unit input (SPEC section 2): `sup check` on real directories
//! (graph errors, limits, entries that are not files) and a running sup that is not held
//! up by bad files beside good ones.

#[macro_use]
mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// `sup check --units DIR`: exit code and stdout lines (stderr must be empty).
fn sup_check(dir: &Path) -> (i32, Vec<String>) {
    let mut cmd = Command::new(SUP);
    cmd.env_remove("SUP_UNITS")
        .arg("check")
        .arg("--units")
        .arg(dir);
    let (code, out, err) = run_bounded(cmd, SUPCTL_TIMEOUT);
    assert_eq!(err, "", "stderr of sup check");
    (code, out.lines().map(str::to_string).collect())
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn check_passes_a_valid_directory() {
    let dir = unique_dir("chk-ok");
    write(&dir, "db.yaml", "exec: [postgres]\nready: notify\n");
    write(
        &dir,
        "web.yaml",
        "exec: [web]\nrequires: [db]\nafter: [migrate]\nslice: apps\n",
    );
    write(
        &dir,
        "apps.yaml",
        "kind: slice\nresources: {memory_max: 1G}\n",
    );
    write(&dir, "README.md", "not a unit\n");
    assert_eq!(sup_check(&dir), (0, vec![]));
    // A warning alone does not fail the check.
    let cache = write(&dir, "cache.yaml", "exec: [cache]\nwants: [metrics]\n");
    let (code, lines) = sup_check(&dir);
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with(&format!(
            "{cache}:2:1: warning: wants unknown unit \"metrics\""
        )),
        "{lines:#?}"
    );
    // supctl check is the same check.
    let mut cmd = Command::new(SUPCTL);
    cmd.env_remove("SUP_UNITS").arg("check").arg(&dir);
    let (code, out, _) = run_bounded(cmd, SUPCTL_TIMEOUT);
    assert_eq!(code, 0, "{out}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_fails_on_a_cycle_naming_every_file_in_it() {
    let dir = unique_dir("chk-cycle");
    let a = write(&dir, "a.yaml", "exec: [a]\nrequires: [b]\n");
    let b = write(&dir, "b.yaml", "exec: [b]\nafter: [c]\n");
    let c = write(
        &dir,
        "c.yaml",
        "exec: [c]\ndescription: third\nafter: [a]\n",
    );
    write(&dir, "d.yaml", "exec: [d]\nafter: [a]\n");
    let (code, lines) = sup_check(&dir);
    assert_eq!(code, 1, "{lines:#?}");
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let cycle = "(each waits for the next: ";
    for (line, (file, at, key)) in lines.iter().zip([
        (&a, "2:1", "requires"),
        (&b, "2:1", "after"),
        (&c, "3:1", "after"),
    ]) {
        assert!(
            line.starts_with(&format!("{file}:{at}: {key}: dependency cycle ")),
            "{line}"
        );
        let why = &line[line.find(cycle).unwrap_or_else(|| panic!("{line}")) + cycle.len()..];
        for (file, step) in [(&a, "requires b"), (&b, "after c"), (&c, "after a")] {
            assert!(why.contains(&format!("{file}: {step}")), "{line}");
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_fails_on_a_missing_requires_naming_the_file() {
    let dir = unique_dir("chk-req");
    let web = write(
        &dir,
        "web.yaml",
        "exec: [web]\nafter: [cache]\nrequires: [db, cache]\n",
    );
    write(&dir, "cache.yaml", "exec: [cache]\n");
    let (code, lines) = sup_check(&dir);
    assert_eq!(code, 1, "{lines:#?}");
    assert_eq!(
        lines,
        [format!("{web}:3:1: requires: unknown unit \"db\" (no db.yaml here); web would fail to start (reason dependency)")]
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_reports_bad_input_quickly_with_positions() {
    let dir = unique_dir("chk-bad");
    write(&dir, "good.yaml", "exec: [good]\n");
    let deep = write(&dir, "deep.yaml", &format!("exec: {}", "[".repeat(200_000)));
    let huge = write(
        &dir,
        "huge.yaml",
        &format!("exec: x\n#{}\n", "x".repeat(2 << 20)),
    );
    let tag = write(&dir, "tag.yaml", "exec: !!python/object:os.system ls\n");
    let nul = write(&dir, "nul.yaml", "exec: [\"a\\0b\"]\n");
    let delay = write(
        &dir,
        "delay.yaml",
        "exec: x\nrestart: {policy: always, delay: \"18446744073709549568\"}\n",
    );
    nix::unistd::mkfifo(&dir.join("fifo.yaml"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::os::unix::fs::symlink("gone.yaml", dir.join("dangling.yaml")).unwrap();
    fs::create_dir(dir.join("sub.yaml")).unwrap();
    let started = Instant::now();
    let (code, lines) = sup_check(&dir);
    let took = started.elapsed();
    assert_eq!(code, 1, "{lines:#?}");
    let file = |name: &str| dir.join(name).display().to_string();
    let expected = [
        format!("{}:1:1: dangling symbolic link", file("dangling.yaml")),
        format!("{deep}:1:38: collections are nested more than 32 deep"),
        format!("{delay}:2:34: restart.delay: duration \"18446744073709549568\" is too large (at most 8760h (365 days))"),
        format!("{}:1:1: not a regular file (a FIFO)", file("fifo.yaml")),
        format!("{huge}:2:1048569: the file is larger than 1 MiB"),
        format!("{nul}:1:8: exec[0]: NUL character"),
        format!("{}:1:1: not a regular file (a directory)", file("sub.yaml")),
        format!("{tag}:1:7: tag \"!!python/object:os.system\" is not supported"),
    ];
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    for (line, want) in lines.iter().zip(&expected) {
        assert!(
            line.starts_with(want.as_str()),
            "{line:?} should start with {want:?}"
        );
    }
    // Linear work on at most 1 MiB per file: far below a second even on a loaded machine
    // (the deep file alone took minutes before the nesting limit).
    assert!(took < Duration::from_secs(5), "sup check took {took:?}");
    fs::remove_dir_all(&dir).unwrap();
}

// One bad file never holds up sup: a FIFO, a deeply nested file and an oversized one
// beside a good unit; the socket comes up and the good unit runs at once.
#[test]
fn bad_files_do_not_delay_the_good_units() {
    let mut sup = Sup::prepare("chk-run");
    sup.write_unit("good", "exec: \"exec sleep 1000\"\n");
    sup.write_unit("deep", &format!("exec: {}", "{a: ".repeat(100_000)));
    sup.write_unit("huge", &format!("exec: x\n#{}\n", "x".repeat(8 << 20)));
    nix::unistd::mkfifo(&sup.units.join("fifo.yaml"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let started = Instant::now();
    sup.launch();
    sup.wait_state("good", "running");
    assert!(started.elapsed() < WAIT, "took {:?}", started.elapsed());
    for (name, needle) in [
        ("deep", "collections are nested more than 32 deep"),
        ("huge", "the file is larger than 1 MiB"),
        ("fifo", "not a regular file (a FIFO)"),
    ] {
        let s = sup.status(name);
        assert_eq!(s["state"], "invalid", "{s}");
        let message = s["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("{name}.yaml:")) && message.contains(needle),
            "{s}"
        );
    }
    let log = sup.stderr_log();
    assert!(
        log.contains("fifo.yaml:1:1: not a regular file (a FIFO)"),
        "{log}"
    );
}
