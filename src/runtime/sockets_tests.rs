//! The runtime's socket lifetime on the fake platform, with real (Unix) sockets: kept
//! across restarts, replaced as a changed definition says, closed at rest.

use std::path::PathBuf;

use crate::engine::Input;
use crate::proc::UnitId;
use crate::runtime::tests::{last_process_ends, runtime, spawns, spec};

const U0: UnitId = UnitId::from_index(0);

#[test]
fn sockets_live_from_the_first_start_until_the_unit_rests() {
    let socks = std::env::temp_dir().join(format!("sup-rt-sock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&socks);
    std::fs::create_dir_all(&socks).unwrap();
    let at = |n: &str| -> PathBuf { socks.join(n) };
    let text = |list: &str| {
        format!("exec: [app]\nrestart: {{policy: always, delay: 0s}}\nsockets: [{list}]\n")
    };
    let (a, b, c) = (at("a.sock"), at("b.sock"), at("c.sock"));
    let first = text(&format!(
        "\"unix:{}\", {{listen: \"unix:{}\", name: b}}",
        a.display(),
        b.display()
    ));
    let (mut rt, dir) = runtime(&[("app", &first)]);
    rt.feed(Input::StartEnabled);
    let given = rt.platform.listen[0].clone();
    assert_eq!(given.len(), 2);
    assert_eq!((given[0].1.as_str(), given[1].1.as_str()), ("app", "b"));

    // A crash: the same sockets go to the next process.
    last_process_ends(&mut rt);
    assert_eq!(spawns(&rt), 2);
    assert_eq!(rt.platform.listen[1], given);
    assert!(a.exists());

    // A changed definition (as a reload sets it): `a` kept with another backlog and
    // name, `b` closed (its file removed), `c` bound.
    let now = rt.now();
    let changed = text(&format!(
        "\"unix:{}\", {{listen: \"unix:{}\", backlog: 5, name: first}}",
        c.display(),
        a.display()
    ));
    let _ = rt.engine.set_spec(U0, spec(&changed), None, now);
    rt.feed(Input::Restart(U0));
    last_process_ends(&mut rt);
    assert_eq!(spawns(&rt), 3);
    let now_given = &rt.platform.listen[2];
    assert_eq!(now_given.len(), 2);
    assert_eq!(now_given[0].1, "app");
    assert_eq!(now_given[1], (given[0].0, "first".to_string()), "a kept");
    assert!(a.exists());
    assert!(!b.exists(), "b closed and its file removed");
    assert!(c.exists());

    // A stop for good closes them all.
    rt.feed(Input::StopAll);
    last_process_ends(&mut rt);
    assert_eq!(rt.engine.unit(U0).state.as_str(), "stopped");
    assert!(rt.sockets.of(U0).is_empty());
    assert!(!a.exists() && !c.exists());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&socks);
}

#[test]
fn a_socket_that_cannot_be_bound_fails_the_unit_before_any_spawn() {
    let (mut rt, dir) = runtime(&[(
        "app",
        "exec: [app]\nsockets: [{listen: \"unix:/nonexistent-dir/x.sock\", name: api}]\n",
    )]);
    rt.feed(Input::StartEnabled);
    let u = rt.engine.unit(U0);
    assert_eq!(u.state.as_str(), "failed");
    let message = u.message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with("sockets: api (unix:/nonexistent-dir/x.sock): bind: "),
        "{message}"
    );
    assert_eq!(spawns(&rt), 0, "no process without its sockets");
    let _ = std::fs::remove_dir_all(&dir);
}
