//! Running a whole test file under one host-wide leak check.
//!
//! Per-test [`crate::Leaks`] checks only see what is named after a test's
//! container. To see everything else too (a hook's orphan, a mount outside
//! the bundle, a stray cgroup), a file adds one test that calls
//! [`run_whole_file`]: it snapshots the host ([`crate::host`]), runs every
//! other test of the file in a child process (the same test binary), and
//! fails if the host has anything new once the child is done.
//!
//! So that the tests do not run twice, each of the others starts with
//! `if delegated(WRAPPER) { return; }`: when this process was started in a
//! way that runs the wrapper (no filter, or a filter the wrapper matches),
//! the wrapper runs them in its child and they return at once here. With a
//! filter that leaves the wrapper out (`cargo test --test reliability
//! faults`), they run directly, as any test.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::host::{HostScope, HostSnapshot};

/// Set in the child process that runs the file's tests.
pub const CHILD_ENV: &str = "BERTH_E2E_WHOLE_FILE";

/// How long the tests of one file may take together.
const FILE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// libtest options that take a value as the next argument.
const VALUE_OPTIONS: &[&str] = &[
    "--test-threads",
    "--logfile",
    "--color",
    "--format",
    "-Z",
    "--shuffle-seed",
    "--skip",
];

/// The test binary's own arguments, as libtest reads them.
#[derive(Debug, Default)]
struct TestArgs {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    /// `--ignored` (only ignored tests run) or `--list` (none runs).
    runs_nothing_here: bool,
    include_ignored: bool,
    nocapture: bool,
    threads: Option<String>,
}

impl TestArgs {
    fn parse(args: impl IntoIterator<Item = String>) -> Self {
        let mut out = TestArgs::default();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = || inline.clone().or_else(|| it.next()).unwrap_or_default();
            match name.as_str() {
                "--skip" => out.skips.push(value()),
                "--test-threads" => out.threads = Some(value()),
                "--exact" => out.exact = true,
                "--ignored" | "--list" => out.runs_nothing_here = true,
                "--include-ignored" => out.include_ignored = true,
                "--nocapture" => out.nocapture = true,
                n if VALUE_OPTIONS.contains(&n) => {
                    value();
                }
                n if n.starts_with('-') => {}
                _ => out.filters.push(arg),
            }
        }
        out
    }

    fn matches(&self, pattern: &str, name: &str) -> bool {
        if self.exact {
            pattern == name
        } else {
            name.contains(pattern)
        }
    }

    /// Whether libtest runs the test called `name` with these arguments.
    fn selects(&self, name: &str) -> bool {
        !self.runs_nothing_here
            && (self.filters.is_empty() || self.filters.iter().any(|f| self.matches(f, name)))
            && !self.skips.iter().any(|s| self.matches(s, name))
    }
}

fn args() -> TestArgs {
    TestArgs::parse(std::env::args().skip(1))
}

/// Whether the calling test should return at once because `wrapper` runs it
/// in a child process (see the module doc).
pub fn delegated(wrapper: &str) -> bool {
    std::env::var_os(CHILD_ENV).is_none() && args().selects(wrapper)
}

/// The body of the wrapper test called `wrapper`: runs the other tests of
/// this binary in a child and fails on a test failure or on anything the
/// host has more afterwards.
#[track_caller]
pub fn run_whole_file(wrapper: &str) {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let parent = args();
    let scope = HostScope::from_env();
    let before = HostSnapshot::take(&scope);
    let exe = std::env::current_exe().expect("current test binary");
    let mut cmd = Command::new(&exe);
    cmd.env(CHILD_ENV, "1")
        .arg("--skip")
        .arg(wrapper)
        .arg(format!(
            "--test-threads={}",
            parent.threads.as_deref().unwrap_or("2")
        ))
        .arg(if parent.nocapture {
            "--nocapture"
        } else {
            "--show-output"
        })
        .stdin(Stdio::null());
    for skip in &parent.skips {
        cmd.arg("--skip").arg(skip);
    }
    if parent.include_ignored {
        cmd.arg("--include-ignored");
    }
    // Straight to stderr, past libtest's capture: the verdict belongs in
    // the CI log even when the test passes.
    let _ = writeln!(
        std::io::stderr(),
        "{wrapper}: running every other test of {} under a host-wide leak check",
        exe.display()
    );
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start the test binary again");
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < FILE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(100));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let leaks = HostSnapshot::leaks_settled(&before, &scope, Duration::from_secs(10));
    let _ = writeln!(
        std::io::stderr(),
        "{wrapper}: tests took {:.1} s; host-wide leak check: {}",
        started.elapsed().as_secs_f64(),
        if leaks.is_empty() {
            "nothing left behind".to_string()
        } else {
            format!("{} leaked", leaks.items.len())
        }
    );
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("the tests of this file failed ({s}); see their output above"),
        None => panic!("the tests of this file did not finish within {FILE_TIMEOUT:?}"),
    }
    assert!(
        leaks.is_empty(),
        "the tests of this file left things on the host:\n{leaks}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> TestArgs {
        TestArgs::parse(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn whole_file_runs_without_filters() {
        assert!(parse(&["--test-threads=2"]).selects("whole"));
        assert!(parse(&["--test-threads", "2", "--nocapture"]).selects("whole"));
    }

    #[test]
    fn filters_and_skips_follow_libtest() {
        assert!(!parse(&["faults"]).selects("whole_file"));
        assert!(parse(&["whole"]).selects("whole_file"));
        assert!(!parse(&["--skip", "whole"]).selects("whole_file"));
        assert!(!parse(&["--skip=whole"]).selects("whole_file"));
        assert!(!parse(&["--exact", "whole"]).selects("whole_file"));
        assert!(parse(&["--exact", "whole_file"]).selects("whole_file"));
        assert!(!parse(&["--ignored"]).selects("whole_file"));
        assert!(!parse(&["--list"]).selects("whole_file"));
        // A value is not a filter.
        assert!(parse(&["--color", "never", "--format", "pretty"]).selects("whole_file"));
    }
}
