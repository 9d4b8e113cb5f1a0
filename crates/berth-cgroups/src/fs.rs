//! The cgroupfs driver: writes the cgroup files directly.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Error, Layout, Manager, Result};

/// A container's cgroup on cgroupfs, in every hierarchy of the host.
#[derive(Debug, Clone)]
pub struct FsManager {
    layout: Layout,
    /// The cgroup path, absolute within each hierarchy (`/berth/<id>`).
    path: String,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

impl FsManager {
    /// A manager for `path` (already normalised by [`crate::resolve_path`]).
    pub fn new(layout: Layout, path: &str) -> Self {
        Self {
            layout,
            path: path.to_owned(),
        }
    }

    /// The cgroup path within each hierarchy.
    pub fn cgroup_path(&self) -> &str {
        &self.path
    }

    fn dir(&self, mount_point: &Path) -> PathBuf {
        mount_point.join(self.path.trim_start_matches('/'))
    }

    /// The directory in the hierarchy used to list processes: the unified
    /// one on v2, otherwise the first v1 hierarchy.
    fn procs_dir(&self) -> Option<PathBuf> {
        let h = match self.layout.mode() {
            crate::Mode::V2 => self.layout.unified(),
            _ => self.layout.hierarchies.iter().find(|h| !h.unified),
        }?;
        Some(self.dir(&h.mount_point))
    }

    /// v1 cpuset refuses tasks until `cpuset.cpus` and `cpuset.mems` are
    /// set, and new directories start empty: copy each level from its parent.
    fn init_cpuset(&self, mount_point: &Path) -> Result<()> {
        let mut dir = mount_point.to_path_buf();
        for part in self.path.split('/').filter(|p| !p.is_empty()) {
            let parent = dir.clone();
            dir.push(part);
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let target = dir.join(file);
                let current = std::fs::read_to_string(&target).map_err(io_err("read", &target))?;
                if current.trim().is_empty() {
                    let from = parent.join(file);
                    let value = std::fs::read_to_string(&from).map_err(io_err("read", &from))?;
                    std::fs::write(&target, value.trim()).map_err(io_err("write", &target))?;
                }
            }
        }
        Ok(())
    }
}

impl Manager for FsManager {
    fn create(&self) -> Result<()> {
        for h in &self.layout.hierarchies {
            let dir = self.dir(&h.mount_point);
            std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
            if h.controllers.iter().any(|c| c == "cpuset") {
                self.init_cpuset(&h.mount_point)?;
            }
        }
        Ok(())
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        for h in &self.layout.hierarchies {
            let procs = self.dir(&h.mount_point).join("cgroup.procs");
            std::fs::write(&procs, pid.to_string()).map_err(io_err("write", &procs))?;
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let Some(dir) = self.procs_dir() else {
            return Ok(Vec::new());
        };
        let procs = dir.join("cgroup.procs");
        match std::fs::read_to_string(&procs) {
            Ok(text) => Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::Io {
                op: "read",
                path: procs,
                source: e,
            }),
        }
    }

    fn signal_all(&self, signal: i32) -> Result<()> {
        for pid in self.pids()? {
            // SAFETY: kill(2) takes plain integers; a pid that exited in the
            // meantime gives ESRCH, which is what we want to ignore.
            unsafe { libc::kill(pid, signal) };
        }
        Ok(())
    }

    fn destroy(&self) -> Result<()> {
        // Frozen tasks cannot die: thaw first (v1 freezer).
        if let Some(h) = self.layout.v1("freezer") {
            let state = self.dir(&h.mount_point).join("freezer.state");
            if state.exists() {
                let _ = std::fs::write(&state, "THAWED");
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut delay = Duration::from_micros(200);
        loop {
            self.signal_all(libc::SIGKILL)?;
            let mut busy = None;
            // Remove deepest-first is not needed: the container owns only the
            // leaf, and children made inside it (cgroupns) are removed here.
            for h in &self.layout.hierarchies {
                let dir = self.dir(&h.mount_point);
                if let Err(e) = remove_tree(&dir) {
                    busy = Some((dir, e));
                }
            }
            match busy {
                None => return Ok(()),
                Some((dir, e)) if e.raw_os_error() == Some(libc::EBUSY) => {
                    if Instant::now() > deadline {
                        return Err(Error::Busy { path: dir });
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(50));
                }
                Some((dir, e)) => {
                    return Err(Error::Io {
                        op: "remove",
                        path: dir,
                        source: e,
                    })
                }
            }
        }
    }

    fn is_frozen(&self) -> Result<bool> {
        if let Some(h) = self.layout.v1("freezer") {
            let state = self.dir(&h.mount_point).join("freezer.state");
            return match std::fs::read_to_string(&state) {
                Ok(s) => Ok(s.trim() == "FROZEN"),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                Err(e) => Err(Error::Io {
                    op: "read",
                    path: state,
                    source: e,
                }),
            };
        }
        if let Some(h) = self.layout.unified() {
            let freeze = self.dir(&h.mount_point).join("cgroup.freeze");
            return match std::fs::read_to_string(&freeze) {
                Ok(s) => Ok(s.trim() == "1"),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                Err(e) => Err(Error::Io {
                    op: "read",
                    path: freeze,
                    source: e,
                }),
            };
        }
        Ok(false)
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.layout
            .hierarchies
            .iter()
            .map(|h| self.dir(&h.mount_point))
            .collect()
    }
}

/// Removes a cgroup directory and any child cgroups below it. cgroup
/// directories hold only kernel files, which are removed with the
/// directory, so `rmdir` is the whole job.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        r => r,
    }
}
