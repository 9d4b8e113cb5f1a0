//! A container on disk: `<root>/containers/<id>/` holds `container.json`
//! (what the user asked for; written once by `create`), `state.json` (what
//! is happening; written by the monitor and by `stop`/`rm`), the bundle's
//! `config.json`, the rootfs, the logs, and the generated `/etc` files.
//! Short-lived things (the attach socket, the network namespace file, the
//! runtime's state root) live under `<root>/run/`.
//!
//! Every write of `state.json` happens under the container's lock file and
//! is a rename of a complete file, so readers never see half a state.

use pier_image::bundle::RunConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Errors of the container store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// no container has this name or id (prefix)
    #[error("No such container: {0}")]
    NoSuch(String),
    /// an id prefix names several containers
    #[error("multiple containers match {0:?}; use more of the id")]
    Ambiguous(String),
    /// the name is taken
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse {
        /// The name.
        name: String,
        /// Who has it.
        id: String,
    },
    /// the name has characters Docker does not allow
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    BadName(String),
    /// a file of the container could not be read or written
    #[error("failed to {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// a JSON file of the container is corrupt
    #[error("failed to parse {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// `--restart`: Docker's policies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `no`, `always`, `unless-stopped` or `on-failure`.
    pub name: String,
    /// For `on-failure[:N]`: 0 means no limit.
    pub max_retries: u32,
}

impl RestartPolicy {
    /// Parses `no|always|unless-stopped|on-failure[:N]`.
    pub fn parse(s: &str) -> std::result::Result<RestartPolicy, String> {
        let (name, max) = match s.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (s, None),
        };
        match (name, max) {
            ("no" | "always" | "unless-stopped", None) => Ok(RestartPolicy {
                name: name.into(),
                max_retries: 0,
            }),
            ("on-failure", m) => Ok(RestartPolicy {
                name: name.into(),
                max_retries: match m {
                    Some(m) => m.parse().map_err(|_| {
                        format!("invalid restart policy {s:?}: {m:?} is not a count")
                    })?,
                    None => 0,
                },
            }),
            _ => Err(format!(
                "invalid restart policy {s:?}: want no, always, unless-stopped or on-failure[:N]"
            )),
        }
    }

    /// Whether a container that exited with `code` after `restarts`
    /// restarts should run again.
    pub fn wants_restart(&self, code: i32, restarts: u32) -> bool {
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => code != 0 && (self.max_retries == 0 || restarts < self.max_retries),
            _ => false,
        }
    }
}

/// `--health-*`: the container's health check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `["CMD-SHELL", "cmd"]` or `["CMD", args...]`.
    pub test: Vec<String>,
    /// Between checks, in ms.
    pub interval_ms: u64,
    /// For one check, in ms.
    pub timeout_ms: u64,
    /// Failures in a row that make the container unhealthy.
    pub retries: u32,
    /// Failures during this first period (ms) do not count.
    pub start_period_ms: u64,
}

/// What `create` recorded: the container's whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    /// Unique name, without Docker's leading `/`.
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image's full name.
    pub image_name: String,
    /// The image id (config digest).
    pub image_id: String,
    /// When created (RFC 3339).
    pub created: String,
    /// The runtime binary (path).
    pub runtime: String,
    /// Options that shape the runtime config.
    pub run: RunConfig,
    /// `--network` (`none`, `host`, `bridge`, a network name).
    pub network: String,
    /// More user networks to join after `network` (compose services on
    /// several networks); `--network-alias` names apply on each.
    #[serde(default)]
    pub extra_networks: Vec<String>,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `-p` specs as given.
    pub publish: Vec<String>,
    /// `--restart`.
    pub restart: RestartPolicy,
    /// `--health-*` or the image's HEALTHCHECK.
    pub health: Option<HealthConfig>,
    /// `--rm`.
    pub auto_remove: bool,
    /// `overlay` or `copy`.
    pub snapshotter: String,
    /// Named volumes in use (for `volume rm` and `rm -v`).
    pub volumes: Vec<String>,
    /// Anonymous volumes made for this container (removed with `rm -v`).
    pub anonymous_volumes: Vec<String>,
    /// Image labels merged with `-l`.
    pub labels: BTreeMap<String, String>,
}

/// One health check result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HealthLog {
    /// RFC 3339.
    pub start: String,
    /// RFC 3339.
    pub end: String,
    /// The check's exit code (-1: timed out or could not run).
    pub exit_code: i32,
    /// Its output (truncated).
    pub output: String,
}

/// Health as Docker reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    /// Failed checks in a row.
    pub failing_streak: u32,
    /// The last few results.
    pub log: Vec<HealthLog>,
}

/// Network attachment of a running container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    /// The network.
    pub network: String,
    /// Address without prefix.
    pub ip: String,
    /// Prefix length.
    pub prefix_len: u8,
    /// Gateway.
    pub gateway: String,
    /// MAC address.
    pub mac: String,
}

/// What is happening to the container now.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// `created`, `running`, `restarting`, `exited`, `paused`, `dead`.
    pub status: String,
    /// The container's init pid (0 when not running).
    pub pid: i32,
    /// Last exit code.
    pub exit_code: i32,
    /// Why it could not run, if it could not.
    pub error: String,
    /// RFC 3339, empty if never.
    pub started_at: String,
    /// RFC 3339, empty if never.
    pub finished_at: String,
    /// Restarts done by the restart policy.
    pub restart_count: u32,
    /// The monitor's pid and its start time (clock ticks since boot), so a
    /// recycled pid is not taken for it.
    pub monitor_pid: i32,
    /// See `monitor_pid`.
    pub monitor_start: u64,
    /// Whether the kernel's OOM killer stopped it.
    pub oom_killed: bool,
    /// Set by `stop`/`kill`: the restart policy must not bring it back.
    pub stopped_by_user: bool,
    /// Health check state, when the container has one.
    pub health: Option<Health>,
    /// Network endpoints while running.
    pub endpoints: Vec<Endpoint>,
    /// Published ports while running: `hostIp:hostPort->port/proto`.
    pub ports: Vec<String>,
}

/// The containers under a pier root.
#[derive(Debug, Clone)]
pub struct Containers {
    root: PathBuf,
}

/// A held flock; released on drop.
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] File);

fn lock_file(path: &Path) -> Result<Lock> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("open", path))?;
    loop {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(Lock(f));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(Error::Io {
                op: "lock",
                path: path.to_owned(),
                source: e,
            });
        }
    }
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, data).map_err(io_err("write", &tmp))?;
    fs::rename(&tmp, path).map_err(io_err("rename into place", path))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let data = fs::read(path).map_err(io_err("read", path))?;
    serde_json::from_slice(&data).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })
}

impl Containers {
    /// The containers of the pier root `root`.
    pub fn open(root: &Path) -> Result<Containers> {
        let c = Containers {
            root: root.to_owned(),
        };
        for d in [c.root.join("containers"), c.run_root()] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .map_err(io_err("create", &d))?;
        }
        Ok(c)
    }

    /// pier's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where short-lived files live.
    pub fn run_root(&self) -> PathBuf {
        self.root.join("run")
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// The run directory of container `id` (short, for socket paths).
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.run_root().join(&id[..12.min(id.len())])
    }

    /// Every container id.
    pub fn ids(&self) -> Result<Vec<String>> {
        let dir = self.root.join("containers");
        let mut ids = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err("read", &dir))?.flatten() {
            if e.path().join("container.json").exists() {
                ids.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(ids)
    }

    /// Every container record, newest first.
    pub fn records(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for id in self.ids()? {
            match self.record(&id) {
                Ok(r) => out.push(r),
                // Removed meanwhile.
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// The record of `id`.
    pub fn record(&self, id: &str) -> Result<Record> {
        read_json(&self.dir(id).join("container.json"))
    }

    /// Finds a container by full name (with or without `/`), full id, or
    /// unique id prefix, as Docker does.
    pub fn find(&self, what: &str) -> Result<Record> {
        let name = what.strip_prefix('/').unwrap_or(what);
        let all = self.records()?;
        if let Some(r) = all.iter().find(|r| r.id == what || r.name == name) {
            return Ok(r.clone());
        }
        let mut hits = all
            .iter()
            .filter(|r| !what.is_empty() && r.id.starts_with(what));
        match (hits.next(), hits.next()) {
            (Some(r), None) => Ok(r.clone()),
            (Some(_), Some(_)) => Err(Error::Ambiguous(what.into())),
            _ => Err(Error::NoSuch(what.into())),
        }
    }

    /// Stores a new record; fails if its name is taken. Makes the
    /// container's directories.
    pub fn create(&self, rec: &Record) -> Result<()> {
        if !crate::names::valid_name(&rec.name) {
            return Err(Error::BadName(rec.name.clone()));
        }
        let _l = lock_file(&self.root.join("containers/.names.lock"))?;
        if let Some(other) = self.records()?.into_iter().find(|r| r.name == rec.name) {
            return Err(Error::NameInUse {
                name: rec.name.clone(),
                id: other.id,
            });
        }
        let dir = self.dir(&rec.id);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(io_err("create", &dir))?;
        let data = serde_json::to_vec_pretty(rec).map_err(|source| Error::Json {
            path: dir.join("container.json"),
            source,
        })?;
        self.save_state(
            &rec.id,
            &State {
                status: "created".into(),
                ..Default::default()
            },
        )?;
        write_atomic(&dir.join("container.json"), &data)
    }

    /// Locks container `id`'s state.
    pub fn lock(&self, id: &str) -> Result<Lock> {
        lock_file(&self.dir(id).join(".lock"))
    }

    /// The stored state of `id`.
    pub fn state(&self, id: &str) -> Result<State> {
        read_json(&self.dir(id).join("state.json"))
    }

    /// Writes the state of `id` (callers hold the lock).
    pub fn save_state(&self, id: &str, st: &State) -> Result<()> {
        let path = self.dir(id).join("state.json");
        let data = serde_json::to_vec_pretty(st).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &data)
    }

    /// Reads, changes and writes the state of `id` under its lock.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut State)) -> Result<State> {
        let _l = self.lock(id)?;
        let mut st = self.state(id)?;
        f(&mut st);
        self.save_state(id, &st)?;
        Ok(st)
    }

    /// The state of `id` as it really is: a `running` container whose
    /// monitor has died is reported as such, not as running.
    pub fn observed(&self, id: &str) -> Result<State> {
        let mut st = self.state(id)?;
        if matches!(
            st.status.as_str(),
            "running" | "restarting" | "paused" | "starting"
        ) && !process_alive(st.monitor_pid, st.monitor_start)
        {
            st.status = "dead".into();
            if st.error.is_empty() {
                st.error = format!(
                    "the container's monitor (pid {}) is gone; pier cannot see its exit",
                    st.monitor_pid
                );
            }
        }
        Ok(st)
    }

    /// Removes the container's directories.
    pub fn remove(&self, id: &str) -> Result<()> {
        let run = self.run_dir(id);
        if run.exists() {
            fs::remove_dir_all(&run).map_err(io_err("remove", &run))?;
        }
        let dir = self.dir(id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::Io {
                op: "remove",
                path: dir,
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

/// Start time of `pid` in clock ticks since boot (field 22 of
/// /proc/<pid>/stat), `None` if there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: skip past the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // rest starts at field 3 (state); a zombie is not alive.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether `pid` is alive and is the process that started at `start`.
pub fn process_alive(pid: i32, start: u64) -> bool {
    start_time(pid).is_some_and(|t| start == 0 || t == start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        let p = RestartPolicy::parse("on-failure:2").unwrap();
        assert!(p.wants_restart(1, 0) && p.wants_restart(1, 1) && !p.wants_restart(1, 2));
        assert!(!p.wants_restart(0, 0));
        assert!(RestartPolicy::parse("always").unwrap().wants_restart(0, 99));
        assert!(!RestartPolicy::parse("no").unwrap().wants_restart(1, 0));
        assert!(RestartPolicy::parse("sometimes")
            .unwrap_err()
            .contains("sometimes"));
        assert!(RestartPolicy::parse("on-failure:x")
            .unwrap_err()
            .contains("\"x\""));
    }

    #[test]
    fn find_by_name_id_and_prefix() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::open(d.path()).unwrap();
        let mk = |id: &str, name: &str| Record {
            id: id.into(),
            name: name.into(),
            ..Default::default()
        };
        c.create(&mk("abc123", "web")).unwrap();
        c.create(&mk("abd456", "db")).unwrap();
        assert_eq!(c.find("web").unwrap().id, "abc123");
        assert_eq!(c.find("/db").unwrap().id, "abd456");
        assert_eq!(c.find("abc").unwrap().name, "web");
        assert!(matches!(c.find("ab"), Err(Error::Ambiguous(_))));
        assert!(matches!(c.find("zzz"), Err(Error::NoSuch(_))));
        assert!(matches!(
            c.create(&mk("fff", "web")),
            Err(Error::NameInUse { .. })
        ));
        assert!(matches!(
            c.create(&mk("eee", "bad/name")),
            Err(Error::BadName(_))
        ));
        assert_eq!(c.state("abc123").unwrap().status, "created");
        assert!(start_time(std::process::id() as i32).is_some());
    }
}
