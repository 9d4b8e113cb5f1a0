//! libberth: the library behind the `berth` OCI runtime.
//!
//! The binary only parses arguments; everything a container verb does is
//! here, in files named after the OCI and runc vocabulary:
//!
//! * [`bundle`]: config.json loading and validation;
//! * [`state`]: the state store under `--root`;
//! * [`container`]: `create`, `start`, `run`, `kill`, `delete`, `state`, `list`;
//! * [`init`]: the container's init process up to execve;
//! * [`rootfs`], [`mount_options`], [`devices`]: the root filesystem;
//! * [`capabilities`], [`hooks`], [`tty`].

pub mod attrs;
pub mod bundle;
pub mod capabilities;
pub mod container;
pub mod devices;
mod error;
pub mod failpoint;
pub mod features;
pub mod foreground;
pub mod hooks;
pub mod idmap;
pub mod init;
pub mod lsm;
pub mod mount_options;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod spec_template;
pub mod state;
pub mod sys;
pub mod trace;
pub mod tty;

pub use error::{Error, Result};

/// The runtime-spec version berth implements and reports in state JSON.
pub const OCI_VERSION: &str = "1.2.1";
