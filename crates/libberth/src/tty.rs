//! Terminals: a pty allocated from the container's own devpts and handed
//! to the caller over `--console-socket`, exactly as runc does (one
//! `sendmsg` with the master's name as data and one SCM_RIGHTS fd).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use std::os::unix::fs::FileTypeExt;

use crate::{Error, Result};

/// Sends `fd` with `name` as payload over a connected unix socket.
pub fn send_fd(sock: RawFd, name: &str, fd: RawFd) -> std::result::Result<(), Errno> {
    let iov = [std::io::IoSlice::new(name.as_bytes())];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None).map(drop)
}

/// In init, after pivot_root: opens a pty on the container's devpts,
/// sends the master to the console socket, makes the peer the controlling
/// terminal on fds 0-2 and bind-mounts it on /dev/console.
pub fn setup_console(
    sock: RawFd,
    size: Option<&oci_spec::runtime::Box>,
    bind_console: bool,
) -> Result<()> {
    let ptmx = c"/dev/pts/ptmx";
    // SAFETY: NUL-terminated path.
    let master = unsafe {
        libc::open(
            ptmx.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if master < 0 {
        return Err(Error::sys("open", "/dev/pts/ptmx")(Errno::last()));
    }
    // SAFETY: a new fd we own.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to int.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) })
        .map_err(Error::sys("unlock", "pty"))?;
    // TIOCGPTPEER opens the peer through the master, never by path.
    // SAFETY: TIOCGPTPEER takes open flags.
    let peer = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY,
        )
    };
    if peer < 0 {
        return Err(Error::sys("open", "pty peer")(Errno::last()));
    }
    // SAFETY: a new fd we own.
    let peer = unsafe { OwnedFd::from_raw_fd(peer) };
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) })
        .map_err(Error::sys("query", "pty number"))?;
    if let Some(b) = size {
        let ws = libc::winsize {
            ws_row: b.height() as u16,
            ws_col: b.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize.
        Errno::result(unsafe { libc::ioctl(peer.as_raw_fd(), libc::TIOCSWINSZ, &ws) })
            .map_err(Error::sys("set size of", "pty"))?;
    }
    send_fd(sock, "/dev/pts/ptmx", master.as_raw_fd())
        .map_err(Error::sys("send pty master to", "console socket"))?;
    drop(master);
    // SAFETY: closing the console socket, which init no longer needs.
    unsafe { libc::close(sock) };
    let pts = format!("/dev/pts/{n}");
    // init's terminal is also the container's /dev/console.
    if bind_console {
        // /dev/console may come from a bind-mounted /dev: a symlink there
        // would send the pty's bind mount onto its target
        // (CVE-2025-52565). Replace it with a plain file.
        let console = std::path::Path::new("/dev/console");
        match std::fs::symlink_metadata(console) {
            Ok(m)
                if m.file_type().is_symlink()
                    || !(m.is_file() || m.file_type().is_char_device()) =>
            {
                std::fs::remove_file(console).map_err(Error::io("remove", console))?;
                std::fs::File::create(console).map_err(Error::io("create", console))?;
            }
            Ok(_) => {}
            Err(_) => {
                std::fs::File::create(console).map_err(Error::io("create", console))?;
            }
        }
        // Mount on exactly the file checked, never through a link swapped in.
        // nix's open: std's custom flags lose O_PATH on musl.
        let target = nix::fcntl::open(
            console,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map(|fd| {
            // SAFETY: a new fd we own.
            unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
        })
        .map_err(Error::sys("open", console.display()))?;
        let target_path = format!("/proc/self/fd/{}", target.as_raw_fd());
        mount(
            Some(pts.as_str()),
            target_path.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(Error::sys("bind mount console", &pts))?;
    }
    nix::unistd::setsid().map_err(Error::sys("setsid", "init"))?;
    // SAFETY: TIOCSCTTY with 0 on our own pty peer.
    Errno::result(unsafe { libc::ioctl(peer.as_raw_fd(), libc::TIOCSCTTY, 0) })
        .map_err(Error::sys("set controlling terminal", &pts))?;
    for fd in 0..3 {
        nix::unistd::dup2(peer.as_raw_fd(), fd).map_err(Error::sys("dup pty onto", fd))?;
    }
    Ok(())
}

/// Connects to the caller's console socket (a path; abstract sockets are
/// not part of the protocol).
pub fn connect_console_socket(path: &std::path::Path) -> Result<std::os::unix::net::UnixStream> {
    std::os::unix::net::UnixStream::connect(path)
        .map_err(Error::io("connect to console socket", path))
}

/// Receives one fd sent with [`send_fd`].
pub fn recv_fd(sock: &OwnedFd) -> Result<OwnedFd> {
    let mut data = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut data)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = nix::sys::socket::recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(Error::sys("receive pty master from", "container init"))?;
    for c in msg
        .cmsgs()
        .map_err(Error::sys("read control message from", "container init"))?
    {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel installed this fd for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::Init("container init sent no pty master".into()))
}
