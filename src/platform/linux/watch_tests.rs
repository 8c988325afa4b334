//! inotify watches on a real temp dir. The kernel queues an inotify event before the
//! call that caused it returns, so each test reads the events right after its changes:
//! no waiting.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use mio::{Poll, Token};

use super::*;

const U0: UnitId = UnitId::from_index(0);
const U1: UnitId = UnitId::from_index(1);

struct Fixture {
    platform: LinuxPlatform,
    poll: Poll,
    dir: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sup-inotify-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Fixture {
            platform: LinuxPlatform::new(),
            poll: Poll::new().unwrap(),
            dir,
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn watch(&mut self, unit: UnitId, rels: &[&str]) -> Result<(), WatchError> {
        let paths: Vec<PathBuf> = rels.iter().map(|r| self.p(r)).collect();
        self.platform
            .watch_files(self.poll.registry(), Token(9), unit, &paths)
    }

    /// The paths reported changed for `unit` since the last call (other units' dropped).
    fn changes(&mut self, unit: UnitId) -> Vec<PathBuf> {
        let batch = self.platform.file_events();
        assert!(!batch.more);
        batch
            .events
            .into_iter()
            .filter_map(|e| match e {
                FileEvent::Changed { unit: u, path } if u == unit => Some(path),
                FileEvent::Changed { .. } => None,
                FileEvent::Failed { error, .. } => panic!("watch failed: {error}"),
            })
            .collect()
    }

    fn watches_held(&self) -> usize {
        self.platform.watches.wds.len()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

#[test]
fn a_file_written_in_a_watched_directory_is_a_change_naming_it() {
    let mut f = Fixture::new();
    fs::create_dir(f.p("conf")).unwrap();
    write(&f.p("conf/a.yaml"), "1");
    f.watch(U0, &["conf"]).unwrap();
    assert!(f.changes(U0).is_empty(), "nothing changed yet");
    write(&f.p("conf/a.yaml"), "2");
    let changes = f.changes(U0);
    assert!(!changes.is_empty());
    assert!(
        changes.iter().all(|p| *p == f.p("conf/a.yaml")),
        "{changes:?}"
    );
    // Reading is no change.
    let _ = fs::read(f.p("conf/a.yaml")).unwrap();
    assert!(f.changes(U0).is_empty());
}

#[test]
fn directories_are_watched_recursively_including_new_ones() {
    let mut f = Fixture::new();
    fs::create_dir_all(f.p("tree/old/deep")).unwrap();
    f.watch(U0, &["tree"]).unwrap();
    write(&f.p("tree/old/deep/x"), "1");
    assert_eq!(f.changes(U0).last(), Some(&f.p("tree/old/deep/x")));
    fs::create_dir_all(f.p("tree/new/inner")).unwrap();
    assert!(!f.changes(U0).is_empty());
    write(&f.p("tree/new/inner/y"), "1");
    assert_eq!(f.changes(U0).last(), Some(&f.p("tree/new/inner/y")));
    assert_eq!(f.watches_held(), 5);
    // Deleted directories are forgotten (the kernel drops their watches).
    fs::remove_dir_all(f.p("tree/new")).unwrap();
    assert_eq!(f.changes(U0).last(), Some(&f.p("tree/new")));
    assert_eq!(f.watches_held(), 3);
    write(&f.p("tree/old/z"), "1");
    let changes = f.changes(U0);
    assert!(!changes.is_empty() && changes.iter().all(|p| *p == f.p("tree/old/z")));
}

#[test]
fn a_directory_moved_out_of_the_tree_is_no_longer_watched() {
    let mut f = Fixture::new();
    fs::create_dir_all(f.p("tree/sub")).unwrap();
    fs::create_dir(f.p("elsewhere")).unwrap();
    f.watch(U0, &["tree"]).unwrap();
    assert_eq!(f.watches_held(), 2);
    fs::rename(f.p("tree/sub"), f.p("elsewhere/sub")).unwrap();
    assert_eq!(f.changes(U0), [f.p("tree/sub")]);
    assert_eq!(f.watches_held(), 1);
    write(&f.p("elsewhere/sub/z"), "1");
    assert!(f.changes(U0).is_empty());
}

#[test]
fn a_missing_path_is_watched_from_above_and_followed_down_when_it_appears() {
    let mut f = Fixture::new();
    f.watch(U0, &["a/b"]).unwrap();
    fs::create_dir(f.p("a")).unwrap();
    assert!(
        f.changes(U0).is_empty(),
        "a directory on the way is no change"
    );
    fs::create_dir_all(f.p("a/b/c")).unwrap();
    write(&f.p("a/b/c/f"), "1");
    assert_eq!(f.changes(U0), [f.p("a/b")], "the path appeared");
    write(&f.p("a/b/c/f"), "2");
    assert_eq!(f.changes(U0).last(), Some(&f.p("a/b/c/f")));
    // Gone again: a change, and followed from above once more.
    fs::remove_dir_all(f.p("a")).unwrap();
    assert_eq!(f.changes(U0).last(), Some(&f.p("a/b")));
    fs::create_dir_all(f.p("a/b")).unwrap();
    assert_eq!(f.changes(U0), [f.p("a/b")]);
}

#[test]
fn a_watched_file_replaced_by_rename_stays_watched() {
    let mut f = Fixture::new();
    write(&f.p("app.conf"), "1");
    write(&f.p("other"), "1");
    f.watch(U0, &["app.conf"]).unwrap();
    write(&f.p("other"), "2");
    assert!(f.changes(U0).is_empty(), "a sibling is not watched");
    // An editor's save: write a temporary file, rename it over the target.
    write(&f.p(".app.conf.swp"), "2");
    fs::rename(f.p(".app.conf.swp"), f.p("app.conf")).unwrap();
    let changes = f.changes(U0);
    assert!(!changes.is_empty());
    assert!(changes.iter().all(|p| *p == f.p("app.conf")), "{changes:?}");
    write(&f.p("app.conf"), "3");
    assert_eq!(f.changes(U0).last(), Some(&f.p("app.conf")));
    fs::remove_file(f.p("app.conf")).unwrap();
    assert_eq!(f.changes(U0).last(), Some(&f.p("app.conf")));
    write(&f.p("app.conf"), "4");
    assert_eq!(f.changes(U0).last(), Some(&f.p("app.conf")));
}

#[test]
fn units_share_a_directory_and_unwatching_one_keeps_the_other() {
    let mut f = Fixture::new();
    fs::create_dir(f.p("shared")).unwrap();
    f.watch(U0, &["shared"]).unwrap();
    f.watch(U1, &["shared"]).unwrap();
    assert_eq!(f.watches_held(), 1, "one inotify watch per directory");
    f.platform.unwatch_files(U0);
    write(&f.p("shared/x"), "1");
    let events = f.platform.file_events().events;
    assert!(!events.is_empty());
    assert!(events
        .iter()
        .all(|e| matches!(e, FileEvent::Changed { unit, .. } if *unit == U1)));
    f.platform.unwatch_files(U1);
    assert_eq!(f.watches_held(), 0);
    write(&f.p("shared/x"), "2");
    assert!(f.platform.file_events().events.is_empty());
}

#[test]
fn more_directories_than_the_limit_fail_naming_the_path() {
    let mut f = Fixture::new();
    f.platform.watches.limit = 4;
    for d in ["t/a", "t/b", "t/c"] {
        fs::create_dir_all(f.p(d)).unwrap();
    }
    f.watch(U0, &["t"]).unwrap();
    fs::create_dir(f.p("t/d")).unwrap();
    let events = f.platform.file_events().events;
    let failed = events.iter().find_map(|e| match e {
        FileEvent::Failed { unit, error } if *unit == U0 => Some(error.to_string()),
        _ => None,
    });
    let message = failed.expect("a failure");
    assert!(
        message.contains(&f.p("t").display().to_string()),
        "{message}"
    );
    assert!(message.contains("more than 4"), "{message}");
    assert_eq!(f.watches_held(), 0, "the unit's watch is dropped");
    let err = f.watch(U0, &["t"]).unwrap_err().to_string();
    assert!(err.contains("more than 4"), "{err}");
    assert_eq!(f.watches_held(), 0);
}

#[test]
fn a_flood_is_read_in_bounded_batches_keeping_the_last_change() {
    let mut f = Fixture::new();
    fs::create_dir(f.p("flood")).unwrap();
    f.watch(U0, &["flood"]).unwrap();
    f.platform.watches.budget = 1;
    // Thousands of events: more than one 16 KiB read.
    for i in 0..1000 {
        write(&f.p(&format!("flood/{i}")), "x");
    }
    let mut batches = 0;
    let mut last = None;
    loop {
        let batch = f.platform.file_events();
        assert!(batch.events.len() <= 1, "one change per unit per batch");
        if let Some(FileEvent::Changed { path, .. }) = batch.events.into_iter().last() {
            last = Some(path);
        }
        batches += 1;
        if !batch.more {
            break;
        }
    }
    assert!(batches > 1, "read in several batches");
    assert_eq!(last, Some(f.p("flood/999")));
}
