//! `create`: from a bundle to an init process blocked on `exec.fifo`, in
//! its namespaces and cgroup, with nothing else left running.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use berth_cgroups::{FsManager, Manager};
use oci_spec::runtime::LinuxNamespaceType;

use crate::bundle::{hook_lists, validate_id, Bundle};
use crate::init::{self, InitArgs};
use crate::state::{self, Locked, Root, State, Status};
use crate::sys::{self, Forked};
use crate::{hooks, Error, Result};

/// Options of `berth create` (and of the create half of `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// `--systemd-cgroup`.
    pub systemd_cgroup: bool,
    /// `--rootless`.
    pub rootless: bool,
    /// With `process.terminal` and no console socket: hand the pty master
    /// back to this process (foreground `run` attaches the caller's tty).
    pub attach_tty: bool,
}

/// A created container whose init is a child of this process.
pub struct Created {
    /// Host pid of init.
    pub pid: i32,
    /// pidfd of init.
    pub pidfd: OwnedFd,
    /// The pty master, when [`CreateOptions::attach_tty`] applied.
    pub pty: Option<OwnedFd>,
}

/// Undoes a failed create: kills init, removes the cgroup and state.
struct Cleanup<'a> {
    child: Option<(i32, OwnedFd)>,
    cgroup: Option<&'a FsManager>,
    locked: Option<Locked>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some((pid, pidfd)) = self.child.take() {
            let _ = sys::pidfd_send_signal(&pidfd, libc::SIGKILL);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.destroy();
        }
        if let Some(l) = self.locked.take() {
            let _ = l.remove();
        }
    }
}

/// New namespaces init makes with unshare(2) rather than the clone: those
/// that need not exist before init runs (user and pid must).
const UNSHARED_BY_INIT: u64 =
    (libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWNS) as u64;

fn clone_flag(t: LinuxNamespaceType) -> i32 {
    use LinuxNamespaceType as T;
    match t {
        T::Mount => libc::CLONE_NEWNS,
        T::Cgroup => libc::CLONE_NEWCGROUP,
        T::Uts => libc::CLONE_NEWUTS,
        T::Ipc => libc::CLONE_NEWIPC,
        T::User => libc::CLONE_NEWUSER,
        T::Pid => libc::CLONE_NEWPID,
        T::Network => libc::CLONE_NEWNET,
        T::Time => libc::CLONE_NEWTIME,
    }
}

fn open_ns(path: &Path) -> Result<OwnedFd> {
    let f = std::fs::File::open(path).map_err(Error::io("open namespace", path))?;
    Ok(OwnedFd::from(f))
}

/// Moves this process's children into the namespace at `fd` for
/// `nstype` (pid and time namespaces apply to children only), and returns
/// an fd to switch back with once init is cloned.
fn enter_for_children(fd: &OwnedFd, nstype: i32, own: &str) -> Result<OwnedFd> {
    let back = open_ns(Path::new(own))?;
    sys::setns(fd.as_raw_fd(), nstype).map_err(Error::sys("join namespace for init", own))?;
    Ok(back)
}

/// Runs `berth create`. On success init waits on `exec.fifo`, state.json
/// and the pid file are written, and init is this process's child.
pub fn create(root: &Root, opts: &CreateOptions) -> Result<Created> {
    validate_id(&opts.id)?;
    let bundle = Bundle::load(&opts.bundle)?;
    crate::trace::phase("config.json loaded and validated");
    let spec = &bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Init("process is missing".into()))?;
    if opts.systemd_cgroup {
        let reason = if Path::new("/run/systemd/system").exists() {
            "the systemd driver is not supported yet".to_owned()
        } else {
            "systemd is not running on this host (no /run/systemd/system)".to_owned()
        };
        return Err(berth_cgroups::Error::Systemd(reason).into());
    }
    if let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .and_then(|p| p.to_str())
        .filter(|p| berth_cgroups::is_systemd_path(p))
    {
        return Err(Error::Config {
            file: bundle.config_path.clone(),
            field: "linux.cgroupsPath".into(),
            reason: format!(
                "{p:?} is in the systemd slice:prefix:name form, which needs --systemd-cgroup"
            ),
        });
    }
    let attach =
        opts.attach_tty && process.terminal() == Some(true) && opts.console_socket.is_none();
    if process.terminal() == Some(true) && opts.console_socket.is_none() && !attach {
        return Err(Error::Init(
            "cannot allocate tty if berth will detach without setting console socket".into(),
        ));
    }
    if process.terminal() != Some(true) && opts.console_socket.is_some() {
        return Err(Error::Init(
            "cannot use console socket if berth will not detach or allocate tty".into(),
        ));
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Init("linux is missing".into()))?;
    let seccomp = linux
        .seccomp()
        .as_ref()
        .map(|p| crate::seccomp::compile(p, &bundle.config_path))
        .transpose()?;
    let seccomp_listener = match (&seccomp, linux.seccomp()) {
        (Some(prog), Some(profile)) if prog.uses_notify() => Some(
            crate::seccomp::connect_listener(profile, &bundle.config_path)?,
        ),
        _ => None,
    };
    let layout = crate::state::host_layout()?;
    let cgroup_path = berth_cgroups::resolve_path(
        linux.cgroups_path().as_ref().and_then(|p| p.to_str()),
        &opts.id,
    )?;
    let cgroup = FsManager::new(layout.clone(), &cgroup_path);

    let locked = root.create(&opts.id)?;
    let mut cleanup = Cleanup {
        child: None,
        cgroup: None,
        locked: Some(locked),
    };
    crate::failpoint::hit("create:state-dir");
    crate::failpoint::hit("create:state-dir");
    let dir = cleanup
        .locked
        .as_ref()
        .map(|l| l.dir.clone())
        .unwrap_or_default();

    let fifo_path = dir.join(state::EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .map_err(Error::sys("mkfifo", fifo_path.display()))?;
    // mkfifo is subject to the umask; the container user must be able to write.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .map_err(Error::io("chmod", &fifo_path))?;
    // nix's open, not std's OpenOptions: std's custom flags lose O_PATH on
    // musl, and a plain open of a fifo blocks until a writer comes.
    let fifo = nix::fcntl::open(
        &fifo_path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map(|fd| {
        // SAFETY: a new fd we own.
        unsafe { OwnedFd::from_raw_fd(fd) }
    })
    .map_err(Error::sys("open", fifo_path.display()))?;

    let mut st = State {
        oci_version: crate::OCI_VERSION.to_owned(),
        id: opts.id.clone(),
        pid: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: state::rfc3339(std::time::SystemTime::now()),
        annotations: spec.annotations().clone(),
        init_start_time: 0,
        cgroup_path: cgroup_path.clone(),
        freezer_state: layout.v1("freezer").map(|h| {
            h.mount_point
                .join(cgroup_path.trim_start_matches('/'))
                .join("freezer.state")
        }),
        systemd_cgroup: opts.systemd_cgroup,
        rootless: opts.rootless,
        own_pid_ns: linux
            .namespaces()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_none()),
        hooks: spec.hooks().clone(),
    };
    // A first state.json before anything is made outside the state dir: if
    // berth is killed from here on, `delete` finds the cgroup to remove.
    if let Some(l) = cleanup.locked.as_ref() {
        l.save(&st)?;
    }
    cleanup.cgroup = Some(&cgroup);
    // With v1 hierarchies init is moved into its cgroup after the clone
    // anyway: then the cgroup is made there too, while init makes its
    // namespaces (~0.3 ms each, on two CPUs at once). On a pure v2 host it
    // must exist first, for CLONE_INTO_CGROUP; rootless, whether it can be
    // made decides how init is set up.
    let defer_cgroup = !opts.rootless && layout.mode() != berth_cgroups::Mode::V2;
    // Once the cgroup exists: its limits and device rules.
    let limit_cgroup = || -> Result<()> {
        crate::trace::phase("cgroup created");
        crate::failpoint::hit("create:cgroup");
        if let Some(resources) = linux.resources() {
            cgroup.apply(resources)?;
            if let Some(rules) = resources.devices() {
                crate::devices::apply(
                    &layout,
                    &cgroup_path,
                    rules,
                    linux.devices().as_deref().unwrap_or_default(),
                )?;
            }
        }
        crate::trace::phase("cgroup limits applied");
        Ok(())
    };
    // Rootless: without a delegated cgroup the container runs in the
    // caller's cgroup, as runc does, unless it asks for limits.
    let use_cgroup = if defer_cgroup {
        true
    } else {
        match cgroup.create() {
            Ok(()) => true,
            Err(e) if opts.rootless && permission_denied(&e) => {
                if let Some(field) = linux.resources().as_ref().and_then(limits_requested) {
                    return Err(Error::Config {
                        file: bundle.config_path.clone(),
                        field: format!("linux.resources.{field}"),
                        reason: format!("rootless: limits need a delegated cgroup, and {e}"),
                    });
                }
                st.cgroup_path = String::new();
                st.freezer_state = None;
                cleanup.cgroup = None;
                if let Some(l) = cleanup.locked.as_ref() {
                    l.save(&st)?;
                }
                false
            }
            Err(e) => return Err(e.into()),
        }
    };
    if use_cgroup && !defer_cgroup {
        limit_cgroup()?;
    }
    let mut pty_socket = None;
    let console: Option<OwnedFd> = match &opts.console_socket {
        Some(p) => Some(crate::tty::connect_console_socket(p)?.into()),
        None if attach => {
            let (ours, theirs) =
                sys::socketpair(nix::sys::socket::SockType::Stream, "pty socketpair")?;
            pty_socket = Some(ours);
            Some(theirs)
        }
        None => None,
    };
    let (parent_sock, child_sock) =
        sys::socketpair(nix::sys::socket::SockType::SeqPacket, "sync socketpair")?;

    // Namespaces: new user and pid namespaces come from the clone; init
    // unshares the other new ones itself once it has joined those given by
    // path (so that, as in runc, they belong to a joined user namespace),
    // while this process moves it into its cgroup. Joined ones are entered
    // by init, except pid and time, which only apply to children and so
    // are entered here around the clone.
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    let mut clone_flags: u64 = 0;
    let mut join: Vec<(i32, OwnedFd)> = Vec::new();
    let mut restore: Vec<(i32, OwnedFd)> = Vec::new();
    let mut new_cgroupns = false;
    let mut new_time = false;
    for ns in namespaces {
        let flag = clone_flag(ns.typ());
        match ns.path() {
            None if flag == libc::CLONE_NEWCGROUP => new_cgroupns = true,
            None if flag == libc::CLONE_NEWTIME => new_time = true,
            None => clone_flags |= flag as u64,
            Some(p) if flag == libc::CLONE_NEWPID => {
                let fd = open_ns(p)?;
                restore.push((flag, enter_for_children(&fd, flag, "/proc/self/ns/pid")?));
            }
            Some(p) if flag == libc::CLONE_NEWTIME => {
                let fd = open_ns(p)?;
                restore.push((flag, enter_for_children(&fd, flag, "/proc/self/ns/time")?));
            }
            Some(p) => join.push((flag, open_ns(p)?)),
        }
    }
    let new_userns = clone_flags & libc::CLONE_NEWUSER as u64 != 0;
    let unshare_flags = clone_flags & UNSHARED_BY_INIT;
    clone_flags &= !UNSHARED_BY_INIT;
    // A joined user namespace first: the others it owns need its privileges.
    join.sort_by_key(|(t, _)| *t != libc::CLONE_NEWUSER);
    if new_time {
        // A time namespace takes its offsets before its first process
        // enters it (time_namespaces(7)): unshare here, write the offsets,
        // and let init be born into it.
        let back = open_ns(Path::new("/proc/self/ns/time"))?;
        nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(
            libc::CLONE_NEWTIME,
        ))
        .map_err(Error::sys("unshare", "time namespace"))?;
        restore.push((libc::CLONE_NEWTIME, back));
        let mut offsets = String::new();
        for (clock, off) in linux.time_offsets().iter().flatten() {
            offsets.push_str(&format!(
                "{clock} {} {}\n",
                off.secs().unwrap_or(0),
                off.nanosecs().unwrap_or(0)
            ));
        }
        if !offsets.is_empty() {
            std::fs::write("/proc/self/timens_offsets", &offsets).map_err(|e| {
                restore_namespaces(&restore);
                Error::Init(format!(
                    "failed to write linux.timeOffsets to /proc/self/timens_offsets: {e}"
                ))
            })?;
        }
    }

    // Idmapped bind mounts are prepared here, with host privileges.
    let mut idmapped: Vec<(usize, OwnedFd)> = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let opts_m = crate::mount_options::parse(
            m.typ().as_deref(),
            m.options().as_deref().unwrap_or_default(),
        )
        .map_err(|b| Error::Init(format!("mounts[{i}].options: {}", b.reason)))?;
        if opts_m.idmap.is_some() || m.uid_mappings().is_some() || m.gid_mappings().is_some() {
            let (uids, gids) = crate::bundle::idmap_mappings(spec, m);
            let src = bundle
                .dir
                .join(m.source().as_deref().unwrap_or(Path::new("")));
            let recursive =
                opts_m.idmap == Some(true) || opts_m.flags.contains(nix::mount::MsFlags::MS_REC);
            idmapped.push((i, crate::idmap::prepare(&src, recursive, &uids, &gids)?));
        }
    }
    let idmapped_raw: Vec<(usize, RawFd)> = idmapped
        .iter()
        .map(|(i, fd)| (*i, fd.as_raw_fd()))
        .collect();
    let join_raw: Vec<(i32, RawFd)> = join.iter().map(|(t, fd)| (*t, fd.as_raw_fd())).collect();
    let cgroup_fd = if use_cgroup {
        cgroup.clone_into_fd()
    } else {
        None
    };
    let await_cgroup = use_cgroup && cgroup_fd.is_none();
    let args = InitArgs {
        bundle: &bundle,
        state: &st,
        sync: child_sock.as_raw_fd(),
        parent_sync: parent_sock.as_raw_fd(),
        lock: cleanup.locked.as_ref().map_or(-1, |l| l.lock_fd()),
        fifo: fifo.as_raw_fd(),
        console: console.as_ref().map(|c| c.as_raw_fd()),
        join: &join_raw,
        new_cgroupns,
        new_userns,
        unshare_flags,
        await_cgroup,
        no_pivot: opts.no_pivot,
        new_keyring: !opts.no_new_keyring,
        idmapped: &idmapped_raw,
        seccomp: seccomp.as_ref(),
        seccomp_listener: seccomp_listener.as_ref().map(|s| s.as_raw_fd()),
        preserve_fds: opts.preserve_fds,
        cgroups: &layout,
        cgroup_path: &st.cgroup_path,
    };
    // On a pure v2 host init is born in its cgroup (CLONE_INTO_CGROUP):
    // no window in the caller's cgroup and no cgroup.procs write.
    if let Some(cpus) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().clone())
    {
        crate::attrs::set_affinity("process.execCPUAffinity.initial", &cpus)?;
    }
    crate::process::note_ignored_signals();
    let forked = sys::clone3(clone_flags, cgroup_fd.as_ref().map(|fd| fd.as_raw_fd()));
    if !matches!(forked, Ok(Forked::Child)) {
        // Only the parent goes back: init must stay where it was born.
        restore_namespaces(&restore);
    }
    let (pid, pidfd) = match forked.map_err(Error::sys("clone", "container init"))? {
        Forked::Child => init::run(&args),
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_sock);
    crate::trace::phase("init cloned");
    crate::failpoint::hit("create:cloned");
    drop(console);
    let pidfd_dup = pidfd.try_clone().map_err(Error::io("dup", "pidfd"))?;
    cleanup.child = Some((pid, pidfd_dup));
    st.pid = pid;

    if new_userns {
        write_id_maps(pid, linux)?;
    }
    let sync = parent_sock.as_raw_fd();
    // If init already failed, its "E" message is still queued: read it.
    let mut go = init::send(sync, format!("G{pid}").as_bytes());
    if await_cgroup {
        // While init makes its namespaces.
        if defer_cgroup {
            cgroup.create()?;
            limit_cgroup()?;
        }
        cgroup.add_task(pid)?;
        if go.is_ok() {
            go = init::send(sync, b"C");
        }
    }
    loop {
        let msg = init::recv(sync).map_err(Error::sys("receive from", "container init"))?;
        if let (Err(e), None) = (go, msg.first()) {
            return Err(Error::sys("send to", "container init")(e));
        }
        match msg.first() {
            Some(b'H') => {
                let json = st.oci_json(Status::Creating).to_string();
                for (kind, list) in hook_lists(spec) {
                    if kind == "prestart" || kind == "createRuntime" {
                        crate::failpoint::hit("create:hooks");
                        hooks::run(kind, list, &json)?;
                    }
                }
                init::send(sync, b"h").map_err(Error::sys("send to", "container init"))?;
            }
            Some(b'R') => {
                crate::trace::phase("init ready: rlimits, user, capabilities, seccomp done");
                crate::failpoint::hit("create:ready");
                break;
            }
            Some(b'E') => return Err(Error::Init(String::from_utf8_lossy(&msg[1..]).into_owned())),
            _ => return Err(Error::Init(init_death(pid))),
        }
    }
    st.init_start_time = match state::proc_status(pid) {
        state::ProcStatus::Alive(t) => t,
        state::ProcStatus::Dead => return Err(Error::Init(init_death(pid))),
    };
    let locked = cleanup
        .locked
        .as_ref()
        .ok_or_else(|| Error::Init("state lost".into()))?;
    let config = locked.dir.join(state::CONFIG_FILE);
    std::fs::write(&config, &bundle.raw).map_err(Error::io("write", &config))?;
    locked.save(&st)?;
    if let Some(p) = &opts.pid_file {
        state::write_pid_file(p, pid)?;
    }
    crate::trace::phase("state and pid file written");
    crate::failpoint::hit("create:state-written");
    // Success: disarm the cleanup; the lock is released on drop.
    cleanup.child = None;
    cleanup.cgroup = None;
    drop(cleanup.locked.take());
    let pty = match pty_socket {
        Some(sock) => Some(crate::tty::recv_fd(&sock)?),
        None => None,
    };
    Ok(Created { pid, pidfd, pty })
}

/// Whether a cgroup error is the host refusing an unprivileged user.
fn permission_denied(e: &berth_cgroups::Error) -> bool {
    matches!(e, berth_cgroups::Error::Io { source, .. }
        if matches!(source.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS)))
}

/// The first resource limit a config asks for (device rules aside).
fn limits_requested(r: &oci_spec::runtime::LinuxResources) -> Option<&'static str> {
    [
        ("memory", r.memory().is_some()),
        ("cpu", r.cpu().is_some()),
        ("pids", r.pids().is_some()),
        ("blockIO", r.block_io().is_some()),
        (
            "hugepageLimits",
            r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()),
        ),
        ("network", r.network().is_some()),
        ("rdma", r.rdma().as_ref().is_some_and(|v| !v.is_empty())),
        (
            "unified",
            r.unified().as_ref().is_some_and(|v| !v.is_empty()),
        ),
    ]
    .into_iter()
    .find(|(_, set)| *set)
    .map(|(name, _)| name)
}

fn restore_namespaces(restore: &[(i32, OwnedFd)]) {
    for (t, fd) in restore.iter().rev() {
        let _ = sys::setns(fd.as_raw_fd(), *t);
    }
}

/// Describes how init died before reporting ready.
fn init_death(pid: i32) -> String {
    match nix::sys::wait::waitpid(
        nix::unistd::Pid::from_raw(pid),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    ) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => {
            format!("container init exited with status {c} during setup")
        }
        Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => {
            format!("container init was killed by {s} during setup")
        }
        _ => "container init exited during setup".to_owned(),
    }
}

/// Writes `/proc/<pid>/{uid,gid}_map` for a new user namespace.
fn write_id_maps(pid: i32, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let fmt = |maps: &[oci_spec::runtime::LinuxIdMapping]| {
        maps.iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    let uids = linux.uid_mappings().as_deref().unwrap_or_default();
    let gids = linux.gid_mappings().as_deref().unwrap_or_default();
    if !nix::unistd::geteuid().is_root() {
        let (own_uid, own_gid) = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        let only_self = |maps: &[oci_spec::runtime::LinuxIdMapping], id: u32| {
            maps.len() == 1 && maps[0].host_id() == id && maps[0].size() == 1
        };
        if only_self(uids, own_uid) && only_self(gids, own_gid) {
            // Mapping just ourselves needs no helper, but setgroups must
            // be denied first (user_namespaces(7)).
            let setgroups = format!("/proc/{pid}/setgroups");
            std::fs::write(&setgroups, "deny").map_err(Error::io("write", &setgroups))?;
        } else {
            // Several ranges: the setuid helpers check /etc/subuid and
            // /etc/subgid for us.
            for (helper, maps) in [("newuidmap", uids), ("newgidmap", gids)] {
                let mut cmd = std::process::Command::new(helper);
                cmd.arg(pid.to_string());
                for m in maps {
                    cmd.args([
                        m.container_id().to_string(),
                        m.host_id().to_string(),
                        m.size().to_string(),
                    ]);
                }
                let out = cmd.output().map_err(|e| {
                    Error::Init(format!("rootless: {helper} is needed to map several id ranges (Debian package uidmap): {e}"))
                })?;
                if !out.status.success() {
                    return Err(Error::Init(format!(
                        "rootless: {helper} {pid} … failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
            }
            return Ok(());
        }
    }
    for (file, text) in [("uid_map", fmt(uids)), ("gid_map", fmt(gids))] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, &text)
            .map_err(|e| Error::Init(format!("failed to write {path} ({:?}): {e}", text.trim())))?;
    }
    Ok(())
}

use std::os::fd::FromRawFd;
