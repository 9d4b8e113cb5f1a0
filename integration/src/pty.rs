//! A pseudo-terminal for driving `ctr run -t`, `docker run -it` and `podman run -t`
//! as a person at a terminal would: the caller gets the slave as its controlling
//! terminal, the test reads and types on the master.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A pty pair. Everything read from the master is kept, so [`Pty::expect`] can be
/// called repeatedly and a failure shows the whole session.
pub struct Pty {
    master: File,
    slave: Mutex<Option<File>>,
    seen: Mutex<Vec<u8>>,
}

impl Pty {
    /// Opens a pty of `rows` x `cols`.
    pub fn new(rows: u16, cols: u16) -> Self {
        let mut master: libc::c_int = -1;
        let mut slave: libc::c_int = -1;
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two fds into the ints; the name and termios
        // pointers may be null; `size` is a valid winsize for the call.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty succeeded, so both fds are open and owned by nobody else.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        for fd in [master.as_raw_fd(), slave.as_raw_fd()] {
            // SAFETY: fcntl on an fd we own.
            unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        Pty {
            master: File::from(master),
            slave: Mutex::new(Some(File::from(slave))),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// A copy of the slave side, for the process to run on it.
    ///
    /// # Panics
    /// After [`Pty::close_slave`].
    pub(crate) fn slave(&self) -> File {
        let slave = self.slave.lock().expect("pty lock");
        slave
            .as_ref()
            .expect("pty slave already closed")
            .try_clone()
            .expect("dup pty slave")
    }

    /// Closes the test's own copy of the slave, so that reads see the end of the
    /// session once the process on it exits. Call after spawning.
    pub fn close_slave(&self) {
        self.slave.lock().expect("pty lock").take();
    }

    /// Types `text` on the terminal.
    pub fn send(&self, text: &str) {
        (&self.master)
            .write_all(text.as_bytes())
            .expect("write to pty master");
    }

    /// Everything read from the terminal so far.
    pub fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().expect("pty lock")).into_owned()
    }

    /// Reads until the session output contains `needle`, which must appear after
    /// everything returned by earlier calls; panics with the session so far after
    /// `timeout` or at the end of the session.
    #[track_caller]
    pub fn expect(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let start = self.seen.lock().expect("pty lock").len();
        loop {
            {
                let seen = self.seen.lock().expect("pty lock");
                let text = String::from_utf8_lossy(&seen[start..]).into_owned();
                if text.contains(needle) {
                    return text;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "timed out waiting for {needle:?} on the terminal; session so far:\n{}",
                    self.seen()
                );
            }
            if !self.read_some(left) {
                let seen = self.seen();
                if String::from_utf8_lossy(&seen.as_bytes()[start.min(seen.len())..])
                    .contains(needle)
                {
                    return seen;
                }
                panic!("the terminal session ended before {needle:?}; session:\n{seen}");
            }
        }
    }

    /// Reads whatever is left until the session ends (every slave closed) or
    /// `timeout` passes; returns the whole session.
    pub fn drain(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.read_some(left) {
                return self.seen();
            }
        }
    }

    /// Waits up to `timeout` for output and appends it; false at the end of the
    /// session (EIO once no slave is open, or EOF).
    fn read_some(&self, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.master.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n <= 0 {
            // Timeout (or EINTR): not the end yet.
            return true;
        }
        let mut buf = [0u8; 4096];
        match (&self.master).read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.seen
                    .lock()
                    .expect("pty lock")
                    .extend_from_slice(&buf[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => true,
            Err(_) => false,
        }
    }
}
