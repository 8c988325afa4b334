//! A stand-in service for trying sup where the usual tools are missing (the Windows
//! backend's tests under Wine have no sleep, ping or python): `tick` prints a numbered
//! line every 100 ms until it is stopped; `fail N` prints a line and exits with status N
//! after 100 ms; `hello` prints a line and exits 0.

use std::io::Write;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout();
    match args.first().map(String::as_str) {
        Some("tick") => {
            for n in 0u64.. {
                let _ = writeln!(out, "tick {n}");
                let _ = out.flush();
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Some("fail") => {
            let code = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(1);
            let _ = writeln!(out, "failing with {code}");
            let _ = out.flush();
            std::thread::sleep(Duration::from_millis(100));
            std::process::exit(code);
        }
        Some("hello") => {
            let _ = writeln!(out, "hello from demo-unit");
        }
        _ => {
            eprintln!("usage: demo-unit tick | fail N | hello");
            std::process::exit(2);
        }
    }
}
