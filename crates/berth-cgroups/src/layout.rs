//! Detection of the host's cgroup hierarchies from the mount table.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The host's cgroup layout, as the runtime sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only v1 hierarchies.
    V1,
    /// Only the unified v2 hierarchy.
    V2,
    /// v1 controllers plus a cgroup2 tree holding the rest.
    Hybrid,
}

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// v1 controllers (and `name=` for named hierarchies); empty for v2.
    pub controllers: Vec<String>,
    /// Whether this is the cgroup2 hierarchy.
    pub unified: bool,
}

/// Every cgroup hierarchy mounted on the host.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The hierarchies, v1 first in mount order, the unified one last.
    pub hierarchies: Vec<Hierarchy>,
}

impl Layout {
    /// Reads `/proc/self/mountinfo`.
    pub fn detect() -> Result<Self> {
        let path = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(path).map_err(|source| Error::MountInfo {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses mountinfo text (see proc(5)).
    pub fn parse(mountinfo: &str) -> Result<Self> {
        let mut v1 = Vec::new();
        let mut unified = None;
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mut r = right.split(' ');
            let (fstype, _source, super_opts) = (r.next(), r.next(), r.next().unwrap_or(""));
            let Some(mount_point) = left.split(' ').nth(4) else {
                continue;
            };
            let mount_point = PathBuf::from(unescape(mount_point));
            match fstype {
                Some("cgroup") => {
                    let controllers = super_opts
                        .split(',')
                        .filter(|o| {
                            !matches!(*o, "rw" | "ro" | "clone_children" | "noprefix" | "xattr")
                                && !o.starts_with("release_agent=")
                                && !o.starts_with("cpuset_v2_mode")
                        })
                        .map(str::to_owned)
                        .collect::<Vec<_>>();
                    // A hierarchy mounted twice (bind mounts) is used once.
                    if !v1.iter().any(|h: &Hierarchy| h.controllers == controllers) {
                        v1.push(Hierarchy {
                            mount_point,
                            controllers,
                            unified: false,
                        });
                    }
                }
                Some("cgroup2") if unified.is_none() => {
                    unified = Some(Hierarchy {
                        mount_point,
                        controllers: Vec::new(),
                        unified: true,
                    });
                }
                _ => {}
            }
        }
        let mut hierarchies = v1;
        hierarchies.extend(unified);
        if hierarchies.is_empty() {
            return Err(Error::NoCgroups);
        }
        Ok(Self { hierarchies })
    }

    /// Whether the host is v1, v2 or hybrid.
    pub fn mode(&self) -> Mode {
        let has_v1 = self.hierarchies.iter().any(|h| !h.unified);
        let has_v2 = self.hierarchies.iter().any(|h| h.unified);
        match (has_v1, has_v2) {
            (true, true) => Mode::Hybrid,
            (false, true) => Mode::V2,
            _ => Mode::V1,
        }
    }

    /// The v1 hierarchy holding `controller`, if any.
    pub fn v1(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }

    /// The cgroup2 hierarchy, if mounted.
    pub fn unified(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.unified)
    }

    /// The controllers the cgroup2 tree offers (its root's
    /// `cgroup.controllers`); empty without a cgroup2 tree. On a hybrid host
    /// these are the controllers no v1 hierarchy has taken (here `hugetlb`).
    pub fn unified_controllers(&self) -> Vec<String> {
        self.unified()
            .and_then(|h| std::fs::read_to_string(h.mount_point.join("cgroup.controllers")).ok())
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn detects_hybrid() {
        let l = Layout::parse(HYBRID).unwrap();
        assert_eq!(l.mode(), Mode::Hybrid);
        assert_eq!(l.hierarchies.len(), 4);
        assert_eq!(
            l.v1("memory").unwrap().mount_point,
            Path::new("/sys/fs/cgroup/memory")
        );
        assert_eq!(
            l.v1("name=systemd").unwrap().controllers,
            vec!["name=systemd"]
        );
        assert_eq!(
            l.unified().unwrap().mount_point,
            Path::new("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn detects_v2_only() {
        let l = Layout::parse("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n")
            .unwrap();
        assert_eq!(l.mode(), Mode::V2);
    }

    #[test]
    fn no_cgroups_is_an_error() {
        assert!(matches!(
            Layout::parse("1 0 0:1 / / rw - ext4 /dev/vda rw\n"),
            Err(Error::NoCgroups)
        ));
    }

    #[test]
    fn unescapes_spaces() {
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
