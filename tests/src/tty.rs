//! Terminals: the console-socket receiver, and a pty the test owns so that the
//! runtime can be run "from a terminal" (`run`/`exec -t` without `--console-socket`).

use std::ffi::CStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Receives one fd the way go-runc and conmon do: one recvmsg, a payload below
/// 4096 bytes, exactly one SCM_RIGHTS with one fd. Returns the payload (the name
/// runc gives the master) and the fd.
pub fn recv_fd(sock: &UnixStream) -> (String, OwnedFd) {
    let mut data = [0u8; 4096];
    // Room for exactly one int, as CmsgSpace(4) in go-runc.
    let mut control = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid starting point.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points at live buffers of the sizes given; MSG_CMSG_CLOEXEC keeps
    // the received fd out of processes other tests spawn meanwhile.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n > 0 && (n as usize) < 4096, "recvmsg returned {n}");
    // SAFETY: CMSG_* walk the control buffer filled by the kernel.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        assert!(!cmsg.is_null(), "no control message");
        assert_eq!((*cmsg).cmsg_level, libc::SOL_SOCKET);
        assert_eq!((*cmsg).cmsg_type, libc::SCM_RIGHTS);
        assert_eq!(
            (*cmsg).cmsg_len as usize,
            libc::CMSG_LEN(4) as usize,
            "exactly one fd"
        );
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const i32);
        let name = String::from_utf8_lossy(&data[..n as usize]).into_owned();
        (name, OwnedFd::from_raw_fd(fd))
    }
}

/// A pseudo-terminal pair allocated by the test.
///
/// Both ends are close-on-exec, so that containers other tests start meanwhile do
/// not inherit the slave (which would keep the master from ever seeing EIO).
pub struct Pty {
    master: File,
    slave: Option<OwnedFd>,
}

impl Pty {
    /// Opens a pty whose window size is `rows` x `cols` (TIOCSWINSZ before anyone
    /// uses it).
    pub fn open(rows: u16, cols: u16) -> Self {
        // SAFETY: posix_openpt returns a new fd or -1; no memory is involved.
        let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        assert!(
            master >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: we own the fd just returned.
        let master = unsafe { File::from_raw_fd(master) };
        let fd = master.as_raw_fd();
        // SAFETY: grantpt/unlockpt on the master we own.
        let rc = unsafe { libc::grantpt(fd) | libc::unlockpt(fd) };
        assert_eq!(rc, 0, "grantpt: {}", std::io::Error::last_os_error());
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: ptsname_r writes a NUL-terminated name of at most name.len() bytes.
        let rc = unsafe { libc::ptsname_r(fd, name.as_mut_ptr(), name.len()) };
        assert_eq!(
            rc,
            0,
            "ptsname_r: {}",
            std::io::Error::from_raw_os_error(rc)
        );
        // SAFETY: open(2) on the NUL-terminated name ptsname_r filled in.
        let slave = unsafe {
            libc::open(
                name.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            )
        };
        assert!(
            slave >= 0,
            "open {:?}: {}",
            // SAFETY: ptsname_r NUL-terminated the buffer.
            unsafe { CStr::from_ptr(name.as_ptr()) },
            std::io::Error::last_os_error()
        );
        // SAFETY: we own the fd just returned.
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        let pty = Pty {
            master,
            slave: Some(slave),
        };
        pty.set_size(rows, cols);
        pty
    }

    /// The slave end, to hand to the runtime (see [`crate::Invocation::terminal`]).
    /// The test must not keep a copy: the master reports EIO only once every slave
    /// fd is closed.
    pub fn take_slave(&mut self) -> OwnedFd {
        self.slave.take().expect("the slave is taken once")
    }

    /// Sets the window size (TIOCSWINSZ on the master). The kernel sends SIGWINCH
    /// to the foreground process group of the slave's session.
    pub fn set_size(&self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which is live.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }

    /// The terminal's termios (Linux answers tcgetattr on the master with the
    /// slave's settings).
    pub fn termios(&self) -> libc::termios {
        // SAFETY: termios is plain data; tcgetattr fills it in.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: tcgetattr writes into the live struct.
        let rc = unsafe { libc::tcgetattr(self.master.as_raw_fd(), &mut t) };
        assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
        t
    }

    /// Whether the terminal is in raw mode (no canonical input, no echo), as a
    /// runtime attaching it sets it.
    pub fn is_raw(&self) -> bool {
        let t = self.termios();
        t.c_lflag & (libc::ICANON | libc::ECHO) == 0
    }

    /// Types `text` into the terminal.
    pub fn write(&self, text: &str) {
        (&self.master)
            .write_all(text.as_bytes())
            .expect("write to pty master");
    }

    /// Starts collecting what the terminal prints.
    pub fn reader(&self) -> TtyReader {
        TtyReader::start(self.master.try_clone().expect("dup pty master"))
    }
}

/// Collects everything read from a pty master in a background thread, until EIO
/// (every slave fd closed) or EOF.
pub struct TtyReader {
    buf: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl TtyReader {
    pub fn start(mut master: File) -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let thread = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match master.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => sink
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    // EIO: the last slave fd was closed.
                    Err(_) => break,
                }
            }
        });
        TtyReader {
            buf,
            thread: Some(thread),
        }
    }

    /// The output so far, with the terminal's `\r` removed.
    pub fn text(&self) -> String {
        let raw = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&raw).replace('\r', "")
    }

    /// Waits until the output contains `needle`; returns whether it did in time.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        crate::wait_until(timeout, || self.text().contains(needle))
    }

    /// Waits until the other side is closed for good (EIO); returns whether that
    /// happened within `timeout`.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let closed = crate::wait_until(timeout, || {
            self.thread.as_ref().is_none_or(JoinHandle::is_finished)
        });
        if closed {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
        closed
    }
}
