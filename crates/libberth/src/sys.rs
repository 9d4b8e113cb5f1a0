//! Thin wrappers over the system calls libc and nix do not cover: clone3,
//! pidfd, openat2 and mount_setattr. Every wrapper returns the errno; the
//! callers name the object in their error.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path};

use nix::errno::Errno;

/// `struct clone_args` of clone3(2).
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

/// The result of [`clone3`] in the calling process.
pub enum Forked {
    /// In the parent: the child's pid and a pidfd for it.
    Parent { pid: i32, pidfd: OwnedFd },
    /// In the child.
    Child,
}

/// clone3(2) without a new stack: the child continues here, like fork(2),
/// with `flags` (namespaces) applied and SIGCHLD as exit signal.
///
/// The caller must be single-threaded: the child gets a copy of the address
/// space, and locks held by other threads would stay locked in it.
pub fn clone3(flags: u64, cgroup_fd: Option<RawFd>) -> Result<Forked, Errno> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= 0x2_0000_0000; // CLONE_INTO_CGROUP
        args.cgroup = fd as u64;
    }
    // SAFETY: args is a valid clone_args of the size we pass; with stack 0
    // the child runs on a copy of our stack, as after fork(2). The process
    // is single-threaded (documented precondition).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of_mut!(args),
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match rc {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as i32,
            // SAFETY: the kernel stored a new pidfd that we now own.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// pidfd_open(2).
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: plain integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_send_signal(2): signals exactly the process the pidfd refers to,
/// never a process that reused its pid.
pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> Result<(), Errno> {
    // SAFETY: a valid pidfd, a null siginfo and no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            0usize,
            0,
        )
    };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Waits up to `timeout_ms` (-1: forever) for a pidfd to become readable,
/// i.e. for the process to exit. Returns whether it exited.
pub fn pidfd_wait(pidfd: &OwnedFd, timeout_ms: i32) -> Result<bool, Errno> {
    let mut p = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        match rc {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Errno::last()),
            n => return Ok(n > 0),
        }
    }
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2) of `path` with `root` as the root directory: `..` and
/// absolute symlinks cannot leave it (the defence against symlink races on
/// mount targets, CVE-2021-30465).
pub fn open_in_root(root: &OwnedFd, path: &Path, flags: i32) -> Result<OwnedFd, Errno> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let c = CString::new(rel.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    loop {
        // SAFETY: valid NUL-terminated path and open_how of the size passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            // SAFETY: a new fd we own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        match Errno::last() {
            Errno::EAGAIN | Errno::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// What [`mkdir_all_in_root`] should leave at the last component.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// A directory.
    Dir,
    /// An empty regular file (a bind-mount target for a file).
    File,
}

/// Creates `path` and its missing parents inside `root`, never following a
/// symlink out of it, and returns an `O_PATH` fd of the result. A dangling
/// symlink on the way is followed inside the root and its target created
/// there, as runc (filepath-securejoin) does.
pub fn mkdir_all_in_root(root: &OwnedFd, path: &Path, leaf: Leaf) -> Result<OwnedFd, Errno> {
    mkdir_all_depth(root, path, leaf, 0)
}

fn mkdir_all_depth(root: &OwnedFd, path: &Path, leaf: Leaf, depth: u32) -> Result<OwnedFd, Errno> {
    if let Ok(fd) = open_in_root(root, path, libc::O_PATH) {
        return Ok(fd);
    }
    if depth > 40 {
        return Err(Errno::ELOOP);
    }
    let comps: Vec<_> = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let mut cur = std::path::PathBuf::from("/");
    // The directory `cur` resolved to, once known: the dirfd of the mkdirat
    // below (an O_PATH fd serves as one), so a missing component costs one
    // lookup, not two.
    let mut cur_fd: Option<OwnedFd> = None;
    for (i, c) in comps.iter().enumerate() {
        let next = cur.join(c);
        match open_in_root(root, &next, libc::O_PATH) {
            Ok(fd) => cur_fd = Some(fd),
            Err(Errno::ENOENT) => {
                let parent = match cur_fd.take() {
                    Some(fd) => fd,
                    None => open_in_root(root, &cur, libc::O_PATH | libc::O_DIRECTORY)?,
                };
                let name =
                    CString::new(c.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
                let last = i + 1 == comps.len();
                // SAFETY: valid dirfd and NUL-terminated name; neither call
                // follows a symlink in the last component.
                let rc = unsafe {
                    if last && leaf == Leaf::File {
                        libc::mknodat(parent.as_raw_fd(), name.as_ptr(), libc::S_IFREG | 0o644, 0)
                    } else {
                        libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755)
                    }
                };
                if rc != 0 {
                    if Errno::last() != Errno::EEXIST {
                        return Err(Errno::last());
                    }
                    // Something is there but does not resolve: a dangling
                    // symlink. Create its target, inside the root, instead.
                    let target = nix::fcntl::readlinkat(Some(parent.as_raw_fd()), name.as_c_str())?;
                    let target = Path::new(&target);
                    let mut redirected = if target.is_absolute() {
                        target.to_path_buf()
                    } else {
                        cur.join(target)
                    };
                    for rest in &comps[i + 1..] {
                        redirected.push(rest);
                    }
                    return mkdir_all_depth(root, &redirected, leaf, depth + 1);
                }
            }
            Err(e) => return Err(e),
        }
        cur = next;
    }
    open_in_root(root, path, libc::O_PATH)
}

/// The `/proc/self/fd/N` path of an fd, usable as a mount(2) target: the
/// kernel resolves it to exactly the object the fd holds.
pub fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) with `AT_RECURSIVE` on the mount at `fd`.
pub fn mount_setattr_recursive(fd: &OwnedFd, set: u64, clr: u64) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: valid fd, empty path with AT_EMPTY_PATH, attr of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Makes directory `name` in `dir` (an existing one will do) and opens it
/// `O_PATH`, not following a symlink there.
pub fn mkdir_open_at(dir: &OwnedFd, name: &str) -> Result<OwnedFd, Errno> {
    let c = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: valid dirfd and NUL-terminated name.
    let rc = unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) };
    if rc != 0 && Errno::last() != Errno::EEXIST {
        return Err(Errno::last());
    }
    // SAFETY: valid dirfd and NUL-terminated name; the result is a new fd.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: openat just returned this fd; nothing else owns it.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Drops every supplementary group before a joined user namespace, while
/// still privileged in the caller's: a namespace whose `setgroups` is
/// `deny` would keep them for good, so the container would act with the
/// caller's host groups (root's 0, sudo's…) in its permission checks. An
/// unprivileged caller cannot drop them, and they are only its own.
pub fn drop_groups_before_joining_userns() -> Result<(), Errno> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    nix::unistd::setgroups(&[])
}

/// setns(2) on an fd, for the namespace type `nstype` (a CLONE_NEW* flag).
pub fn setns(fd: RawFd, nstype: i32) -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    Errno::result(unsafe { libc::setns(fd, nstype) }).map(drop)
}

/// close_range(2) with CLOSE_RANGE_CLOEXEC from `first`: every fd from there
/// on is closed by the coming execve, whatever leaked into the process
/// (the CVE-2024-21626 class of leaks).
pub fn cloexec_from(first: u32) -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Closes every fd from `first` on except those in `keep`. Run before
/// anything in the container resolves a path: a leaked fd of the caller
/// (a host directory) would otherwise be reachable as /proc/self/fd/N, for
/// instance as the process's cwd (CVE-2024-21626).
pub fn close_fds_except(first: u32, keep: &[RawFd]) -> Result<(), Errno> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|fd| **fd >= 0)
        .map(|fd| *fd as u32)
        .filter(|fd| *fd >= first)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut from = first;
    for k in keep.into_iter().chain(std::iter::once(u32::MAX)) {
        if k > from {
            // SAFETY: close_range(2) with plain integers.
            let rc = unsafe { libc::syscall(libc::SYS_close_range, from, k - 1, 0) };
            if rc < 0 {
                return Err(Errno::last());
            }
        }
        from = k.saturating_add(1);
    }
    Ok(())
}

/// Fails when the current directory is outside the process's root: the
/// kernel's getcwd(2) reports such a path as "(unreachable)…".
pub fn check_cwd_reachable() -> Result<(), Errno> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: the raw syscall writes at most buf.len() bytes.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if n < 0 {
        return Err(Errno::last());
    }
    if buf.starts_with(b"(unreachable)") {
        return Err(Errno::ENOENT);
    }
    Ok(())
}

const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Writes `value` to a file under /proc, refusing anything that is not
/// procfs itself: no symlink on the way, no other filesystem mounted over a
/// part of the path, and the file must be on procfs. A rootfs or a volume
/// that redirects /proc/sys/… or /proc/self/… cannot turn the runtime's
/// write into a write elsewhere (CVE-2025-52881).
pub fn write_proc(path: &str, value: &str) -> std::io::Result<()> {
    let rel = path
        .strip_prefix("/proc/")
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let proc_root = std::fs::File::open("/proc")?;
    // SAFETY: fstatfs fills a statfs we own.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and buffer.
    if unsafe { libc::fstatfs(proc_root.as_raw_fd(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if st.f_type as i64 != PROC_SUPER_MAGIC {
        return Err(std::io::Error::other("/proc is not procfs"));
    }
    let c = CString::new(rel).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let how = OpenHow {
        flags: (libc::O_WRONLY | libc::O_CLOEXEC | libc::O_TRUNC) as u64,
        mode: 0,
        // /proc/self is a symlink; resolve it to our pid by hand.
        resolve: RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
    };
    let rel_c = if let Some(rest) = rel.strip_prefix("self/") {
        CString::new(format!("{}/{rest}", std::process::id()))
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?
    } else {
        c
    };
    // SAFETY: valid dirfd, NUL-terminated path and open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            proc_root.as_raw_fd(),
            rel_c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new fd we own.
    let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
    std::io::Write::write_all(&mut f, value.as_bytes())
}

/// A close-on-exec unix socket pair of `kind`, named `what` in errors.
pub fn socketpair(
    kind: nix::sys::socket::SockType,
    what: &'static str,
) -> crate::Result<(OwnedFd, OwnedFd)> {
    nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        kind,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .map_err(crate::Error::sys("create", what))
}
