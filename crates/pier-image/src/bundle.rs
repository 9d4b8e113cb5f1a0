//! Image config + run options → OCI runtime config (`config.json`).
//!
//! Follows the image spec's conversion (`conversion.md`: Entrypoint/Cmd,
//! Env, WorkingDir, User, StopSignal) and gives a container what `docker
//! run` gives it by default: Docker's capability set and seccomp profile,
//! its masked and read-only paths, its `/dev` and device allow-list, and
//! `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` bind-mounted from
//! the container's own directory.

use crate::snapshot::Image;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Errors making a runtime config.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--user` names a user the image's /etc/passwd does not have
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoSuchUser(String),
    /// `--user` names a group the image's /etc/group does not have
    #[error("unable to find group {0}: no matching entries in group file")]
    NoSuchGroup(String),
    /// the image or the options leave nothing to run
    #[error("no command specified")]
    NoCommand,
    /// an option has a value that cannot be used
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        /// The option.
        field: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// reading a file of the image failed
    #[error("failed to read {path} in the container's rootfs: {source}")]
    Read {
        /// Path inside the rootfs.
        path: String,
        /// The error.
        source: io::Error,
    },
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

/// A mount the user asked for (`-v`, `--mount`, `--tmpfs`), resolved to a
/// host source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Host path for binds and volumes; empty for tmpfs.
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub readonly: bool,
    /// Extra mount options (`rshared`, `size=64m`, ...).
    pub options: Vec<String>,
}

/// A resource limit (`--ulimit name=soft[:hard]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// `nofile`, `nproc`, ...
    pub name: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

impl Ulimit {
    /// Parses Docker's `name=soft[:hard]`.
    pub fn parse(s: &str) -> Result<Ulimit> {
        let bad = |reason: &str| Error::Invalid {
            field: "--ulimit",
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let (name, vals) = s
            .split_once('=')
            .ok_or_else(|| bad("want name=soft[:hard]"))?;
        if !ULIMITS.contains(&name) {
            return Err(bad(&format!("unknown limit {name:?}")));
        }
        let num = |v: &str| {
            if v == "-1" || v == "unlimited" {
                Ok(u64::MAX)
            } else {
                v.parse::<u64>()
                    .map_err(|_| bad(&format!("{v:?} is not a number")))
            }
        };
        let (soft, hard) = match vals.split_once(':') {
            Some((s, h)) => (num(s)?, num(h)?),
            None => (num(vals)?, num(vals)?),
        };
        if soft > hard {
            return Err(bad("soft limit is above the hard limit"));
        }
        Ok(Ulimit {
            name: name.to_string(),
            soft,
            hard,
        })
    }
}

const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

/// What the container's network namespace is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetNs {
    /// The host's (`--network host`).
    Host,
    /// A new, empty one (`--network none`).
    #[default]
    New,
    /// One prepared by the caller (bridge networks).
    Path(PathBuf),
}

/// The seccomp choice (`--security-opt seccomp=`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum Seccomp {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// An OCI `linux.seccomp` object read from a file at create time.
    Profile(Value),
}

/// Everything `docker run` lets a user say about the container, kept with
/// the container so each start makes the same config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// `--entrypoint` (`Some(empty)` clears the image's).
    pub entrypoint: Option<Vec<String>>,
    /// The command after the image name (replaces the image's Cmd).
    pub cmd: Vec<String>,
    /// `-e`/`--env-file`, `KEY=VALUE`, over the image's.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `-h` (default: the short id).
    pub hostname: String,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub stdin: bool,
    /// `--read-only`.
    pub read_only: bool,
    /// `--privileged`.
    pub privileged: bool,
    /// `--cap-add` (`CAP_` prefix optional, `ALL`).
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--security-opt seccomp=`.
    pub seccomp: Seccomp,
    /// `--memory` in bytes.
    pub memory: Option<i64>,
    /// `--memory-swap` in bytes (-1 unlimited).
    pub memory_swap: Option<i64>,
    /// `--memory-reservation` in bytes: the soft limit reclaim aims for.
    #[serde(default)]
    pub memory_reservation: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--ulimit`.
    pub ulimits: Vec<Ulimit>,
    /// `-v`, `--mount`, `--tmpfs`.
    pub mounts: Vec<MountSpec>,
    /// `--sysctl`.
    pub sysctls: BTreeMap<String, String>,
    /// `--init`.
    pub init: bool,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds.
    pub stop_timeout: Option<u64>,
    /// `-l`.
    pub labels: BTreeMap<String, String>,
    /// The network namespace.
    pub netns: NetNs,
}

/// Files and paths of one container that the config points at.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The mounted rootfs.
    pub rootfs: PathBuf,
    /// The container's /etc/hosts, /etc/hostname, /etc/resolv.conf.
    pub hosts: PathBuf,
    /// See `hosts`.
    pub hostname: PathBuf,
    /// See `hosts`.
    pub resolv_conf: PathBuf,
    /// A static init for `--init` (tini-static).
    pub init: Option<PathBuf>,
    /// `linux.cgroupsPath`.
    pub cgroups_path: String,
}

/// Where `--init` is mounted, as Docker mounts its `docker-init`.
pub const INIT_PATH: &str = "/sbin/docker-init";

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The process's argv: Entrypoint + Cmd, with the run options over the
/// image's (a new entrypoint also drops the image's Cmd, as Docker does).
pub fn command(image: &Value, run: &RunConfig) -> Result<Vec<String>> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let cfg = &image["config"];
    let (entrypoint, image_cmd) = match &run.entrypoint {
        Some(e) => (e.clone(), Vec::new()),
        None => (strings(&cfg["Entrypoint"]), strings(&cfg["Cmd"])),
    };
    let cmd = if run.cmd.is_empty() {
        image_cmd
    } else {
        run.cmd.clone()
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(Error::NoCommand);
    }
    Ok(args)
}

/// The environment: the image's, then the run's (later wins), PATH
/// defaulted, HOSTNAME and (with a tty) TERM set as Docker sets them.
pub fn environment(image: &Value, run: &RunConfig, home: &str) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |kv: &str| {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.to_string());
    };
    set(DEFAULT_PATH);
    set(&format!("HOSTNAME={}", run.hostname));
    for e in image["config"]["Env"].as_array().into_iter().flatten() {
        if let Some(e) = e.as_str() {
            set(e);
        }
    }
    if run.tty {
        set("TERM=xterm");
    }
    for e in &run.env {
        set(e);
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

/// The capability set: Docker's default, or all with `--privileged`, with
/// `--cap-add`/`--cap-drop` applied (`ALL` works in both).
pub fn capabilities(run: &RunConfig) -> Result<Vec<String>> {
    let norm = |c: &str| -> Result<String> {
        let up = c.to_ascii_uppercase();
        let name = if up == "ALL" || up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        };
        if name != "ALL" && !ALL_CAPS.contains(&name.as_str()) {
            return Err(Error::Invalid {
                field: "capability",
                value: c.to_string(),
                reason: "unknown capability".into(),
            });
        }
        Ok(name)
    };
    let mut caps: Vec<String> = if run.privileged {
        available_caps()
    } else {
        berth_caps_default()
    };
    for d in &run.cap_drop {
        let d = norm(d)?;
        if d == "ALL" {
            caps.clear();
        } else {
            caps.retain(|c| *c != d);
        }
    }
    for a in &run.cap_add {
        let a = norm(a)?;
        if a == "ALL" {
            caps = available_caps();
        } else if !caps.contains(&a) {
            caps.push(a);
        }
    }
    Ok(caps)
}

/// "All" capabilities, as Docker means it: those in our own bounding set
/// (a host may withhold some, such as `CAP_SYS_RESOURCE`; no runtime can
/// grant what it does not have).
pub fn available_caps() -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("CapBnd:"))
                .and_then(|l| u64::from_str_radix(l["CapBnd:".len()..].trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

fn berth_caps_default() -> Vec<String> {
    berth_seccomp::docker::DEFAULT_CAPS
        .iter()
        .map(|c| c.to_string())
        .collect()
}

/// Every capability Linux 6.x knows.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// uid, gid, supplementary gids and home of `user` (`name|uid[:group|gid]`)
/// from the image's /etc/passwd and /etc/group (read inside `rootfs`).
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<(u32, u32, Vec<u32>, String)> {
    let passwd = read_in_root(rootfs, "etc/passwd")?;
    let group = read_in_root(rootfs, "etc/group")?;
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    // name:x:uid:gid:gecos:home:shell
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u)));
    let (uid, mut gid, name, home) = match (&entry, u.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>()
                .map_err(|_| Error::NoSuchUser(u.into()))?,
            f[3].parse::<u32>().unwrap_or(0),
            f[0].to_string(),
            f.get(5)
                .map(|h| h.to_string())
                .unwrap_or_else(|| "/".into()),
        ),
        (None, Ok(uid)) => (uid, 0, String::new(), "/".to_string()),
        (None, Err(_)) => return Err(Error::NoSuchUser(u.into())),
    };
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    if let Some(g) = g {
        gid = match groups.iter().find(|f| f[0] == g || f[2] == g) {
            Some(f) => f[2].parse().map_err(|_| Error::NoSuchGroup(g.into()))?,
            None => g.parse().map_err(|_| Error::NoSuchGroup(g.into()))?,
        };
    }
    let mut extra = Vec::new();
    if g.is_none() && !name.is_empty() {
        for f in &groups {
            let members = f.get(3).copied().unwrap_or("");
            if members.split(',').any(|m| m == name) {
                if let Ok(id) = f[2].parse::<u32>() {
                    if id != gid && !extra.contains(&id) {
                        extra.push(id);
                    }
                }
            }
        }
    }
    Ok((uid, gid, extra, home))
}

/// Reads a small text file of the image, resolving every component inside
/// `rootfs` (a hostile image's `/etc/passwd -> /host/file` stays inside).
/// A missing file reads as empty.
pub fn read_in_root(rootfs: &Path, rel: &str) -> Result<String> {
    let shown = format!("/{rel}");
    let err = |source: io::Error| Error::Read {
        path: shown.clone(),
        source,
    };
    let root = std::fs::File::open(rootfs).map_err(err)?;
    let c = std::ffi::CString::new(rel).map_err(|_| err(io::ErrorKind::InvalidInput.into()))?;
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK) as u64,
        mode: 0,
        resolve: 0x10 | 0x02, // RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
    };
    // SAFETY: a valid path and an open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::NotFound {
            return Ok(String::new());
        }
        return Err(err(e));
    }
    // SAFETY: a new fd that we own.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
    if !file.metadata().map_err(err)?.is_file() {
        return Err(err(io::Error::other("not a regular file")));
    }
    let mut s = String::new();
    file.take(4 << 20).read_to_string(&mut s).map_err(err)?;
    Ok(s)
}

/// The runtime config for `image` run with `run`, its rootfs mounted at
/// `paths.rootfs`.
pub fn runtime_config(image: &Image, run: &RunConfig, paths: &Paths) -> Result<Value> {
    let mut args = command(&image.config, run)?;
    if run.init {
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    let cfg = &image.config["config"];
    let user = run
        .user
        .clone()
        .or_else(|| cfg["User"].as_str().map(String::from))
        .unwrap_or_default();
    let (uid, gid, extra_gids, home) = resolve_user(&paths.rootfs, &user)?;
    let cwd = run
        .workdir
        .clone()
        .or_else(|| {
            cfg["WorkingDir"]
                .as_str()
                .filter(|w| !w.is_empty())
                .map(String::from)
        })
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(Error::Invalid {
            field: "working directory",
            value: cwd,
            reason: "must be an absolute path".into(),
        });
    }
    let caps = capabilities(run)?;
    let rlimits: Vec<Value> = run
        .ulimits
        .iter()
        .map(|u| {
            json!({"type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()),
                   "soft": u.soft, "hard": u.hard})
        })
        .collect();
    let mut process = json!({
        "terminal": run.tty,
        "user": {"uid": uid, "gid": gid},
        "args": args,
        "env": environment(&image.config, run, &home),
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": run.no_new_privileges,
    });
    if !extra_gids.is_empty() {
        process["user"]["additionalGids"] = json!(extra_gids);
    }
    if !rlimits.is_empty() {
        process["rlimits"] = json!(rlimits);
    }
    if run.tty {
        process["consoleSize"] = json!({"height": 24, "width": 80});
    }

    let mut mounts = default_mounts(run.privileged);
    let etc = |target: &str, src: &Path| {
        json!({"destination": target, "type": "bind", "source": src,
               "options": ["rbind", "rprivate"]})
    };
    mounts.push(etc("/etc/resolv.conf", &paths.resolv_conf));
    mounts.push(etc("/etc/hostname", &paths.hostname));
    mounts.push(etc("/etc/hosts", &paths.hosts));
    if run.init {
        let init = paths.init.as_ref().ok_or_else(|| Error::Invalid {
            field: "--init",
            value: "true".into(),
            reason: "no static init binary found (install Debian's tini: /usr/bin/tini-static)"
                .into(),
        })?;
        mounts.push(
            json!({"destination": INIT_PATH, "type": "bind", "source": init,
                           "options": ["bind", "ro", "nosuid", "nodev"]}),
        );
    }
    for m in &run.mounts {
        mounts.push(user_mount(m)?);
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match &run.netns {
        NetNs::Host => {}
        NetNs::New => namespaces.push(json!({"type": "network"})),
        NetNs::Path(p) => namespaces.push(json!({"type": "network", "path": p})),
    }
    let mut resources = json!({"devices": device_rules(run.privileged)});
    if let Some(m) = run.memory {
        resources["memory"] = json!({"limit": m});
        if let Some(s) = run.memory_swap {
            resources["memory"]["swap"] = json!(s);
        }
    }
    if let Some(r) = run.memory_reservation {
        resources["memory"]["reservation"] = json!(r);
    }
    if let Some(c) = run.cpus {
        if !(c > 0.0 && c.is_finite()) {
            return Err(Error::Invalid {
                field: "--cpus",
                value: c.to_string(),
                reason: "must be a positive number".into(),
            });
        }
        resources["cpu"] = json!({"quota": (c * 100_000.0) as i64, "period": 100_000});
    }
    if let Some(p) = run.pids_limit {
        resources["pids"] = json!({"limit": p});
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": paths.cgroups_path,
    });
    if !run.sysctls.is_empty() {
        linux["sysctl"] = json!(run.sysctls);
    }
    if !run.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
        match &run.seccomp {
            Seccomp::Default => {
                let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
                linux["seccomp"] = berth_seccomp::docker::default_profile(
                    berth_seccomp::docker::native_goarch(),
                    &caps,
                );
            }
            Seccomp::Unconfined => {}
            Seccomp::Profile(p) => linux["seccomp"] = p.clone(),
        }
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": paths.rootfs, "readonly": run.read_only},
        "hostname": run.hostname,
        "mounts": mounts,
        "linux": linux,
    });
    if !run.labels.is_empty() {
        spec["annotations"] = json!(run.labels);
    }
    Ok(spec)
}

fn default_mounts(privileged: bool) -> Vec<Value> {
    let ro = if privileged { "rw" } else { "ro" };
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", ro]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", ro]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
    ]
}

fn user_mount(m: &MountSpec) -> Result<Value> {
    if !m.target.starts_with('/') || m.target.split('/').any(|c| c == "..") {
        return Err(Error::Invalid {
            field: "mount target",
            value: m.target.clone(),
            reason: "must be an absolute path without ..".into(),
        });
    }
    let mut options = m.options.clone();
    if m.readonly {
        options.push("ro".into());
    }
    Ok(match m.kind.as_str() {
        "tmpfs" => {
            let mut o = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
            o.extend(options);
            json!({"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": o})
        }
        _ => {
            let mut o = vec!["rbind".to_string()];
            if !options
                .iter()
                .any(|o| o.contains("shared") || o.contains("slave") || o.contains("private"))
            {
                o.push("rprivate".into());
            }
            o.extend(options);
            json!({"destination": m.target, "type": "bind", "source": m.source, "options": o})
        }
    })
}

/// Docker's device cgroup rules: deny all, then the standard devices.
fn device_rules(privileged: bool) -> Value {
    if privileged {
        return json!([{"allow": true, "access": "rwm"}]);
    }
    let dev = |t: &str, major: i64, minor: Option<i64>, access: &str| {
        let mut d = json!({"allow": true, "type": t, "major": major, "access": access});
        if let Some(m) = minor {
            d["minor"] = json!(m);
        }
        d
    };
    json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "access": "m"},
        {"allow": true, "type": "b", "access": "m"},
        dev("c", 1, Some(3), "rwm"),
        dev("c", 1, Some(8), "rwm"),
        dev("c", 1, Some(7), "rwm"),
        dev("c", 5, Some(0), "rwm"),
        dev("c", 1, Some(5), "rwm"),
        dev("c", 1, Some(9), "rwm"),
        dev("c", 5, Some(1), "rwm"),
        dev("c", 136, None, "rwm"),
        dev("c", 5, Some(2), "rwm"),
        dev("c", 10, Some(200), "rwm"),
    ])
}

/// moby's `oci/defaults.go` masked paths.
const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// moby's `oci/defaults.go` read-only paths.
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs(passwd: &str, group: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), passwd).unwrap();
        std::fs::write(d.path().join("etc/group"), group).unwrap();
        d
    }

    #[test]
    fn users_resolve_through_the_images_files() {
        let d = rootfs(
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n",
            "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\n",
        );
        let r = |u| resolve_user(d.path(), u).map_err(|e| e.to_string());
        assert_eq!(r("").unwrap(), (0, 0, vec![], "/root".into()));
        assert_eq!(r("www").unwrap(), (33, 33, vec![50], "/var/www".into()));
        assert_eq!(r("33").unwrap(), (33, 33, vec![50], "/var/www".into()));
        assert_eq!(r("www:staff").unwrap(), (33, 50, vec![], "/var/www".into()));
        assert_eq!(r("1000:1000").unwrap(), (1000, 1000, vec![], "/".into()));
        assert_eq!(
            r("nobody").unwrap_err(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert!(r("www:nogroup").unwrap_err().contains("nogroup"));
    }

    #[test]
    fn a_symlinked_passwd_stays_inside_the_rootfs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", d.path().join("etc/passwd")).unwrap();
        // /etc/shadow inside the rootfs does not exist: reads as empty, and
        // the host's is never opened.
        assert_eq!(read_in_root(d.path(), "etc/passwd").unwrap(), "");
        assert!(resolve_user(d.path(), "root").is_err());
    }

    #[test]
    fn command_and_env_follow_docker() {
        let img = json!({"config": {"Entrypoint": ["/bin/ep"], "Cmd": ["a"],
                                    "Env": ["PATH=/x", "A=1"]}});
        let mut run = RunConfig {
            hostname: "h".into(),
            ..Default::default()
        };
        assert_eq!(command(&img, &run).unwrap(), ["/bin/ep", "a"]);
        run.cmd = vec!["b".into()];
        assert_eq!(command(&img, &run).unwrap(), ["/bin/ep", "b"]);
        run.entrypoint = Some(vec![]);
        assert_eq!(command(&img, &run).unwrap(), ["b"]);
        run.cmd.clear();
        assert!(matches!(command(&img, &run), Err(Error::NoCommand)));
        run.env = vec!["A=2".into()];
        run.tty = true;
        let env = environment(&img, &run, "/root");
        assert_eq!(
            env,
            ["HOSTNAME=h", "PATH=/x", "TERM=xterm", "A=2", "HOME=/root"]
        );
    }

    #[test]
    fn caps_and_ulimits_parse_like_docker() {
        let run = RunConfig {
            cap_add: vec!["net_admin".into()],
            cap_drop: vec!["CAP_CHOWN".into(), "kill".into()],
            ..Default::default()
        };
        let caps = capabilities(&run).unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".into()));
        assert!(!caps.contains(&"CAP_CHOWN".into()) && !caps.contains(&"CAP_KILL".into()));
        let bad = RunConfig {
            cap_add: vec!["bogus".into()],
            ..Default::default()
        };
        assert!(capabilities(&bad)
            .unwrap_err()
            .to_string()
            .contains("\"bogus\""));
        assert_eq!(
            Ulimit::parse("nofile=10:20").unwrap(),
            Ulimit {
                name: "nofile".into(),
                soft: 10,
                hard: 20
            }
        );
        assert!(Ulimit::parse("nofile=20:10").is_err());
        assert!(Ulimit::parse("bogus=1")
            .unwrap_err()
            .to_string()
            .contains("bogus"));
    }
}
