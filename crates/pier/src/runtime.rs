//! The OCI runtime, driven through the runc command line (the contract
//! containerd's go-runc and conmon use), so berth, runc, crun and youki
//! are interchangeable.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Errors running the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// the runtime binary cannot be found
    #[error("runtime {0:?} not found (give a path, or put it in PATH)")]
    NotFound(String),
    /// the runtime could not be started
    #[error("failed to run {bin}: {source}")]
    Spawn {
        /// The binary.
        bin: String,
        /// The error.
        source: std::io::Error,
    },
    /// the runtime ran and failed
    #[error("{bin} {verb} failed: {message}")]
    Failed {
        /// The binary.
        bin: String,
        /// The subcommand.
        verb: String,
        /// What it printed.
        message: String,
    },
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

/// A runtime binary with its state root.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The binary.
    pub bin: PathBuf,
    /// `--root`.
    pub root: PathBuf,
}

/// Finds the runtime `name`: a path, or a name looked up next to the pier
/// binary first (so a build tree's berth is used with its pier) and then in
/// PATH.
pub fn locate(name: &str) -> Result<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::NotFound(name.into()))
        };
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(name)));
    let path = std::env::var_os("PATH").unwrap_or_default();
    beside
        .into_iter()
        .chain(std::env::split_paths(&path).map(|d| d.join(name)))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::NotFound(name.into()))
}

impl Runtime {
    /// The runtime at `bin`, keeping pier's containers under `run_root`
    /// (one state root per runtime binary name).
    pub fn new(bin: &Path, run_root: &Path) -> Runtime {
        let name = bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "runtime".into());
        Runtime {
            bin: bin.to_owned(),
            root: run_root.join(format!("runtime-{name}")),
        }
    }

    /// A command for `verb` with the global flags set.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        c
    }

    fn check(&self, verb: &str, out: std::io::Result<Output>) -> Result<Output> {
        let out = out.map_err(|source| Error::Spawn {
            bin: self.bin.display().to_string(),
            source,
        })?;
        if !out.status.success() {
            return Err(Error::Failed {
                bin: self.name(),
                verb: verb.into(),
                message: message(&out.stderr),
            });
        }
        Ok(out)
    }

    /// The binary's file name.
    pub fn name(&self) -> String {
        self.bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// `start <id>`.
    pub fn start(&self, id: &str) -> Result<()> {
        let out = self
            .command()
            .args(["start", id])
            .stdin(Stdio::null())
            .output();
        self.check("start", out).map(drop)
    }

    /// `kill [--all] <id> <signal>`.
    pub fn kill(&self, id: &str, signal: &str, all: bool) -> Result<()> {
        let mut c = self.command();
        c.arg("kill");
        if all {
            c.arg("--all");
        }
        let out = c.args([id, signal]).stdin(Stdio::null()).output();
        self.check("kill", out).map(drop)
    }

    /// `delete --force <id>`; a container the runtime does not know is
    /// not an error.
    pub fn delete_force(&self, id: &str) -> Result<()> {
        let out = self
            .command()
            .args(["delete", "--force", id])
            .stdin(Stdio::null())
            .output();
        match self.check("delete", out) {
            Err(Error::Failed { message, .. }) if is_not_exist(&message) => Ok(()),
            r => r.map(drop),
        }
    }

    /// `state <id>` as JSON; `None` when the runtime does not know it.
    pub fn state(&self, id: &str) -> Result<Option<serde_json::Value>> {
        let out = self
            .command()
            .args(["state", id])
            .stdin(Stdio::null())
            .output();
        match self.check("state", out) {
            Ok(o) => Ok(serde_json::from_slice(&o.stdout).ok()),
            Err(Error::Failed { message, .. }) if is_not_exist(&message) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `ps --format json <id>`: the container's host pids.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let out = self
            .command()
            .args(["ps", "--format", "json", id])
            .stdin(Stdio::null())
            .output();
        let out = self.check("ps", out)?;
        Ok(serde_json::from_slice(&out.stdout).unwrap_or_default())
    }

    /// `pause` / `resume`.
    pub fn pause(&self, id: &str, pause: bool) -> Result<()> {
        let verb = if pause { "pause" } else { "resume" };
        let out = self
            .command()
            .args([verb, id])
            .stdin(Stdio::null())
            .output();
        self.check(verb, out).map(drop)
    }

    /// `events --stats <id>`: one stats object.
    pub fn stats(&self, id: &str) -> Result<serde_json::Value> {
        let out = self
            .command()
            .args(["events", "--stats", id])
            .stdin(Stdio::null())
            .output();
        let out = self.check("events", out)?;
        serde_json::from_slice(&out.stdout).map_err(|e| Error::Failed {
            bin: self.name(),
            verb: "events".into(),
            message: format!("unreadable stats: {e}"),
        })
    }
}

fn is_not_exist(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("does not exist") || m.contains("not found") || m.contains("no such")
}

/// The runtime's error text: the `msg` of runc-style log lines, or the
/// raw text.
pub fn message(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let mut msgs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            if let Some(m) = v["msg"].as_str() {
                msgs.push(m.to_string());
                continue;
            }
        }
        if let Some(i) = line.find("msg=\"") {
            let rest = &line[i + 5..];
            msgs.push(rest.trim_end_matches('"').replace("\\\"", "\""));
            continue;
        }
        msgs.push(line.to_string());
    }
    msgs.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_extracted() {
        assert_eq!(
            message(b"time=\"x\" level=error msg=\"container \\\"a\\\" does not exist\"\n"),
            "container \"a\" does not exist"
        );
        assert_eq!(message(b"{\"level\":\"error\",\"msg\":\"boom\"}\n"), "boom");
        assert_eq!(message(b"plain\n\n"), "plain");
    }
}
