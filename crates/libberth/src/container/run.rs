//! `run`: create + start, then (unless detached) forward signals to init,
//! wait for it, delete the container and return its exit code.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::container::{create, delete, start, CreateOptions};
use crate::state::Root;
use crate::{sys, Error, Result};

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

/// Signals `run` passes on to init instead of acting on them.
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGALRM,
    Signal::SIGPWR,
];

/// Runs `berth run`; returns the exit code to exit with (128+n for a
/// signal death), and warnings from delete.
pub fn run(root: &Root, opts: &RunOptions) -> Result<(i32, Vec<String>)> {
    if !opts.detach && !opts.no_subreaper {
        // Orphans of a container without its own pid namespace come to us.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    // Block the signals before init can run, so none is lost: SIGCHLD's
    // default action would discard an early exit otherwise.
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in FORWARDED {
        set.add(*s);
    }
    if !opts.detach {
        set.thread_block().map_err(Error::sys("block", "signals"))?;
    }
    let created = create(root, &opts.create)?;
    if let Err(e) = start(root, &opts.create.id) {
        let _ = delete(root, &opts.create.id, true);
        let _ = waitpid(Pid::from_raw(created.pid), None);
        return Err(e);
    }
    if opts.detach {
        return Ok((0, Vec::new()));
    }
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC)
        .map_err(Error::sys("create", "signalfd"))?;
    let init = Pid::from_raw(created.pid);
    let code = 'wait: loop {
        // Reap everything that exited; stop when init has.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, c)) if pid == init => break 'wait c,
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == init => break 'wait 128 + s as i32,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        match sfd.read_signal() {
            Ok(Some(info)) if info.ssi_signo == libc::SIGCHLD as u32 => {}
            Ok(Some(info)) => {
                let _ = sys::pidfd_send_signal(&created.pidfd, info.ssi_signo as i32);
            }
            Ok(None) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("read", "signalfd")(e)),
        }
    };
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    crate::trace::phase("container exited");
    let warnings = if opts.keep {
        Vec::new()
    } else {
        delete(root, &opts.create.id, true)?
    };
    Ok((code, warnings))
}
