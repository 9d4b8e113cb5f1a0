//! `run`: create + start, then (unless detached) forward signals to init,
//! wait for it, delete the container and return its exit code.

use crate::container::{create, delete, start, CreateOptions};
use crate::foreground;
use crate::state::Root;
use crate::Result;

/// Options of `berth run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Everything create takes.
    pub create: CreateOptions,
    /// `--detach`: return once started.
    pub detach: bool,
    /// `--keep`: do not delete the container after it exits.
    pub keep: bool,
    /// `--no-subreaper`.
    pub no_subreaper: bool,
}

/// Runs `berth run`; returns the exit code to exit with (128+n for a
/// signal death), and warnings from delete.
pub fn run(root: &Root, opts: &RunOptions) -> Result<(i32, Vec<String>)> {
    if !opts.detach && !opts.no_subreaper {
        // Orphans of a container without its own pid namespace come to us.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    let mut create_opts = opts.create.clone();
    create_opts.attach_tty = !opts.detach;
    if !opts.detach {
        foreground::block_signals()?;
    }
    let created = create(root, &create_opts)?;
    if let Err(e) = start(root, &opts.create.id) {
        let _ = delete(root, &opts.create.id, true);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(created.pid), None);
        return Err(e);
    }
    if opts.detach {
        return Ok((0, Vec::new()));
    }
    let code = foreground::wait(created.pid, &created.pidfd, created.pty)?;
    crate::trace::phase("container exited");
    let warnings = if opts.keep {
        Vec::new()
    } else {
        delete(root, &opts.create.id, true)?
    };
    Ok((code, warnings))
}
