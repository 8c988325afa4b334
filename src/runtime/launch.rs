//! Turning a unit into a process: environment, credentials, limits, output pipes and
//! the unit's log sink.

use std::ffi::OsString;
use std::path::PathBuf;

use super::Runtime;
use crate::engine::Role;
use crate::output::{Destination, Stream, UnitOutput};
use crate::platform::Backend;
use crate::platform::{Env, SpawnSpec};
use crate::proc::{Pid, UnitId};
use crate::unit::{read_env_file, LogTarget, UnitSpec};

/// Bytes read from a pipe in one go that make it chatty: the default capacity (64 KiB),
/// i.e. the pipe may have been full. Quiet units keep the default pipe: growing it at
/// every start cost two system calls and about 10 KiB of kernel memory per pipe.
pub(super) const GROW_AFTER: usize = 64 << 10;

/// Variables of sup's own environment that describe sup, not its units.
const NOT_INHERITED: &[&str] = &[
    "NOTIFY_SOCKET",
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "SUP_SOCKET",
    "SUP_UNITS",
    "SUP_LOG_DIR",
    "SUP_LOG",
    "SUP_CGROUP",
    "SUP_CGROUP_ROOT",
    "SUP_USERNS_RANGE",
    "SUP_METRICS_LISTEN",
];

/// sup's environment as passed to units and to entrypoint mode's command, byte for byte
/// (names and values need not be UTF-8), less [`NOT_INHERITED`].
pub fn base_env() -> Env {
    std::env::vars_os()
        .filter(|(k, _)| !NOT_INHERITED.iter().any(|n| k == n))
        .collect()
}

/// What every command of a unit shares (its main process, `stop.exec`, exec probes):
/// credentials, limits, directory, environment, captured output.
pub(super) fn unit_spawn_spec(spec: &UnitSpec, argv: &[String], env: Env) -> SpawnSpec {
    SpawnSpec {
        argv: argv.iter().map(OsString::from).collect(),
        env,
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        group: spec.group.clone(),
        umask: spec.umask,
        rlimits: spec.rlimits.clone(),
        no_new_privileges: spec.no_new_privileges,
        capture: true,
        ..SpawnSpec::default()
    }
}

/// The complete environment of a unit: sup's, then `env_file` entries, then `env`. A unit
/// that switches user gets that user's `HOME`, `USER` and `LOGNAME` (set at spawn from
/// the user database), not sup's, unless its `env_file` or `env` sets them.
pub(super) fn unit_env(spec: &UnitSpec) -> Result<Env, String> {
    let mut env = base_env();
    if spec.user.is_some() {
        for name in ["HOME", "USER", "LOGNAME"] {
            env.remove(name);
        }
    }
    for file in &spec.env_file {
        for (k, v) in read_env_file(file)? {
            env.set(k, v);
        }
    }
    for (k, v) in &spec.env {
        env.set(k, v);
    }
    Ok(env)
}

impl<P: Backend> Runtime<P> {
    /// Where a unit's output goes.
    fn destination(&self, spec: &UnitSpec) -> Destination {
        match &spec.log.target {
            LogTarget::Default if self.life.main.is_some() || self.life.log_fallback => {
                Destination::Inherit {
                    prefix: format!("{}: ", spec.name),
                }
            }
            LogTarget::Default => Destination::File {
                path: self.config.log_dir.join(format!("{}.log", spec.name)),
                max_size: spec.log.max_size,
                keep: spec.log.keep,
            },
            LogTarget::File(path) => Destination::File {
                path: path.clone(),
                max_size: spec.log.max_size,
                keep: spec.log.keep,
            },
            LogTarget::Inherit => Destination::Inherit {
                prefix: format!("{}: ", spec.name),
            },
            LogTarget::Discard => Destination::Discard,
        }
    }

    /// The log file of a unit, if its output is kept in one.
    pub(super) fn log_path(&self, unit: UnitId) -> Option<PathBuf> {
        let spec = self.engine.unit(unit).spec.as_ref()?;
        match self.destination(spec) {
            Destination::File { path, .. } => Some(path),
            _ => None,
        }
    }

    pub(super) fn ensure_output(&mut self, unit: UnitId, spec: &UnitSpec) {
        if self.relog.remove(&unit) {
            // A reload changed where its output goes: the old destination is done.
            if let Some(mut old) = self.outputs[unit.index()].take() {
                for stream in [Stream::Stdout, Stream::Stderr] {
                    let _ = old.flush_partial(stream, None);
                }
            }
        }
        if self.outputs[unit.index()].is_some() {
            return;
        }
        let dest = self.destination(spec);
        let out = match UnitOutput::new(dest.clone(), spec.log.timestamps) {
            Ok(out) => out,
            Err(e) => {
                log::error!(
                    "{}: {e}; writing its output to sup's own output instead",
                    spec.name
                );
                match UnitOutput::new(
                    Destination::Inherit {
                        prefix: format!("{}: ", spec.name),
                    },
                    spec.log.timestamps,
                ) {
                    Ok(out) => out,
                    Err(_) => return,
                }
            }
        };
        self.outputs[unit.index()] = Some(out);
    }

    /// Starts the unit's main process or its `stop.exec`; returns the pid.
    pub(super) fn launch(&mut self, unit: UnitId, role: Role) -> Result<Pid, String> {
        let spec = self
            .engine
            .unit(unit)
            .spec
            .clone()
            .ok_or("unit file is invalid")?;
        let listen_fds = if role == Role::Main {
            self.watch_unit(unit)?;
            self.open_sockets(unit)?
        } else {
            Vec::new()
        };
        let argv = match role {
            Role::Main => &spec.exec[..],
            Role::StopExec => spec.stop.exec.as_deref().unwrap_or_default(),
        };
        let confine = self.confinement(unit, &spec, role)?;
        let mut env = unit_env(&spec)?;
        // Readiness the unit reports itself: NOTIFY_SOCKET, or the s6 fd (see notify.rs).
        let notify_fd = if role == Role::Main {
            self.readiness_setup(unit, &spec, &mut env)?
        } else {
            None
        };
        let req = SpawnSpec {
            pass_fd: notify_fd.as_ref().map(|(fd, n)| (fd.raw(), *n)),
            listen_fds,
            confine,
            ..unit_spawn_spec(&spec, argv, env)
        };
        self.ensure_output(unit, &spec);
        let child = self.platform.spawn(&req)?;
        // The unit's end of the readiness pipe is the child's now: close ours.
        #[allow(clippy::drop_non_drop)] // a Drop type on Linux; uninhabited on Windows
        drop(notify_fd);
        for (fd, stream) in [
            (child.stdout, Stream::Stdout),
            (child.stderr, Stream::Stderr),
        ] {
            let Some(fd) = fd else { continue };
            if let Err(e) = self.watch_output(unit, stream, fd) {
                log::error!("{}: cannot watch output pipe: {e}", spec.name);
            }
        }
        Ok(child.pid)
    }
}
