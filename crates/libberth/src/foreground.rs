//! Waiting for a foreground container process (`run`, `exec` without
//! `--detach`): signals are forwarded to it, children are reaped, and with
//! an attached terminal the caller's tty is put in raw mode and proxied to
//! the container's pty, resized on SIGWINCH and restored on exit.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::{sys, Error, Result};

/// Signals passed on to the container process instead of acted on.
pub const FORWARDED: &[Signal] = &[
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

/// The set to block before the container process can run, so no SIGCHLD
/// (whose default action discards it) or forwarded signal is lost.
pub fn signal_set() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in FORWARDED {
        set.add(*s);
    }
    set
}

/// Blocks [`signal_set`] in the calling thread.
pub fn block_signals() -> Result<()> {
    signal_set()
        .thread_block()
        .map_err(Error::sys("block", "signals"))
}

/// The caller's terminal in raw mode; restored on drop.
struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    fn enter(fd: RawFd) -> Option<Self> {
        // SAFETY: tcgetattr fills a termios we own.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        // SAFETY: cfmakeraw edits the struct in place.
        unsafe { libc::cfmakeraw(&mut t) };
        // SAFETY: valid fd and termios.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
        Some(Self { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring the settings saved from this fd.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

fn copy_winsize(from: RawFd, to: RawFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ on a winsize we own; failures are harmless.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

fn write_all(fd: RawFd, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: valid buffer of the given length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n <= 0 {
            if n < 0 && Errno::last() == Errno::EINTR {
                continue;
            }
            return;
        }
        buf = &buf[n as usize..];
    }
}

/// Waits for `pid` (a child of this process) to exit and returns its exit
/// code (128+signal for a signal death). [`block_signals`] must have been
/// called before the process could run.
pub fn wait(pid: i32, pidfd: &OwnedFd, pty: Option<OwnedFd>) -> Result<i32> {
    let set = signal_set();
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(Error::sys("create", "signalfd"))?;
    let target = Pid::from_raw(pid);
    let _raw = pty.as_ref().and_then(|_| RawMode::enter(0));
    if let Some(m) = &pty {
        copy_winsize(0, m.as_raw_fd());
    }
    let mut stdin_open = pty.is_some();
    let mut master_open = pty.is_some();
    let mut buf = [0u8; 8192];
    let mut code = None;
    loop {
        // Reap everything that exited (we may be a subreaper).
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, c)) if p == target => code = Some(c),
                Ok(WaitStatus::Signaled(p, s, _)) if p == target => code = Some(128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if code.is_some() && !master_open {
            break;
        }
        let mut fds = vec![libc::pollfd {
            fd: sfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(m) = &pty {
            if master_open {
                fds.push(libc::pollfd {
                    fd: m.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            if stdin_open && code.is_none() {
                fds.push(libc::pollfd {
                    fd: 0,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        // Once the process exited, only drain what the pty still holds.
        let timeout = if code.is_some() { 0 } else { -1 };
        // SAFETY: fds is a valid array of pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return Err(Error::sys("poll", "container process")(Errno::last()));
        }
        if n == 0 && code.is_some() {
            break;
        }
        for p in &fds {
            if p.revents == 0 {
                continue;
            }
            if p.fd == sfd.as_raw_fd() {
                while let Ok(Some(info)) = sfd.read_signal() {
                    let sig = info.ssi_signo as i32;
                    if sig == libc::SIGCHLD {
                        continue;
                    }
                    if sig == libc::SIGWINCH {
                        if let Some(m) = &pty {
                            copy_winsize(0, m.as_raw_fd());
                            continue;
                        }
                    }
                    let _ = sys::pidfd_send_signal(pidfd, sig);
                }
            } else if p.fd == 0 {
                // SAFETY: reading into our buffer.
                let r = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if r <= 0 {
                    stdin_open = false;
                } else if let Some(m) = &pty {
                    write_all(m.as_raw_fd(), &buf[..r as usize]);
                }
            } else if let Some(m) = &pty {
                // SAFETY: reading into our buffer.
                let r = unsafe { libc::read(m.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if r <= 0 {
                    // EIO: every slave end is closed.
                    master_open = false;
                } else {
                    write_all(1, &buf[..r as usize]);
                }
            }
        }
    }
    let _ = set.thread_unblock();
    Ok(code.unwrap_or(255))
}
