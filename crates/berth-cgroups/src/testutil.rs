//! Helpers for the tests: real cgroups that clean up after themselves, child
//! processes started inside a cgroup, and fake cgroupfs trees.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{FsManager, Hierarchy, Layout, Manager};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A unique cgroup `/berth-test-<pid>-<n>` on this host; dropping it kills
/// its processes and removes it from every hierarchy, also when the test
/// panicked.
pub struct TestCgroup {
    manager: FsManager,
    /// For a nested cgroup, the top-level one, removed after it.
    top: Option<FsManager>,
}

impl TestCgroup {
    /// In every hierarchy of the host.
    pub fn new() -> Self {
        Self::with_layout(Layout::detect().unwrap())
    }

    /// Only in the host's cgroup2 tree, driven as a pure v2 host: the
    /// unified tree here has the core files (freeze, kill, procs), hugetlb,
    /// and takes device programs.
    pub fn unified_only() -> Self {
        let host = Layout::detect().unwrap();
        let unified = host
            .unified()
            .expect("this host has a cgroup2 tree")
            .clone();
        Self::with_layout(Layout {
            hierarchies: vec![unified],
        })
    }

    /// `/berth-test-<pid>-<n>/inner` in every hierarchy: a cgroup whose
    /// parent is not the root, as `/berth/<id>` is.
    pub fn nested() -> Self {
        let layout = Layout::detect().unwrap();
        let top = Self::unique();
        let manager = FsManager::new(layout.clone(), &format!("{top}/inner"));
        let guard = Self {
            manager,
            top: Some(FsManager::new(layout, &top)),
        };
        guard.manager.create().unwrap();
        guard
    }

    fn unique() -> String {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        format!("/berth-test-{}-{n}", std::process::id())
    }

    fn with_layout(layout: Layout) -> Self {
        let manager = FsManager::new(layout, &Self::unique());
        let guard = Self { manager, top: None };
        guard.manager.create().unwrap();
        guard
    }

    pub fn manager(&self) -> &FsManager {
        &self.manager
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for m in std::iter::once(&self.manager).chain(self.top.as_ref()) {
            if let Err(e) = m.destroy() {
                eprintln!("cleaning up {}: {e}", m.cgroup_path());
            }
        }
    }
}

/// Starts `program args` with the child moved into `dirs` (each a cgroup
/// directory) before it execs: writing `0` to `cgroup.procs` moves the
/// writer itself, and open/write/close are async-signal-safe.
pub fn spawn_in(dirs: &[PathBuf], program: &str, args: &[&str]) -> Child {
    let procs: Vec<CString> = dirs
        .iter()
        .map(|d| CString::new(d.join("cgroup.procs").as_os_str().as_encoded_bytes()).unwrap())
        .collect();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and calls
    // only open(2), write(2) and close(2) on paths prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            for p in &procs {
                let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let n = libc::write(fd, b"0".as_ptr().cast(), 1);
                let err = std::io::Error::last_os_error();
                libc::close(fd);
                if n != 1 {
                    return Err(err);
                }
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

/// A `sleep 60` inside `dirs`.
pub fn spawn_sleep(dirs: &[PathBuf]) -> Child {
    spawn_in(dirs, "sleep", &["60"])
}

/// Kills (if still running) and waits for a child.
pub fn reap(mut child: Child) -> ExitStatus {
    let _ = child.kill();
    child.wait().unwrap()
}

/// Waits for a child that is expected to exit by itself.
pub fn wait(mut child: Child) -> ExitStatus {
    child.wait().unwrap()
}

/// A fake cgroupfs in a temporary directory, for the v2 (and hybrid) code
/// paths this host cannot exercise for real. Interface files must be made by
/// the test ([`FakeTree::touch`]); the kernel would make them.
pub struct FakeTree {
    pub root: tempfile::TempDir,
    pub layout: Layout,
}

impl FakeTree {
    /// A pure v2 host whose root offers `controllers`.
    pub fn v2(controllers: &[&str]) -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("cgroup.controllers"),
            controllers.join(" "),
        )
        .unwrap();
        std::fs::write(root.path().join("cgroup.subtree_control"), "").unwrap();
        let layout = Layout {
            hierarchies: vec![Hierarchy {
                mount_point: root.path().to_owned(),
                controllers: Vec::new(),
                unified: true,
            }],
        };
        Self { root, layout }
    }

    /// A hybrid host: the usual v1 hierarchies (no cpuset) plus a cgroup2
    /// tree at `unified` offering `unified_controllers`.
    pub fn hybrid(unified_controllers: &[&str]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let mut hierarchies = Vec::new();
        for c in [
            "cpu", "cpuacct", "memory", "pids", "blkio", "freezer", "devices",
        ] {
            std::fs::create_dir(root.path().join(c)).unwrap();
            hierarchies.push(Hierarchy {
                mount_point: root.path().join(c),
                controllers: vec![c.to_owned()],
                unified: false,
            });
        }
        let unified = root.path().join("unified");
        std::fs::create_dir(&unified).unwrap();
        std::fs::write(
            unified.join("cgroup.controllers"),
            unified_controllers.join(" "),
        )
        .unwrap();
        hierarchies.push(Hierarchy {
            mount_point: unified,
            controllers: Vec::new(),
            unified: true,
        });
        Self {
            root,
            layout: Layout { hierarchies },
        }
    }

    /// Creates `files` (with `content`) in `dir`.
    pub fn touch(dir: &Path, files: &[&str], content: &str) {
        std::fs::create_dir_all(dir).unwrap();
        for f in files {
            std::fs::write(dir.join(f), content).unwrap();
        }
    }
}

/// Reads a cgroup file, trimmed.
pub fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
        .trim()
        .to_owned()
}
