//! The errors of the runtime library. Each message names what failed and on
//! what object, so the caller's log line is enough to act on.

use std::path::PathBuf;

/// Everything that can go wrong in libberth.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field of config.json has a value the runtime refuses.
    #[error("{file}: {field}: {reason}")]
    Config {
        file: PathBuf,
        field: String,
        reason: String,
    },
    /// A file or directory operation failed.
    #[error("failed to {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A system call failed on the named object.
    #[error("failed to {op} {target}: {errno}")]
    Sys {
        op: &'static str,
        target: String,
        errno: nix::errno::Errno,
    },
    /// The container id has characters outside `[A-Za-z0-9_+.-]`.
    #[error("invalid container ID format: {0:?}")]
    InvalidId(String),
    /// Another container already uses the id.
    #[error("container with given ID already exists: {0}")]
    Exists(String),
    /// No container has that id under the state root.
    #[error("container {0} does not exist")]
    NotExist(String),
    /// The operation needs a live container.
    #[error("container not running")]
    NotRunning,
    /// The operation is not allowed in the container's current status.
    #[error("{0}")]
    BadStatus(String),
    /// A hook failed, exited non-zero or timed out.
    #[error("error running {kind} hook #{index}: {reason}")]
    Hook {
        kind: &'static str,
        index: usize,
        reason: String,
    },
    /// The container's init process reported an error during setup.
    #[error("{0}")]
    Init(String),
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::Error),
    /// The state file of a container is unreadable.
    #[error("failed to read state of container {id} from {path}: {reason}")]
    State {
        id: String,
        path: PathBuf,
        reason: String,
    },
    /// The configuration asks for something berth does not implement yet.
    #[error("{0} is not supported yet")]
    Unsupported(String),
}

/// Result of libberth.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Io`] for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    /// An [`Error::Sys`] for `op` on `target`.
    pub fn sys(op: &'static str, target: impl ToString) -> impl FnOnce(nix::errno::Errno) -> Error {
        let target = target.to_string();
        move |errno| Error::Sys { op, target, errno }
    }
}
