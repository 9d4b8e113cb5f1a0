//! The container process's last steps before execve, shared by init and
//! `exec`: oom score, rlimits, groups, uid/gid, capabilities, cwd, umask,
//! no_new_privs, then the program resolved through the container's PATH.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use oci_spec::runtime::{PosixRlimitType, Process};

use crate::capabilities;
use crate::{Error, Result};

/// A compiled seccomp filter for the process, and where its notify fd goes.
pub struct Seccomp<'a> {
    /// The filter, compiled by the parent before the clone.
    pub program: &'a berth_seccomp::Program,
    /// A stream connected to `listenerPath` by the parent, and the
    /// container process state to send with the notify fd.
    pub listener: Option<(std::os::fd::RawFd, Vec<u8>)>,
}

impl Seccomp<'_> {
    fn install(&self) -> Result<()> {
        let notify = self
            .program
            .install()
            .map_err(|e| Error::Init(format!("failed to install the seccomp filter: {e}")))?;
        if let (Some(fd), Some((sock, json))) = (notify, &self.listener) {
            use std::os::fd::{AsFd, FromRawFd};
            // SAFETY: the parent connected this socket for us; we own it now.
            let stream = unsafe { std::os::unix::net::UnixStream::from_raw_fd(*sock) };
            berth_seccomp::send_listener_on(&stream, fd.as_fd(), json).map_err(|e| {
                Error::Init(format!(
                    "failed to send the seccomp notify fd to linux.seccomp.listenerPath: {e}"
                ))
            })?;
        }
        Ok(())
    }
}

/// The container process state the spec defines for `listenerPath`.
pub fn listener_message(state: serde_json::Value, pid: i32, metadata: Option<&str>) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    m.insert("ociVersion".into(), state["ociVersion"].clone());
    m.insert("fds".into(), serde_json::json!(["seccompFd"]));
    m.insert("pid".into(), pid.into());
    if let Some(md) = metadata {
        m.insert("metadata".into(), md.into());
    }
    m.insert("state".into(), state);
    serde_json::Value::Object(m).to_string().into_bytes()
}

/// A program ready to execve.
pub struct Prepared<'a> {
    /// The resolved path of `args[0]`.
    pub program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// A filter to install right before the execve (with noNewPrivileges).
    late_seccomp: Option<Seccomp<'a>>,
}

impl Prepared<'_> {
    /// Installs a late seccomp filter, resets signals and execs; returns
    /// only on failure.
    pub fn exec(&self) -> Error {
        // Before the filter, which may not allow rt_sigaction.
        reset_signals();
        if let Some(s) = &self.late_seccomp {
            if let Err(e) = s.install() {
                return e;
            }
        }
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|c| c.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self.envp.iter().map(|c| c.as_ptr()).collect();
        envp.push(std::ptr::null());
        // SAFETY: NUL-terminated arrays of NUL-terminated strings that outlive the call.
        unsafe { libc::execve(self.program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        Error::Init(format!(
            "exec failed: {}: {}",
            self.program.to_string_lossy(),
            Errno::last()
        ))
    }
}

/// Applies the process attributes to the calling process (which must be
/// inside the container already) and resolves the program.
///
/// Every fd from 3 + `preserve_fds` on, except `keep` (the runtime's own
/// sockets), is closed first: nothing of the caller may be reachable once
/// paths are resolved in the container.
///
/// seccomp goes in as late as possible (runc's order): right before the
/// execve when `noNewPrivileges` is set; otherwise installing needs
/// CAP_SYS_ADMIN, so before the capabilities are dropped.
pub fn prepare<'a>(
    process: &Process,
    preserve_fds: u32,
    keep: &[std::os::fd::RawFd],
    seccomp: Option<Seccomp<'a>>,
) -> Result<Prepared<'a>> {
    crate::sys::close_fds_except(3 + preserve_fds, keep)
        .map_err(Error::sys("close", "inherited fds"))?;
    if let Some(adj) = process.oom_score_adj() {
        crate::sys::write_proc("/proc/self/oom_score_adj", &adj.to_string())
            .map_err(|e| Error::Init(format!("failed to set process.oomScoreAdj to {adj}: {e}")))?;
    }
    for r in process.rlimits().iter().flatten() {
        let res = rlimit_resource(r.typ());
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: valid rlimit struct.
        if unsafe { libc::setrlimit(res, &lim) } != 0 {
            return Err(Error::Init(format!(
                "failed to set process.rlimits {} soft={} hard={}: {}",
                r.typ(),
                r.soft(),
                r.hard(),
                Errno::last()
            )));
        }
    }

    crate::attrs::apply_process(process)?;
    // Before the user and capabilities change, as runc does.
    crate::lsm::apply_exec_labels(process)?;
    let nnp = process.no_new_privileges() == Some(true);
    let late_seccomp = match seccomp {
        Some(s) if !nnp => {
            // Signals are still reset right before the execve, under this
            // filter: resetting now would let a SIGPIPE from a
            // startContainer hook's closed stdin kill init. A profile that
            // denies rt_sigaction keeps what was ignored (as with runc).
            s.install()?;
            None
        }
        other => other,
    };
    // User and capabilities (capabilities(7), "Effect of user ID changes").
    let user = process.user();
    let caps_plan = process
        .capabilities()
        .as_ref()
        .map(capabilities::Plan::new)
        .transpose()?;
    let gids: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| (*g).into())
        .collect();
    // A rootless user namespace mapped without newgidmap has setgroups
    // denied (user_namespaces(7)): then there is nothing to drop, and
    // supplementary groups cannot be set.
    let denied = std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    if denied && !gids.is_empty() {
        return Err(Error::Init(format!(
            "process.user.additionalGids {:?}: setgroups is denied in this rootless user namespace (map several gids with newgidmap)",
            user.additional_gids()
        )));
    }
    if !denied {
        nix::unistd::setgroups(&gids).map_err(Error::sys(
            "setgroups",
            format!("{:?}", user.additional_gids()),
        ))?;
    }
    if let Some(p) = &caps_plan {
        p.apply_bounding()?;
    }
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    let (uid, gid) = (user.uid(), user.gid());
    nix::unistd::setresgid(gid.into(), gid.into(), gid.into())
        .map_err(Error::sys("setresgid", gid))?;
    nix::unistd::setresuid(uid.into(), uid.into(), uid.into())
        .map_err(Error::sys("setresuid", uid))?;
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    if let Some(p) = &caps_plan {
        p.apply_rest()?;
    }
    let cwd = process.cwd();
    if let Err(e) = nix::unistd::chdir(cwd) {
        // runc creates a missing cwd; do it as the container user.
        if e == Errno::ENOENT {
            std::fs::create_dir_all(cwd).map_err(Error::io("create cwd", cwd))?;
            nix::unistd::chdir(cwd).map_err(Error::sys("chdir", cwd.display()))?;
        } else {
            return Err(Error::sys("chdir", cwd.display())(e));
        }
    }
    // The cwd must resolve inside the container (CVE-2024-21626: a cwd
    // like /proc/self/fd/N of a leaked fd lands on the host).
    crate::sys::check_cwd_reachable().map_err(|_| {
        Error::Init(format!(
            "process.cwd {:?} is outside the container's root",
            cwd
        ))
    })?;
    if let Some(mask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    if process.no_new_privileges() == Some(true) {
        // SAFETY: prctl with integer arguments.
        Errno::result(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
            .map_err(Error::sys("set", "no_new_privs"))?;
    }
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|kv| kv.starts_with("HOME=")) {
        // As runc: HOME from the container's /etc/passwd, else "/".
        env.push(format!("HOME={}", home_of(uid)));
    }
    let args = process.args().as_deref().unwrap_or_default();
    let program = lookup(&args[0], &env)?;
    let argv = cstrings(args)?;
    let envp = cstrings(&env)?;
    Ok(Prepared {
        program,
        argv,
        envp,
        late_seccomp,
    })
}

/// The signals ignored (`SIG_IGN`) when the runtime cloned this process,
/// bit `n - 1` for signal `n`, from the parent's /proc/self/status; all
/// ones when unknown. See [`note_ignored_signals`].
static IGNORED_AT_CLONE: AtomicU64 = AtomicU64::new(u64::MAX);

/// Records which signals are ignored, for the child about to be cloned to
/// reset only those (one sigaction instead of ~60): execve itself resets
/// caught signals, and berth changes no disposition between the clone and
/// the execve. Call it in the runtime right before the clone.
pub fn note_ignored_signals() {
    let mask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("SigIgn:"))?;
            u64::from_str_radix(line["SigIgn:".len()..].trim(), 16).ok()
        })
        .unwrap_or(u64::MAX);
    IGNORED_AT_CLONE.store(mask, Ordering::Relaxed);
}

/// Restores default dispositions and an empty mask: the Rust runtime
/// ignores SIGPIPE, and an ignored signal stays ignored across execve.
/// Only signals ignored at the clone need it: an execve resets caught ones.
fn reset_signals() {
    let ignored = IGNORED_AT_CLONE.load(Ordering::Relaxed);
    // SIG_DFL, no flags, no restorer, an empty mask: all zeros in the
    // kernel's struct sigaction whatever its layout (four words at most).
    let dfl = [0u64; 4];
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP || ignored & (1 << (sig - 1)) == 0 {
            continue;
        }
        // The raw call: libc's sigaction refuses its own internal signals
        // (32-34), which glibc's posix_spawn hands to every child ignored,
        // and so to berth when a Rust or C caller spawned it.
        // SAFETY: a valid struct for the kernel to read, no old action.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
    }
    // SAFETY: an empty set from sigemptyset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

fn cstrings(v: &[String]) -> Result<Vec<CString>> {
    v.iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| Error::Init(format!("{s:?} contains a NUL byte")))
        })
        .collect()
}

fn is_executable(p: &Path) -> std::result::Result<(), Errno> {
    let meta =
        std::fs::metadata(p).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    if meta.is_dir() {
        return Err(Errno::EISDIR);
    }
    let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: NUL-terminated path.
    Errno::result(unsafe { libc::access(c.as_ptr(), libc::X_OK) }).map(drop)
}

/// Resolves `process.args[0]` the way Go's exec.LookPath does, with the
/// error texts callers match on (Docker maps them to exit codes 126/127).
fn lookup(arg0: &str, env: &[String]) -> Result<CString> {
    let to_c =
        |p: &str| CString::new(p).map_err(|_| Error::Init(format!("{p:?} contains a NUL byte")));
    if arg0.contains('/') {
        return match is_executable(Path::new(arg0)) {
            Ok(()) => to_c(arg0),
            Err(Errno::ENOENT) => Err(Error::Init(format!(
                "exec: {arg0:?}: stat {arg0}: no such file or directory"
            ))),
            Err(Errno::EACCES) => Err(Error::Init(format!("exec: {arg0:?}: permission denied"))),
            // Go's LookPath (runc 1.1) reports a directory as "permission
            // denied", which Docker maps to exit code 126.
            Err(Errno::EISDIR) => Err(Error::Init(format!("exec: {arg0:?}: permission denied"))),
            Err(e) => Err(Error::Init(format!("exec: {arg0:?}: {e}"))),
        };
    }
    let path = env
        .iter()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{dir}/{arg0}");
        if is_executable(Path::new(&candidate)).is_ok() {
            return to_c(&candidate);
        }
    }
    Err(Error::Init(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    )))
}

/// setrlimit(2)'s resource type: an enum in glibc, an int in musl.
#[cfg(target_env = "gnu")]
type RlimitResource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type RlimitResource = libc::c_int;

fn rlimit_resource(t: PosixRlimitType) -> RlimitResource {
    use PosixRlimitType as R;
    match t {
        R::RlimitCpu => libc::RLIMIT_CPU,
        R::RlimitFsize => libc::RLIMIT_FSIZE,
        R::RlimitData => libc::RLIMIT_DATA,
        R::RlimitStack => libc::RLIMIT_STACK,
        R::RlimitCore => libc::RLIMIT_CORE,
        R::RlimitRss => libc::RLIMIT_RSS,
        R::RlimitNproc => libc::RLIMIT_NPROC,
        R::RlimitNofile => libc::RLIMIT_NOFILE,
        R::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        R::RlimitAs => libc::RLIMIT_AS,
        R::RlimitLocks => libc::RLIMIT_LOCKS,
        R::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        R::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        R::RlimitNice => libc::RLIMIT_NICE,
        R::RlimitRtprio => libc::RLIMIT_RTPRIO,
        R::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// The home directory of `uid` in the container's /etc/passwd, or "/".
fn home_of(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 6 && f[2].parse() == Ok(uid) && !f[5].is_empty())
                    .then(|| f[5].to_owned())
            })
        })
        .unwrap_or_else(|| "/".to_owned())
}
