//! Idmapped bind mounts (mount_setattr(2) `MOUNT_ATTR_IDMAP`): the files of
//! the source appear in the container with their owners shifted by the
//! mount's `uidMappings`/`gidMappings` (or, when a mount names none, the
//! container's user namespace mappings), so a host directory owned by root
//! is owned by the container's root inside a user namespace.
//!
//! The runtime parent prepares each tree before the clone, with host
//! privileges: a throwaway process in a new user namespace carries the
//! mappings, `open_tree(OPEN_TREE_CLONE)` makes a detached copy of the
//! source, and `mount_setattr` idmaps it with that namespace. init then
//! attaches the tree at its destination with `move_mount`, as runc does.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use oci_spec::runtime::LinuxIdMapping;

use crate::sys::{self, Forked};
use crate::{Error, Result};

const OPEN_TREE_CLONE: u32 = 1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// A user namespace with the given mappings, held by an fd.
fn userns(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd> {
    // The child only waits to be killed; it must not run any Rust code
    // that could take a lock, so it loops on pause(2).
    let (pid, pidfd) = match sys::clone3(libc::CLONE_NEWUSER as u64, None)
        .map_err(Error::sys("clone", "idmap user namespace"))?
    {
        Forked::Child => loop {
            // SAFETY: pause(2) only waits for a signal.
            unsafe { libc::pause() };
        },
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    let result = (|| {
        for (file, text) in [("uid_map", map_text(uids)), ("gid_map", map_text(gids))] {
            let path = format!("/proc/{pid}/{file}");
            std::fs::write(&path, &text).map_err(|e| {
                Error::Init(format!(
                    "failed to write {path} ({:?}) for an idmapped mount: {e}",
                    text.trim()
                ))
            })?;
        }
        let ns = format!("/proc/{pid}/ns/user");
        Ok(OwnedFd::from(
            std::fs::File::open(&ns).map_err(Error::io("open", &ns))?,
        ))
    })();
    let _ = sys::pidfd_send_signal(&pidfd, libc::SIGKILL);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    result
}

/// A detached, idmapped copy of `source` (recursive with `recursive`).
pub fn prepare(
    source: &Path,
    recursive: bool,
    uids: &[LinuxIdMapping],
    gids: &[LinuxIdMapping],
) -> Result<OwnedFd> {
    let ns = userns(uids, gids)?;
    let what = source.display().to_string();
    let c = CString::new(source.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Init(format!("{what:?} contains a NUL byte")))?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: a NUL-terminated path; open_tree returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(Error::sys("clone mount tree of", &what)(Errno::last()));
    }
    // SAFETY: the fd open_tree just returned.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: ns.as_raw_fd() as u64,
    };
    let mut at = libc::AT_EMPTY_PATH;
    if recursive {
        at |= libc::AT_RECURSIVE;
    }
    // SAFETY: the tree fd, an empty path with AT_EMPTY_PATH and a mount_attr of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            at,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(Error::sys("idmap mount of", &what)(Errno::last()));
    }
    Ok(tree)
}

/// Attaches a prepared tree on `target` (an O_PATH fd inside the rootfs).
pub fn attach(tree: &OwnedFd, target: &OwnedFd, what: &str) -> Result<()> {
    // SAFETY: two valid fds and empty paths with the EMPTY_PATH flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(rc)
        .map(drop)
        .map_err(Error::sys("attach idmapped mount", what))
}
