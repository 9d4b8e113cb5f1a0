//! cgroup management for the berth runtime.
//!
//! The layout of the host is detected from `/proc/self/mountinfo`:
//!
//! * **v1**: one hierarchy per controller (or co-mounted set) under
//!   `/sys/fs/cgroup/<name>`;
//! * **v2**: one unified hierarchy at `/sys/fs/cgroup`;
//! * **hybrid**: v1 controllers plus a cgroup2 tree (usually
//!   `/sys/fs/cgroup/unified`) that holds the controllers v1 does not.
//!
//! A container's cgroup is one relative path (`/berth/<id>` by default) made
//! in every hierarchy. Each controller is driven in the hierarchy that has
//! it: a controller mounted as v1 is written there, any other one in the
//! cgroup2 tree if that tree's `cgroup.controllers` lists it. So on a hybrid
//! host where `hugetlb` lives only in the cgroup2 tree, hugepage limits go to
//! `hugetlb.<size>.max` there while memory goes to the v1 hierarchy.
//!
//! The [`Manager`] trait is what the runtime uses; the cgroupfs
//! implementation here ([`FsManager`]) writes the files directly. A systemd
//! driver plugs in behind the same trait (see [`systemd`]).
//!
//! Every resource of `linux.resources` is applied by [`Manager::apply`] except
//! `devices`: on v1 the runtime writes `devices.allow`/`devices.deny` itself,
//! on v2 it calls [`apply_device_rules_v2`] with the composed rule list.
//! Something the host cannot honour is an [`Error::Resource`] naming the
//! field and the value, never skipped.

mod blkio;
mod convert;
mod cpu;
mod devices;
mod freezer;
mod fs;
mod hugetlb;
mod layout;
mod memory;
mod network;
mod oom;
mod pids;
mod rdma;
mod stats;
pub mod systemd;
#[cfg(test)]
mod testutil;
mod unified;

pub use convert::{
    blkio_weight_to_io_weight, cpu_shares_to_weight, cpu_shares_to_weight_linear, memory_swap_to_v2,
};
pub use devices::apply_device_rules_v2;
pub use fs::FsManager;
pub use layout::{Hierarchy, Layout, Mode};
pub use oom::{OomEvent, OomWatcher};
pub use stats::{
    BlkioEntry, BlkioStats, CpuSetStats, CpuStats, CpuUsage, Event, HugetlbStats, IntelRdt,
    MemoryEntry, MemoryStats, NetworkInterface, PidsStats, Stats, Throttling,
};

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;

/// Errors of the cgroup layer; each names the file or directory involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the host's mount table failed.
    #[error("failed to read {path}: {source}")]
    MountInfo {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No cgroup filesystem is mounted on this host.
    #[error("no cgroup hierarchy is mounted (checked /proc/self/mountinfo)")]
    NoCgroups,
    /// An operation on a cgroup file or directory failed.
    #[error("failed to {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The cgroup path in the configuration is not usable.
    #[error("invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// The processes of a cgroup did not go away after SIGKILL.
    #[error("processes in cgroup {path} did not exit after SIGKILL")]
    Busy { path: PathBuf },
    /// The systemd cgroup driver was requested.
    #[error("the systemd cgroup driver is requested (--systemd-cgroup) but {0}")]
    Systemd(String),
    /// A `linux.resources` field that is invalid or that this host cannot
    /// honour: `linux.resources.memory.kernel: 1048576: …`.
    #[error("{field}: {value}: {reason}")]
    Resource {
        field: String,
        value: String,
        reason: String,
    },
    /// Loading or attaching the cgroup v2 eBPF device filter failed.
    #[error("failed to {op} the cgroup v2 device filter for {path}: {source}{log}")]
    Bpf {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
        /// The verifier's log, when there is one.
        log: String,
    },
    /// The freezer did not reach the requested state in time.
    #[error("cgroup {path} did not become {state} within {seconds} seconds")]
    Freezer {
        path: PathBuf,
        state: &'static str,
        seconds: u64,
    },
    /// An operation needs a controller that is mounted nowhere.
    #[error("cannot {op}: no {controller} controller in any cgroup hierarchy of this host")]
    NoController {
        op: &'static str,
        controller: &'static str,
    },
    /// A cgroup file had unexpected contents.
    #[error("failed to parse {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
}

/// Result of the cgroup layer.
pub type Result<T> = std::result::Result<T, Error>;

/// What the runtime needs from a cgroup driver.
///
/// Implemented by [`FsManager`] (cgroupfs, v1/v2/hybrid).
///
/// # A systemd driver
///
/// A systemd (D-Bus) driver implements this same trait: `create` asks
/// systemd for a transient scope (`StartTransientUnit` with `Delegate=yes`
/// and the init pid in `PIDs`, so `add_task` is a no-op for init), and once
/// the scope exists every other method delegates to an inner [`FsManager`]
/// built on the scope's path (`/<slice>/<prefix>-<name>.scope`, see
/// [`systemd::SystemdPath::cgroup_path`]); `apply` additionally sets the
/// matching unit properties (`MemoryMax`, `CPUWeight`, …) so systemd does not
/// undo the files on reload; `destroy` stops the unit. The runtime holds a
/// `Box<dyn Manager>` chosen by `--systemd-cgroup`, so nothing else changes.
pub trait Manager {
    /// Creates the cgroup in every hierarchy (parents included).
    fn create(&self) -> Result<()>;
    /// Applies `linux.resources` (all but `devices`, see the crate docs).
    /// Used by `create` and by `update`; `update` passes the full merged
    /// resources, as runc does, so related values (memory and swap, quota
    /// and period) are written in an order the kernel accepts.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// Moves a process into the cgroup in every hierarchy.
    fn add_task(&self, pid: i32) -> Result<()>;
    /// The pids in the cgroup and every cgroup below it, sorted.
    fn pids(&self) -> Result<Vec<i32>>;
    /// Sends `signal` to every process in the cgroup (and below). SIGKILL
    /// uses `cgroup.kill` where the kernel has it.
    fn signal_all(&self, signal: i32) -> Result<()>;
    /// Freezes every process (`pause`): v1 `freezer.state`, else v2
    /// `cgroup.freeze`. Returns once the kernel reports the cgroup frozen.
    fn freeze(&self) -> Result<()>;
    /// Thaws the cgroup (`resume`).
    fn thaw(&self) -> Result<()>;
    /// Whether the cgroup is frozen (the container is paused).
    fn is_frozen(&self) -> Result<bool>;
    /// Usage statistics in the shape of runc's `events --stats`.
    fn stats(&self) -> Result<Stats>;
    /// A watcher for OOM events of the cgroup's memory controller.
    fn oom_events(&self) -> Result<OomWatcher>;
    /// On a pure cgroup v2 host, an `O_PATH|O_DIRECTORY` fd of the container
    /// cgroup for `clone3(CLONE_INTO_CGROUP)`; `None` on v1 and hybrid hosts
    /// (or if the directory cannot be opened), where `add_task` is used.
    fn clone_into_fd(&self) -> Option<OwnedFd>;
    /// Kills everything in the cgroup and removes its directories, the
    /// sub-cgroups included.
    fn destroy(&self) -> Result<()>;
    /// The directories that make up this cgroup, one per hierarchy.
    fn paths(&self) -> Vec<PathBuf>;
}

/// Normalises `linux.cgroupsPath` into an absolute cgroup path.
///
/// An absolute path is used as is; a relative one is placed under the
/// runtime's default parent `/berth`; an empty one becomes `/berth/<id>`.
/// `..` components are refused so a config cannot climb out of the tree.
pub fn resolve_path(cgroups_path: Option<&str>, id: &str) -> Result<String> {
    let raw = cgroups_path.unwrap_or("");
    let joined = if raw.is_empty() {
        format!("/berth/{id}")
    } else if raw.starts_with('/') {
        raw.to_owned()
    } else {
        format!("/berth/{raw}")
    };
    let mut clean = String::new();
    for part in joined.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err(Error::InvalidPath {
                path: raw.to_owned(),
                reason: "must not contain '..'",
            });
        }
        clean.push('/');
        clean.push_str(part);
    }
    if clean.is_empty() {
        return Err(Error::InvalidPath {
            path: raw.to_owned(),
            reason: "must not be the root cgroup",
        });
    }
    Ok(clean)
}

/// Parses a systemd-style `slice:prefix:name` cgroups path.
pub fn is_systemd_path(path: &str) -> bool {
    !path.starts_with('/') && path.split(':').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_is_under_berth() {
        assert_eq!(resolve_path(None, "c1").unwrap(), "/berth/c1");
        assert_eq!(resolve_path(Some(""), "c1").unwrap(), "/berth/c1");
    }

    #[test]
    fn relative_and_absolute_paths() {
        assert_eq!(resolve_path(Some("pods/x"), "c").unwrap(), "/berth/pods/x");
        assert_eq!(resolve_path(Some("/a//b/./c"), "c").unwrap(), "/a/b/c");
    }

    #[test]
    fn climbing_out_is_refused() {
        let err = resolve_path(Some("/a/../../etc"), "c").unwrap_err();
        assert!(err.to_string().contains("/a/../../etc"), "{err}");
        assert!(resolve_path(Some("/"), "c").is_err());
    }

    #[test]
    fn systemd_form() {
        assert!(is_systemd_path("system.slice:berth:abc"));
        assert!(!is_systemd_path("/system.slice/abc"));
    }
}
