//! `leakcheck`: the host-wide leak checker of `berth_e2e::host`, for scripts
//! (`hack/leakcheck.sh` runs it).
//!
//! ```text
//! leakcheck snapshot FILE            record the host in FILE
//! leakcheck diff FILE [--settle S]   compare with FILE; exit 1 on leaks
//! leakcheck show                     print the host as a snapshot
//! ```
//!
//! `diff` retakes its snapshot for up to S seconds (default 5) until nothing
//! is new, so processes and cgroups that are on their way out are not
//! reported. The environment variables of `HostScope::from_env` adjust what
//! is looked at.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use berth_e2e::host::{HostScope, HostSnapshot, Kind};

fn usage() -> ExitCode {
    eprintln!("usage: leakcheck snapshot FILE | diff FILE [--settle SECONDS] | show");
    ExitCode::from(2)
}

fn summary(snap: &HostSnapshot) -> String {
    Kind::ALL
        .iter()
        .map(|k| format!("{} {k}", snap.count(*k)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scope = HostScope::from_env();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["snapshot", file] => {
            let snap = HostSnapshot::take(&scope);
            if let Err(e) = snap.save(Path::new(file)) {
                eprintln!("leakcheck: cannot write {file}: {e}");
                return ExitCode::FAILURE;
            }
            eprintln!("leakcheck: recorded {}", summary(&snap));
            ExitCode::SUCCESS
        }
        ["diff", file, rest @ ..] => {
            let settle = match rest {
                [] => 5.0,
                ["--settle", s] => match s.parse::<f64>() {
                    Ok(s) if s >= 0.0 => s,
                    _ => return usage(),
                },
                _ => return usage(),
            };
            let before = match HostSnapshot::load(Path::new(file)) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("leakcheck: {e}");
                    return ExitCode::from(2);
                }
            };
            let leaks =
                HostSnapshot::leaks_settled(&before, &scope, Duration::from_secs_f64(settle));
            if leaks.is_empty() {
                println!("leakcheck: nothing left behind ({})", summary(&before));
                ExitCode::SUCCESS
            } else {
                println!("leakcheck: {} leaked:\n{leaks}", leaks.items.len());
                ExitCode::FAILURE
            }
        }
        ["show"] => {
            print!("{}", HostSnapshot::take(&scope).to_text());
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}
