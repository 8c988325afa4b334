//! Loading and checking unit directories, and reading env files, on real temp files.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::unit::envfile::parse_env_bytes;
use crate::unit::{check_dir, is_warning, load_dir, read_env_file};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("sup-unit-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, text).expect("write temp file");
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn good_and_bad_files_side_by_side() {
    let dir = TempDir::new("load");
    dir.write("web.yaml", "exec: [web]\nslice: apps\n");
    let bad = dir.write("bad.yaml", "exec: x\nrestart: {delay: 10x}\nfoo: 1\n");
    dir.write("apps.yaml", "kind: slice\nmax_units: 2\n");
    dir.write("README.md", "not a unit");
    dir.write("old.yaml.bak", "exec: x");
    dir.write(".hidden.yaml", "exec: x");
    dir.write("bad name.yaml", "exec: x\n");
    fs::create_dir(dir.path().join("sub.yaml")).expect("mkdir");

    let result = load_dir(dir.path()).expect("load");
    let units: Vec<&str> = result.units.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(units, ["web"]);
    assert_eq!(result.units[0].path, dir.path().join("web.yaml"));
    assert_eq!(result.slices.len(), 1);
    assert_eq!(result.slices[0].name.as_str(), "apps");
    assert_eq!(result.slices[0].max_units, Some(2));
    let invalid: Vec<&str> = result.invalid.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(invalid, ["bad", "bad name", "sub"]);

    let bad_unit = &result.invalid[0];
    assert_eq!(bad_unit.path, bad);
    let lines: Vec<&str> = bad_unit.message.lines().collect();
    let file = bad.display().to_string();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with(&format!("{file}:2:18: restart.delay: invalid duration")));
    assert!(lines[1].starts_with(&format!("{file}:3:1: unknown unit key \"foo\"")));
    let bad_name = &result.invalid[1].message;
    assert!(
        bad_name.contains("bad name.yaml:1:1: invalid unit name \"bad name\""),
        "{bad_name}"
    );
    let sub = format!(
        "{}:1:1: not a regular file (a directory)",
        dir.path().join("sub.yaml").display()
    );
    assert!(
        result.invalid[2].message.starts_with(&sub),
        "{:?}",
        result.invalid[2]
    );
}

#[test]
fn unreadable_directory_is_an_error() {
    let dir = TempDir::new("missing");
    assert!(load_dir(&dir.path().join("nope")).is_err());
    assert!(check_dir(&dir.path().join("nope")).is_err());
}

#[test]
fn empty_directory_loads_nothing() {
    let dir = TempDir::new("empty");
    let result = load_dir(dir.path()).expect("load");
    assert!(result.units.is_empty() && result.slices.is_empty() && result.invalid.is_empty());
    assert_eq!(check_dir(dir.path()).expect("check"), Vec::<String>::new());
}

#[test]
fn check_reports_cross_file_problems() {
    let dir = TempDir::new("check");
    let a = dir.write("a.yaml", "exec: x\nslice: nowhere\nrequires: [ghost, b]\n");
    dir.write("b.yaml", "exec: x\nslice: a\n");
    let c = dir.write("c.yaml", "kind: slice\nslice: d\n");
    dir.write("d.yaml", "kind: slice\nslice: c\n");
    let e = dir.write("e.yaml", "kind: slice\nslice: missing\n");
    let broken = dir.write("broken.yaml", "exec: [\n");
    dir.write("f.yaml", "exec: x\nslice: broken\n");
    let yml = dir.write("g.yml", "exec: x\n");
    let lines = check_dir(dir.path()).expect("check");
    let has = |path: &Path, tail: &str| {
        let want = format!("{}:{tail}", path.display());
        assert!(
            lines.iter().any(|l| l.starts_with(&want)),
            "missing {want:?} in {lines:#?}"
        );
    };
    has(&broken, "2:1: did not find expected");
    has(&a, "2:1: slice: unknown slice \"nowhere\"");
    has(
        &a,
        "3:1: requires: unknown unit \"ghost\" (no ghost.yaml here); a would fail",
    );
    has(
        &dir.path().join("b.yaml"),
        "2:1: slice: \"a\" is a unit, not a slice",
    );
    has(&c, "2:1: slice: parent loop (c -> d -> c)");
    has(&e, "2:1: slice: parent unknown slice \"missing\"");
    has(&yml, "1:1: warning: ignored");
    assert_eq!(lines.len(), 8, "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| is_warning(l)).count(), 1);
}

#[test]
fn check_is_empty_when_all_valid() {
    let dir = TempDir::new("valid");
    dir.write("db.yaml", "exec: [postgres]\nready: notify\n");
    dir.write(
        "web.yaml",
        "exec: [web]\nrequires: [db]\nafter: [db]\nslice: apps\n",
    );
    dir.write("apps.yaml", "kind: slice\nresources: {memory_max: 1G}\n");
    assert_eq!(check_dir(dir.path()).expect("check"), Vec::<String>::new());
}

#[test]
fn env_files() {
    let dir = TempDir::new("env");
    let text = "# comment\n\nA=1\nexport B = two words \nC=\"quoted # not a comment\"\nD='single $X'\nE=\"esc \\\"q\\\" \\n\"\nF=\nG=a=b\n  H=x # kept\n";
    let path = dir.write("app.env", text);
    let vars = read_env_file(&path).expect("read");
    let expected = [
        ("A", "1"),
        ("B", "two words"),
        ("C", "quoted # not a comment"),
        ("D", "single $X"),
        ("E", "esc \"q\" \n"),
        ("F", ""),
        ("G", "a=b"),
        ("H", "x # kept"),
    ];
    let expected: Vec<(OsString, OsString)> =
        expected.iter().map(|(k, v)| (k.into(), v.into())).collect();
    assert_eq!(vars, expected);
}

#[test]
fn env_file_values_are_bytes() {
    let dir = TempDir::new("envbytes");
    let path = dir.0.join("bytes.env");
    let text = b"A=v\xfe\x80\r\nB=\"q\xff \\$\"\nC='\xc3\xa9\\'\n";
    fs::write(&path, text).expect("write");
    if crate::platform::fs::os_string_from_bytes(b"\xfe".to_vec()).is_err() {
        let err = read_env_file(&path).expect_err("not text here");
        assert!(
            err.ends_with(
                ":1: the value of A is not valid text on this platform (\"v\\xfe\\x80\")"
            ),
            "{err}"
        );
        println!("skipped: strings on this platform are not bytes (checked the error instead)");
        return;
    }
    let vars = read_env_file(&path).expect("read");
    let vars: Vec<(&[u8], &[u8])> = vars
        .iter()
        .map(|(k, v)| (k.as_encoded_bytes(), v.as_encoded_bytes()))
        .collect();
    let expected: [(&[u8], &[u8]); 3] = [
        (b"A", b"v\xfe\x80"),
        (b"B", b"q\xff $"),
        (b"C", b"\xc3\xa9\\"),
    ];
    assert_eq!(vars, expected);
}

#[test]
fn env_file_errors_name_file_and_line() {
    let dir = TempDir::new("envbad");
    let cases = [
        ("A=1\n# c\nJUST TEXT\n", "3: expected KEY=VALUE"),
        ("=1\n", "1: invalid variable name \"\""),
        ("A B=1\n", "1: invalid variable name \"A B\""),
        ("A=\"open\n", "1: unterminated \" quote"),
        (
            "A='x' y\n",
            "1: unexpected text after the closing quote: \"y\"",
        ),
    ];
    for (text, tail) in cases {
        let path = dir.write("x.env", text);
        let err = read_env_file(&path).expect_err(text);
        assert_eq!(err, format!("{}:{tail}", path.display()), "{text:?}");
    }
    let bytes: [(&[u8], &str); 3] = [
        (b"# c\nA\xff=1\n", "2: invalid variable name \"A\\xff\""),
        (b"A=1\nB=x\0y\n", "2: the value of B contains a NUL byte"),
        (
            b"A=\"x\" \xfe\n",
            "1: unexpected text after the closing quote: \"\\xfe\"",
        ),
    ];
    for (text, tail) in bytes {
        let path = dir.0.join("x.env");
        fs::write(&path, text).expect("write");
        let err = read_env_file(&path).expect_err(tail);
        assert_eq!(err, format!("{}:{tail}", path.display()), "{text:?}");
    }
    let missing = dir.path().join("missing.env");
    let err = read_env_file(&missing).expect_err("missing");
    assert!(
        err.starts_with(&format!("{}: cannot read", missing.display())),
        "{err}"
    );
}

/// Runs `f` on another thread and fails if it takes more than 10 s (a blocking open of
/// a FIFO would hang forever).
fn quickly<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("did not return within 10 s (blocked on a FIFO?)")
}

#[test]
fn entries_that_are_not_regular_files_are_reported() {
    let dir = TempDir::new("odd");
    dir.write("good.yaml", "exec: x\n");
    if let Err(e) = crate::platform::fs::make_fifo(&dir.path().join("fifo.yaml")) {
        assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "mkfifo: {e}");
        println!("skipped: this platform has no FIFOs, devices and links of this kind");
        return;
    }
    let link = |target: &str, name: &str| {
        crate::platform::fs::symlink_file(Path::new(target), &dir.path().join(name))
            .expect("symlink")
    };
    link("nowhere.yaml", "dangling.yaml");
    link("loop-b.yaml", "loop-a.yaml");
    link("loop-a.yaml", "loop-b.yaml");
    link("/dev/null", "device.yaml");
    link("good.yaml", "alias.yaml");
    fs::create_dir(dir.path().join("dir.yaml")).expect("mkdir");
    let mut big = "exec: x\ndescription: >\n".to_string();
    while big.len() <= crate::unit::limits::MAX_FILE_SIZE {
        big.push_str(&format!("  {}\n", "x".repeat(1000)));
    }
    dir.write("big.yaml", &big);
    fs::write(
        dir.path().join("latin1.yaml"),
        b"exec: x\ndescription: caf\xe9\n",
    )
    .expect("write");

    let path = dir.path().to_path_buf();
    let result = quickly(move || load_dir(&path).expect("load"));
    let units: Vec<&str> = result.units.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(units, ["alias", "good"], "a link to a regular file is fine");
    let file = |name: &str| dir.path().join(name).display().to_string();
    let expected = [
        (
            "big",
            format!("{}:1048:419: ", file("big.yaml")),
            "larger than 1 MiB, the limit for a unit file",
        ),
        (
            "dangling",
            format!("{}:1:1: ", file("dangling.yaml")),
            "dangling symbolic link (its target \"nowhere.yaml\" does not exist)",
        ),
        (
            "device",
            format!("{}:1:1: ", file("device.yaml")),
            "not a regular file (a character device)",
        ),
        (
            "dir",
            format!("{}:1:1: ", file("dir.yaml")),
            "not a regular file (a directory)",
        ),
        (
            "fifo",
            format!("{}:1:1: ", file("fifo.yaml")),
            "not a regular file (a FIFO)",
        ),
        (
            "latin1",
            format!("{}:2:17: ", file("latin1.yaml")),
            "the file is not valid UTF-8",
        ),
        (
            "loop-a",
            format!("{}:1:1: ", file("loop-a.yaml")),
            "symbolic link loop",
        ),
        (
            "loop-b",
            format!("{}:1:1: ", file("loop-b.yaml")),
            "symbolic link loop",
        ),
    ];
    assert_eq!(
        result.invalid.len(),
        expected.len(),
        "{:#?}",
        result.invalid
    );
    for (bad, (name, prefix, needle)) in result.invalid.iter().zip(expected) {
        assert_eq!(bad.name, name);
        assert!(
            bad.message.starts_with(&prefix),
            "{:?} should start with {prefix:?}",
            bad.message
        );
        assert!(
            bad.message.contains(needle),
            "{:?} should contain {needle:?}",
            bad.message
        );
    }
    // `sup check` reports the same, quickly too.
    let path = dir.path().to_path_buf();
    let lines = quickly(move || check_dir(&path).expect("check"));
    assert_eq!(lines.len(), 8, "{lines:#?}");
    assert!(lines.iter().all(|l| !is_warning(l)));
}

#[test]
fn env_files_are_read_without_blocking_or_without_bound() {
    let dir = TempDir::new("envodd");
    let fifo = dir.path().join("fifo.env");
    match crate::platform::fs::make_fifo(&fifo) {
        Ok(()) => {
            let err = quickly(move || read_env_file(&fifo).expect_err("a FIFO"));
            assert!(
                err.ends_with("fifo.env: cannot read: not a regular file (a FIFO)"),
                "{err}"
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
            println!("skipped the FIFO: this platform has none");
        }
        Err(e) => panic!("mkfifo: {e}"),
    }
    let big = dir.write("big.env", &"A=1\n".repeat(300_000));
    let err = read_env_file(&big).expect_err("too big");
    assert!(
        err.ends_with("big.env: cannot read: 1200000 bytes, more than the 1048576 allowed"),
        "{err}"
    );
    // Not `nul.env`: Windows reserves the name NUL (with any extension) for its device.
    let nul = dir.write("nul-byte.env", "A=1\nB=x\0y\n");
    assert_eq!(
        read_env_file(&nul).expect_err("NUL"),
        format!("{}:2: the value of B contains a NUL byte", nul.display())
    );
}

#[test]
fn check_reports_cycles_and_missing_requires_with_their_files() {
    let dir = TempDir::new("graph");
    // a waits for b (after), b for c (requires), c for a (a's before).
    let a = dir.write("a.yaml", "exec: x\nafter: [b]\nbefore: [c]\n");
    let b = dir.write("b.yaml", "exec: x\nrequires: [c]\n");
    let c = dir.write("c.yaml", "exec: x\n");
    let d = dir.write(
        "d.yaml",
        "exec: x\nrequires: [a, gone, apps]\nwants: [nope]\n",
    );
    dir.write("apps.yaml", "kind: slice\n");
    // Ordering against units that are not there is fine (as in systemd).
    dir.write(
        "e.yaml",
        "exec: x\nafter: [nope]\nbefore: [nope2]\nconflicts: [nope3]\n",
    );
    let lines = check_dir(dir.path()).expect("check");
    let (a_, b_, c_) = (a.display(), b.display(), c.display());
    let expected = [
        format!("{a_}:2:1: after: dependency cycle a -> b -> c -> a (each waits for the next: {a_}: after b; {b_}: requires c; {a_}: before c); the units of a cycle never start (reason dependency)"),
        format!("{b_}:2:1: requires: dependency cycle b -> c -> a -> b (each waits for the next: {b_}: requires c; {a_}: before c; {a_}: after b); the units of a cycle never start (reason dependency)"),
        // c has no key of its own in the cycle: reported at its first line.
        format!("{c_}:1:1: dependency cycle c -> a -> b -> c (each waits for the next: {a_}: before c; {a_}: after b; {b_}: requires c); the units of a cycle never start (reason dependency)"),
        format!("{}:2:1: requires: unknown unit \"gone\", \"apps\" (no gone.yaml here); d would fail to start (reason dependency)", d.display()),
        format!("{}:3:1: warning: wants unknown unit \"nope\" (no nope.yaml here; ignored at run time)", d.display()),
    ];
    assert_eq!(lines, expected);
    assert_eq!(lines.iter().filter(|l| !is_warning(l)).count(), 4);
}

#[test]
fn a_quoted_warning_does_not_make_an_error_a_warning() {
    let dir = TempDir::new("warn");
    dir.write("a.yaml", "exec: x\n\"k: warning: x\": 1\n");
    dir.write("b.yaml", "exec: x\nwants: [nope]\n");
    let lines = check_dir(dir.path()).expect("check");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("unknown unit key \"k: warning: x\""),
        "{lines:#?}"
    );
    assert!(!is_warning(&lines[0]), "{}", lines[0]);
    assert!(is_warning(&lines[1]), "{}", lines[1]);
    assert!(!is_warning("no position: warning: x"));
}

#[test]
fn env_bytes_parse_as_the_file_does() {
    let dir = TempDir::new("envparse");
    let text = b"# c\nexport A = \"x y\"\nB='$Z'\n";
    let path = dir.0.join("p.env");
    fs::write(&path, text).expect("write");
    let label = path.display().to_string();
    assert_eq!(
        parse_env_bytes(&label, text),
        read_env_file(&path),
        "the file reader is the byte parser"
    );
    let vars = parse_env_bytes("mem.env", text).expect("parse");
    let expected: Vec<(OsString, OsString)> =
        vec![("A".into(), "x y".into()), ("B".into(), "$Z".into())];
    assert_eq!(vars, expected);
    assert_eq!(
        parse_env_bytes("mem.env", b"A=1\nno equals\n"),
        Err("mem.env:2: expected KEY=VALUE".to_string())
    );
    assert_eq!(parse_env_bytes("mem.env", b""), Ok(Vec::new()));
}
