//! runc's logging contract: `--log FILE` (append), `--log-format text|json`
//! (json: one object per line with `level`, `msg` and an RFC 3339 `time`,
//! as containerd's shim and podman parse it), and errors always also as
//! plain text on stderr.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

/// Where records go.
pub struct Logger {
    file: Option<File>,
    json: bool,
    debug: bool,
}

impl Logger {
    /// Opens the log as runc does: `O_CREATE|O_WRONLY|O_APPEND|O_SYNC`, 0644.
    pub fn new(path: Option<&str>, format: &str, debug: bool) -> anyhow::Result<Self> {
        let json = match format {
            "text" => false,
            "json" => true,
            other => anyhow::bail!("invalid log-format: {other}"),
        };
        let file = match path.filter(|p| !p.is_empty()) {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .custom_flags(libc::O_SYNC)
                    .mode(0o644)
                    .open(p)
                    .map_err(|e| anyhow::anyhow!("failed to open log file {p}: {e}"))?,
            ),
            None => None,
        };
        Ok(Self { file, json, debug })
    }

    fn record(&self, level: &str, msg: &str) -> String {
        let time = libberth::state::rfc3339(std::time::SystemTime::now());
        if self.json {
            let mut m = serde_json::Map::new();
            m.insert("level".into(), level.into());
            m.insert("msg".into(), msg.into());
            m.insert("time".into(), time.into());
            format!("{}\n", serde_json::Value::Object(m))
        } else {
            format!("time={time:?} level={level} msg={msg:?}\n")
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let line = self.record(level, msg);
        match &self.file {
            Some(f) => {
                let _ = (&*f).write_all(line.as_bytes());
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    /// An error: to the log file if any, and always plainly on stderr.
    pub fn error(&self, msg: &str) {
        if self.file.is_some() {
            self.write("error", msg);
        }
        eprintln!("{msg}");
    }

    /// A warning (e.g. a failed poststop hook).
    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
    }

    /// A debug record, only with `--debug`.
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }
}
