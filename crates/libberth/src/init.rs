//! The container's init process, from the clone to the execve of the
//! user's program. It runs in the cloned child of `berth create`, inside
//! the new namespaces, and talks to the parent over a SOCK_SEQPACKET
//! socket:
//!
//! ```text
//! parent                                  init
//!   clone3 (user, pid) ───────────────────▶ waits for "G"
//!   uid/gid maps, "G<pid>" ───────────────▶ setns, unshare net/ipc/uts/mnt
//!   cgroup (v1: made now), "C" ───────────▶ cgroupns, mounts
//!                                   ◀───── "H" (prestart/createRuntime hooks)
//!   hooks, "h" ───────────────────────────▶ createContainer hooks, pivot_root,
//!                                           console, sysctl, masks, user, caps
//!                                   ◀───── "R" ready (or "E<message>")
//!   pid file, state.json, exit              blocks on exec.fifo until `start`
//! ```
//!
//! Only system calls happen here; the spec was read and checked by the
//! parent before the clone.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use crate::bundle::Bundle;
use crate::rootfs::{self, RootfsContext};
use crate::state::{State, Status};
use crate::{hooks, sys, Error, Result};

/// Everything init needs, prepared by the parent before the clone.
pub struct InitArgs<'a> {
    /// The validated bundle.
    pub bundle: &'a Bundle,
    /// The container state (pid filled in from the parent's "G" message).
    pub state: &'a State,
    /// init's end of the sync socket.
    pub sync: RawFd,
    /// The parent's end of the sync socket, inherited by the clone and
    /// closed at once: then the parent's death is a hangup on `sync`.
    pub parent_sync: RawFd,
    /// The state-dir lock fd inherited from the parent, closed at once.
    pub lock: RawFd,
    /// `O_PATH` fd of `exec.fifo`.
    pub fifo: RawFd,
    /// The connected `--console-socket`, when the process has a terminal.
    pub console: Option<RawFd>,
    /// Namespaces to join: (CLONE_NEW* type, fd).
    pub join: &'a [(i32, RawFd)],
    /// Whether to unshare a cgroup namespace once in the cgroup.
    pub new_cgroupns: bool,
    /// Whether init is in a new user namespace.
    pub new_userns: bool,
    /// New namespaces init unshares itself (CLONE_NEW* flags), after
    /// joining those given by path.
    pub unshare_flags: u64,
    /// Whether the runtime moves init into its cgroup after the clone and
    /// says "C" when done (not when init was born there or has none).
    pub await_cgroup: bool,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// Whether to join a fresh session keyring (not `--no-new-keyring`).
    pub new_keyring: bool,
    /// Idmapped mount trees prepared by the parent: (mount index, fd).
    pub idmapped: &'a [(usize, RawFd)],
    /// The compiled `linux.seccomp` filter.
    pub seccomp: Option<&'a berth_seccomp::Program>,
    /// A stream connected to `linux.seccomp.listenerPath`.
    pub seccomp_listener: Option<RawFd>,
    /// `--preserve-fds`: fds 3..3+N stay open in the container.
    pub preserve_fds: u32,
    /// Host cgroup hierarchies, for `cgroup` mounts.
    pub cgroups: &'a berth_cgroups::Layout,
    /// The container's cgroup path.
    pub cgroup_path: &'a str,
}

/// Sends one message on a SEQPACKET socket.
pub fn send(fd: RawFd, msg: &[u8]) -> std::result::Result<(), Errno> {
    // SAFETY: msg is a valid buffer of the given length.
    let n = unsafe { libc::send(fd, msg.as_ptr().cast(), msg.len(), libc::MSG_NOSIGNAL) };
    Errno::result(n).map(drop)
}

/// Receives one message; an empty vector means the peer closed the socket.
pub fn recv(fd: RawFd) -> std::result::Result<Vec<u8>, Errno> {
    // Room for a long error message, neither zeroed nor touched beyond
    // what arrives: most messages are a byte or two.
    let mut buf: Vec<u8> = Vec::with_capacity(65536);
    loop {
        // SAFETY: the spare capacity is valid for writes of its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.capacity(), 0) };
        match Errno::result(n) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(n) => {
                // SAFETY: recv initialised the first n bytes.
                unsafe { buf.set_len(n as usize) };
                return Ok(buf);
            }
        }
    }
}

/// Makes this child of the runtime die with it while the runtime still
/// manages its setup: arms `PR_SET_PDEATHSIG` (SIGKILL), closes the
/// inherited copy of the runtime's end of the sync socket (`parent_sync`,
/// -1 once done), then fails if that end is already closed.
///
/// Why each part (prctl(2)):
/// - the signal is only sent for a parent that dies after it was armed;
///   a runtime killed right after the clone sent nothing. With our copy of
///   its end closed, its death is a hangup on `sync` (its only other
///   holder is the runtime; the socket is close-on-exec for its hooks), so
///   the poll below catches that window and a later `recv` reads EOF.
///   getppid() cannot tell: in a new pid namespace it is 0 whoever the
///   parent is.
/// - the signal follows the parent *thread*, not the process: berth clones
///   from the thread that then waits on this socket until the child is
///   ready, and no CLONE_PARENT is used, so that thread is the runtime.
/// - the setting is cleared by an execve and by any change of the
///   effective or filesystem uid/gid or entry into another user namespace
///   (commit_creds): call this again after each such change, until the
///   child is handed off and disarms it (`PR_SET_PDEATHSIG` 0) so that it
///   outlives `berth create`, as runc's init does.
pub(crate) fn die_with_runtime(sync: RawFd, parent_sync: RawFd) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    if parent_sync >= 0 {
        // SAFETY: our copy of the parent's end, unused in this process.
        unsafe { libc::close(parent_sync) };
    }
    let mut p = libc::pollfd {
        fd: sync,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a zero timeout never blocks.
    let rc = unsafe { libc::poll(&mut p, 1, 0) };
    if rc > 0 && p.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
        return Err(Error::Init("the runtime exited during setup".into()));
    }
    Ok(())
}

/// Runs init; never returns. Errors go to the parent as "E<message>".
pub fn run(args: &InitArgs<'_>) -> ! {
    let err = match setup(args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = send(args.sync, format!("E{err}").as_bytes());
    // SAFETY: _exit is always safe; no destructors must run in this copy
    // of the parent's address space.
    unsafe { libc::_exit(1) }
}

fn setup(a: &InitArgs<'_>) -> Result<std::convert::Infallible> {
    // Die with the parent while it still manages setup (see
    // `die_with_runtime`), first of all: nothing else matters if it is gone.
    die_with_runtime(a.sync, a.parent_sync)?;
    // SAFETY: closing our copy of the parent's lock fd; nothing else uses it.
    unsafe { libc::close(a.lock) };
    // Until the execve this process is berth's code: keep its /proc files
    // (exe, mem, fd) out of reach of anything in the container without
    // CAP_SYS_PTRACE, so the host binary cannot be reopened and
    // overwritten through /proc/<pid>/exe (CVE-2019-5736). execve of a
    // normal program makes the process dumpable again. An unprivileged
    // parent writes our uid/gid maps, which a non-dumpable process's /proc
    // files (owned by root then) would refuse: rootless, it happens once
    // the maps are written, before anything else can enter the container.
    let rootless_parent = !nix::unistd::geteuid().is_root();
    if !rootless_parent {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    }
    // A parent that died before sending "G" is EOF here.
    let go = recv(a.sync).map_err(Error::sys("receive from", "the runtime"))?;
    if rootless_parent {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    }
    let host_pid: i32 = match go.split_first() {
        Some((b'G', pid)) => std::str::from_utf8(pid)
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0),
        _ => {
            return Err(Error::Init(
                "runtime closed the sync socket during setup".into(),
            ))
        }
    };
    if a.new_userns {
        // Become root of the new user namespace now that maps exist.
        nix::unistd::setresgid(0.into(), 0.into(), 0.into())
            .map_err(Error::sys("setresgid", "0 in the user namespace"))?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into())
            .map_err(Error::sys("setresuid", "0 in the user namespace"))?;
    }
    for (nstype, fd) in a.join {
        if *nstype == libc::CLONE_NEWUSER {
            sys::drop_groups_before_joining_userns().map_err(Error::sys(
                "setgroups",
                "[] before joining the user namespace",
            ))?;
        }
        sys::setns(*fd, *nstype).map_err(Error::sys("join namespace", ns_name(*nstype)))?;
        if *nstype == libc::CLONE_NEWUSER {
            // Our host ids mean nothing there (files we make would fail
            // with EOVERFLOW): become its root, as runc's init does.
            nix::unistd::setresgid(0.into(), 0.into(), 0.into())
                .map_err(Error::sys("setresgid", "0 in the joined user namespace"))?;
            nix::unistd::setresuid(0.into(), 0.into(), 0.into())
                .map_err(Error::sys("setresuid", "0 in the joined user namespace"))?;
        }
    }
    // The uid switch and a joined user namespace are credential changes,
    // which clear the parent-death signal: arm it again. They can also make
    // the process dumpable again (fs.suid_dumpable=1): not until the execve.
    die_with_runtime(a.sync, -1)?;
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if a.unshare_flags != 0 {
        nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(
            a.unshare_flags as i32,
        ))
        .map_err(Error::sys("unshare", "namespaces"))?;
        crate::trace::phase("init: its namespaces made");
    }
    // Everything from here on happens in the container's cgroup: its
    // cgroup namespace, hooks, mounts, device nodes.
    if a.await_cgroup {
        match recv(a.sync)
            .map_err(Error::sys("receive from", "the runtime"))?
            .as_slice()
        {
            b"C" => crate::trace::phase("init: in its cgroup"),
            _ => {
                return Err(Error::Init(
                    "runtime closed the sync socket during setup".into(),
                ))
            }
        }
    }
    if a.new_cgroupns {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(Error::sys("unshare", "cgroup namespace"))?;
    }
    if a.new_keyring {
        join_session_keyring(&a.state.id)?;
    }
    let spec = &a.bundle.spec;
    let mut state = a.state.clone();
    state.pid = host_pid;
    let creating = state.oci_json(Status::Creating).to_string();

    let cx = RootfsContext {
        spec,
        rootfs: &a.bundle.rootfs,
        bundle: &a.bundle.dir,
        cgroup_path: a.cgroup_path,
        cgroups: a.cgroups,
        cgroupns: a.new_cgroupns || a.join.iter().any(|(t, _)| *t == libc::CLONE_NEWCGROUP),
        userns: a.new_userns || a.join.iter().any(|(t, _)| *t == libc::CLONE_NEWUSER),
        idmapped: a.idmapped,
    };
    rootfs::prepare(&cx)?;
    crate::trace::phase("init: mounts and devices done");
    let hook_list = crate::bundle::hook_lists(spec);
    let has = |k: &str| hook_list.iter().any(|(n, h)| *n == k && !h.is_empty());
    if has("prestart") || has("createRuntime") {
        send(a.sync, b"H").map_err(Error::sys("send to", "the runtime"))?;
        match recv(a.sync)
            .map_err(Error::sys("receive from", "the runtime"))?
            .as_slice()
        {
            b"h" => {}
            _ => return Err(Error::Init("runtime aborted during hooks".into())),
        }
    }
    if let Some((_, h)) = hook_list.iter().find(|(n, _)| *n == "createContainer") {
        hooks::run("createContainer", h, &creating)?;
    }
    rootfs::pivot(&a.bundle.rootfs, a.no_pivot)?;
    crate::trace::phase("init: pivot_root done");
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Init("process is missing".into()))?;
    if let Some(sock) = a.console {
        crate::tty::setup_console(sock, process.console_size().as_ref(), true)?;
    }
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(Error::sys("set hostname", h))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        let c =
            CString::new(d).map_err(|_| Error::Init(format!("domainname {d:?} contains NUL")))?;
        // SAFETY: valid buffer and length.
        Errno::result(unsafe { libc::setdomainname(c.as_ptr(), d.len()) })
            .map_err(Error::sys("set domainname", d))?;
    }
    if let Some(linux) = spec.linux() {
        let mut sysctls: Vec<_> = linux.sysctl().iter().flatten().collect();
        sysctls.sort();
        for (k, v) in sysctls {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            sys::write_proc(&path, v)
                .map_err(|e| Error::Init(format!("failed to set sysctl {k}={v}: {path}: {e}")))?;
        }
    }
    rootfs::mask_and_protect(spec)?;
    // The last record from init: the fds it closes next include the log's.
    crate::trace::phase("init: masked and read-only paths done");
    if spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly() == Some(true))
    {
        rootfs::readonly_root()?;
    }
    let seccomp = a.seccomp.map(|program| crate::process::Seccomp {
        program,
        listener: a.seccomp_listener.map(|sock| {
            let metadata = spec
                .linux()
                .as_ref()
                .and_then(|l| l.seccomp().as_ref())
                .and_then(|s| s.listener_metadata().clone());
            (
                sock,
                crate::process::listener_message(
                    state.oci_json(Status::Creating),
                    host_pid,
                    metadata.as_deref(),
                ),
            )
        }),
    });
    if let Some(linux) = spec.linux() {
        crate::attrs::apply_linux(linux)?;
    }
    let mut keep = vec![a.sync, a.fifo];
    keep.extend(a.seccomp_listener);
    let prepared = crate::process::prepare(process, a.preserve_fds, &keep, seccomp)?;

    // Setup is done: stay alive when `berth create` exits.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) };
    sys::cloexec_from(3 + a.preserve_fds)
        .map_err(Error::sys("mark close-on-exec", "inherited fds"))?;
    set_cloexec(a.fifo);
    send(a.sync, b"R").map_err(Error::sys("send to", "the runtime"))?;
    // SAFETY: our end of the sync socket is no longer used.
    unsafe { libc::close(a.sync) };

    // Wait for `start`: the open blocks until it opens the fifo to read.
    let fifo = format!("/proc/self/fd/{}", a.fifo);
    let fifo_c = CString::new(fifo.clone()).map_err(|_| Error::Init("bad fifo path".into()))?;
    // SAFETY: NUL-terminated path.
    let w = unsafe { libc::open(fifo_c.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if w < 0 {
        exit_with(&format!(
            "failed to open exec fifo {fifo}: {}",
            Errno::last()
        ));
    }
    // SAFETY: w is the fd we just opened.
    let w = unsafe { OwnedFd::from_raw_fd(w) };
    // SAFETY: closing our O_PATH copy of the fifo.
    unsafe { libc::close(a.fifo) };
    // `start` keeps reading until this end closes: "0" then EOF at the
    // exec (the fd is close-on-exec) is success; "E<message>" is a failed
    // startContainer hook or exec, which `start` reports.
    if let Some((_, h)) = hook_list.iter().find(|(n, _)| *n == "startContainer") {
        if !h.is_empty() {
            if let Err(e) = hooks::run(
                "startContainer",
                h,
                &state.oci_json(Status::Created).to_string(),
            ) {
                fifo_fail(&w, &e.to_string());
            }
        }
    }
    // SAFETY: one byte from a static buffer.
    if unsafe { libc::write(w.as_raw_fd(), b"0".as_ptr().cast(), 1) } != 1 {
        exit_with(&format!("failed to write exec fifo: {}", Errno::last()));
    }
    let err = prepared.exec();
    fifo_fail(&w, &err.to_string())
}

/// Reports a failure after `start` began: to `start` through the fifo and
/// to the container's stderr, then exits 255.
fn fifo_fail(w: &OwnedFd, msg: &str) -> ! {
    let m = format!("E{msg}");
    // SAFETY: valid buffer; a short or failed write only loses the message.
    unsafe { libc::write(w.as_raw_fd(), m.as_ptr().cast(), m.len()) };
    exit_with(msg)
}

/// After `start` nobody listens on the sync socket: report on stderr, exit 255.
fn exit_with(msg: &str) -> ! {
    let line = format!("berth init: {msg}\n");
    // SAFETY: valid buffer; fd 2 is the container's stderr.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    // SAFETY: always safe.
    unsafe { libc::_exit(255) }
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: fcntl on an fd; failure leaves it as it was.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

fn ns_name(t: i32) -> &'static str {
    match t {
        libc::CLONE_NEWNET => "net",
        libc::CLONE_NEWIPC => "ipc",
        libc::CLONE_NEWUTS => "uts",
        libc::CLONE_NEWCGROUP => "cgroup",
        libc::CLONE_NEWUSER => "user",
        libc::CLONE_NEWNS => "mount",
        libc::CLONE_NEWPID => "pid",
        _ => "time",
    }
}

/// Joins a new session keyring named after the container, so containers
/// do not share the host's keyring (keyrings(7)).
fn join_session_keyring(id: &str) -> Result<()> {
    let name =
        CString::new(format!("_ses.{id}")).map_err(|_| Error::Init("bad keyring name".into()))?;
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl with a NUL-terminated name.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if rc < 0 {
        let e = Errno::last();
        // Kernels without keyrings, or a user namespace that denies it.
        if e != Errno::ENOSYS && e != Errno::EACCES && e != Errno::EDQUOT {
            return Err(Error::sys("join session keyring", name.to_string_lossy())(
                e,
            ));
        }
    }
    Ok(())
}
