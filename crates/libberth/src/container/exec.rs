//! `exec`: runs a new process in a running container. The process joins
//! every namespace of the container and its cgroup, gets the process
//! attributes (user, capabilities, rlimits, cwd, env) of its own process
//! spec, and is a direct child of this berth process, so the caller (a
//! subreaper such as containerd's shim or conmon) inherits it.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use berth_cgroups::{FsManager, Manager};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::container::status_of;
use crate::init::{recv, send};
use crate::state::{self, proc_status, ProcStatus, Root, Status};
use crate::sys::{self, Forked};
use crate::{foreground, Error, Result};

/// Options of `berth exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Container id.
    pub id: String,
    /// `--process FILE`: a complete OCI process JSON (other process flags are ignored).
    pub process: Option<PathBuf>,
    /// The command and its arguments (without `--process`).
    pub args: Vec<String>,
    /// `-t/--tty`.
    pub tty: bool,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `-d/--detach`.
    pub detach: bool,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--cwd`.
    pub cwd: Option<String>,
    /// `-e/--env`, added to (and overriding) the container's env.
    pub env: Vec<String>,
    /// `-u/--user uid[:gid]`.
    pub user: Option<String>,
    /// `-g/--additional-gids`.
    pub additional_gids: Vec<u32>,
    /// `-c/--cap`: capabilities added to the process.
    pub caps: Vec<String>,
    /// `--no-new-privs`.
    pub no_new_privs: bool,
    /// `--apparmor`.
    pub apparmor: Option<String>,
    /// `--process-label`.
    pub process_label: Option<String>,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// `--cgroup`: a sub-cgroup of the container to run in.
    pub cgroup: Vec<String>,
    /// `--ignore-paused`.
    pub ignore_paused: bool,
}

fn ns_flag(t: LinuxNamespaceType) -> i32 {
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

fn ns_file(t: LinuxNamespaceType) -> &'static str {
    use LinuxNamespaceType as T;
    match t {
        T::Mount => "mnt",
        T::Cgroup => "cgroup",
        T::Uts => "uts",
        T::Ipc => "ipc",
        T::User => "user",
        T::Pid => "pid",
        T::Network => "net",
        T::Time => "time",
    }
}

/// The process to run: `--process` as is, or the container's process with
/// the command-line overrides (runc's `getProcess`).
fn build_process(opts: &ExecOptions, spec: &Spec) -> Result<Process> {
    if let Some(path) = &opts.process {
        let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let p: Process = serde_path_to_error::deserialize(de).map_err(|e| Error::Config {
            file: path.clone(),
            field: e.path().to_string(),
            reason: e.into_inner().to_string(),
        })?;
        let bad = |field: &str, reason: &str| Error::Config {
            file: path.clone(),
            field: field.into(),
            reason: reason.into(),
        };
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(bad("args", "must name the program to run"));
        }
        if !p.cwd().is_absolute() {
            return Err(bad("cwd", "must be an absolute path"));
        }
        return Ok(p);
    }
    let mut p = spec
        .process()
        .clone()
        .ok_or_else(|| Error::Init("the container has no process".into()))?;
    if opts.args.is_empty() {
        return Err(Error::Init("exec needs a command to run".into()));
    }
    p.set_args(Some(opts.args.clone()));
    p.set_terminal(Some(opts.tty));
    if let Some(cwd) = &opts.cwd {
        if !cwd.starts_with('/') {
            return Err(Error::Init(format!(
                "--cwd {cwd:?} must be an absolute path"
            )));
        }
        p.set_cwd(PathBuf::from(cwd));
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &opts.env {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    let mut user = p.user().clone();
    if let Some(u) = &opts.user {
        let (uid, gid) = u
            .split_once(':')
            .map_or((u.as_str(), None), |(a, b)| (a, Some(b)));
        let parse = |s: &str, what: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::Init(format!("--user {u:?}: {what} {s:?} is not a number")))
        };
        user.set_uid(parse(uid, "uid")?);
        if let Some(g) = gid {
            user.set_gid(parse(g, "gid")?);
        }
    }
    if !opts.additional_gids.is_empty() {
        user.set_additional_gids(Some(opts.additional_gids.clone()));
    }
    p.set_user(user);
    if !opts.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &opts.caps {
            let cap: oci_spec::runtime::Capability =
                serde_json::from_value(serde_json::Value::from(name.as_str()))
                    .map_err(|_| Error::Init(format!("--cap: unknown capability {name:?}")))?;
            for set in [
                caps.bounding().clone(),
                caps.effective().clone(),
                caps.permitted().clone(),
            ]
            .iter()
            .enumerate()
            {
                let mut s = set.1.clone().unwrap_or_default();
                s.insert(cap);
                match set.0 {
                    0 => caps.set_bounding(Some(s)),
                    1 => caps.set_effective(Some(s)),
                    _ => caps.set_permitted(Some(s)),
                };
            }
        }
        p.set_capabilities(Some(caps));
    }
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

/// Runs `berth exec`; returns the exit code of the process (0 with `--detach`).
pub fn exec(root: &Root, opts: &ExecOptions) -> Result<i32> {
    let (st, spec, config_path) = {
        let locked = root.lock(&opts.id)?;
        let st = locked.load(&opts.id)?;
        match status_of(&locked, &st) {
            Status::Stopped => {
                return Err(Error::BadStatus(
                    "cannot exec in a stopped container".into(),
                ))
            }
            Status::Paused if !opts.ignore_paused => {
                return Err(Error::BadStatus(
                    "cannot exec in a paused container (use --ignore-paused to override)".into(),
                ))
            }
            _ => {}
        }
        let path = locked.dir.join(state::CONFIG_FILE);
        let bytes = std::fs::read(&path).map_err(Error::io("read", &path))?;
        let spec: Spec = serde_json::from_slice(&bytes).map_err(|e| Error::State {
            id: opts.id.clone(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        (st, spec, path)
    };
    let mut process = build_process(opts, &spec)?;
    if let Some(p) = &opts.apparmor {
        process.set_apparmor_profile(Some(p.clone()));
    }
    if let Some(l) = &opts.process_label {
        process.set_selinux_label(Some(l.clone()));
    }
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !crate::lsm::apparmor_enabled() {
            return Err(lsm_error("AppArmor", "--apparmor", p));
        }
    }
    if let Some(l) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        if !crate::lsm::selinux_enabled() {
            return Err(lsm_error("SELinux", "--process-label", l));
        }
    }
    let terminal = process.terminal() == Some(true);
    if terminal && opts.detach && opts.console_socket.is_none() {
        return Err(Error::Init(
            "cannot allocate tty if berth will detach without setting console socket".into(),
        ));
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(Error::Init(
            "cannot use console socket if berth will not detach or allocate tty".into(),
        ));
    }
    let layout = crate::state::host_layout()?;
    let cgroup = if st.cgroup_path.is_empty() {
        None
    } else {
        Some(FsManager::new(
            layout,
            &sub_cgroup(&st.cgroup_path, &opts.cgroup)?,
        ))
    };
    // The container's seccomp profile applies to exec'd processes too.
    let seccomp_profile = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    let seccomp = seccomp_profile
        .as_ref()
        .map(|p| crate::seccomp::compile(p, &config_path))
        .transpose()?;
    let listener = match (&seccomp, &seccomp_profile) {
        (Some(prog), Some(profile)) if prog.uses_notify() => {
            let sock = crate::seccomp::connect_listener(profile, &config_path)?;
            Some((
                sock,
                st.oci_json(Status::Running),
                profile.listener_metadata().clone(),
            ))
        }
        _ => None,
    };

    // Open init's namespaces while it is verified to be init.
    let pidfd = sys::pidfd_open(st.pid).map_err(|_| Error::NotRunning)?;
    let mut namespaces: Vec<(i32, OwnedFd)> = Vec::new();
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        let path = format!("/proc/{}/ns/{}", st.pid, ns_file(ns.typ()));
        let f = std::fs::File::open(&path).map_err(Error::io("open", &path))?;
        namespaces.push((ns_flag(ns.typ()), f.into()));
    }
    if proc_status(st.pid) != ProcStatus::Alive(st.init_start_time) {
        return Err(Error::NotRunning);
    }
    // The user namespace first: the others are owned by it.
    namespaces.sort_by_key(|(t, _)| {
        if *t == libc::CLONE_NEWUSER {
            0
        } else if *t == libc::CLONE_NEWNS {
            2
        } else {
            1
        }
    });

    let mut pty_socket = None;
    let console: Option<OwnedFd> = match (&opts.console_socket, terminal) {
        (Some(p), true) => Some(crate::tty::connect_console_socket(p)?.into()),
        (None, true) => {
            let (ours, theirs) =
                sys::socketpair(nix::sys::socket::SockType::Stream, "pty socketpair")?;
            pty_socket = Some(ours);
            Some(theirs)
        }
        _ => None,
    };
    let (parent_sock, child_sock) =
        sys::socketpair(nix::sys::socket::SockType::SeqPacket, "sync socketpair")?;

    // Rootless: only the container's user namespace gives the rights to
    // join its other namespaces, so this process enters it first (its
    // host uid for files stays the same).
    if !nix::unistd::geteuid().is_root() {
        if let Some(i) = namespaces
            .iter()
            .position(|(t, _)| *t == libc::CLONE_NEWUSER)
        {
            let (_, fd) = namespaces.remove(i);
            sys::setns(fd.as_raw_fd(), libc::CLONE_NEWUSER).map_err(Error::sys(
                "join user namespace of",
                format!("container {}", opts.id),
            ))?;
        }
    }
    // pid and time namespaces apply to children: enter them here, clone,
    // and come back.
    let mut restore = Vec::new();
    for (t, fd) in &namespaces {
        if *t == libc::CLONE_NEWPID || *t == libc::CLONE_NEWTIME {
            let own = if *t == libc::CLONE_NEWPID {
                "/proc/self/ns/pid"
            } else {
                "/proc/self/ns/time"
            };
            let back: OwnedFd = std::fs::File::open(own)
                .map_err(Error::io("open", own))?
                .into();
            sys::setns(fd.as_raw_fd(), *t).map_err(Error::sys(
                "join namespace of",
                format!("container {}", opts.id),
            ))?;
            restore.push((*t, back));
        }
    }
    if let Some(cpus) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().clone())
    {
        // The spec: the runtime's own process runs on these CPUs until the
        // new process is in the container's cgroup.
        crate::attrs::set_affinity("process.execCPUAffinity.initial", &cpus)?;
    }
    if !opts.detach {
        foreground::block_signals()?;
    }
    crate::process::note_ignored_signals();
    let forked = sys::clone3(0, None);
    if !matches!(forked, Ok(Forked::Child)) {
        for (t, fd) in restore.iter().rev() {
            let _ = sys::setns(fd.as_raw_fd(), *t);
        }
    }
    let (pid, child_pidfd) = match forked.map_err(Error::sys("clone", "exec process"))? {
        Forked::Child => {
            let joins: Vec<(i32, RawFd)> = namespaces
                .iter()
                .filter(|(t, _)| *t != libc::CLONE_NEWPID && *t != libc::CLONE_NEWTIME)
                .map(|(t, fd)| (*t, fd.as_raw_fd()))
                .collect();
            let child = ExecChild {
                sync: child_sock.as_raw_fd(),
                parent_sync: parent_sock.as_raw_fd(),
                joins: &joins,
                console: console.as_ref().map(|c| c.as_raw_fd()),
                process: &process,
                preserve_fds: opts.preserve_fds,
                seccomp: seccomp.as_ref(),
                linux: spec.linux().as_ref(),
                seccomp_listener: listener
                    .as_ref()
                    .map(|(s, state, md)| (s.as_raw_fd(), state, md.as_deref())),
            };
            child.run()
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_sock);
    crate::failpoint::hit("exec:cloned");
    drop(console);
    drop(pidfd);
    let kill_child = |e: Error| {
        let _ = sys::pidfd_send_signal(&child_pidfd, libc::SIGKILL);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        e
    };
    if let Some(cg) = &cgroup {
        cg.add_task(pid).map_err(|e| kill_child(e.into()))?;
    }
    let go = send(parent_sock.as_raw_fd(), format!("G{pid}").as_bytes());
    // The socket closes at the execve (close-on-exec) or carries "E<msg>".
    let msg = recv(parent_sock.as_raw_fd())
        .map_err(|e| kill_child(Error::sys("receive from", "exec process")(e)))?;
    if let Some(text) = msg.strip_prefix(b"E") {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        return Err(Error::Init(String::from_utf8_lossy(text).into_owned()));
    }
    if let Err(e) = go {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        return Err(Error::sys("send to", "exec process")(e));
    }
    let pty = match pty_socket {
        Some(sock) => Some(crate::tty::recv_fd(&sock)?),
        None => None,
    };
    if let Some(p) = &opts.pid_file {
        state::write_pid_file(p, pid)?;
    }
    if opts.detach {
        return Ok(0);
    }
    foreground::wait(pid, &child_pidfd, pty)
}

/// `--cgroup [controllers:]path`: a sub-cgroup of the container's. Only
/// the controller-less form is meaningful with berth's single path per
/// container.
fn sub_cgroup(base: &str, specs: &[String]) -> Result<String> {
    match specs {
        [] => Ok(base.to_owned()),
        [one] if !one.contains(':') => {
            let rel = Path::new(one.trim_start_matches('/'));
            if rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(Error::Init(format!(
                    "--cgroup {one:?}: must be a relative path inside the container's cgroup"
                )));
            }
            Ok(format!("{base}/{}", rel.display()))
        }
        _ => Err(Error::Unsupported(
            "--cgroup with per-controller paths".into(),
        )),
    }
}

/// The error for a label of an LSM that is not active here.
fn lsm_error(lsm: &str, flag: &str, value: &str) -> Error {
    Error::Init(format!(
        "{flag} {value:?}: {lsm} is not enabled on this host"
    ))
}

struct ExecChild<'a> {
    sync: RawFd,
    /// The runtime's end of the sync socket, closed by the child at once.
    parent_sync: RawFd,
    joins: &'a [(i32, RawFd)],
    console: Option<RawFd>,
    process: &'a Process,
    preserve_fds: u32,
    seccomp: Option<&'a berth_seccomp::Program>,
    linux: Option<&'a oci_spec::runtime::Linux>,
    seccomp_listener: Option<(RawFd, &'a serde_json::Value, Option<&'a str>)>,
}

impl ExecChild<'_> {
    fn run(&self) -> ! {
        let err = match self.setup() {
            Ok(never) => match never {},
            Err(e) => e,
        };
        let _ = send(self.sync, format!("E{err}").as_bytes());
        // SAFETY: _exit without running the parent's destructors.
        unsafe { libc::_exit(255) }
    }

    fn setup(&self) -> Result<std::convert::Infallible> {
        // Runtime code in the container until execve: dead if the runtime
        // dies before the handoff, and non-dumpable (CVE-2019-5736).
        crate::init::die_with_runtime(self.sync, self.parent_sync)?;
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        // A runtime that died before sending "G" is EOF here.
        let go = recv(self.sync).map_err(Error::sys("receive from", "the runtime"))?;
        let host_pid: i32 = match go.split_first() {
            Some((b'G', pid)) => std::str::from_utf8(pid)
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            _ => return Err(Error::Init("runtime went away".into())),
        };
        for (t, fd) in self.joins {
            if *t == libc::CLONE_NEWUSER {
                sys::drop_groups_before_joining_userns().map_err(Error::sys(
                    "setgroups",
                    "[] before joining the container's user namespace",
                ))?;
            }
            sys::setns(*fd, *t).map_err(Error::sys("join container namespace", t))?;
        }
        // Entering the container's user namespace is a credential change,
        // which clears the parent-death signal (arm it again) and can make
        // the process dumpable again (make it not).
        crate::init::die_with_runtime(self.sync, -1)?;
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        if let Some(sock) = self.console {
            crate::tty::setup_console(sock, self.process.console_size().as_ref(), false)?;
        }
        let seccomp = self.seccomp.map(|program| crate::process::Seccomp {
            program,
            listener: self.seccomp_listener.map(|(sock, state, md)| {
                (
                    sock,
                    crate::process::listener_message(state.clone(), host_pid, md),
                )
            }),
        });
        if let Some(linux) = self.linux {
            crate::attrs::apply_linux(linux)?;
        }
        let mut keep = vec![self.sync];
        keep.extend(self.seccomp_listener.map(|(fd, _, _)| fd));
        let prepared = crate::process::prepare(self.process, self.preserve_fds, &keep, seccomp)?;
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) };
        sys::cloexec_from(3 + self.preserve_fds)
            .map_err(Error::sys("mark close-on-exec", "inherited fds"))?;
        // The sync socket is close-on-exec: its EOF tells the runtime the
        // execve succeeded.
        Err(prepared.exec())
    }
}
