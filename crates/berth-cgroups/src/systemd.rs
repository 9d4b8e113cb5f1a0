//! The systemd form of `linux.cgroupsPath` (`slice:prefix:name`) and the
//! check that systemd can be asked at all.
//!
//! A systemd driver is not built in yet; see [`crate::Manager`] for how one
//! plugs in. Until then `--systemd-cgroup` is [`Error::Systemd`], with the
//! reason: no systemd on the host, or no driver.

use std::path::Path;

use crate::{Error, Result};

/// `slice:prefix:name` (runc's systemd cgroupsPath).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdPath {
    /// The parent slice, `system.slice` when empty.
    pub slice: String,
    /// The unit prefix (`berth`, `docker`, `cri-containerd`…).
    pub prefix: String,
    /// The unit name; a name ending in `.slice` names a slice, not a scope.
    pub name: String,
}

impl SystemdPath {
    /// Parses `slice:prefix:name`; `None` for any other form.
    pub fn parse(path: &str) -> Option<Self> {
        if !crate::is_systemd_path(path) {
            return None;
        }
        let mut it = path.split(':');
        let (slice, prefix, name) = (it.next()?, it.next()?, it.next()?);
        if name.is_empty() || [slice, prefix, name].iter().any(|p| p.contains('/')) {
            return None;
        }
        Some(Self {
            slice: if slice.is_empty() {
                "system.slice".to_owned()
            } else {
                slice.to_owned()
            },
            prefix: prefix.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The transient unit systemd would create: `<prefix>-<name>.scope`, or
    /// the slice itself when `name` ends in `.slice`.
    pub fn unit(&self) -> String {
        if self.name.ends_with(".slice") {
            self.name.clone()
        } else if self.prefix.is_empty() {
            format!("{}.scope", self.name)
        } else {
            format!("{}-{}.scope", self.prefix, self.name)
        }
    }

    /// The cgroup path systemd gives the unit: every `-` in a slice name
    /// is a parent slice (`a-b.slice` lives in `a.slice/a-b.slice`,
    /// systemd.slice(5)).
    pub fn cgroup_path(&self) -> String {
        let mut path = String::new();
        let stem = self.slice.trim_end_matches(".slice");
        if stem != "-" && !stem.is_empty() {
            let mut acc = String::new();
            for part in stem.split('-') {
                if !acc.is_empty() {
                    acc.push('-');
                }
                acc.push_str(part);
                path.push('/');
                path.push_str(&acc);
                path.push_str(".slice");
            }
        }
        path.push('/');
        path.push_str(&self.unit());
        path
    }
}

/// Whether systemd runs on this host (sd_booted(3): /run/systemd/system).
pub fn is_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The error for `--systemd-cgroup` on this build: there is no D-Bus
/// driver yet, and on a host without systemd there never could be one.
pub fn unavailable() -> Error {
    Error::Systemd(if is_running() {
        "the systemd driver is not supported yet".to_owned()
    } else {
        "systemd is not running on this host (no /run/systemd/system)".to_owned()
    })
}

/// Checks `--systemd-cgroup` with `cgroups_path`: the path must be in
/// `slice:prefix:name` form and a driver must be available.
pub fn check(cgroups_path: Option<&str>) -> Result<SystemdPath> {
    let raw = cgroups_path.unwrap_or("");
    if !raw.is_empty() && SystemdPath::parse(raw).is_none() {
        return Err(Error::InvalidPath {
            path: raw.to_owned(),
            reason: "with --systemd-cgroup it must be slice:prefix:name",
        });
    }
    Err(unavailable())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_units() {
        let p = SystemdPath::parse("system.slice:docker:abc").unwrap();
        assert_eq!(p.unit(), "docker-abc.scope");
        assert_eq!(p.cgroup_path(), "/system.slice/docker-abc.scope");
        let p = SystemdPath::parse(":berth:x").unwrap();
        assert_eq!(p.slice, "system.slice");
        let p = SystemdPath::parse("kubepods-burstable.slice:cri:y").unwrap();
        assert_eq!(
            p.cgroup_path(),
            "/kubepods.slice/kubepods-burstable.slice/cri-y.scope"
        );
        let p = SystemdPath::parse("-.slice::z.slice").unwrap();
        assert_eq!(p.cgroup_path(), "/z.slice");
        assert!(SystemdPath::parse("/a/b").is_none());
        assert!(SystemdPath::parse("a:b").is_none());
        assert!(SystemdPath::parse("a:b:").is_none());
    }

    #[test]
    fn systemd_flag_is_a_clear_error() {
        // This host has no systemd.
        let err = check(Some("system.slice:berth:c1"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the systemd cgroup driver is requested (--systemd-cgroup) but "),
            "{err}"
        );
        let err = check(Some("/not/systemd")).unwrap_err().to_string();
        assert!(err.contains("slice:prefix:name"), "{err}");
    }
}
