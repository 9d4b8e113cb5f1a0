//! `start`: releases init from `exec.fifo`, then runs poststart hooks.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use crate::container::status_of;
use crate::state::{self, Root, Status};
use crate::{hooks, sys, Error, Result};

/// Runs `berth start <id>`.
pub fn start(root: &Root, id: &str) -> Result<()> {
    let locked = root.lock(id)?;
    let st = locked.load(id)?;
    crate::failpoint::hit("start:locked");
    match status_of(&locked, &st) {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::BadStatus(
                "cannot start a container that has stopped".into(),
            ))
        }
        Status::Running => {
            return Err(Error::BadStatus(
                "cannot start an already running container".into(),
            ))
        }
        s => {
            return Err(Error::BadStatus(format!(
                "cannot start a container in the {s} state"
            )))
        }
    }
    let fifo_path = locked.dir.join(state::EXEC_FIFO);
    let pidfd = sys::pidfd_open(st.pid).map_err(Error::sys(
        "pidfd_open",
        format!("container init {}", st.pid),
    ))?;
    // A non-blocking reader never waits for a writer; we then wait for
    // either init's byte or init's death, whichever comes first.
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .map_err(Error::io("open", &fifo_path))?;
    // The fifo's presence is what says "created" (`status_of`, as runc):
    // remove it now that init is released, before init can exec. A berth
    // killed from here on leaves either a running container or, if init
    // found no reader for its "0" (EPIPE), a stopped one; never a running
    // container that claims to be created and that a second `start` would
    // wait on.
    std::fs::remove_file(&fifo_path).map_err(Error::io("remove", &fifo_path))?;
    let mut fds = [
        libc::pollfd {
            fd: fifo.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // Read until init closes its end (at the exec) or dies. A FIFO reports
    // no hangup before its first writer came, so this cannot end early.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: two valid pollfds.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if rc < 0 {
            let e = nix::errno::Errno::last();
            if e == nix::errno::Errno::EINTR {
                continue;
            }
            return Err(Error::sys("poll", fifo_path.display())(e));
        }
        let mut eof = false;
        loop {
            match fifo.read(&mut buf) {
                Ok(0) => {
                    eof = !got.is_empty();
                    break;
                }
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::Io {
                        op: "read",
                        path: fifo_path,
                        source: e,
                    })
                }
            }
        }
        if eof || fds[1].revents != 0 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got);
    if let Some(i) = text.find('E') {
        return Err(Error::Init(text[i + 1..].to_owned()));
    }
    if !text.starts_with('0') {
        return Err(Error::Init("container init exited before start".into()));
    }
    crate::trace::phase("init released from exec.fifo and exec'd");
    crate::failpoint::hit("start:released");
    if let Some(h) = st.hooks.as_ref().and_then(|h| h.poststart().clone()) {
        let json = st.oci_json(Status::Running).to_string();
        if let Err(e) = hooks::run("poststart", &h, &json) {
            // The spec: a failed poststart hook fails start; runc kills the container.
            let _ = sys::pidfd_send_signal(&pidfd, libc::SIGKILL);
            return Err(e);
        }
    }
    Ok(())
}
