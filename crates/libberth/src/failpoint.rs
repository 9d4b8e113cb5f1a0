//! Fault injection for the reliability tests: `BERTH_FAILPOINT=<name>`
//! makes berth kill itself with SIGKILL when it reaches the named step, as
//! an orchestrator's `kill -9` would at that moment. The tests then check
//! that `delete --force` recovers and nothing is left behind.
//!
//! The variable is read once; when it is unset (always, outside tests) a
//! step costs one load of a cached `None`.

use std::sync::OnceLock;

static POINT: OnceLock<Option<String>> = OnceLock::new();

/// The steps that can be failed, in the order a `run` passes them.
pub const POINTS: &[&str] = &[
    "create:state-dir",
    "create:cgroup",
    "create:cloned",
    "create:hooks",
    "create:ready",
    "create:state-written",
    "start:locked",
    "start:released",
    "exec:cloned",
    "delete:locked",
    "delete:killed",
    "delete:cgroup-removed",
];

/// Kills this process with SIGKILL if `BERTH_FAILPOINT` names `point`.
pub fn hit(point: &str) {
    let armed = POINT.get_or_init(|| {
        std::env::var("BERTH_FAILPOINT")
            .ok()
            .filter(|p| !p.is_empty())
    });
    if armed.as_deref() == Some(point) {
        // SAFETY: raise(2) of SIGKILL on ourselves.
        unsafe { libc::raise(libc::SIGKILL) };
    }
}
