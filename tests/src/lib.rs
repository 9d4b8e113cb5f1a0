//! End-to-end harness for berth: real containers run by a real runtime binary.
//!
//! Every test drives the binary named by `BERTH_BIN` (default
//! `<workspace>/target/debug/berth`). Berth must behave like runc, so the suite is
//! validated against runc itself (`BERTH_BIN=/usr/sbin/runc`); where berth differs on
//! purpose, the assertion accepts both and says why.
//!
//! The pieces:
//! - [`rootfs`]: one busybox rootfs per test run, copied into every bundle;
//! - [`Bundle`]: a bundle directory whose `config.json` starts from the runtime's own
//!   `spec` template and is edited with `serde_json`;
//! - [`Runtime`]: the binary with a private `--root`, deleting what it made on drop;
//! - [`Leaks`]: what a container can leave behind (mounts, cgroups, processes, state);
//! - [`host`]: the same for the whole host, around a suite or a stress run;
//! - [`suite`]: running a whole test file under one host-wide leak check;
//! - [`Pty`], [`recv_fd`]: terminals, owned by the test or received on a console socket.
//!
//! The tests need root and run with `cargo test -p berth-e2e -- --test-threads=2`.

mod bundle;
mod cmd;
pub mod host;
mod leaks;
pub mod rootfs;
mod runtime;
pub mod suite;
mod tty;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use bundle::Bundle;
pub use cmd::{Invocation, Output, Spawned};
pub use leaks::Leaks;
pub use runtime::Runtime;
pub use tty::{recv_fd, Pty, TtyReader};

/// The workspace root, found from this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The runtime binary under test: `$BERTH_BIN`, else `<workspace>/target/debug/berth`.
pub fn runtime_bin() -> PathBuf {
    match std::env::var_os("BERTH_BIN") {
        Some(bin) if !bin.is_empty() => PathBuf::from(bin),
        _ => workspace_root().join("target/debug/berth"),
    }
}

/// Whether the binary under test is berth (as opposed to runc used as a reference).
pub fn is_berth() -> bool {
    runtime_bin()
        .file_name()
        .is_some_and(|name| name.to_string_lossy().ends_with("berth"))
}

/// Returns true (and says so on stderr) when the test checks a berth feature that the
/// reference runc 1.1.5 lacks, so the caller can return early when validating the
/// suite against runc.
pub fn skip_unless_berth(reason: &str) -> bool {
    if is_berth() {
        return false;
    }
    eprintln!("skipped against {}: {reason}", runtime_bin().display());
    true
}

/// A container id unique across tests, test processes and runs at the same time.
///
/// The counter has a fixed width so that no id is a prefix of another one, which
/// keeps substring searches (cgroup names, command lines) unambiguous.
pub fn unique_id(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(24)
        .collect();
    format!("e2e-{tag}-{}-{n:04}", std::process::id())
}

/// Polls `check` every 20 ms until it returns true or `timeout` passes; returns
/// whether it succeeded.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Shell prefix that blocks until the host calls [`Bundle::open_gate`] (for at most
/// 30 s), so a test can look at a running container before it exits.
pub const WAIT_FOR_GATE: &str =
    "i=0; while [ ! -e /tmp/.gate ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; ";

/// Shell prefix that keeps a container busy for at most 30 s in small sleeps (signal
/// traps run between them).
pub const IDLE: &str = "i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; ";

/// How long tests wait for a container to reach a state.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(5);

/// Lines of `/proc/self/mounts` as `(source, mountpoint, fstype, options)`.
pub fn parse_mounts(text: &str) -> Vec<(String, String, String, Vec<String>)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let source = fields.next()?.to_string();
            let target = fields.next()?.to_string();
            let fstype = fields.next()?.to_string();
            let options = fields.next()?.split(',').map(str::to_string).collect();
            Some((source, target, fstype, options))
        })
        .collect()
}

/// `(fd, target)` for the fds above 2 in `ls -l /proc/self/fd/` output, leaving out
/// the directory ls opened to list them.
pub fn extra_fds(ls: &str) -> Vec<(u32, String)> {
    ls.lines()
        .filter_map(|line| {
            let (left, target) = line.split_once(" -> ")?;
            let fd: u32 = left.split_whitespace().last()?.parse().ok()?;
            Some((fd, target.to_string()))
        })
        .filter(|(fd, target)| {
            *fd > 2 && !(target.starts_with("/proc/") && target.ends_with("/fd"))
        })
        .collect()
}

/// Whether `s` looks like an RFC 3339 timestamp (`2026-01-02T03:04:05[.frac](Z|±hh:mm)`).
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    if b.len() < 20
        || !(digits(0..4) && digits(5..7) && digits(8..10))
        || !(digits(11..13) && digits(14..16) && digits(17..19))
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let end = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if end == 0 {
            return false;
        }
        rest = &frac[end..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}
