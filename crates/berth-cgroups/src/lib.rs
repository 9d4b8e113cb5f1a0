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
//! in every hierarchy. The [`Manager`] trait is what the runtime uses; the
//! cgroupfs implementation here writes the files directly. A systemd driver
//! (transient scopes over D-Bus) implements the same trait.

mod fs;
mod layout;

pub use fs::FsManager;
pub use layout::{Hierarchy, Layout, Mode};

use std::path::PathBuf;

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
}

/// Result of the cgroup layer.
pub type Result<T> = std::result::Result<T, Error>;

/// What the runtime needs from a cgroup driver.
///
/// Implemented by [`FsManager`] (cgroupfs, v1/v2/hybrid). A systemd driver
/// creates a transient scope over D-Bus and then behaves like cgroupfs for
/// everything else, so the trait stays this small.
pub trait Manager {
    /// Creates the cgroup in every hierarchy (parents included).
    fn create(&self) -> Result<()>;
    /// Moves a process into the cgroup in every hierarchy.
    fn add_task(&self, pid: i32) -> Result<()>;
    /// The pids in the cgroup (from the first hierarchy that has one).
    fn pids(&self) -> Result<Vec<i32>>;
    /// Sends `signal` to every process in the cgroup.
    fn signal_all(&self, signal: i32) -> Result<()>;
    /// Kills everything in the cgroup and removes its directories.
    fn destroy(&self) -> Result<()>;
    /// Whether the cgroup is frozen (the container is paused).
    fn is_frozen(&self) -> Result<bool>;
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
