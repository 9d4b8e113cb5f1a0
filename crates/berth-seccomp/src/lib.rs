//! OCI seccomp profiles compiled to classic BPF in pure Rust, with
//! `SCMP_ACT_NOTIFY`.
//!
//! berth compiles `linux.seccomp` once, in the runtime parent before it forks
//! ([`compile`]), and the container's init only installs the finished program
//! ([`Program::install`]): no library, no allocation and no profile parsing
//! in the child.
//!
//! The verdicts are those of runc, which builds its filters with libseccomp:
//!
//! - the native architecture is always in the filter, the profile's
//!   `architectures` are added to it; a syscall from any other ABI gets
//!   `SECCOMP_RET_KILL_THREAD` (libseccomp's default "bad arch" action);
//! - on x86_64, a syscall number with `__X32_SYSCALL_BIT` is matched against
//!   the x32 rules when `SCMP_ARCH_X32` is listed and is a bad-arch syscall
//!   otherwise (except -1, which tracers use to skip a syscall);
//! - syscall names are resolved per architecture; a name an architecture
//!   does not have is skipped there (reported through [`Options::debug`]);
//!   on x86 the socket and SysV IPC calls also match their `socketcall(2)` /
//!   `ipc(2)` multiplexed form, as libseccomp does;
//! - a rule whose action equals the default action is dropped, conditions on
//!   the same argument index are split into separate rules (runc), 64-bit
//!   argument comparisons are split into 32-bit halves, and several rules for
//!   one syscall are merged into libseccomp's decision tree, so rules with
//!   different actions resolve as they do under runc (see `src/db.rs`).
//!
//! The differential tests in `tests/differential.rs` run libseccomp's BPF and
//! ours through the interpreter in [`bpf`] and require the same verdict.
//!
//! Installing needs `no_new_privs` or `CAP_SYS_ADMIN` in the caller's user
//! namespace. Ordering that is the caller's job: like runc, install the
//! filter as late as possible (after capabilities and the uid switch, right
//! before `execve`) when `noNewPrivileges` is set; when it is not, install it
//! while `CAP_SYS_ADMIN` is still held, so before dropping capabilities.

mod arch;
mod asm;
pub mod bpf;
mod compile;
mod db;
pub mod docker;
mod install;
mod listener;
mod tables;

pub use arch::Arch;
pub use compile::{compile, compile_with, Options, Program};
pub use install::{action_available, flag_available};
pub use listener::{container_process_state, send_listener, send_listener_json, send_listener_on};

/// The errors of profile compilation, installation and the notify listener.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `architectures` names an ABI this compiler has no syscall table for.
    #[error("seccomp architecture {0} is not supported")]
    UnsupportedArch(String),
    /// berth runs on a CPU it has no syscall table for.
    #[error("seccomp is not supported on this architecture ({0})")]
    UnsupportedNative(&'static str),
    /// runc refuses a notify default action: the init's own syscalls after
    /// installing the filter would wait for an agent that has no fd yet.
    #[error("seccomp: SCMP_ACT_NOTIFY cannot be used as the default action")]
    NotifyDefault,
    /// runc refuses to notify on `write` for the same reason.
    #[error("seccomp: SCMP_ACT_NOTIFY cannot be used for the write syscall")]
    NotifyWrite,
    /// `defaultErrnoRet` with a default action that returns no errno.
    #[error("seccomp: defaultErrnoRet is set but defaultAction {0} does not return an errno")]
    DefaultErrnoRet(String),
    /// `errnoRet` on a rule whose action returns no errno.
    #[error(
        "seccomp: errnoRet is set for syscall {name} but action {action} does not return an errno"
    )]
    ErrnoRet { name: String, action: String },
    /// `listenerMetadata` without `listenerPath` (the spec forbids it).
    #[error("seccomp: listenerMetadata is set but listenerPath is not")]
    MetadataWithoutListener,
    /// A `syscalls` entry with no names, or an empty name.
    #[error("seccomp: syscalls[{0}] has an empty name list or an empty name")]
    EmptyName(usize),
    /// An argument index past the sixth argument.
    #[error("seccomp: syscall {name}: argument index {index} is out of range 0-5")]
    ArgIndex { name: String, index: usize },
    /// Rules for one syscall that libseccomp refuses to merge (it returns
    /// EEXIST, and runc fails the container).
    #[error("seccomp: conflicting rules for syscall {name} on {arch}")]
    Conflict { name: String, arch: &'static str },
    /// The program is longer than the kernel accepts (BPF_MAXINSNS).
    #[error("seccomp: the filter has {0} instructions, more than the kernel's limit of 4096")]
    TooLong(usize),
    /// The running kernel lacks a filter flag the profile asks for.
    #[error("seccomp flag {0} is not supported by the running kernel")]
    FlagUnsupported(&'static str),
    /// The running kernel lacks an action the profile uses.
    #[error("seccomp action {0} is not supported by the running kernel")]
    ActionUnsupported(&'static str),
    /// seccomp(SECCOMP_SET_MODE_FILTER) failed.
    #[error("failed to install seccomp filter: {0}")]
    Install(std::io::Error),
    /// The container process state could not be encoded.
    #[error("failed to encode the container process state for the seccomp agent: {0}")]
    Encode(#[from] serde_json::Error),
    /// Connecting to, or sending to, the seccomp agent's socket failed.
    #[error("failed to {op} seccomp listener {path}: {source}")]
    Listener {
        op: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
