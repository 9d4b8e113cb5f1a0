//! Named network namespaces: a fresh netns kept alive by a bind mount on a
//! file, as `ip netns add` does, so that the OCI runtime can join it through
//! the `path` of the config's `network` namespace entry.
//!
//! A namespace is per thread in Linux (setns(2) and unshare(2) act on the
//! calling thread), so every switch happens on a short-lived thread of its
//! own and the caller's threads never change namespace.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{Error, Result};

/// Creates a new network namespace and bind-mounts it on `path` (created,
/// with its parent directories; it must not exist yet). The namespace has
/// only a `lo`, down; [`crate::Networks::connect`] brings it up.
///
/// The namespace lives until [`remove`] and until no process is in it.
pub fn create(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(Error::io(format!(
            "create netns directory {}",
            parent.display()
        )))?;
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)
        .map_err(Error::io(format!("create netns file {}", path.display())))?;
    let made = std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            // The new namespace replaces this thread's only; the thread ends
            // right after, and the bind mount keeps the namespace alive.
            unshare(CloneFlags::CLONE_NEWNET).map_err(Error::sys(format!(
                "create network namespace for {}",
                path.display()
            )))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(Error::sys(format!(
                "bind-mount network namespace on {}",
                path.display()
            )))
        })
        .join()
    });
    match made {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            let _ = fs::remove_file(path);
            Err(e)
        }
        Err(_) => {
            let _ = fs::remove_file(path);
            Err(Error::Io {
                action: format!("create network namespace for {}", path.display()),
                source: std::io::Error::other("thread panicked"),
            })
        }
    }
}

/// Unmounts and deletes a namespace file made by [`create`]. Idempotent: a
/// path that is not mounted or does not exist is fine.
pub fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys(format!("unmount netns {}", path.display()))(e)),
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("remove netns file {}", path.display()))(
            e,
        )),
    }
}

/// Opens a namespace file (or `/proc/PID/ns/net`).
pub(crate) fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(Error::io(format!(
        "open network namespace {}",
        path.display()
    )))
}

/// Runs `f` on a new thread that has joined the network namespace `ns`.
/// Netlink sockets, sockets and `nft` processes made by `f` belong to that
/// namespace.
pub fn run_in<T: Send>(ns: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let file = open(ns)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(Error::sys(format!(
                "join network namespace {}",
                ns.display()
            )))?;
            f()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(Error::Io {
                action: format!("run in network namespace {}", ns.display()),
                source: std::io::Error::other("thread panicked"),
            })
        })
    })
}
