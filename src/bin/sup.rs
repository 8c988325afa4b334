//! `sup`: parse the command line, set up logging, and run the supervisor (or `sup check`).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "sup",
    version,
    about = "A small, event-driven init and process supervisor"
)]
pub struct Cli {
    /// Unit directory.
    #[arg(long, env = "SUP_UNITS", default_value = "/etc/sup.d", global = true)]
    units: PathBuf,
    /// Control socket path [default: /run/sup/control.sock for root, else $XDG_RUNTIME_DIR/sup/control.sock].
    #[arg(long, env = "SUP_SOCKET")]
    socket: Option<PathBuf>,
    /// Log directory for unit output [default: /var/log/sup for root, else $XDG_STATE_HOME/sup/log].
    #[arg(long = "log-dir", env = "SUP_LOG_DIR")]
    log_dir: Option<PathBuf>,
    /// Members of this group (name or number) may use mutating commands.
    #[arg(long = "control-group")]
    control_group: Option<String>,
    /// sup's own log filter (env_logger syntax: error, warn, info, debug, trace)
    /// [default: info; warn in entrypoint mode].
    #[arg(long = "log-level", env = "SUP_LOG")]
    log_level: Option<String>,
    /// Entrypoint mode: time between SIGTERM and SIGKILL for processes left behind.
    #[arg(long, env = "SUP_GRACE", default_value = "5s", value_parser = parse_grace)]
    grace: Duration,
    /// Serve the Prometheus metrics as `GET /metrics` over HTTP on this address
    /// (`HOST:PORT`, `[V6ADDR]:PORT`, or `:PORT` for every IPv4 address).
    #[arg(long = "metrics-listen", env = "SUP_METRICS_LISTEN", value_name = "ADDR", value_parser = parse_listen)]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Internal (reexec): take over from the previous image of sup, whose state is in
    /// this handle.
    #[arg(long = "reexec-state", value_name = "HANDLE", hide = true)]
    reexec_state: Option<u64>,
    /// Internal (reexec): say whether this program can take over from the running sup.
    #[arg(long = "reexec-check", hide = true)]
    reexec_check: bool,
    #[command(subcommand)]
    command: Option<Command>,
    /// Entrypoint mode: the main command to run after `--` (passed on byte for byte).
    #[arg(last = true)]
    main: Vec<OsString>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate every unit file; print each problem as FILE:LINE:COL: message.
    Check,
    /// Convert systemd .service files to sup unit files; warn (FILE:LINE) for every
    /// directive not imported.
    Import(sup::import::ImportArgs),
}

fn parse_grace(s: &str) -> Result<Duration, String> {
    sup::unit::values::parse_duration(s)
}

/// `--metrics-listen`: an address, a name to resolve (its first address), or `:PORT`.
fn parse_listen(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let full = match s.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => s.to_string(),
    };
    full.to_socket_addrs()
        .map_err(|e| format!("{s}: {e} (expected HOST:PORT)"))?
        .next()
        .ok_or_else(|| format!("{s}: no address"))
}

fn main() -> ExitCode {
    let pid1 = sup::platform::system::is_pid1();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // As PID 1 the kernel passes unknown boot parameters as arguments; exiting would
        // panic the kernel, so run with the defaults instead.
        Err(e) if pid1 => {
            eprintln!("sup: ignoring the command line ({e})");
            Cli::parse_from(["sup"])
        }
        Err(e) => e.exit(),
    };
    if let Some(Command::Import(args)) = &cli.command {
        return ExitCode::from(args.run());
    }
    if cli.reexec_check {
        println!("{}", sup::runtime::HANDOVER_CHECK);
        return ExitCode::SUCCESS;
    }
    // Before sup opens anything.
    sup::platform::system::prepare(!cli.main.is_empty());
    let default_level = if cli.main.is_empty() { "info" } else { "warn" };
    let mut logger = env_logger::Builder::new();
    if let Some(target) = pid1.then(sup::platform::system::pid1_log_target).flatten() {
        logger.target(env_logger::Target::Pipe(target));
    }
    logger
        .parse_filters(cli.log_level.as_deref().unwrap_or(default_level))
        .format(|buf, record| {
            writeln!(
                buf,
                "sup: {}: {}",
                record.level().as_str().to_lowercase(),
                record.args()
            )
        })
        .init();

    if let Some(Command::Check) = cli.command {
        return match sup::unit::check_dir(&cli.units) {
            Ok(problems) => {
                for p in &problems {
                    println!("{p}");
                }
                if problems.iter().all(|p| sup::unit::is_warning(p)) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("sup: cannot read {}: {e}", cli.units.display());
                ExitCode::from(1)
            }
        };
    }
    let control_gid = match cli.control_group.as_deref() {
        None => None,
        Some(g) => match sup::platform::system::group_id(g) {
            Ok(gid) => Some(gid),
            Err(e) => {
                eprintln!("sup: --control-group: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let config = sup::runtime::Config {
        units_dir: cli.units,
        socket: cli.socket.unwrap_or_else(sup::ctl::default_socket_path),
        log_dir: cli
            .log_dir
            .unwrap_or_else(sup::platform::system::default_log_dir),
        control_gid,
        main: (!cli.main.is_empty()).then_some(sup::runtime::MainCmd { argv: cli.main }),
        grace: cli.grace,
        handover: cli.reexec_state,
        metrics_listen: cli.metrics_listen,
    };
    if !sup::platform::system::is_privileged() && config.main.is_none() {
        log::warn!("running as a non-root user: units that ask for another user, raised limits or isolation will fail to start");
    }
    ExitCode::from(sup::runtime::run(config).clamp(0, 255) as u8)
}
