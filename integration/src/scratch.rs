//! A private directory for one caller, and the unique name that tags everything
//! the caller makes outside it (containerd namespace, cgroup parent).

use std::path::{Path, PathBuf};

use crate::cleanup;

/// `/tmp/bit-<tag>-<pid>-<n>`: sockets, roots, state and logs of one caller.
///
/// On drop, after the caller's guard has stopped the caller: thaws and kills every
/// process in a cgroup named [`Scratch::name`] or whose command line or working
/// directory mentions the directory, unmounts everything below the directory,
/// removes the cgroups named [`Scratch::name`] and deletes the directory.
pub struct Scratch {
    name: String,
    dir: PathBuf,
    keep: bool,
}

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let name = crate::unique_name(tag);
        let dir = std::env::temp_dir().join(&name);
        // A leftover from an earlier run with the same pid: not ours any more.
        if dir.exists() {
            cleanup::unmount_under(&dir);
            let _ = std::fs::remove_dir_all(&dir);
        }
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("create scratch dir {}: {e}", dir.display()));
        Scratch {
            name,
            dir,
            keep: std::env::var_os("BERTH_IT_KEEP").is_some(),
        }
    }

    /// A name no other test uses: `bit-<tag>-<pid>-<n>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/<rel>`.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Creates `<dir>/<rel>` and returns it.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.join(rel);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        path
    }

    /// Writes `<dir>/<rel>` and returns its path.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.join(rel);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Kills every process tied to this scratch: in a cgroup named after it, or
    /// mentioning its directory. Paused (frozen) cgroups are thawed first.
    pub(crate) fn kill_processes(&self) {
        cleanup::thaw_cgroups(&self.name);
        let mut pids = cleanup::pids_in_cgroup(&self.name);
        pids.extend(cleanup::pids_mentioning(&self.dir.to_string_lossy()));
        pids.sort_unstable();
        pids.dedup();
        if !pids.is_empty() {
            cleanup::kill_all(&pids);
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.kill_processes();
        cleanup::unmount_under(&self.dir);
        cleanup::remove_cgroups(&self.name);
        if self.keep {
            eprintln!("BERTH_IT_KEEP: keeping {}", self.dir.display());
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("cleanup: remove {}: {e}", self.dir.display());
        }
    }
}
