//! The container state store under `--root`: one directory per container
//! holding `state.json` (written atomically) and, until `start`, the
//! `exec.fifo` init waits on. A `flock` on the directory serialises
//! commands on one container.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The file init blocks on until `start` opens it.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";
/// The config.json of create time, kept for `exec`.
pub const CONFIG_FILE: &str = "config.json";

/// Lifecycle status as runc reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created; only hooks see this.
    Creating,
    /// init is waiting for `start`.
    Created,
    /// The user program runs.
    Running,
    /// The cgroup is frozen.
    Paused,
    /// init has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// Everything later commands need about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// The runtime spec version berth implements.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of init.
    pub pid: i32,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Root filesystem.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// `annotations` from config.json.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::HashMap<String, String>>,
    /// init's start time (field 22 of /proc/PID/stat), to detect pid reuse.
    pub init_start_time: u64,
    /// The container's cgroup path within each hierarchy.
    pub cgroup_path: String,
    /// The freezer file that tells whether the container is paused.
    #[serde(default)]
    pub freezer_state: Option<PathBuf>,
    /// Whether the systemd cgroup driver was requested at create.
    pub systemd_cgroup: bool,
    /// Whether the container was created in rootless mode.
    pub rootless: bool,
    /// Whether init has its own pid namespace (else `kill --all` semantics).
    pub own_pid_ns: bool,
    /// Hooks that run after create: poststart and poststop.
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

/// The host's cgroup hierarchies, read from /proc/self/mountinfo once per
/// berth process: `run` needs them to create the container and again to
/// delete it, and the file costs ~50 us to generate and parse.
pub(crate) fn host_layout() -> Result<berth_cgroups::Layout> {
    static LAYOUT: std::sync::OnceLock<berth_cgroups::Layout> = std::sync::OnceLock::new();
    if let Some(l) = LAYOUT.get() {
        return Ok(l.clone());
    }
    let l = berth_cgroups::Layout::detect()?;
    Ok(LAYOUT.get_or_init(|| l).clone())
}

impl State {
    /// The container's cgroup; `None` for a rootless container that runs
    /// without one (the host gave it no cgroup to manage).
    pub fn cgroup(&self) -> Result<Option<berth_cgroups::FsManager>> {
        if self.cgroup_path.is_empty() {
            return Ok(None);
        }
        Ok(Some(berth_cgroups::FsManager::new(
            host_layout()?,
            &self.cgroup_path,
        )))
    }

    /// The container's cgroup, or an error saying `what` needs one.
    pub fn require_cgroup(&self, what: &str) -> Result<berth_cgroups::FsManager> {
        self.cgroup()?.ok_or_else(|| {
            Error::BadStatus(format!(
                "{what} needs a cgroup, and this rootless container runs without one"
            ))
        })
    }

    /// The state JSON the OCI spec defines (runc's key order), as callers
    /// and hooks read it.
    pub fn oci_json(&self, status: Status) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("ociVersion".into(), self.oci_version.clone().into());
        m.insert("id".into(), self.id.clone().into());
        let pid = if status == Status::Stopped {
            0
        } else {
            self.pid
        };
        m.insert("pid".into(), pid.into());
        m.insert("status".into(), status.to_string().into());
        m.insert(
            "bundle".into(),
            self.bundle.to_string_lossy().into_owned().into(),
        );
        m.insert(
            "rootfs".into(),
            self.rootfs.to_string_lossy().into_owned().into(),
        );
        m.insert("created".into(), self.created.clone().into());
        if let Some(a) = self.annotations.as_ref().filter(|a| !a.is_empty()) {
            let mut sorted: Vec<_> = a.iter().collect();
            sorted.sort();
            let obj = sorted
                .into_iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone())));
            m.insert(
                "annotations".into(),
                serde_json::Value::Object(obj.collect()),
            );
        }
        m.insert("owner".into(), "".into());
        serde_json::Value::Object(m)
    }
}

/// The state directory of the runtime (`--root`).
#[derive(Debug, Clone)]
pub struct Root {
    /// Absolute path of the root directory.
    pub path: PathBuf,
}

/// An exclusively locked container directory; the lock is released on drop.
#[derive(Debug)]
pub struct Locked {
    /// The container's directory.
    pub dir: PathBuf,
    _lock: File,
}

fn flock(file: &File, path: &Path) -> Result<()> {
    loop {
        // SAFETY: flock(2) on an fd we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::Io {
                op: "lock",
                path: path.to_owned(),
                source: err,
            });
        }
    }
}

impl Root {
    /// Opens (creating when missing) the state root.
    pub fn new(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(Error::io("create state root", path))?;
        Ok(Self {
            path: path.to_owned(),
        })
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.path.join(id)
    }

    /// Makes and locks the directory for a new container; fails if the id
    /// is taken. The directory is made and locked under a private name and
    /// only then renamed into place (never over an existing one), so no
    /// other command can ever see it unlocked.
    pub fn create(&self, id: &str) -> Result<Locked> {
        let dir = self.dir(id);
        let tmp = self.path.join(format!("~{id}~{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(Error::io("create", &tmp))?;
        let lock = File::open(&tmp).map_err(Error::io("open", &tmp))?;
        flock(&lock, &tmp)?;
        if let Err(e) = rename_noreplace(&tmp, &dir) {
            let _ = std::fs::remove_dir(&tmp);
            return Err(match e.kind() {
                std::io::ErrorKind::AlreadyExists => Error::Exists(id.to_owned()),
                _ => Error::Io {
                    op: "create",
                    path: dir,
                    source: e,
                },
            });
        }
        Ok(Locked { dir, _lock: lock })
    }

    /// Locks the directory at `id` as it is once the lock is held: a
    /// directory deleted (and perhaps made again by a new `create`) while
    /// we waited is not the one we locked, so look again.
    fn lock_dir(&self, id: &str) -> Result<Locked> {
        let dir = self.dir(id);
        loop {
            let lock = match File::open(&dir) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::NotExist(id.to_owned()))
                }
                Err(e) => {
                    return Err(Error::Io {
                        op: "open",
                        path: dir,
                        source: e,
                    })
                }
            };
            flock(&lock, &dir)?;
            let held = lock.metadata().map_err(Error::io("stat", &dir))?;
            match std::fs::metadata(&dir) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                    return Ok(Locked { dir, _lock: lock })
                }
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::NotExist(id.to_owned()))
                }
                Err(e) => {
                    return Err(Error::Io {
                        op: "stat",
                        path: dir,
                        source: e,
                    })
                }
            }
        }
    }

    /// Locks the directory of an existing container.
    pub fn lock(&self, id: &str) -> Result<Locked> {
        let locked = self.lock_dir(id)?;
        if !locked.dir.join(STATE_FILE).exists() {
            return Err(Error::NotExist(id.to_owned()));
        }
        Ok(locked)
    }

    /// Locks what a `create` killed before its first state write left
    /// behind: a directory without state.json. `None` when there is none
    /// (or it holds a container after all).
    pub fn lock_leftover(&self, id: &str) -> Result<Option<Locked>> {
        match self.lock_dir(id) {
            Ok(l) if !l.dir.join(STATE_FILE).exists() => Ok(Some(l)),
            Ok(_) | Err(Error::NotExist(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Ids of every container, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let entries = std::fs::read_dir(&self.path).map_err(Error::io("read", &self.path))?;
        for e in entries.flatten() {
            if e.path().join(STATE_FILE).exists() {
                ids.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }
}

use std::os::unix::fs::{DirBuilderExt, MetadataExt};

/// rename(2) that fails with `AlreadyExists` instead of replacing an empty
/// directory at `to`.
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let from = std::ffi::CString::new(from.as_os_str().as_bytes())?;
    let to = std::ffi::CString::new(to.as_os_str().as_bytes())?;
    // The raw syscall: musl has no renameat2 wrapper.
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Locked {
    /// Reads state.json.
    pub fn load(&self, id: &str) -> Result<State> {
        let path = self.dir.join(STATE_FILE);
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotExist(id.to_owned())
            } else {
                Error::Io {
                    op: "read",
                    path: path.clone(),
                    source: e,
                }
            }
        })?;
        serde_json::from_slice(&bytes).map_err(|e| Error::State {
            id: id.to_owned(),
            path,
            reason: e.to_string(),
        })
    }

    /// Writes state.json atomically (temp file, fsync-free rename: the
    /// state root is a tmpfs in every normal setup).
    pub fn save(&self, state: &State) -> Result<()> {
        let path = self.dir.join(STATE_FILE);
        let tmp = self.dir.join(".state.json.tmp");
        let bytes = serde_json::to_vec(state).map_err(|e| Error::State {
            id: state.id.clone(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&tmp, bytes).map_err(Error::io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))
    }

    /// Removes the container's directory and everything in it.
    pub fn remove(self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
                op: "remove",
                path: self.dir,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// The fd holding the lock; init closes its inherited copy at once, or
    /// the lock would live (open file descriptions are shared) until exec.
    pub fn lock_fd(&self) -> std::os::fd::RawFd {
        self._lock.as_raw_fd()
    }

    /// Whether init is still waiting for `start`.
    pub fn fifo_exists(&self) -> bool {
        self.dir.join(EXEC_FIFO).exists()
    }
}

/// Writes `pid` to `path` atomically, as runc does: decimal, no newline,
/// via a hidden temp file in the same directory and a rename.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = std::path::absolute(path).map_err(Error::io("resolve", path))?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(Error::io("create", &tmp))?;
    f.write_all(pid.to_string().as_bytes())
        .map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))
}

/// What /proc says about a pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcStatus {
    /// Alive (not a zombie) with this start time.
    Alive(u64),
    /// Exited (gone or zombie).
    Dead,
}

/// Reads state and start time of `pid` from `/proc/<pid>/stat`.
pub fn proc_status(pid: i32) -> ProcStatus {
    if pid <= 0 {
        return ProcStatus::Dead;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return ProcStatus::Dead;
    };
    // comm may contain spaces and parentheses: fields start after the last ')'.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return ProcStatus::Dead;
    };
    let fields: Vec<&str> = rest.split(' ').collect();
    // rest[0] is field 3 (state); start time is field 22.
    let state = fields.first().copied().unwrap_or("X");
    if state == "Z" || state == "X" {
        return ProcStatus::Dead;
    }
    fields
        .get(19)
        .and_then(|s| s.parse().ok())
        .map_or(ProcStatus::Dead, ProcStatus::Alive)
}

/// Formats a time as RFC 3339 in UTC with nanoseconds, as Go's
/// `time.RFC3339Nano` (trailing zeros of the fraction trimmed).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut frac = String::new();
    if d.subsec_nanos() != 0 {
        frac = format!(".{:09}", d.subsec_nanos())
            .trim_end_matches('0')
            .to_owned();
    }
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{frac}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_709_251_199, 120_000_000);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.12Z");
    }

    #[test]
    fn pid_file_is_plain_decimal() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("init.pid");
        write_pid_file(&p, 4242).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"4242");
        assert!(!d.path().join(".init.pid").exists());
    }

    #[test]
    fn self_is_alive_and_stable() {
        let me = std::process::id() as i32;
        let a = proc_status(me);
        assert!(matches!(a, ProcStatus::Alive(_)));
        assert_eq!(a, proc_status(me));
        assert_eq!(proc_status(i32::MAX), ProcStatus::Dead);
    }

    #[test]
    fn create_twice_is_refused_and_lock_reports_missing() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(d.path()).unwrap();
        let _l = root.create("c").unwrap();
        assert!(matches!(root.create("c"), Err(Error::Exists(_))));
        assert!(matches!(root.lock("nope"), Err(Error::NotExist(_))));
    }
}
