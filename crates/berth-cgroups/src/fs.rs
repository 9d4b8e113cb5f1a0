//! The cgroupfs driver: writes the cgroup files directly.

use std::fmt::Display;
use std::io::{ErrorKind, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::{Error, Layout, Manager, Mode, OomWatcher, Result, Stats};

/// A container's cgroup on cgroupfs, in every hierarchy of the host.
#[derive(Debug, Clone)]
pub struct FsManager {
    layout: Layout,
    /// The cgroup path, absolute within each hierarchy (`/berth/<id>`).
    path: String,
    /// The cgroup2 tree's root `cgroup.controllers`, read once.
    unified_controllers: OnceLock<Vec<String>>,
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// An [`Error::Resource`] for `field` set to `value`.
pub(crate) fn resource_err(
    field: impl Into<String>,
    value: impl Display,
    reason: impl Into<String>,
) -> Error {
    Error::Resource {
        field: field.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// One controller's directory of the container cgroup.
#[derive(Debug, Clone)]
pub(crate) struct Cg {
    pub dir: PathBuf,
    /// Whether the directory is in the cgroup2 tree (v2 file names).
    pub v2: bool,
}

impl Cg {
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.file(name).exists()
    }

    /// Reads a file; a missing file is an error.
    pub fn read(&self, name: &str) -> Result<String> {
        let path = self.file(name);
        std::fs::read_to_string(&path).map_err(io_err("read", &path))
    }

    /// Reads a file; `None` when the kernel does not have it.
    pub fn read_opt(&self, name: &str) -> Result<Option<String>> {
        let path = self.file(name);
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    /// Reads a single-number file; `max` reads as `u64::MAX`.
    pub fn read_u64(&self, name: &str) -> Result<u64> {
        let path = self.file(name);
        let text = self.read(name)?;
        parse_u64(text.trim()).ok_or_else(|| Error::Parse {
            path,
            reason: format!("{:?} is not a number", text.trim()),
        })
    }

    /// Writes `data` to a cgroup file, as one write with `O_TRUNC` and
    /// without `O_CREAT` (cgroupfs cannot create files; a missing file means
    /// the kernel lacks the feature).
    pub fn try_write(&self, name: &str, data: &str) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.file(name))?;
        f.write_all(data.as_bytes())
    }

    /// Writes the value of `field` into `name`; any failure is an
    /// [`Error::Resource`] naming the field, the value and the file.
    pub fn set(&self, name: &str, data: &str, field: &str, value: impl Display) -> Result<()> {
        self.try_write(name, data)
            .map_err(|e| self.write_err(name, data, field, value, e))
    }

    pub fn write_err(
        &self,
        name: &str,
        data: &str,
        field: &str,
        value: impl Display,
        e: std::io::Error,
    ) -> Error {
        let path = self.file(name);
        let reason = if e.kind() == ErrorKind::NotFound {
            if self.dir.exists() {
                format!(
                    "not supported by this host's kernel ({} does not exist)",
                    path.display()
                )
            } else {
                format!("the cgroup {} does not exist", self.dir.display())
            }
        } else {
            format!("failed to write {data:?} to {}: {e}", path.display())
        };
        resource_err(field, value, reason)
    }
}

/// Parses a cgroup number; `max` is `u64::MAX`, negative values (v1 `-1`)
/// are `u64::MAX` too.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse::<u64>()
        .ok()
        .or_else(|| s.parse::<i64>().ok().filter(|v| *v < 0).map(|_| u64::MAX))
}

impl FsManager {
    /// A manager for `path` (already normalised by [`crate::resolve_path`]).
    pub fn new(layout: Layout, path: &str) -> Self {
        Self {
            layout,
            path: path.to_owned(),
            unified_controllers: OnceLock::new(),
        }
    }

    /// The cgroup path within each hierarchy.
    pub fn cgroup_path(&self) -> &str {
        &self.path
    }

    /// The host layout this manager drives.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The container's directory in the cgroup2 tree, if there is one: the
    /// target of [`crate::apply_device_rules_v2`] on v2 hosts.
    pub fn unified_dir(&self) -> Option<PathBuf> {
        self.layout.unified().map(|h| self.dir(&h.mount_point))
    }

    pub(crate) fn dir(&self, mount_point: &Path) -> PathBuf {
        mount_point.join(self.path.trim_start_matches('/'))
    }

    /// The v1 hierarchy of `controller`.
    pub(crate) fn v1(&self, controller: &str) -> Option<Cg> {
        self.layout.v1(controller).map(|h| Cg {
            dir: self.dir(&h.mount_point),
            v2: false,
        })
    }

    /// The cgroup2 directory, if the tree offers `controller` (`None` for
    /// the core files' pseudo-controller `cgroup` means any cgroup2 tree).
    pub(crate) fn v2(&self, controller: Option<&str>) -> Option<Cg> {
        let h = self.layout.unified()?;
        if let Some(c) = controller {
            let available = self
                .unified_controllers
                .get_or_init(|| self.layout.unified_controllers());
            if !available.iter().any(|a| a == c) {
                return None;
            }
        }
        Some(Cg {
            dir: self.dir(&h.mount_point),
            v2: true,
        })
    }

    /// Where `controller` is driven: the v1 hierarchy that has it, else the
    /// cgroup2 tree if it offers it under the name `v2_name`.
    pub(crate) fn locate(&self, v1_name: &str, v2_name: Option<&str>) -> Option<Cg> {
        self.v1(v1_name)
            .or_else(|| v2_name.and_then(|n| self.v2(Some(n))))
    }

    /// [`Self::locate`] for writing `field`: an error naming the field if the
    /// host has no such controller; in the cgroup2 tree the controller is
    /// enabled in every ancestor's `cgroup.subtree_control` first.
    pub(crate) fn locate_for(
        &self,
        v1_name: &str,
        v2_name: Option<&str>,
        field: &str,
        value: impl Display,
    ) -> Result<Cg> {
        let Some(cg) = self.locate(v1_name, v2_name) else {
            let where_ = match v2_name {
                Some(n) if n != v1_name => {
                    format!("no {v1_name} (v1) or {n} (v2) controller on this host")
                }
                Some(_) => format!("no {v1_name} controller on this host, neither v1 nor v2"),
                None => {
                    format!("no {v1_name} controller on this host (it exists only in cgroup v1)")
                }
            };
            return Err(resource_err(field, value, where_));
        };
        if cg.v2 {
            if let Some(name) = v2_name {
                self.enable_v2(name)
                    .map_err(|reason| resource_err(field, &value, reason))?;
            }
        }
        Ok(cg)
    }

    /// Enables `controller` in `cgroup.subtree_control` of every ancestor
    /// of the container cgroup in the cgroup2 tree, top down, so that the
    /// container's directory gets the controller's files (cgroups(7), "Cgroups
    /// v2 subtree control"). The container's own directory is left alone:
    /// enabling there would forbid processes in it.
    pub(crate) fn enable_v2(&self, controller: &str) -> std::result::Result<(), String> {
        let Some(h) = self.layout.unified() else {
            return Err("no cgroup2 hierarchy".into());
        };
        let mut dir = h.mount_point.clone();
        let parts: Vec<&str> = self.path.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let control = dir.join("cgroup.subtree_control");
            let current = std::fs::read_to_string(&control).unwrap_or_default();
            let on = current
                .split_whitespace()
                .any(|c| c.trim_start_matches('+') == controller);
            if !on {
                std::fs::write(&control, format!("+{controller}")).map_err(|e| {
                    format!(
                        "failed to enable the {controller} controller in {}: {e}",
                        control.display()
                    )
                })?;
            }
            dir.push(part);
            if i + 1 == parts.len() {
                break;
            }
            if !dir.exists() {
                return Err(format!("the cgroup {} does not exist", dir.display()));
            }
        }
        Ok(())
    }

    /// The directory in the hierarchy used to list processes: the unified
    /// one on v2, otherwise the first v1 hierarchy.
    fn procs_dir(&self) -> Option<PathBuf> {
        let h = match self.layout.mode() {
            Mode::V2 => self.layout.unified(),
            _ => self.layout.hierarchies.iter().find(|h| !h.unified),
        }?;
        Some(self.dir(&h.mount_point))
    }

    /// v1 cpuset refuses tasks until `cpuset.cpus` and `cpuset.mems` are
    /// set, and new directories start empty (unless the parent has
    /// `cgroup.clone_children`): give each empty level its parent's values,
    /// top down. A level's values are read once and serve as the next
    /// level's parent values; the root's are read only if the first level
    /// is empty. `leaf_created`: the container's own directory was just
    /// made by us, so it gets its parent's values without being read first
    /// (writing them over clone_children's copy changes nothing).
    fn init_cpuset(&self, mount_point: &Path, leaf_created: bool) -> Result<()> {
        const FILES: [&str; 2] = ["cpuset.cpus", "cpuset.mems"];
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map(|v| v.trim().to_owned())
                .map_err(io_err("read", path))
        };
        let read_both = |dir: &Path| -> Result<[String; 2]> {
            Ok([read(&dir.join(FILES[0]))?, read(&dir.join(FILES[1]))?])
        };
        let parts: Vec<&str> = self.path.split('/').filter(|p| !p.is_empty()).collect();
        let mut dir = mount_point.to_path_buf();
        // The parent's values, once known.
        let mut parent: Option<[String; 2]> = None;
        for (n, part) in parts.iter().enumerate() {
            let parent_dir = dir.clone();
            dir.push(part);
            let mut own = if leaf_created && n + 1 == parts.len() {
                [String::new(), String::new()]
            } else {
                read_both(&dir)?
            };
            for i in 0..2 {
                if own[i].is_empty() {
                    if parent.is_none() {
                        parent = Some(read_both(&parent_dir)?);
                    }
                    let value = parent.as_ref().map_or("", |p| p[i].as_str());
                    let target = dir.join(FILES[i]);
                    std::fs::write(&target, value).map_err(io_err("write", &target))?;
                    own[i] = value.to_string();
                }
            }
            parent = Some(own);
        }
        Ok(())
    }

    /// Writes `1` to `cgroup.kill` of the cgroup2 directory (Linux 5.14+),
    /// which kills every process below it atomically, fork bombs included.
    /// `false` when the kernel or host has no such file.
    fn cgroup_kill(&self) -> bool {
        let Some(cg) = self.v2(None) else {
            return false;
        };
        cg.try_write("cgroup.kill", "1").is_ok()
    }
}

/// Every pid in `dir`'s `cgroup.procs` and in those of all its descendants.
fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    match std::fs::read_to_string(&procs) {
        Ok(text) => out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        // The cgroup (or a child) went away while we walked: nothing there.
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("read", &procs)(e)),
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect_pids(&entry.path(), out)?;
        }
    }
    Ok(())
}

impl Manager for FsManager {
    fn create(&self) -> Result<()> {
        for h in &self.layout.hierarchies {
            let dir = self.dir(&h.mount_point);
            // One mkdir when the parent exists, as it usually does.
            let created = match std::fs::create_dir(&dir) {
                Ok(()) => true,
                Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => false,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
                    true
                }
                Err(e) => return Err(io_err("create", &dir)(e)),
            };
            if h.controllers.iter().any(|c| c == "cpuset") {
                self.init_cpuset(&h.mount_point, created)?;
            }
        }
        // On a pure v2 host, make every controller the tree offers available
        // to the container, as runc does: stats (memory.current, io.stat)
        // and `update` need them even when create sets no limit. A controller
        // that cannot be enabled is reported by `apply` when it is used.
        // On hybrid hosts controllers are enabled only on demand, so the
        // host's cgroup2 tree is not changed for containers that do not use it.
        if self.layout.mode() == Mode::V2 {
            let available = self
                .unified_controllers
                .get_or_init(|| self.layout.unified_controllers());
            for c in available {
                let _ = self.enable_v2(c);
            }
        }
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        if let Some(cpu) = resources.cpu() {
            crate::cpu::apply(self, cpu)?;
        }
        if let Some(memory) = resources.memory() {
            crate::memory::apply(self, memory)?;
        }
        if let Some(pids) = resources.pids() {
            crate::pids::apply(self, pids)?;
        }
        if let Some(blkio) = resources.block_io() {
            crate::blkio::apply(self, blkio)?;
        }
        if let Some(limits) = resources.hugepage_limits() {
            crate::hugetlb::apply(self, limits)?;
        }
        if let Some(network) = resources.network() {
            crate::network::apply(self, network)?;
        }
        if let Some(rdma) = resources.rdma() {
            crate::rdma::apply(self, rdma)?;
        }
        // Last, so raw v2 keys override what the fields above wrote, as runc.
        if let Some(unified) = resources.unified() {
            crate::unified::apply(self, unified)?;
        }
        Ok(())
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        for h in &self.layout.hierarchies {
            let procs = self.dir(&h.mount_point).join("cgroup.procs");
            let mut attempt = 0;
            loop {
                match std::fs::write(&procs, pid.to_string()) {
                    Ok(()) => break,
                    // EINVAL can mean the task is still in TASK_NEW (being
                    // forked); runc retries the same way.
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) && attempt < 5 => {
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(30));
                    }
                    Err(e) => return Err(io_err("write", &procs)(e)),
                }
            }
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let Some(dir) = self.procs_dir() else {
            return Ok(Vec::new());
        };
        let mut pids = Vec::new();
        collect_pids(&dir, &mut pids)?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    fn signal_all(&self, signal: i32) -> Result<()> {
        let killed = signal == libc::SIGKILL && self.cgroup_kill();
        if killed && self.layout.mode() == Mode::V2 {
            return Ok(());
        }
        let pids = self.pids()?;
        if pids.is_empty() {
            return Ok(());
        }
        // Freeze around the signals so no process can fork a child we miss
        // (runc's signalAllProcesses); not needed after cgroup.kill, which
        // already reached every process of the cgroup2 tree (on hybrid
        // hosts the pids are still killed one by one, in case a process was
        // put into the v1 hierarchies only). A cgroup that is already frozen
        // (paused) stays frozen; if freezing fails, signal anyway.
        let froze =
            !killed && !self.is_frozen().unwrap_or(true) && crate::freezer::freeze(self).is_ok();
        let pids = if froze { self.pids()? } else { pids };
        for pid in pids {
            // SAFETY: kill(2) takes plain integers; a pid that exited in the
            // meantime gives ESRCH, which is what we want to ignore.
            unsafe { libc::kill(pid, signal) };
        }
        if froze {
            crate::freezer::thaw(self)?;
        }
        Ok(())
    }

    fn freeze(&self) -> Result<()> {
        crate::freezer::freeze(self)
    }

    fn thaw(&self) -> Result<()> {
        crate::freezer::thaw(self)
    }

    fn is_frozen(&self) -> Result<bool> {
        crate::freezer::is_frozen(self)
    }

    fn stats(&self) -> Result<Stats> {
        crate::stats::collect(self)
    }

    fn oom_events(&self) -> Result<OomWatcher> {
        OomWatcher::new(self)
    }

    fn clone_into_fd(&self) -> Option<OwnedFd> {
        if self.layout.mode() != Mode::V2 {
            return None;
        }
        let dir = self.unified_dir()?;
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
        // SAFETY: `c` is a valid NUL-terminated path; open(2) returns a new
        // fd or -1, and nothing else owns the returned fd.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
        Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
    }

    fn destroy(&self) -> Result<()> {
        // The usual case, a container whose processes are all gone and that
        // made no child cgroups: one rmdir per hierarchy. rmdir(2) fails
        // with EBUSY while a task or a child cgroup remains, so nothing
        // alive is skipped; anything left goes the long way below.
        let mut left = false;
        for h in &self.layout.hierarchies {
            match std::fs::remove_dir(self.dir(&h.mount_point)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => left = true,
            }
        }
        if !left {
            return Ok(());
        }
        // Frozen tasks cannot die on v1: thaw first. (v2 lets SIGKILL through
        // cgroup.freeze.) Only here: a cgroup with a task in it, frozen or
        // not, is never removed by the rmdirs above.
        if let Some(cg) = self.v1("freezer") {
            let _ = cg.try_write("freezer.state", "THAWED");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut delay = Duration::from_micros(200);
        loop {
            self.signal_all(libc::SIGKILL)?;
            let mut busy = None;
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

    fn paths(&self) -> Vec<PathBuf> {
        self.layout
            .hierarchies
            .iter()
            .map(|h| self.dir(&h.mount_point))
            .collect()
    }
}

/// Removes a cgroup directory and every child cgroup below it, deepest
/// first. cgroup directories hold only kernel files, which go with the
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, TestCgroup};

    #[test]
    fn parses_numbers() {
        assert_eq!(parse_u64("12"), Some(12));
        assert_eq!(parse_u64("max"), Some(u64::MAX));
        assert_eq!(parse_u64("-1"), Some(u64::MAX));
        assert_eq!(parse_u64("x"), None);
    }

    #[test]
    fn routes_controllers_to_the_hierarchy_that_has_them() {
        let fake = testutil::FakeTree::hybrid(&["hugetlb", "rdma"]);
        let m = FsManager::new(fake.layout.clone(), "/berth/c");
        let mem = m.locate("memory", Some("memory")).unwrap();
        assert!(!mem.v2);
        assert!(mem.dir.ends_with("memory/berth/c"));
        let huge = m.locate("hugetlb", Some("hugetlb")).unwrap();
        assert!(huge.v2);
        assert!(huge.dir.ends_with("unified/berth/c"));
        assert!(m.locate("net_cls", None).is_none());
        assert!(m.locate("misc", Some("misc")).is_none());
    }

    #[test]
    fn enables_controllers_in_ancestors_only() {
        let fake = testutil::FakeTree::v2(&["cpu", "memory", "hugetlb"]);
        let m = FsManager::new(fake.layout.clone(), "/a/b/c");
        m.create().unwrap();
        let root = fake.root.path();
        for dir in ["", "a", "a/b"] {
            let sc = std::fs::read_to_string(root.join(dir).join("cgroup.subtree_control"))
                .unwrap_or_default();
            assert!(sc.contains("hugetlb"), "{dir}: {sc:?}");
        }
        assert!(!root.join("a/b/c/cgroup.subtree_control").exists());
        assert!(m.clone_into_fd().is_some());
    }

    #[test]
    fn hybrid_has_no_clone_into_fd() {
        let fake = testutil::FakeTree::hybrid(&["hugetlb"]);
        let m = FsManager::new(fake.layout.clone(), "/berth/c");
        m.create().unwrap();
        assert!(m.clone_into_fd().is_none());
    }

    #[test]
    fn pids_include_sub_cgroups_and_destroy_removes_them() {
        let cg = TestCgroup::new();
        let m = cg.manager();
        let top = testutil::spawn_sleep(&m.paths());
        // A sub-cgroup in every hierarchy, as a container with its own
        // cgroup namespace may make, with a second process in it.
        let subs: Vec<PathBuf> = m.paths().iter().map(|p| p.join("sub")).collect();
        for s in &subs {
            std::fs::create_dir(s).unwrap();
            if s.starts_with("/sys/fs/cgroup/cpuset") {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let v = std::fs::read_to_string(s.parent().unwrap().join(f)).unwrap();
                    std::fs::write(s.join(f), v.trim()).unwrap();
                }
            }
        }
        let inner = testutil::spawn_sleep(&subs);
        let pids = m.pids().unwrap();
        assert!(pids.contains(&(top.id() as i32)), "{pids:?}");
        assert!(pids.contains(&(inner.id() as i32)), "{pids:?}");
        m.destroy().unwrap();
        for p in m.paths() {
            assert!(!p.exists(), "{} left behind", p.display());
        }
        testutil::reap(top);
        testutil::reap(inner);
    }

    #[test]
    fn signal_all_reaches_every_process() {
        let cg = TestCgroup::new();
        let m = cg.manager();
        let a = testutil::spawn_sleep(&m.paths());
        let b = testutil::spawn_sleep(&m.paths());
        m.signal_all(libc::SIGTERM).unwrap();
        for c in [a, b] {
            let status = testutil::wait(c);
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(libc::SIGTERM));
        }
        // The freeze around the signals was undone.
        assert!(!m.is_frozen().unwrap());
    }

    /// `clone3(CLONE_INTO_CGROUP)` with the fd puts the child straight into
    /// the cgroup (here in this host's cgroup2 tree, driven as pure v2).
    #[test]
    fn clone_into_cgroup_places_the_child() {
        #[repr(C)]
        #[derive(Default)]
        struct CloneArgs {
            flags: u64,
            pidfd: u64,
            child_tid: u64,
            parent_tid: u64,
            exit_signal: u64,
            stack: u64,
            stack_size: u64,
            tls: u64,
            set_tid: u64,
            set_tid_size: u64,
            cgroup: u64,
        }
        const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
        let cg = TestCgroup::unified_only();
        let m = cg.manager();
        let fd = m.clone_into_fd().unwrap();
        let mut args = CloneArgs {
            flags: CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: std::os::fd::AsRawFd::as_raw_fd(&fd) as u64,
            ..Default::default()
        };
        // SAFETY: clone3(2) with a valid clone_args of its size; the child
        // only calls pause(2) and _exit(2), both async-signal-safe.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &mut args as *mut CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if pid == 0 {
            // SAFETY: see above; the child never returns into the test.
            unsafe {
                libc::pause();
                libc::_exit(0);
            }
        }
        assert!(pid > 0, "clone3: {}", std::io::Error::last_os_error());
        let pid = pid as i32;
        let listed = m.pids().unwrap();
        m.signal_all(libc::SIGKILL).unwrap();
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(listed, vec![pid]);
        assert!(libc::WIFSIGNALED(status));
    }

    #[test]
    fn create_gives_new_cpuset_levels_their_parents_values_and_keeps_existing_ones() {
        let cg = TestCgroup::nested();
        let m = cg.manager();
        let Some(leaf) = m.v1("cpuset") else {
            eprintln!("skipped: no v1 cpuset hierarchy");
            return;
        };
        let root = m
            .layout()
            .v1("cpuset")
            .expect("hierarchy")
            .mount_point
            .clone();
        let top = leaf.dir.parent().expect("parent").to_path_buf();
        for dir in [&top, &leaf.dir] {
            for file in ["cpuset.cpus", "cpuset.mems"] {
                assert_eq!(
                    crate::testutil::read(dir, file),
                    crate::testutil::read(&root, file),
                    "{}/{file}",
                    dir.display()
                );
            }
        }
        // A second create finds the leaf existing: a value set there since
        // (a narrower cpu list) is kept, not overwritten by the parent's.
        std::fs::write(leaf.dir.join("cpuset.cpus"), "0").unwrap();
        m.create().unwrap();
        assert_eq!(crate::testutil::read(&leaf.dir, "cpuset.cpus"), "0");
        // And a task can join.
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        m.add_task(child.id() as i32).unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn add_task_moves_into_every_hierarchy() {
        let cg = TestCgroup::new();
        let m = cg.manager();
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        m.add_task(child.id() as i32).unwrap();
        for p in m.paths() {
            let procs = std::fs::read_to_string(p.join("cgroup.procs")).unwrap();
            assert!(
                procs.lines().any(|l| l == child.id().to_string()),
                "{}",
                p.display()
            );
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
