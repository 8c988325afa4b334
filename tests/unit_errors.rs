//! The problems of a rejected unit file in sup's log (issue 16): one log record per
//! problem, each with the same prefix `sup: error: FILE:`, at startup and after a reload
//! (where a newly added bad file was not logged before).

#[macro_use]
mod common;

use std::fs;

use common::*;

/// The lines of sup's log that mention `file`.
fn lines_about(sup: &Sup, file: &str) -> Vec<String> {
    sup.stderr_log()
        .lines()
        .filter(|l| l.contains(file))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_problem_of_a_file_is_logged_with_the_file_as_prefix() {
    let mut sup = Sup::prepare("unit-errors-log");
    sup.write_unit("good", "exec: [sleep, \"60\"]\n");
    // Three problems in one file (a systemd name, a block key at the top, a typo).
    sup.write_unit(
        "bad",
        "exec: x\nExecStart: /bin/x\nmemory_max: 1G\nrestrat: always\n",
    );
    sup.launch();
    sup.wait_state("good", "running");
    let bad = sup.units.join("bad.yaml").display().to_string();
    let prefix = format!("sup: error: {bad}:");
    let lines = lines_about(&sup, &bad);
    assert_eq!(lines.len(), 3, "{}", sup.stderr_log());
    for l in &lines {
        assert!(
            l.starts_with(&prefix),
            "{l:?} does not start with {prefix:?}"
        );
    }
    assert!(lines[0].contains("unknown unit key \"ExecStart\" (the command is exec:"));
    assert!(lines[1].contains("memory_max belongs in the resources block"));
    assert!(lines[2].contains("did you mean \"restart\"?"));

    // Added by a reload: logged the same way, each problem on its own.
    let added = sup.units.join("added.yaml");
    fs::write(
        &added,
        "exec: x\nimage: nginx\nrestart:\n  policy: always\n   delay: 1s\n",
    )
    .unwrap();
    let odd = sup.units.join("-odd.yaml");
    fs::write(&odd, "exec: [true]\n").unwrap();
    let (code, _, _) = sup.supctl(&["reload"]);
    assert_eq!(code, 1, "a reload with an invalid file exits 1");
    let added_s = added.display().to_string();
    let odd_s = odd.display().to_string();
    let logged = wait_until(
        || !lines_about(&sup, &added_s).is_empty() && !lines_about(&sup, &odd_s).is_empty(),
        WAIT,
    );
    assert!(
        logged,
        "the new bad files were not logged:\n{}",
        sup.stderr_log()
    );
    let lines = lines_about(&sup, &added_s);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with(&format!(
            "sup: error: {added_s}:5:9: bad indentation: line 5 is indented more than \"policy\""
        )),
        "{lines:?}"
    );
    for l in lines_about(&sup, &odd_s) {
        assert!(
            l.starts_with(&format!("sup: error: {odd_s}:1:1: ")),
            "{l:?}"
        );
    }
    // The bad file's problems were logged once at startup, not again at the reload
    // (nothing changed in it).
    assert_eq!(lines_about(&sup, &bad).len(), 3);
}

#[test]
fn sup_check_says_which_block_a_mis_indented_line_broke() {
    let dir = unique_dir("unit-errors-indent");
    let files = [
        (
            "restart",
            "exec: [sleep, \"1\"]\nrestart:\n  policy: always\n   delay: 1s\n",
            ":4:9: bad indentation: line 4 is indented more than \"policy\" (line 3) in the block of \"restart\" (line 2)",
        ),
        (
            "resources",
            "exec: [sleep, \"1\"]\nresources:\n  memory_max: 64M\n cpu_max: 50%\n",
            ":4:2: bad indentation: line 4 is indented 1 space, but the keys of \"resources\" (line 2) are indented 2",
        ),
        (
            "health",
            "exec: [sleep, \"1\"]\nhealth:\n  - exec: [\"true\"]\n  interval: 1s\n",
            ":4:3: bad indentation: line 4 breaks the list of \"health\" (line 2)",
        ),
        (
            "flat",
            "exec: [sleep, \"1\"]\nstop:\nsignal: INT\n",
            ":3:1: unknown unit key \"signal\" (signal belongs in the stop block",
        ),
        (
            "systemd",
            "[Service]\nExecStart=/bin/sleep 1\n",
            ":1:1: this is a systemd unit file (INI), not a sup unit (YAML): convert it with `sup import FILE.service`",
        ),
    ];
    for (name, text, _) in &files {
        fs::write(dir.join(format!("{name}.yaml")), text).unwrap();
    }
    let mut cmd = std::process::Command::new(SUP);
    cmd.env_remove("SUP_UNITS")
        .arg("check")
        .arg("--units")
        .arg(&dir);
    let (code, out, err) = run_bounded(cmd, SUPCTL_TIMEOUT);
    assert_eq!(code, 1, "{out}{err}");
    for (name, _, needle) in &files {
        let file = dir.join(format!("{name}.yaml")).display().to_string();
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{file}{needle}"))),
            "no {file}{needle} in:\n{out}"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}
