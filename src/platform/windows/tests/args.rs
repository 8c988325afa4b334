//! What a child is given: its command line (quoting), environment and directory.

use super::*;
use crate::platform::windows::cmdline::command_line;
use crate::platform::windows::spawn::env_block;

const NASTY: &[&str] = &[
    "plain",
    "",
    "two words",
    "tab\there",
    r#"say "hi""#,
    r"C:\dir\",
    r"C:\my dir\",
    r#"back\"quote"#,
    r#"\\" "#,
    r#"""#,
    r"\",
    "ünï cødé ✓",
    "-x",
    "--",
    "a=b c",
];

#[test]
fn quoting_round_trips_through_command_line_to_argv_w() {
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::UI::Shell::CommandLineToArgvW;
    let mut argv = vec![OsString::from(r"C:\Program Files\sup\x.exe")];
    argv.extend(NASTY.iter().map(OsString::from));
    let mut line = command_line(&argv).unwrap();
    line.push(0);
    let mut n = 0i32;
    // SAFETY: `line` is NUL-terminated UTF-16; `n` is a writable i32.
    let list = unsafe { CommandLineToArgvW(line.as_ptr(), &mut n) };
    assert!(!list.is_null());
    let parsed: Vec<OsString> = (0..n as usize)
        .map(|i| {
            // SAFETY: CommandLineToArgvW returned `n` NUL-terminated strings.
            let s = unsafe { *list.add(i) };
            let len = (0..)
                // SAFETY: `s` is NUL-terminated: every unit up to the NUL is readable.
                .take_while(|&j| unsafe { *s.add(j) } != 0)
                .count();
            // SAFETY: `s` points at `len` valid u16s, as counted above.
            let units = unsafe { std::slice::from_raw_parts(s, len) };
            std::os::windows::ffi::OsStringExt::from_wide(units)
        })
        .collect();
    // SAFETY: the list was allocated by CommandLineToArgvW, freed once.
    unsafe { LocalFree(list.cast()) };
    assert_eq!(parsed, argv);
}

#[test]
fn a_child_gets_its_arguments_environment_and_directory() {
    let job = Job::new().unwrap();
    let argv = child_argv(NASTY);
    let mut env = child_env("echo");
    env.push(("SUP_WIN_PROBE".into(), "probe value ✓".into()));
    let dir = std::env::temp_dir();
    let mut p = spawn(
        &job,
        &SpawnRequest {
            argv: &argv,
            env: Some(&env),
            cwd: Some(&dir),
            capture: true,
        },
    )
    .unwrap();
    let out = marked_line(p.stdout.as_mut().unwrap());
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("child output {out:?}: {e}"));
    assert_eq!(doc["args"], serde_json::json!(NASTY));
    assert_eq!(doc["probe"], "probe value ✓");
    let cwd = doc["cwd"].as_str().unwrap();
    assert_eq!(
        std::fs::canonicalize(cwd).unwrap(),
        std::fs::canonicalize(&dir).unwrap()
    );
    assert_eq!(wait_exit(&p), ExitStatus::Code(0));
}

#[test]
fn the_environment_block_is_sorted_and_deduplicated() {
    let env: Vec<(OsString, OsString)> = [
        ("b", "1"),
        ("A", "2"),
        ("Path", "x"),
        ("PATH", "y"),
        ("=C:", r"C:\"),
    ]
    .iter()
    .map(|(k, v)| (OsString::from(k), OsString::from(v)))
    .collect();
    let block = String::from_utf16(&env_block(&env).unwrap()).unwrap();
    assert_eq!(block, "=C:=C:\\\0A=2\0b=1\0PATH=y\0\0");
    assert_eq!(env_block(&[]).unwrap(), [0, 0]);
    let bad = [(OsString::from("A=B"), OsString::from("1"))];
    assert!(env_block(&bad).is_err());
    let nul = [(OsString::from("A"), OsString::from("1\0"))];
    assert!(env_block(&nul).is_err());
}
