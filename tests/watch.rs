//! Integration tests of `watch` (file-watch restarts) against the real `sup` and
//! `supctl`. Every wait is bounded and based on status or events.
//!
//! "It did not restart (again)" is shown with a witness: a unit watching a directory of
//! its own with the same debounce. A change made after the change under test is due
//! after it, and sup restarts due units in one turn of its loop; so once the witness's
//! `watch` event is out, a status request (served after that turn) sees whatever the
//! change under test did.

#[macro_use]
mod common;

use std::fs;
use std::path::Path;

use serde_json::Value;

use common::*;

/// `watch` events of `unit`: the paths they name, in order.
fn watch_paths(events: &[Value], unit: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["unit"] == unit && e["kind"] == "watch")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn spawns(events: &[Value], unit: &str) -> usize {
    events
        .iter()
        .filter(|e| e["unit"] == unit && e["kind"] == "spawn")
        .count()
}

fn pid(status: &Value) -> u64 {
    status["pid"].as_u64().expect("a pid")
}

/// A service that runs until stopped, watching `paths` (500ms debounce by default).
fn watching(paths: &[&Path]) -> String {
    let list: Vec<String> = paths
        .iter()
        .map(|p| format!("\"{}\"", p.display()))
        .collect();
    format!(
        "exec: \"exec sleep 1000\"\nwatch: {{paths: [{}]}}\n",
        list.join(", ")
    )
}

/// Starts `sup` (prepared) with `units` (name, watched paths) and the witness; waits
/// until every unit runs.
fn start(mut sup: Sup, units: &[(&str, &[&str])]) -> Sup {
    fs::create_dir(sup.path("witness")).unwrap();
    sup.write_unit("witness", &watching(&[&sup.path("witness")]));
    for (name, rels) in units {
        let paths: Vec<_> = rels.iter().map(|r| sup.path(r)).collect();
        let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
        sup.write_unit(name, &watching(&refs));
    }
    sup.launch();
    sup.wait_state("witness", "running");
    for (name, _) in units {
        sup.wait_state(name, "running");
    }
    sup
}

/// Changes the witness's directory and waits for its restart: everything changed
/// before has had its effect when this returns (see the module doc).
fn witness(sup: &Sup, events: &mut Events, n: usize) -> Vec<Value> {
    fs::write(sup.path(&format!("witness/{n}")), "x").unwrap();
    let ev = events.wait_until(|ev| watch_paths(ev, "witness").len() >= n, WAIT);
    sup.wait_for("witness", |s| s["state"] == "running", WAIT);
    ev
}

/// Waits for `unit`'s `n`th `watch` event and for it to run again with a new pid.
fn restarted(sup: &Sup, events: &mut Events, unit: &str, n: usize, old: u64) -> (Vec<Value>, u64) {
    let ev = events.wait_until(|ev| watch_paths(ev, unit).len() >= n, WAIT);
    let st = sup.wait_for(
        unit,
        |s| s["state"] == "running" && s["pid"].as_u64().is_some_and(|p| p != old),
        WAIT,
    );
    (ev, pid(&st))
}

// 1. A file written in a watched directory restarts the unit once; the event names it.
#[test]
fn a_modified_file_restarts_the_unit_once() {
    let sup = Sup::prepare("watch-mod");
    fs::create_dir(sup.path("conf")).unwrap();
    fs::write(sup.path("conf/a.yaml"), "1").unwrap();
    let sup = start(sup, &[("app", &["conf"])]);
    let before = pid(&sup.status("app"));
    let mut events = sup.events();
    fs::write(sup.path("conf/a.yaml"), "2").unwrap();
    let (_, after) = restarted(&sup, &mut events, "app", 1, before);
    let ev = witness(&sup, &mut events, 1);
    assert_eq!(pid(&sup.status("app")), after, "restarted once");
    assert_eq!(watch_paths(&ev, "app"), [sup.p("conf/a.yaml")]);
    assert_eq!(spawns(&ev, "app"), 1);
    assert_eq!(sup.status("app")["restarts"], 0, "not counted as a failure");
}

// 2. An editor's save (write a temporary file, rename it over the watched file) is one
//    restart; the new file is watched after it.
#[test]
fn an_editor_save_is_one_restart() {
    let sup = Sup::prepare("watch-edit");
    fs::create_dir(sup.path("conf")).unwrap();
    fs::write(sup.path("conf/app.conf"), "1").unwrap();
    let sup = start(sup, &[("app", &["conf/app.conf"])]);
    let before = pid(&sup.status("app"));
    let mut events = sup.events();
    fs::write(sup.path("conf/.app.conf.swp"), "2").unwrap();
    fs::rename(sup.path("conf/.app.conf.swp"), sup.path("conf/app.conf")).unwrap();
    let (_, after) = restarted(&sup, &mut events, "app", 1, before);
    let ev = witness(&sup, &mut events, 1);
    assert_eq!(pid(&sup.status("app")), after, "restarted once");
    assert_eq!(watch_paths(&ev, "app"), [sup.p("conf/app.conf")]);
    assert_eq!(spawns(&ev, "app"), 1);

    fs::write(sup.path("conf/app.conf"), "3").unwrap();
    let (ev, _) = restarted(&sup, &mut events, "app", 2, after);
    assert_eq!(watch_paths(&ev, "app")[1], sup.p("conf/app.conf"));
}

// 3. A path that does not exist yet: watched from above, followed down when it appears.
#[test]
fn a_path_created_later_restarts_the_unit() {
    let sup = start(Sup::prepare("watch-later"), &[("app", &["later/conf"])]);
    let before = pid(&sup.status("app"));
    let mut events = sup.events();
    fs::create_dir_all(sup.path("later/conf/nested/deeper")).unwrap();
    fs::write(sup.path("later/conf/nested/deeper/x.yaml"), "1").unwrap();
    let (ev, after) = restarted(&sup, &mut events, "app", 1, before);
    let named = &watch_paths(&ev, "app")[0];
    assert!(named.starts_with(&sup.p("later/conf")), "{named}");
    // The watch moved down: the new tree is watched recursively.
    fs::write(sup.path("later/conf/nested/deeper/x.yaml"), "2").unwrap();
    let (ev, _) = restarted(&sup, &mut events, "app", 2, after);
    assert_eq!(
        watch_paths(&ev, "app")[1],
        sup.p("later/conf/nested/deeper/x.yaml")
    );
}

// 4. Directories are watched recursively, including one created after the start.
#[test]
fn a_file_in_a_new_subdirectory_restarts_the_unit() {
    let sup = Sup::prepare("watch-rec");
    fs::create_dir_all(sup.path("tree/old")).unwrap();
    let sup = start(sup, &[("app", &["tree"])]);
    let before = pid(&sup.status("app"));
    let mut events = sup.events();
    fs::create_dir(sup.path("tree/old/sub")).unwrap();
    let (ev, after) = restarted(&sup, &mut events, "app", 1, before);
    assert_eq!(watch_paths(&ev, "app")[0], sup.p("tree/old/sub"));
    fs::write(sup.path("tree/old/sub/f"), "1").unwrap();
    let (ev, _) = restarted(&sup, &mut events, "app", 2, after);
    assert_eq!(watch_paths(&ev, "app")[1], sup.p("tree/old/sub/f"));
}

// 5. A stopped unit is not started by a change.
#[test]
fn a_stopped_unit_is_not_started_by_a_change() {
    let sup = start(Sup::prepare("watch-stopped"), &[("app", &["conf"])]);
    let (code, _, err) = sup.supctl(&["stop", "app"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sup.status("app")["state"], "stopped");
    let mut events = sup.events();
    fs::create_dir(sup.path("conf")).unwrap();
    fs::write(sup.path("conf/a"), "1").unwrap();
    let ev = witness(&sup, &mut events, 1);
    assert_eq!(sup.status("app")["state"], "stopped");
    assert!(
        ev.iter().all(|e| e["unit"] != "app"),
        "nothing happened to app: {ev:#?}"
    );
}

// 6. No restart without a change of a watched path: a sibling directory's change does
//    nothing; a later watched change restarts once.
#[test]
fn only_watched_changes_restart() {
    let sup = Sup::prepare("watch-sibling");
    for d in ["watched", "other"] {
        fs::create_dir(sup.path(d)).unwrap();
    }
    let sup = start(sup, &[("app", &["watched"])]);
    let before = pid(&sup.status("app"));
    let mut events = sup.events();
    fs::write(sup.path("other/f"), "1").unwrap();
    fs::write(sup.path("beside-watched"), "1").unwrap();
    let ev = witness(&sup, &mut events, 1);
    let st = sup.status("app");
    assert_eq!((pid(&st), st["restarts"].as_u64()), (before, Some(0)));
    assert!(watch_paths(&ev, "app").is_empty() && spawns(&ev, "app") == 0);

    fs::write(sup.path("watched/f"), "1").unwrap();
    let (_, after) = restarted(&sup, &mut events, "app", 1, before);
    let ev = witness(&sup, &mut events, 2);
    assert_eq!(pid(&sup.status("app")), after, "restarted once");
    assert_eq!(watch_paths(&ev, "app"), [sup.p("watched/f")]);
    assert_eq!(spawns(&ev, "app"), 1);
}

// 7. A reload that changes the paths restarts the unit, which then watches the new ones
//    only.
#[test]
fn a_reload_moves_the_watch_to_the_new_paths() {
    let sup = Sup::prepare("watch-reload");
    for d in ["old", "new"] {
        fs::create_dir(sup.path(d)).unwrap();
    }
    let sup = start(sup, &[("app", &["old"])]);
    let before = pid(&sup.status("app"));
    sup.write_unit("app", &watching(&[&sup.path("new")]));
    let (code, out, err) = sup.supctl(&["reload"]);
    assert_eq!(code, 0, "{out}{err}");
    let st = sup.wait_for(
        "app",
        |s| s["state"] == "running" && s["pid"].as_u64().is_some_and(|p| p != before),
        WAIT,
    );
    let reloaded = pid(&st);
    let mut events = sup.events();
    fs::write(sup.path("old/f"), "1").unwrap();
    let ev = witness(&sup, &mut events, 1);
    assert_eq!(
        pid(&sup.status("app")),
        reloaded,
        "the old path is not watched"
    );
    assert!(watch_paths(&ev, "app").is_empty());
    fs::write(sup.path("new/f"), "1").unwrap();
    let (ev, _) = restarted(&sup, &mut events, "app", 1, reloaded);
    assert_eq!(watch_paths(&ev, "app"), [sup.p("new/f")]);
}
