//! Fuzz target: a unit file's text through `sup::unit::parse::parse_file`, the entry point
//! that `load_dir` and `sup check` use. It must never panic, hang or exhaust memory; every
//! error must read `FILE:LINE:COL: message` on one line; what it accepts must keep the
//! documented maximums (`unit::limits`), so no value overflows what sup computes from it.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sup::unit::limits::{
    MAX_ARG_LEN, MAX_CPU, MAX_DURATION, MAX_ENV_FILES, MAX_HEALTH_CHECKS, MAX_IO_MAX, MAX_PIDS,
    MAX_SIZE,
};
use sup::unit::parse::{key_position, parse_file, Parsed};
use sup::unit::{HealthKind, Resources, UnitName, UnitSpec};

fuzz_target!(|data: &[u8]| {
    // sup reads unit files as UTF-8 (other bytes are refused before parsing); lossy
    // decoding keeps the rest of such inputs useful. parse_file itself enforces the size.
    let text = String::from_utf8_lossy(data);
    let name = UnitName::new("fuzz").expect("a valid unit name");
    let path = Path::new("fuzz.yaml");
    match parse_file(path, &name, &text) {
        Ok(Parsed::Unit(unit)) => check_unit(&unit),
        Ok(Parsed::Slice(slice)) => {
            assert_eq!(slice.name.as_str(), "fuzz");
            check_resources(&slice.resources);
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "a rejected file must say why");
            for error in &errors {
                check_error(error);
            }
        }
    }
    // `sup check` places cross-file problems with key_position.
    for key in ["slice", "requires", "exec"] {
        let (line, col) = key_position(&text, key);
        assert!(line >= 1 && col >= 1);
    }
});

/// `fuzz.yaml:LINE:COL: message`, LINE and COL from 1, one line (`sup check` prints each
/// problem as one line).
fn check_error(error: &str) {
    let rest = error
        .strip_prefix("fuzz.yaml:")
        .unwrap_or_else(|| panic!("error without the file name: {error:?}"));
    let mut parts = rest.splitn(3, ':');
    for what in ["line", "column"] {
        let n: usize = parts
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("error without a {what}: {error:?}"));
        assert!(n >= 1, "{what} 0 in {error:?}");
    }
    let message = parts.next().unwrap_or_default();
    assert!(
        message.starts_with(' ') && message.len() > 1,
        "error without a message: {error:?}"
    );
    assert!(!error.contains('\n'), "error on several lines: {error:?}");
}

/// An accepted unit keeps every documented maximum.
fn check_unit(unit: &UnitSpec) {
    assert_eq!(unit.name.as_str(), "fuzz");
    assert!(!unit.exec.is_empty(), "a unit without a command");
    for arg in &unit.exec {
        assert!(
            arg.len() <= MAX_ARG_LEN && !arg.contains('\0'),
            "bad argument"
        );
    }
    for (k, v) in &unit.env {
        assert!(!k.is_empty() && !k.contains(['=', '\0']) && !v.contains('\0'));
    }
    let r = &unit.restart;
    let mut durations = vec![
        unit.start_timeout,
        r.delay,
        r.max_delay,
        r.reset_after,
        r.limit_interval,
        unit.stop.timeout,
    ];
    durations.extend(unit.watchdog);
    durations.extend(unit.watch.as_ref().map(|w| w.debounce));
    for check in &unit.health {
        durations.extend([check.interval, check.timeout, check.start_period]);
        match check.kind {
            HealthKind::MemoryAbove(size) => assert!(size <= MAX_SIZE),
            HealthKind::CpuAbove(cpu) => assert!(cpu.is_finite() && (0.0..=MAX_CPU).contains(&cpu)),
            _ => {}
        }
    }
    for d in durations {
        assert!(d <= MAX_DURATION, "duration {d:?} over the maximum");
    }
    assert!(unit.health.len() <= MAX_HEALTH_CHECKS);
    assert!(unit.env_file.len() <= MAX_ENV_FILES);
    assert!(unit.instances >= 1, "no instance");
    assert!(unit.log.max_size <= MAX_SIZE);
    check_resources(&unit.resources);
}

fn check_resources(res: &Resources) {
    for size in [res.memory_max, res.memory_high, res.memory_swap_max]
        .into_iter()
        .flatten()
    {
        assert!(size <= MAX_SIZE, "size {size} over the maximum");
    }
    if let Some(cpu) = res.cpu_max {
        assert!(
            cpu.is_finite() && cpu > 0.0 && cpu <= MAX_CPU,
            "cpu_max {cpu}"
        );
    }
    assert!(res.pids_max.is_none_or(|p| p <= MAX_PIDS));
    assert!(res.io_max.len() <= MAX_IO_MAX);
}
