//! What a container can leave on the host, for before/after comparisons.
//!
//! The runtime-spec says a failed operation "MUST leave the state of the environment
//! as if the operation were never attempted" (`runtime.md`, Errors), and `delete`
//! must undo everything `create` did.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// How deep to look for a container's cgroup under each hierarchy. runc uses `/<id>`
/// by default, berth `/berth/<id>`; systemd drivers nest a slice or two deeper.
const CGROUP_DEPTH: usize = 4;

/// A snapshot of what belongs to one container.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Leaks {
    /// Host `/proc/self/mountinfo` lines mentioning the bundle or the state root.
    pub mounts: BTreeSet<String>,
    /// Cgroup directories whose name contains the container id.
    pub cgroups: BTreeSet<PathBuf>,
    /// `pid: cmdline` of live processes whose command line or cgroup names the id, or
    /// whose root or cwd is inside the bundle.
    pub processes: BTreeSet<String>,
    /// The state directory `<root>/<id>`, if it exists.
    pub state_dir: Option<PathBuf>,
}

impl Leaks {
    /// Takes a snapshot for container `id`; `paths` are the test's temp dirs.
    pub fn snapshot(id: &str, paths: &[&Path], state_dir: &Path) -> Self {
        Leaks {
            mounts: mounts_mentioning(paths),
            cgroups: cgroups_named(id),
            processes: processes_of(id, paths),
            state_dir: state_dir.exists().then(|| state_dir.to_path_buf()),
        }
    }

    /// What is in `self` but was not in `before`.
    pub fn new_since(&self, before: &Leaks) -> Leaks {
        Leaks {
            mounts: self.mounts.difference(&before.mounts).cloned().collect(),
            cgroups: self.cgroups.difference(&before.cgroups).cloned().collect(),
            processes: self
                .processes
                .difference(&before.processes)
                .cloned()
                .collect(),
            state_dir: match before.state_dir {
                Some(_) => None,
                None => self.state_dir.clone(),
            },
        }
    }

    /// The pids in [`Leaks::processes`].
    pub fn pids(&self) -> Vec<i32> {
        self.processes
            .iter()
            .filter_map(|p| p.split_once(':').and_then(|(pid, _)| pid.parse().ok()))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty()
            && self.cgroups.is_empty()
            && self.processes.is_empty()
            && self.state_dir.is_none()
    }
}

impl fmt::Display for Leaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for mount in &self.mounts {
            writeln!(f, "  mount: {mount}")?;
        }
        for cgroup in &self.cgroups {
            writeln!(f, "  cgroup: {}", cgroup.display())?;
        }
        for process in &self.processes {
            writeln!(f, "  process: {process}")?;
        }
        if let Some(dir) = &self.state_dir {
            writeln!(f, "  state dir: {}", dir.display())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Leaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn mounts_mentioning(paths: &[&Path]) -> BTreeSet<String> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let needles: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    mountinfo
        .lines()
        .filter(|line| needles.iter().any(|n| line.contains(n.as_str())))
        .map(str::to_string)
        .collect()
}

/// The hierarchies to search: the unified root on a pure cgroup v2 host, else every
/// directory under /sys/fs/cgroup (v1 controllers plus `unified` on hybrid hosts).
fn cgroup_roots() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return vec![base.to_path_buf()];
    }
    let Ok(entries) = fs::read_dir(base) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

fn cgroups_named(id: &str) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    for root in cgroup_roots() {
        walk_cgroups(&root, id, CGROUP_DEPTH, &mut found);
    }
    found
}

fn walk_cgroups(dir: &Path, id: &str, depth: usize, found: &mut BTreeSet<PathBuf>) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        if entry.file_name().to_string_lossy().contains(id) {
            found.insert(path.clone());
        }
        walk_cgroups(&path, id, depth - 1, found);
    }
}

fn processes_of(id: &str, paths: &[&Path]) -> BTreeSet<String> {
    let me = std::process::id().to_string();
    let mut found = BTreeSet::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let dir = entry.path();
        // Zombies are on their way out; whoever they were reparented to reaps them.
        let stat = fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if matches!(state, None | Some("Z") | Some("X")) {
            continue;
        }
        let cmdline = fs::read(dir.join("cmdline"))
            .map(|raw| {
                String::from_utf8_lossy(&raw)
                    .replace('\0', " ")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        let cgroup = fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
        let inside = |link: &str| {
            fs::read_link(dir.join(link))
                .is_ok_and(|target| paths.iter().any(|p| target.starts_with(p)))
        };
        if cmdline.contains(id) || cgroup.contains(id) || inside("root") || inside("cwd") {
            found.insert(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// Lazily detaches every host mount at or below `dir`, deepest first, so removing
/// `dir` cannot recurse into a mount a broken runtime left there (a bind mount of a
/// host directory, say).
pub(crate) fn detach_mounts_under(dir: &Path) {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .map(unescape_mountinfo)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let Ok(c_path) = std::ffi::CString::new(point.as_os_str().as_encoded_bytes()) else {
            continue;
        };
        eprintln!("cleanup: detaching leaked mount {}", point.display());
        // SAFETY: umount2 with a valid NUL-terminated path; no memory is retained.
        unsafe { libc::umount2(c_path.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, …).
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let octal = &field[i + 1..i + 4];
            if let Ok(value) = u8::from_str_radix(octal, 8) {
                out.push(value);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes the (empty) cgroup directories of a container, deepest first.
pub(crate) fn remove_cgroups(cgroups: &BTreeSet<PathBuf>) {
    let mut dirs: Vec<&PathBuf> = cgroups.iter().collect();
    dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for dir in dirs {
        eprintln!("cleanup: removing leaked cgroup {}", dir.display());
        let _ = fs::remove_dir(dir);
    }
}
