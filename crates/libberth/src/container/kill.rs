//! `kill`: signals init (or, with `--all`, every process of the cgroup).

use berth_cgroups::Manager;

use crate::container::status_of;
use crate::state::{proc_status, ProcStatus, Root, Status};
use crate::{sys, Error, Result};

/// Parses a signal as runc does: a number, `KILL` or `SIGKILL`, any case.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=libc::SIGRTMAX()).contains(&n) {
            return Ok(n);
        }
        return Err(Error::Init(format!("invalid signal number {n}")));
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let sig = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" | "CLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(Error::Init(format!("unknown signal {s:?}"))),
    };
    Ok(sig)
}

/// Runs `berth kill <id> <signal>`.
pub fn kill(root: &Root, id: &str, signal: i32, all: bool) -> Result<()> {
    let locked = root.lock(id)?;
    let st = locked.load(id)?;
    if status_of(&locked, &st) == Status::Stopped {
        // runc: `kill --all` of a stopped container succeeds (kill.bats).
        return if all { Ok(()) } else { Err(Error::NotRunning) };
    }
    // Without its own pid namespace, killing init does not kill the rest:
    // SIGKILL then reaches every process of the cgroup, as runc does.
    if all || (signal == libc::SIGKILL && !st.own_pid_ns) {
        // Without a cgroup (rootless) only init can be reached.
        if let Some(cg) = st.cgroup()? {
            return cg.signal_all(signal).map_err(Into::into);
        }
    }
    let pidfd = match sys::pidfd_open(st.pid) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ESRCH) => return Err(Error::NotRunning),
        Err(e) => return Err(Error::sys("pidfd_open", st.pid)(e)),
    };
    // The pid could have been reused between the status check and the
    // pidfd_open: compare start times once more through the pidfd's pid.
    if proc_status(st.pid) != ProcStatus::Alive(st.init_start_time) {
        return Err(Error::NotRunning);
    }
    match sys::pidfd_send_signal(&pidfd, signal) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::ESRCH) => Err(Error::Init("no such process".into())),
        Err(e) => Err(Error::sys("signal", format!("container init {}", st.pid))(
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_forms() {
        assert_eq!(parse_signal("9").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), libc::SIGUSR1);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("999").is_err());
    }
}
