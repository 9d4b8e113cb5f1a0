//! Removing what a caller left behind: processes, mounts and cgroups.
//!
//! Everything here is targeted: processes are chosen by a path or cgroup name that
//! only this test uses, mounts by their place under the test's scratch directory,
//! cgroups by the test's unique name. Nothing is chosen by a program's name.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The pids (other than this process) whose command line or working directory
/// mentions `needle`.
pub(crate) fn pids_mentioning(needle: &str) -> Vec<libc::pid_t> {
    proc_pids()
        .into_iter()
        .filter(|&pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(needle)
                || cwd.to_string_lossy().contains(needle)
        })
        .collect()
}

/// The pids in a cgroup whose path has a component equal to `name`.
pub(crate) fn pids_in_cgroup(name: &str) -> Vec<libc::pid_t> {
    proc_pids()
        .into_iter()
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .unwrap_or_default()
                .lines()
                .filter_map(|line| line.splitn(3, ':').nth(2))
                .any(|path| path.split('/').any(|part| part == name))
        })
        .collect()
}

fn proc_pids() -> Vec<libc::pid_t> {
    let me = std::process::id() as libc::pid_t;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&pid| pid != me)
        .collect()
}

/// SIGKILLs `pids`, then waits up to five seconds for them to be gone (or to be
/// zombies: reaping them is their parent's job).
pub(crate) fn kill_all(pids: &[libc::pid_t]) {
    for &pid in pids {
        // SAFETY: kill(2) on a specific pid.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    crate::wait_until(Duration::from_secs(5), || {
        pids.iter().all(|&pid| !alive(pid))
    });
}

/// Sends `signal` to `pid`.
pub(crate) fn signal(pid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill(2) on a specific pid.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Whether `pid` exists and is not a zombie.
pub(crate) fn alive(pid: libc::pid_t) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Unmounts (lazily) every mount at or below `dir`, deepest first, in this
/// process's mount namespace.
pub(crate) fn unmount_under(dir: &Path) {
    let prefix = dir.to_string_lossy().into_owned();
    for _ in 0..8 {
        let mut targets: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .map(unescape_mount_path)
            .filter(|target| {
                target == &prefix
                    || target
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .collect();
        if targets.is_empty() {
            return;
        }
        targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
        targets.dedup();
        for target in targets {
            let Ok(c) = std::ffi::CString::new(target.clone()) else {
                continue;
            };
            // SAFETY: umount2 with a valid C string.
            let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::EINVAL) {
                    eprintln!("cleanup: umount {target}: {err}");
                }
            }
        }
    }
}

/// Mount points in mountinfo escape space, tab, newline and backslash as `\ooo`.
fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(d)) = (b[i], octal) {
            let value = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
            out.push(value as u8);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup directories named `name` at the top of every hierarchy (each v1
/// controller, the named systemd hierarchy, the unified tree, or the one v2 tree).
pub(crate) fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        return vec![root.join(name)]
            .into_iter()
            .filter(|p| p.is_dir())
            .collect();
    }
    let Ok(dir) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    dir.filter_map(|e| Some(e.ok()?.path().join(name)))
        .filter(|p| p.is_dir())
        .collect()
}

/// Thaws every frozen cgroup named `name` (and below), so that its processes can
/// die: a paused container ignores SIGKILL until it is thawed.
pub(crate) fn thaw_cgroups(name: &str) {
    for top in cgroup_dirs(name) {
        for dir in walk_dirs(&top) {
            let v1 = dir.join("freezer.state");
            if v1.exists() {
                let _ = std::fs::write(&v1, "THAWED");
            }
            let v2 = dir.join("cgroup.freeze");
            if v2.exists() {
                let _ = std::fs::write(&v2, "0");
            }
        }
    }
}

/// Removes every cgroup directory named `name` and everything below it, deepest
/// first, retrying for a few seconds while the last processes exit.
pub(crate) fn remove_cgroups(name: &str) {
    let mut left = Vec::new();
    crate::wait_until(Duration::from_secs(5), || {
        left.clear();
        for top in cgroup_dirs(name) {
            let mut dirs = walk_dirs(&top);
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            for dir in dirs {
                if std::fs::remove_dir(&dir).is_err() && dir.exists() {
                    left.push(dir);
                }
            }
        }
        left.is_empty()
    });
    for dir in left {
        eprintln!("cleanup: cgroup {} is still busy", dir.display());
    }
}

/// `top` and every directory below it.
fn walk_dirs(top: &Path) -> Vec<PathBuf> {
    let mut out = vec![top.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(entries) = std::fs::read_dir(&out[i]) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(entry.path());
                }
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mount_path(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape_mount_path(r"/tmp/x\134y"), r"/tmp/x\y");
        assert_eq!(unescape_mount_path("/plain"), "/plain");
    }
}
