//! The value grammar: durations, sizes, CPU, signals, umasks, capabilities, rlimits.

use std::time::Duration;

use crate::unit::values::*;

#[test]
fn durations() {
    let ok = |s: &str| parse_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(ok("250ms"), Duration::from_millis(250));
    assert_eq!(ok("10s"), Duration::from_secs(10));
    assert_eq!(ok("2m"), Duration::from_secs(120));
    assert_eq!(ok("1h"), Duration::from_secs(3600));
    assert_eq!(ok("7"), Duration::from_secs(7));
    assert_eq!(ok("0"), Duration::ZERO);
    assert_eq!(ok("1.5s"), Duration::from_millis(1500));
    assert_eq!(ok(" 3s "), Duration::from_secs(3));
    for bad in [
        "", "10x", "s", "-1s", "1.2.3s", ".5s", "1 s", "10us", "1d", "1e3", "ten",
    ] {
        let e = parse_duration(bad).expect_err(bad);
        assert!(e.starts_with("invalid duration"), "{bad}: {e}");
        assert!(e.contains("use 250ms, 10s, 2m, 1h"), "{e}");
    }
    assert!(parse_duration("99999999999999999999999h").is_err());
}

#[test]
fn sizes() {
    let ok = |s: &str| parse_size(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(ok("1024"), 1024);
    assert_eq!(ok("512K"), 512 << 10);
    assert_eq!(ok("512k"), 512 << 10);
    assert_eq!(ok("256M"), 256 << 20);
    assert_eq!(ok("2G"), 2 << 30);
    assert_eq!(ok("1T"), 1 << 40);
    assert_eq!(ok("1.5G"), 3 << 29);
    assert_eq!(ok("0"), 0);
    for bad in ["", "12X", "1KB", "-1", "G", "1.5", "1 G"] {
        let e = parse_size(bad).expect_err(bad);
        assert!(e.starts_with("invalid size"), "{bad}: {e}");
    }
    assert!(parse_size("99999999999T")
        .expect_err("overflow")
        .contains("too large"));
    assert!(parse_size("99999999999999999999")
        .expect_err("overflow")
        .contains("too large"));
}

#[test]
fn cpu_amounts() {
    assert_eq!(parse_cpu("50%"), Ok(0.5));
    assert_eq!(parse_cpu("250%"), Ok(2.5));
    assert_eq!(parse_cpu("1.5"), Ok(1.5));
    assert_eq!(parse_cpu("2"), Ok(2.0));
    assert!(parse_cpu("0")
        .expect_err("zero")
        .contains("greater than zero"));
    assert!(parse_cpu("0%")
        .expect_err("zero")
        .contains("greater than zero"));
    for bad in ["", "%", "-1", "half", "50 %%", "1,5"] {
        let e = parse_cpu(bad).expect_err(bad);
        assert!(e.starts_with("invalid cpu amount"), "{bad}: {e}");
    }
}

#[test]
fn signals() {
    assert_eq!(parse_signal("SIGTERM"), Ok(crate::proc::sig::TERM));
    assert_eq!(parse_signal("TERM"), Ok(crate::proc::sig::TERM));
    assert_eq!(parse_signal("term"), Ok(crate::proc::sig::TERM));
    assert_eq!(parse_signal("SIGKILL"), Ok(crate::proc::sig::KILL));
    assert_eq!(parse_signal("HUP"), Ok(crate::proc::sig::HUP));
    assert_eq!(parse_signal("SIGUSR2"), Ok(crate::proc::sig::USR2));
    assert_eq!(parse_signal("WINCH"), Ok(crate::proc::sig::WINCH));
    assert_eq!(parse_signal("9"), Ok(9));
    assert_eq!(parse_signal("64"), Ok(64));
    assert!(parse_signal("0").expect_err("0").contains("out of range"));
    assert!(parse_signal("65").expect_err("65").contains("out of range"));
    assert!(parse_signal("SIGFOO")
        .expect_err("foo")
        .starts_with("unknown signal \"SIGFOO\""));
    assert!(
        parse_signal("").is_err() && parse_signal("SIG").is_err() && parse_signal("-9").is_err()
    );
    assert_eq!(signal_name(crate::proc::sig::TERM), Some("TERM"));
    assert_eq!(signal_name(1000), None);
}

#[test]
fn umasks() {
    assert_eq!(parse_umask("0022"), Ok(0o022));
    assert_eq!(parse_umask("027"), Ok(0o027));
    assert_eq!(parse_umask("0o077"), Ok(0o077));
    assert_eq!(parse_umask("0"), Ok(0));
    assert_eq!(parse_umask("777"), Ok(0o777));
    assert!(parse_umask("1000")
        .expect_err("big")
        .contains("out of range"));
    for bad in ["", "08", "abc", "-22", "0x12"] {
        assert!(
            parse_umask(bad)
                .expect_err(bad)
                .starts_with("invalid umask"),
            "{bad}"
        );
    }
}

#[test]
fn capabilities() {
    assert_eq!(
        parse_capability("NET_BIND_SERVICE").as_deref(),
        Ok("NET_BIND_SERVICE")
    );
    assert_eq!(
        parse_capability("CAP_NET_BIND_SERVICE").as_deref(),
        Ok("NET_BIND_SERVICE")
    );
    assert_eq!(
        parse_capability("cap_sys_admin").as_deref(),
        Ok("SYS_ADMIN")
    );
    assert!(parse_capability("CAP_FLY")
        .expect_err("fly")
        .starts_with("unknown capability"));
    assert!(parse_capability("").is_err());
    assert_eq!(capability_number("CHOWN"), Some(0));
    assert_eq!(capability_number("NET_BIND_SERVICE"), Some(10));
    assert_eq!(capability_number("SYS_ADMIN"), Some(21));
    assert_eq!(capability_number("CHECKPOINT_RESTORE"), Some(40));
    assert_eq!(capability_number("FLY"), None);
}

#[test]
fn rlimits() {
    assert_eq!(
        parse_rlimit_name("nofile"),
        Ok(crate::limits::RlimitResource::Nofile)
    );
    assert_eq!(
        parse_rlimit_name("AS"),
        Ok(crate::limits::RlimitResource::As)
    );
    assert_eq!(
        parse_rlimit_name("RLIMIT_CORE"),
        Ok(crate::limits::RlimitResource::Core)
    );
    assert!(parse_rlimit_name("files")
        .expect_err("files")
        .contains("nofile"));
    assert_eq!(parse_rlimit_value("4096"), Ok((4096, 4096)));
    assert_eq!(parse_rlimit_value("100:200"), Ok((100, 200)));
    assert_eq!(parse_rlimit_value("infinity"), Ok((u64::MAX, u64::MAX)));
    assert_eq!(parse_rlimit_value("1024:unlimited"), Ok((1024, u64::MAX)));
    assert!(parse_rlimit_value("200:100")
        .expect_err("order")
        .contains("soft limit is above"));
    assert!(parse_rlimit_value("infinity:5").is_err());
    for bad in ["", "x", "1:", ":1", "1:2:3", "-1"] {
        let e = parse_rlimit_value(bad).expect_err(bad);
        assert!(e.starts_with("invalid rlimit value"), "{bad}: {e}");
    }
}
