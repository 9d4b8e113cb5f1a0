//! `linux.seccomp`: compiled once in the parent with berth-seccomp (pure
//! Rust, NOTIFY included), installed by the container process at the end of
//! its setup (see process.rs for the ordering).

use std::os::unix::net::UnixStream;
use std::path::Path;

use berth_seccomp::Program;
use oci_spec::runtime::LinuxSeccomp;

use crate::{Error, Result};

/// Compiles the profile and checks that the kernel supports its flags and
/// actions, so a bad profile fails before anything is cloned.
pub fn compile(profile: &LinuxSeccomp, config: &Path) -> Result<Program> {
    let bad = |reason: String| Error::Config {
        file: config.to_owned(),
        field: "linux.seccomp".into(),
        reason,
    };
    let debug = |line: &str| crate::trace::phase(&format!("seccomp: {line}"));
    let opts = berth_seccomp::Options {
        native: None,
        debug: crate::trace::enabled().then_some(&debug as &dyn Fn(&str)),
    };
    let program = berth_seccomp::compile_with(profile, &opts)
        .map_err(|e| bad(e.to_string().trim_start_matches("seccomp: ").to_owned()))?;
    program
        .check_kernel_support()
        .map_err(|e| bad(e.to_string()))?;
    crate::trace::phase(&format!(
        "seccomp compiled: {} instructions",
        program.instructions().len()
    ));
    Ok(program)
}

/// Connects to `listenerPath` for a profile that notifies; the spec
/// requires one.
pub fn connect_listener(profile: &LinuxSeccomp, config: &Path) -> Result<UnixStream> {
    let path = profile
        .listener_path()
        .as_ref()
        .ok_or_else(|| Error::Config {
            file: config.to_owned(),
            field: "linux.seccomp.listenerPath".into(),
            reason: "is required when a rule uses SCMP_ACT_NOTIFY".into(),
        })?;
    UnixStream::connect(path).map_err(Error::io("connect to linux.seccomp.listenerPath", path))
}
