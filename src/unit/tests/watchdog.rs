//! The `watchdog` key (notify watchdog timeout).

use std::time::Duration;

use super::errors::check;
use super::unit;

#[test]
fn watchdog_defaults_to_none() {
    assert_eq!(unit("exec: x\n").watchdog, None);
}

#[test]
fn watchdog_takes_a_duration() {
    let u = unit("exec: x\nready: notify\nwatchdog: 10s\n");
    assert_eq!(u.watchdog, Some(Duration::from_secs(10)));
    assert_eq!(
        unit("exec: x\nwatchdog: 250ms\n").watchdog,
        Some(Duration::from_millis(250))
    );
}

#[test]
fn watchdog_errors() {
    check(
        "exec: x\nwatchdog: 0\n",
        &[(2, 1, "watchdog: must be greater than 0")],
    );
    check(
        "exec: x\nwatchdog: soon\n",
        &[(2, 11, "watchdog: invalid duration \"soon\"")],
    );
}
