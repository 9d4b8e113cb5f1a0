//! The attaching side: connects to a container's monitor, copies the
//! user's stdin in and the container's output out, forwards signals (no
//! terminal) or puts the user's terminal in raw mode and follows its size
//! (terminal), and returns the container's exit code.

use crate::attach::{self, read_frame, write_frame};
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Connects to `sock`, retrying while `alive()` says the monitor is still
/// coming up.
pub fn connect(sock: &Path, alive: impl Fn() -> bool) -> io::Result<UnixStream> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match UnixStream::connect(sock) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() < deadline && alive() => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Blocks the signals an attached client forwards, on the calling thread
/// and so on every thread it spawns afterwards: call it before spawning
/// any, or a signal may go to a thread that has them unblocked and kill
/// pier instead of reaching the container.
pub fn block_signals() {
    // SAFETY: sigset operations on a set we own; pthread_sigmask on this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGWINCH,
        ] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Restores the terminal's settings when dropped.
struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    fn enter(fd: i32) -> Option<RawMode> {
        // SAFETY: termios is plain data; tcgetattr fills it.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is a terminal; t is ours.
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        // SAFETY: cfmakeraw edits the struct we own.
        unsafe { libc::cfmakeraw(&mut t) };
        // SAFETY: as above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring settings read from the same terminal.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

fn winsize(fd: i32) -> Option<(u16, u16)> {
    // SAFETY: winsize is plain data filled by TIOCGWINSZ.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0).then_some((ws.ws_row, ws.ws_col))
}

/// Attaches to the monitor at `sock`. `stdin`: send ours; `tty`: the
/// container has a terminal; `on_signal` is called with signals to
/// forward when it has none. Returns the exit code the monitor reports,
/// or `None` when the user detached (ctrl-p ctrl-q).
pub fn attach(
    conn: UnixStream,
    stdin: bool,
    tty: bool,
    on_signal: impl Fn(i32) + Send + 'static,
) -> io::Result<Option<i32>> {
    let mut conn = conn;
    conn.write_all(format!("{{\"stdin\":{stdin}}}\n").as_bytes())?;
    // Signals go to a thread of ours, not to the default handlers.
    block_signals();
    let term_fd = io::stdin().as_raw_fd();
    let interactive_tty = tty && io::stdin().is_terminal();
    let _raw = if interactive_tty && stdin {
        RawMode::enter(term_fd)
    } else {
        None
    };
    let writer = conn.try_clone()?;
    if interactive_tty {
        if let Some((r, c)) = winsize(term_fd) {
            let mut w = writer.try_clone()?;
            write_frame(&mut w, attach::RESIZE, format!("{r} {c}").as_bytes())?;
        }
    }
    {
        let mut w = writer.try_clone()?;
        std::thread::spawn(move || {
            // SAFETY: as above.
            let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            unsafe {
                libc::sigemptyset(&mut set);
                for s in [
                    libc::SIGINT,
                    libc::SIGTERM,
                    libc::SIGHUP,
                    libc::SIGQUIT,
                    libc::SIGWINCH,
                ] {
                    libc::sigaddset(&mut set, s);
                }
            }
            loop {
                let mut sig = 0;
                // SAFETY: waits on the set built above.
                if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                    return;
                }
                if sig == libc::SIGWINCH {
                    if let Some((r, c)) = winsize(term_fd) {
                        let _ = write_frame(&mut w, attach::RESIZE, format!("{r} {c}").as_bytes());
                    }
                } else if !tty {
                    on_signal(sig);
                }
            }
        });
    }
    // Docker's detach keys on a terminal: ctrl-p ctrl-q leaves the
    // container running.
    let (detach_tx, detach_rx) = std::sync::mpsc::channel::<()>();
    if stdin {
        let mut w = writer;
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut input = io::stdin().lock();
            let mut saw_ctrl_p = false;
            loop {
                match input.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = write_frame(&mut w, attach::STDIN_EOF, b"");
                        return;
                    }
                    Ok(n) => {
                        let data = &buf[..n];
                        if interactive_tty {
                            for (i, &b) in data.iter().enumerate() {
                                if saw_ctrl_p && b == 0x11 {
                                    let _ = write_frame(
                                        &mut w,
                                        attach::STDIN,
                                        &data[..i.saturating_sub(1)],
                                    );
                                    let _ = detach_tx.send(());
                                    let _ = w.shutdown(std::net::Shutdown::Both);
                                    return;
                                }
                                saw_ctrl_p = b == 0x10;
                            }
                        }
                        if write_frame(&mut w, attach::STDIN, data).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    let (mut out, mut err) = (io::stdout().lock(), io::stderr());
    loop {
        match read_frame(&mut conn)? {
            Some((attach::STDOUT, d)) => {
                out.write_all(&d)?;
                out.flush()?;
            }
            Some((attach::STDERR, d)) => {
                err.write_all(&d)?;
            }
            Some((attach::EXIT, d)) => {
                return Ok(Some(
                    String::from_utf8_lossy(&d).trim().parse().unwrap_or(255),
                ));
            }
            Some(_) => {}
            None if detach_rx.try_recv().is_ok() => {
                drop(_raw);
                eprintln!("\r\nread escape sequence");
                return Ok(None);
            }
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the container's monitor went away",
                ))
            }
        }
    }
}
