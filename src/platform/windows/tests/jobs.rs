//! Jobs and processes: membership, the tree, termination, exit statuses, kill-on-close,
//! completion-port messages, accounting.

use std::collections::BTreeSet;

use super::*;

#[test]
fn detects_wine_when_run_by_the_wine_harness() {
    // scripts/windows-test.sh sets this; Wine passes the Unix environment through.
    if std::env::var_os("SUP_EXPECT_WINE").is_some() {
        assert!(
            is_wine(),
            "SUP_EXPECT_WINE is set but wine_get_version is missing"
        );
    }
}

#[test]
fn a_process_runs_in_its_own_job_and_terminate_ends_it() {
    let job = Job::new().unwrap();
    let other = Job::new().unwrap();
    // sup's own stdout/stderr passed on (libtest's line of the child shows up).
    let p = start_with(&job, "park", false);
    assert!(job.contains(p.as_handle()).unwrap());
    assert!(!other.contains(p.as_handle()).unwrap());
    assert_eq!(job.pids().unwrap(), [p.pid()]);
    assert_eq!(p.exit_status().unwrap(), None);
    job.terminate(7).unwrap();
    assert_eq!(wait_exit(&p), ExitStatus::Code(7));
    assert_eq!(job.pids().unwrap(), Vec::<u32>::new());
}

#[test]
fn a_child_it_starts_is_in_the_job_and_terminate_kills_the_tree() {
    let job = Job::new().unwrap();
    let mut p = start(&job, "spawn");
    let line = marked_line(p.stdout.as_mut().unwrap());
    let pid: u32 = line
        .strip_prefix("child ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {line:?}"));
    let grandchild = open(pid);
    assert!(job.contains(grandchild.as_handle()).unwrap());
    let want: BTreeSet<u32> = [p.pid(), pid].into();
    assert_eq!(
        job.pids().unwrap().into_iter().collect::<BTreeSet<_>>(),
        want
    );
    // Room for one id at first: the list grows to what the job holds.
    assert_eq!(
        job.pids_from(1)
            .unwrap()
            .into_iter()
            .collect::<BTreeSet<_>>(),
        want
    );
    job.terminate(9).unwrap();
    assert_eq!(wait_exit(&p), ExitStatus::Code(9));
    assert_eq!(wait_exit(&grandchild), ExitStatus::Code(9));
}

#[test]
fn exit_codes_and_ntstatus() {
    let job = Job::new().unwrap();
    assert_eq!(wait_exit(&start(&job, "exit:3")), ExitStatus::Code(3));
    let ok = wait_exit(&start(&job, "exit:0"));
    assert!(ok.success(), "{ok}");
    assert_eq!(
        wait_exit(&start(&job, "exit:-1")),
        ExitStatus::Code(u32::MAX)
    );
    // Rust's abort is a fail-fast exception: the process ends with an NTSTATUS.
    let aborted = wait_exit(&start(&job, "abort"));
    assert!(matches!(aborted, ExitStatus::NtStatus(_)), "{aborted}");
    println!("abort: {aborted}");
}

#[test]
fn exit_status_classification_and_display() {
    assert_eq!(ExitStatus::from_raw(0), ExitStatus::Code(0));
    assert_eq!(ExitStatus::from_raw(259), ExitStatus::Code(259));
    assert_eq!(ExitStatus::from_raw(u32::MAX), ExitStatus::Code(u32::MAX));
    assert_eq!(
        ExitStatus::from_raw(0xFFFF_FFFE),
        ExitStatus::Code(0xFFFF_FFFE)
    );
    let av = ExitStatus::from_raw(0xC000_0005);
    assert_eq!(av, ExitStatus::NtStatus(0xC000_0005));
    assert_eq!(
        av.to_string(),
        "NTSTATUS 0xC0000005 (STATUS_ACCESS_VIOLATION)"
    );
    assert_eq!(av.raw(), 0xC000_0005);
    assert_eq!(
        ExitStatus::from_raw(0xC000_013A).nt_name(),
        Some("STATUS_CONTROL_C_EXIT")
    );
    assert_eq!(
        ExitStatus::from_raw(0xC000_1234).to_string(),
        "NTSTATUS 0xC0001234"
    );
    assert_eq!(ExitStatus::Code(3).to_string(), "exit code 3");
}

#[test]
fn closing_the_job_kills_its_processes() {
    let job = Job::new().unwrap();
    let p = start(&job, "park");
    assert_eq!(p.exit_status().unwrap(), None);
    drop(job);
    wait_exit(&p);
}

#[test]
fn the_completion_port_reports_new_exit_and_active_zero() {
    let mut lp = Loop::new();
    let job = Job::new().unwrap();
    lp.events.watch(&job, 42).unwrap();
    let p = start(&job, "exit:5");
    let pid = p.pid();
    let seen = lp
        .wait_for(|s| s.iter().any(|e| e.message == JobMessage::ActiveProcessZero))
        .to_vec();
    assert!(seen.iter().all(|e| e.key == 42), "{seen:?}");
    let messages: Vec<JobMessage> = seen.iter().map(|e| e.message).collect();
    assert_eq!(
        messages,
        [
            JobMessage::NewProcess { pid },
            JobMessage::ExitProcess { pid },
            JobMessage::ActiveProcessZero
        ]
    );
    assert_eq!(wait_exit(&p), ExitStatus::Code(5));

    // A terminated job reports its end too (Wine posts no EXIT_PROCESS for it).
    let job2 = Job::new().unwrap();
    lp.events.watch(&job2, 43).unwrap();
    let p2 = start(&job2, "park");
    lp.wait_for(|s| {
        s.iter()
            .any(|e| e.key == 43 && e.message == JobMessage::NewProcess { pid: p2.pid() })
    });
    job2.terminate(1).unwrap();
    lp.wait_for(|s| {
        s.iter()
            .any(|e| e.key == 43 && e.message == JobMessage::ActiveProcessZero)
    });
    assert!(lp.events.watch(&job2, usize::MAX).is_err());
}

#[test]
fn accounting_counts_processes() {
    let job = Job::new().unwrap();
    let p = start(&job, "park");
    let a = job.accounting().unwrap();
    println!("running: {a:?}");
    assert_eq!((a.active_processes, a.total_processes), (1, 1), "{a:?}");
    if !is_wine() {
        assert!(a.memory_bytes.is_some_and(|m| m > 0), "{a:?}");
    }
    job.terminate(1).unwrap();
    wait_exit(&p);
    let a = job.accounting().unwrap();
    assert_eq!((a.active_processes, a.total_processes), (0, 1), "{a:?}");
    assert_eq!(a.memory_bytes, Some(0));
}

#[test]
fn a_missing_program_fails_at_its_step() {
    let job = Job::new().unwrap();
    let argv = [OsString::from("sup-no-such-program-here")];
    let e = spawn(
        &job,
        &SpawnRequest {
            argv: &argv,
            env: None,
            cwd: None,
            capture: false,
        },
    )
    .unwrap_err();
    assert!(e.step.contains("find program"), "{e}");
    assert_eq!(e.source.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(job.pids().unwrap(), Vec::<u32>::new());
}
