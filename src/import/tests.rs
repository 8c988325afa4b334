//! Import tests: the unit file syntax, quoting, command lines, the directive mapping
//! (checked on the spec sup's own parser reads from the output) and hostile input.

use std::path::Path;
use std::time::Duration;

use super::command::{self, Arg, Piece, Specifiers};
use super::words::split;
use super::{convert_bytes, ini, values, Imported};
use crate::limits::RlimitResource;
use crate::unit::parse::{parse_file, Parsed};
use crate::unit::{Namespace, Ready, RestartPolicy, UnitName, UnitSpec, UnitType};

/// Imports `text` as `t.service`.
fn import(text: &str) -> Imported {
    import_as("t.service", text)
}

fn import_as(file: &str, text: &str) -> Imported {
    match convert_bytes(file, file, text.as_bytes()) {
        Ok(i) => i,
        Err(f) => panic!(
            "{file} not imported: {}\nwarnings: {:#?}",
            f.error, f.warnings
        ),
    }
}

/// The error of a file that must be refused.
fn refused(text: &str) -> String {
    match convert_bytes("t.service", "t.service", text.as_bytes()) {
        Ok(i) => panic!("imported, expected a refusal:\n{}", i.yaml),
        Err(f) => f.error,
    }
}

/// The spec sup reads from the imported YAML.
fn spec(i: &Imported) -> UnitSpec {
    let name = UnitName::new(&i.name).expect("name");
    match parse_file(Path::new("x.yaml"), &name, &i.yaml) {
        Ok(Parsed::Unit(u)) => *u,
        other => panic!("{other:?}\n{}", i.yaml),
    }
}

fn has_warning(i: &Imported, line: usize, needle: &str) -> bool {
    let prefix = format!("t.service:{line}: warning: ");
    i.warnings
        .iter()
        .any(|w| w.starts_with(&prefix) && w.contains(needle))
}

#[track_caller]
fn assert_warning(i: &Imported, line: usize, needle: &str) {
    assert!(
        has_warning(i, line, needle),
        "no warning at line {line} containing {needle:?}: {:#?}",
        i.warnings
    );
}

fn specifiers() -> Specifiers {
    Specifiers {
        full_name: "web@blue.service".to_string(),
        prefix: "web".to_string(),
        instance: "blue".to_string(),
        user: None,
        group: None,
    }
}

fn words(s: &str) -> Vec<String> {
    split(s)
        .expect("splits")
        .into_iter()
        .map(|w| w.text)
        .collect()
}

#[test]
fn unit_file_syntax() {
    let text = "# comment\n; also a comment\n[Unit]\nDescription = spaced  \n\
                [Service]\nExecStart=/bin/echo a \\\n  b \\\n# skipped inside a continuation\n  c\n\
                Environment=X=1\\\\\nnot an assignment\n[Service]\nUser=nobody\n";
    let (parsed, problems) = ini::parse(text);
    let e: Vec<(&str, &str, &str, usize)> = parsed
        .entries
        .iter()
        .map(|e| (e.section.as_str(), e.key.as_str(), e.value.as_str(), e.line))
        .collect();
    assert_eq!(
        e,
        vec![
            ("Unit", "Description", "spaced", 4),
            ("Service", "ExecStart", "/bin/echo a  b  c", 6),
            ("Service", "Environment", "X=1\\\\", 10),
            ("Service", "User", "nobody", 13),
        ]
    );
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].0, 11);
    assert!(problems[0].1.contains("no \"=\""), "{problems:?}");

    let (_, problems) = ini::parse("Key=before\n[Bad\nA=b\n[Unit]\n");
    let lines: Vec<usize> = problems.iter().map(|p| p.0).collect();
    assert_eq!(lines, vec![1, 2, 3], "{problems:?}");
    // A backslash on the last line keeps what was joined.
    let (parsed, _) = ini::parse("[Service]\nExecStart=/bin/true \\");
    assert_eq!(parsed.entries[0].value, "/bin/true");
}

#[test]
fn quoting_and_escapes() {
    assert_eq!(words("a  b\tc"), ["a", "b", "c"]);
    assert_eq!(words(r#""a b" 'c d' e"f g"h"#), ["a b", "c d", "ef gh"]);
    assert_eq!(words(r#"'it''s' "say \"hi\"""#), ["its", "say \"hi\""]);
    assert_eq!(
        words(r"a\sb \x41\101\u00e9 tab\there"),
        ["a b", "AAé", "tab\there"]
    );
    assert_eq!(words(r#""" ''"#), ["", ""]);
    assert!(split("\"open")
        .unwrap_err()
        .contains("unterminated double quote"));
    assert!(split("'open")
        .unwrap_err()
        .contains("unterminated single quote"));
    assert!(split("end\\").unwrap_err().contains("escapes nothing"));
    assert!(split(r"\q").unwrap_err().contains("unknown escape"));
    assert!(split(r"\x4").unwrap_err().contains("incomplete escape"));
    assert!(split(r"\x00").unwrap_err().contains("NUL"));
    assert!(split(r"\uD800").unwrap_err().contains("not a character"));
}

#[test]
fn command_lines() {
    let spec = specifiers();
    let mut warnings = Vec::new();
    let mut parse = |s: &str| command::parse(s, &spec, &mut |w| warnings.push(w)).unwrap();
    let c = &parse("-/usr/bin/web --name=%n --inst %i %p %% '%N'")[0];
    assert!(c.ignore_failure);
    assert_eq!(
        c.plain_argv().unwrap(),
        [
            "/usr/bin/web",
            "--name=web@blue.service",
            "--inst",
            "blue",
            "web",
            "%",
            "web@blue"
        ]
    );
    let c = &parse("@/bin/sh mysh -c 'echo $HOME ${X}' $OPTS --a=${Y}b $$ \\$Z")[0];
    assert_eq!(c.argv0.as_deref(), Some("mysh"));
    assert_eq!(
        c.args,
        vec![
            Arg::Pieces(vec![Piece::Lit("/bin/sh".into())]),
            Arg::Pieces(vec![Piece::Lit("-c".into())]),
            Arg::Pieces(vec![
                Piece::Lit("echo $HOME ".into()),
                Piece::Var("X".into())
            ]),
            Arg::Split("OPTS".into()),
            Arg::Pieces(vec![
                Piece::Lit("--a=".into()),
                Piece::Var("Y".into()),
                Piece::Lit("b".into())
            ]),
            Arg::Pieces(vec![Piece::Lit("$".into())]),
            Arg::Pieces(vec![Piece::Lit("$Z".into())]),
        ]
    );
    assert_eq!(
        c.shell(),
        "/bin/sh -c 'echo $HOME '\"${X}\" $OPTS --a=\"${Y}\"b '$' '$Z'"
    );
    // `:` turns variable expansion off; `+`, `!!` are noted.
    let c = &parse(":+/bin/echo $X")[0];
    assert_eq!(c.plain_argv().unwrap(), ["/bin/echo", "$X"]);
    assert_eq!(c.privileged, Some("+"));
    assert_eq!(parse("!!/bin/x")[0].privileged, Some("!!"));
    // A lone `;` separates commands; an escaped one does not.
    let cs = parse("/bin/a ; /bin/b \\;");
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[1].plain_argv().unwrap(), ["/bin/b", ";"]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut warnings = Vec::new();
    let c = &command::parse("/bin/x %H %Z", &spec, &mut |w| warnings.push(w)).unwrap()[0];
    assert_eq!(c.plain_argv().unwrap(), ["/bin/x", "%H", "%Z"]);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(command::parse("- ", &spec, &mut |_| {}).is_err());
    assert!(command::parse("-", &spec, &mut |_| {}).is_err());
    assert!(command::parse("@/bin/x", &spec, &mut |_| {}).is_err());
}

#[test]
fn time_spans_sizes_and_limits() {
    assert_eq!(values::timespan_us("90", 1_000_000), Ok(Some(90_000_000)));
    assert_eq!(
        values::timespan_us("1min 30s", 1_000_000),
        Ok(Some(90_000_000))
    );
    assert_eq!(
        values::timespan_us("1h30min", 1_000_000),
        Ok(Some(5_400_000_000))
    );
    assert_eq!(values::timespan_us("250ms", 1_000_000), Ok(Some(250_000)));
    assert_eq!(values::timespan_us("1.5s", 1_000_000), Ok(Some(1_500_000)));
    assert_eq!(values::timespan_us("infinity", 1_000_000), Ok(None));
    assert!(values::timespan_us("5 parsecs", 1_000_000).is_err());
    assert!(values::timespan_us("", 1_000_000).is_err());
    assert_eq!(values::duration_text(90_000_000, u64::MAX), "90s");
    assert_eq!(values::duration_text(5_400_000_000, u64::MAX), "90m");
    assert_eq!(values::duration_text(1, u64::MAX), "1ms");
    assert_eq!(values::size("512M"), Ok(Some(512 << 20)));
    assert_eq!(values::size("1.5G"), Ok(Some(3 << 29)));
    assert_eq!(values::size_text(3 << 29), "1536M");
    assert!(values::size("12 apples").is_err());
    use values::LimitKind::*;
    assert_eq!(values::rlimit("4096", Number).unwrap(), "4096");
    assert_eq!(values::rlimit("1024:4096", Number).unwrap(), "1024:4096");
    assert_eq!(values::rlimit("infinity", Bytes).unwrap(), "infinity");
    assert_eq!(
        values::rlimit("8M:infinity", Bytes).unwrap(),
        "8388608:infinity"
    );
    assert_eq!(values::rlimit("1h", Seconds).unwrap(), "3600");
    assert_eq!(values::rlimit("-10", Nice).unwrap(), "30");
    assert!(values::rlimit("10:5", Number).is_err());
    assert!(values::rlimit("-30", Nice).is_err());
}

/// A unit using most of what is mapped; checked on the spec sup reads back.
#[test]
fn directives_map_to_sup_keys() {
    let text = "\
[Unit]
Description=Web %N
Requires=db.service network.target
Wants=cache.service
After=db.service
Before=proxy.service
Conflicts=old-web.service
OnFailure=alert@web.service
StartLimitIntervalSec=30s
StartLimitBurst=3

[Service]
Type=notify
User=www-data
Group=www-data
WorkingDirectory=/srv/web
Environment=\"A=1 2\" B=x
Environment=C=%i
UMask=027
ExecStart=/usr/bin/web --port 8080
ExecStop=/bin/kill -s QUIT $MAINPID
Restart=always
RestartSec=2
TimeoutStartSec=1min
TimeoutStopSec=20
LimitNOFILE=65536
LimitCORE=0
NoNewPrivileges=yes
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_CHOWN
PrivateTmp=true
PrivateNetwork=yes
MemoryMax=512M
MemoryHigh=400M
CPUQuota=150%
CPUWeight=200
TasksMax=64
IOWeight=300
WatchdogSec=30s

[Install]
WantedBy=multi-user.target
";
    let i = import(text);
    let u = spec(&i);
    assert_eq!(u.description.as_deref(), Some("Web t"));
    assert_eq!(u.exec, ["/usr/bin/web", "--port", "8080"]);
    assert_eq!(u.ready, Ready::Notify);
    assert!(u.enabled);
    assert_eq!(u.user.as_deref(), Some("www-data"));
    assert_eq!(u.group.as_deref(), Some("www-data"));
    assert_eq!(u.working_dir.as_deref(), Some(Path::new("/srv/web")));
    assert_eq!(u.umask, Some(0o027));
    let env: Vec<(&str, &str)> = u
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, [("A", "1 2"), ("B", "x"), ("C", "")]);
    assert_eq!(u.restart.policy, RestartPolicy::Always);
    assert_eq!(u.restart.delay, Duration::from_secs(2));
    assert_eq!(u.restart.limit_burst, 3);
    assert_eq!(u.restart.limit_interval, Duration::from_secs(30));
    assert_eq!(u.start_timeout, Duration::from_secs(60));
    assert_eq!(u.stop.timeout, Duration::from_secs(20));
    assert_eq!(u.stop.signal, crate::proc::sig::QUIT);
    assert_eq!(u.stop.exec, None);
    assert_eq!(u.watchdog, Some(Duration::from_secs(30)));
    let names = |v: &[UnitName]| v.iter().map(|n| n.as_str().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&u.requires), ["db"]);
    assert_eq!(names(&u.wants), ["cache"]);
    assert_eq!(names(&u.after), ["db"]);
    assert_eq!(names(&u.before), ["proxy"]);
    assert_eq!(names(&u.conflicts), ["old-web"]);
    assert_eq!(names(&u.on_failure), ["alert-web"]);
    assert_eq!(u.rlimits.len(), 2);
    let nofile = u
        .rlimits
        .iter()
        .find(|r| r.resource == RlimitResource::Nofile)
        .unwrap();
    assert_eq!((nofile.soft, nofile.hard), (65536, 65536));
    assert!(u.no_new_privileges);
    assert_eq!(u.capabilities, Some(vec!["NET_BIND_SERVICE".to_string()]));
    assert!(u.private_tmp);
    assert_eq!(u.namespaces, [Namespace::Mount, Namespace::Net]);
    assert_eq!(u.resources.memory_max, Some(512 << 20));
    assert_eq!(u.resources.memory_high, Some(400 << 20));
    assert_eq!(u.resources.cpu_max, Some(1.5));
    assert_eq!(u.resources.cpu_weight, Some(200));
    assert_eq!(u.resources.pids_max, Some(64));
    assert_eq!(u.resources.io_weight, Some(300));
    // Only the target is not imported.
    assert_eq!(i.warnings.len(), 1, "{:#?}", i.warnings);
    assert_warning(
        &i,
        3,
        "Requires=network.target: sup has no target units; dropped",
    );
}

#[test]
fn systemd_defaults_that_differ_from_sup_are_written_out() {
    let i = import("[Service]\nExecStart=/bin/daemon\n");
    let u = spec(&i);
    // systemd: Restart=no, a 90s stop timeout, and no [Install] means a static unit.
    assert_eq!(u.restart.policy, RestartPolicy::Never);
    assert_eq!(u.stop.timeout, Duration::from_secs(90));
    assert!(!u.enabled);
    assert_warning(&i, 1, "enabled: false");
    // A oneshot waits without limit.
    let i = import(
        "[Service]\nType=oneshot\nExecStart=/bin/setup\n[Install]\nWantedBy=multi-user.target\n",
    );
    let u = spec(&i);
    assert_eq!(u.kind, UnitType::Oneshot);
    assert_eq!(u.start_timeout, Duration::from_secs(365 * 24 * 3600));
    assert!(u.enabled);
    assert!(i.warnings.is_empty(), "{:#?}", i.warnings);
}

#[test]
fn repeated_keys_follow_systemd() {
    // An empty ExecStart= resets; the last Environment= of a name wins; an empty one
    // resets them all.
    let i = import(
        "[Service]\nExecStart=/bin/first\nExecStart=\nExecStart=/bin/second\n\
         Environment=A=1 B=2\nEnvironment=\nEnvironment=C=3\nEnvironment=C=4\n\
         [Unit]\nAfter=a.service\nAfter=\nAfter=b.service\n[Install]\nWantedBy=x.target\n",
    );
    let u = spec(&i);
    assert_eq!(u.exec, ["/bin/second"]);
    assert_eq!(u.env.len(), 1);
    assert_eq!(u.env["C"], "4");
    assert_eq!(u.after.len(), 1);
    assert_eq!(u.after[0].as_str(), "b");
    // Several commands only for a oneshot: run one after the other, `-` ignoring failure.
    let e = refused("[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n");
    assert!(
        e.starts_with("t.service:3: error: more than one ExecStart="),
        "{e}"
    );
    let i = import(
        "[Service]\nType=oneshot\nExecStart=/bin/a 'x y'\nExecStart=-/bin/b\nExecStart=/bin/c $V\n",
    );
    let u = spec(&i);
    assert_eq!(
        u.exec,
        [
            "/bin/sh",
            "-c",
            "/bin/a 'x y' && { /bin/b || true; } && exec /bin/c $V"
        ]
    );
}

#[test]
fn variables_go_through_the_shell() {
    let i = import(
        "[Service]\nEnvironment=OPTS=-v\nExecStartPre=-/bin/check\nExecStart=/usr/sbin/d -f $OPTS \"--x=${X}\"\nRuntimeDirectory=d\nRuntimeDirectoryMode=0750\n",
    );
    let u = spec(&i);
    assert_eq!(
        u.exec,
        [
            "/bin/sh",
            "-c",
            "mkdir -p -m 0750 /run/d && { /bin/check || true; } && exec /usr/sbin/d -f $OPTS --x=\"${X}\""
        ]
    );
    // With a user, sup cannot create the runtime directory as root.
    let i = import("[Service]\nUser=u\nExecStart=/bin/d\nRuntimeDirectory=d\n");
    assert_eq!(spec(&i).exec, ["/bin/d"]);
    assert_warning(&i, 4, "RuntimeDirectory=d: sup does not create /run/d");
    // root (named) can.
    let i = import("[Service]\nUser=root\nExecStart=/bin/d\nRuntimeDirectory=d\n");
    assert_eq!(
        spec(&i).exec,
        ["/bin/sh", "-c", "mkdir -p -m 0755 /run/d && exec /bin/d"]
    );
}

#[test]
fn refusals_name_the_reason() {
    let e = refused("[Service]\nType=forking\nPIDFile=/run/d.pid\nExecStart=/usr/sbin/d\n");
    assert!(
        e.starts_with("t.service:2: error: Type=forking cannot be imported"),
        "{e}"
    );
    assert!(e.contains("foreground"), "{e}");
    let e = refused("[Unit]\nDescription=x\n[Service]\nUser=x\n");
    assert!(e.contains("no ExecStart="), "{e}");
    let e = refused("[Unit]\nDescription=x\n");
    assert!(e.contains("no [Service] section"), "{e}");
    let e = refused("[Service]\nExecStart=/bin/x \"unterminated\n");
    assert!(e.starts_with("t.service:2: error: ExecStart="), "{e}");
    assert!(e.contains("unterminated double quote"), "{e}");
    let e = match convert_bytes("x.socket", "x.socket", b"[Socket]\nListenStream=22\n") {
        Err(f) => f.error,
        Ok(_) => panic!("a socket unit was imported"),
    };
    assert!(e.contains("only .service units"), "{e}");
}

#[test]
fn every_unmapped_directive_is_a_warning() {
    let text = "\
[Unit]
Description=d
ConditionPathExists=/etc/x
Documentation=man:d(8)
X-Custom=1
[Service]
ExecStart=/bin/d
ExecReload=/bin/kill -HUP $MAINPID
PIDFile=/run/d.pid
ProtectSystem=full
Nice=5
Bogus=1
KillMode=process
Restart=on-abnormal
MemoryMax=50%
CPUWeight=idle
[Socket]
ListenStream=80
[Weird]
[Install]
WantedBy=multi-user.target
Alias=dd.service
";
    let i = import(text);
    for (line, needle) in [
        (3, "ConditionPathExists"),
        (5, "X-Custom"),
        (8, "ExecReload"),
        (9, "PIDFile"),
        (10, "ProtectSystem"),
        (11, "Nice"),
        (12, "Bogus"),
        (13, "KillMode=process"),
        (14, "Restart=on-abnormal"),
        (15, "MemoryMax=50%"),
        (16, "CPUWeight=idle"),
        (18, "[Socket] ListenStream=80"),
        (19, "[Weird]"),
        (22, "Alias"),
    ] {
        assert_warning(&i, line, needle);
    }
    assert_eq!(i.warnings.len(), 14, "{:#?}", i.warnings);
    // The warnings are also comments at the top of the file, Documentation too.
    assert!(i.yaml.contains("# Documentation: man:d(8)"), "{}", i.yaml);
    assert!(i.yaml.contains("#  12: [Service] Bogus=1"), "{}", i.yaml);
    spec(&i);
}

#[test]
fn names_and_dependencies() {
    let i = import_as(
        "getty@tty1.service",
        "[Unit]\nDescription=Getty on %I\nAfter=systemd-user-sessions.service foo\\x2dbar.service\n[Service]\nExecStart=-/sbin/agetty %I\n",
    );
    assert_eq!(i.name, "getty-tty1");
    let u = spec(&i);
    assert_eq!(u.description.as_deref(), Some("Getty on tty1"));
    let after: Vec<&str> = u.after.iter().map(|n| n.as_str()).collect();
    assert_eq!(after, ["systemd-user-sessions", "foo-bar"]);
    let i = import_as("getty@.service", "[Service]\nExecStart=/sbin/agetty %I\n");
    assert_eq!(i.name, "getty");
    assert!(
        i.warnings.iter().any(|w| w.contains("template unit")),
        "{:#?}",
        i.warnings
    );
    let i = import_as("user@.service", "[Service]\nUser=%i\nExecStart=/bin/x\n");
    assert_eq!(spec(&i).user, None);
    assert!(
        i.warnings
            .iter()
            .any(|w| w.starts_with("user@.service:2: warning: user: empty")),
        "{:#?}",
        i.warnings
    );
}

#[test]
fn capabilities_follow_the_user() {
    // root: the bounding set, `~` inverting it.
    let u = spec(&import(
        "[Service]\nExecStart=/bin/d\nCapabilityBoundingSet=~CAP_SYS_ADMIN CAP_NET_ADMIN\n",
    ));
    let caps = u.capabilities.unwrap();
    assert!(!caps.contains(&"SYS_ADMIN".to_string()));
    assert!(!caps.contains(&"NET_ADMIN".to_string()));
    assert!(caps.contains(&"CHOWN".to_string()));
    // another user: the ambient set; bounding alone changes nothing.
    let u = spec(&import(
        "[Service]\nUser=u\nExecStart=/bin/d\nCapabilityBoundingSet=CAP_CHOWN\n",
    ));
    assert_eq!(u.capabilities, None);
    let i =
        import("[Service]\nUser=u\nExecStart=/bin/d\nAmbientCapabilities=CAP_NET_RAW CAP_BOGUS\n");
    assert_eq!(spec(&i).capabilities, Some(vec!["NET_RAW".to_string()]));
    assert_warning(&i, 4, "unknown capability \"CAP_BOGUS\"");
}

#[test]
fn stop_commands() {
    let i = import("[Service]\nExecStart=/bin/d\nExecStop=/bin/d stop\nExecStop=-/bin/cleanup $MAINPID\nKillSignal=SIGINT\nTimeoutSec=infinity\n");
    let u = spec(&i);
    assert_eq!(u.stop.signal, crate::proc::sig::INT);
    assert_eq!(u.stop.timeout, Duration::from_secs(365 * 24 * 3600));
    assert_eq!(u.start_timeout, Duration::from_secs(365 * 24 * 3600));
    assert_eq!(
        u.stop.exec.as_deref().unwrap(),
        ["/bin/sh", "-c", "/bin/d stop; /bin/cleanup $MAINPID"]
    );
    assert_warning(&i, 4, "does not set $MAINPID");
    let i = import("[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/sbin/fw load\nExecStop=/sbin/fw flush\n");
    assert_eq!(
        spec(&i).stop.exec.as_deref().unwrap(),
        ["/sbin/fw", "flush"]
    );
    assert_warning(&i, 5, "ExecStop= of a oneshot");
}

#[test]
fn hostile_input_is_an_error_or_a_warning_never_a_panic() {
    // Binary junk.
    for junk in [
        &b"[Service]\nExecStart=/bin/x\0\n"[..],
        b"\xff\xfe[Service]",
        b"\x7fELF\x02\x01\x01\0\0",
    ] {
        let e = convert_bytes("t.service", "t.service", junk)
            .unwrap_err()
            .error;
        assert!(
            e.contains("error: binary data") || e.contains("error: not UTF-8"),
            "{e}"
        );
    }
    // A huge line, a huge continuation, many backslashes, deep quotes.
    let big = format!("[Service]\nExecStart=/bin/echo {}\n", "x".repeat(100_000));
    assert_eq!(spec(&import(&big)).exec[1].len(), 100_000);
    let huge = format!("[Service]\nExecStart=/bin/echo {}\n", "x".repeat(900_000));
    let e = convert_bytes("t.service", "t.service", huge.as_bytes())
        .unwrap_err()
        .error;
    assert!(
        e.contains("not valid for sup") && e.contains("too long"),
        "{e}"
    );
    let long_run = format!(
        "[Service]\nExecStart=/bin/echo {}end\n",
        "a \\\n".repeat(50_000)
    );
    assert_eq!(spec(&import(&long_run)).exec.len(), 50_002);
    let slashes = format!("[Service]\nExecStart=/bin/echo {}\n", "\\".repeat(100_001));
    // An odd run ends in a continuation (of nothing): 50000 escaped backslashes.
    assert_eq!(spec(&import(&slashes)).exec[1], "\\".repeat(50_000));
    let quotes = format!("[Service]\nExecStart=/bin/echo {}\n", "\"'".repeat(10_000));
    let _ = convert_bytes("t.service", "t.service", quotes.as_bytes());
    // Pseudo-random bytes and mutations of a real file: never a panic, and whatever is
    // imported passes sup's parser (convert_bytes checks it).
    let base = b"[Unit]\nDescription=x %n\n[Service]\nExecStart=/bin/a \"b c\" $V ${W}\nEnvironment=A=1\nLimitNOFILE=10:20\n";
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let mut bytes = base.to_vec();
        for _ in 0..(next() % 6) {
            let at = (next() as usize) % bytes.len();
            let pick = b"\\\"'$%{};=[]\n \x00\xc3#-@+!:~";
            bytes[at] = pick[(next() as usize) % pick.len()];
        }
        let _ = convert_bytes("t.service", "t.service", &bytes);
    }
}

#[test]
fn output_quotes_what_yaml_would_misread() {
    let i = import(
        "[Unit]\nDescription=yes: no # {braces}, [x]\n[Service]\nExecStart=/bin/x 'a, b' '[c]' '#d' 0022 true ~ ''\nEnvironment=YES=no N=007\n",
    );
    let u = spec(&i);
    assert_eq!(u.description.as_deref(), Some("yes: no # {braces}, [x]"));
    assert_eq!(
        u.exec,
        ["/bin/x", "a, b", "[c]", "#d", "0022", "true", "~", ""]
    );
    assert_eq!(u.env["YES"], "no");
    assert_eq!(u.env["N"], "007");
}

#[test]
fn restart_limits_and_optional_files() {
    // Old-style StartLimit* in [Service]; one given, the other is systemd's default.
    let u = spec(&import(
        "[Service]\nExecStart=/bin/d\nRestart=on-failure\nStartLimitBurst=7\n[Install]\nWantedBy=a.target\n",
    ));
    assert_eq!(u.restart.policy, RestartPolicy::OnFailure);
    assert_eq!(u.restart.limit_burst, 7);
    assert_eq!(u.restart.limit_interval, Duration::from_secs(10));
    // Interval 0: no limit in systemd, the loosest limit in sup.
    let i = import("[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart=/bin/d\nRestart=always\nRestartSec=45s\n");
    let u = spec(&i);
    assert_eq!(u.restart.limit_burst, 10_000);
    assert_eq!(u.restart.delay, Duration::from_secs(45));
    assert_eq!(u.restart.max_delay, Duration::from_secs(45));
    assert_warning(&i, 2, "StartLimitIntervalSec=0");
    // on-success has no equivalent.
    let i = import("[Service]\nExecStart=/bin/d\nRestart=on-success\n");
    assert_eq!(spec(&i).restart.policy, RestartPolicy::Never);
    assert_warning(&i, 3, "Restart=on-success");
    // An optional env file that is missing here is left out; a required one is kept.
    let i = import(
        "[Service]\nExecStart=/bin/d\nEnvironmentFile=-/nonexistent/sup-import-test\nEnvironmentFile=/etc/d.env\n",
    );
    assert_eq!(spec(&i).env_file, [Path::new("/etc/d.env")]);
    assert_warning(
        &i,
        3,
        "optional and missing on this machine, so not imported",
    );
    // KillMode=mixed is what sup does: no warning; the others warn.
    let i = import("[Service]\nExecStart=/bin/d\nKillMode=mixed\n[Install]\nWantedBy=a.target\n");
    assert!(i.warnings.is_empty(), "{:#?}", i.warnings);
    let i = import("[Service]\nExecStart=/bin/d\nKillMode=control-group\n");
    assert_warning(&i, 3, "KillMode=control-group");
}

#[test]
fn rlimits_of_every_kind() {
    let u = spec(&import(
        "[Service]\nExecStart=/bin/d\nLimitCPU=1h\nLimitSTACK=8M:infinity\nLimitNICE=-5\nLimitRTTIME=2s\nLimitNPROC=100:200\n",
    ));
    let get = |r: RlimitResource| {
        let l = u.rlimits.iter().find(|l| l.resource == r).unwrap();
        (l.soft, l.hard)
    };
    assert_eq!(get(RlimitResource::Cpu), (3600, 3600));
    assert_eq!(get(RlimitResource::Stack), (8 << 20, u64::MAX));
    assert_eq!(get(RlimitResource::Nice), (25, 25));
    assert_eq!(get(RlimitResource::Rttime), (2_000_000, 2_000_000));
    assert_eq!(get(RlimitResource::Nproc), (100, 200));
    let i = import("[Service]\nExecStart=/bin/d\nLimitNOFILE=lots\n");
    assert!(spec(&i).rlimits.is_empty());
    assert_warning(&i, 3, "LimitNOFILE=: invalid number");
}

#[test]
fn io_limits_per_device() {
    let i = import(
        "[Service]\nExecStart=/bin/d\nIOReadBandwidthMax=/dev/sda 10M\nIOWriteBandwidthMax=/dev/sda 1G\nIOWriteIOPSMax=/dev/vdb 500\nIOReadBandwidthMax=/var/log 5M\n",
    );
    let u = spec(&i);
    let io = &u.resources.io_max;
    assert_eq!(io.len(), 2, "{}", i.yaml);
    assert_eq!(io[0].device, Path::new("/dev/sda"));
    assert_eq!(io[0].rbps, Some(10_000_000));
    assert_eq!(io[0].wbps, Some(1_000_000_000));
    assert_eq!(io[1].device, Path::new("/dev/vdb"));
    assert_eq!(io[1].wiops, Some(500));
    assert_warning(&i, 6, "sup needs a block device");
}

#[test]
fn a_unit_naming_itself_is_not_its_own_dependency() {
    let i = import("[Unit]\nAfter=t.service other.service\n[Service]\nExecStart=/bin/d\n");
    let u = spec(&i);
    assert_eq!(u.after.len(), 1);
    assert_eq!(u.after[0].as_str(), "other");
    assert_warning(&i, 2, "After=t.service: names this unit itself; dropped");
}
