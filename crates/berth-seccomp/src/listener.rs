//! Handing the notify fd to the seccomp agent at `listenerPath`
//! (runtime-spec config-linux.md, "The Container Process State"): connect to
//! the `AF_UNIX`/`SOCK_STREAM` socket, send the container process state as
//! JSON with the fd in `SCM_RIGHTS` on the first `sendmsg(2)`, close.

use crate::{Error, Result};
use oci_spec::runtime::{ContainerProcessState, State, SECCOMP_FD_NAME};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The container process state for one seccomp fd: `fds` is
/// `["seccompFd"]`, `ociVersion` is the state's.
pub fn container_process_state(
    state: State,
    pid: i32,
    metadata: Option<String>,
) -> ContainerProcessState {
    let mut s = ContainerProcessState::default();
    s.set_version(state.version().clone());
    s.set_fds(vec![SECCOMP_FD_NAME.to_string()]);
    s.set_pid(pid);
    s.set_metadata(metadata);
    s.set_state(state);
    s
}

/// Sends `notify_fd` and `state` to the agent listening on `socket_path`.
pub fn send_listener(
    notify_fd: BorrowedFd<'_>,
    socket_path: &Path,
    state: &ContainerProcessState,
) -> Result<()> {
    let json = serde_json::to_vec(state)?;
    send_listener_json(notify_fd, socket_path, &json)
}

/// Like [`send_listener`], with the state already encoded.
pub fn send_listener_json(
    notify_fd: BorrowedFd<'_>,
    socket_path: &Path,
    json: &[u8],
) -> Result<()> {
    let err = |op: &'static str| {
        move |source: io::Error| Error::Listener {
            op,
            path: socket_path.to_path_buf(),
            source,
        }
    };
    let mut stream = UnixStream::connect(socket_path).map_err(err("connect to"))?;
    let sent = send_with_fd(&stream, json, notify_fd).map_err(err("send to"))?;
    stream.write_all(&json[sent..]).map_err(err("send to"))?;
    // One state per connection: dropping the stream closes it.
    Ok(())
}

/// Like [`send_listener_json`] on a stream connected beforehand: the
/// runtime connects in its parent, where `listenerPath` is reachable, and
/// the container's init sends after pivot_root, where it is not.
pub fn send_listener_on(
    stream: &UnixStream,
    notify_fd: BorrowedFd<'_>,
    json: &[u8],
) -> io::Result<()> {
    let sent = send_with_fd(stream, json, notify_fd)?;
    (&*stream).write_all(&json[sent..])
}

/// One sendmsg(2) of (a prefix of) `data` with `fd` as SCM_RIGHTS.
fn send_with_fd(stream: &UnixStream, data: &[u8], fd: BorrowedFd<'_>) -> io::Result<usize> {
    let raw = fd.as_raw_fd();
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points to `space` writable, aligned bytes, enough
    // for one cmsghdr carrying one int, so CMSG_FIRSTHDR is non-null and
    // CMSG_DATA has room for the fd.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), raw);
    }
    loop {
        // SAFETY: msg and everything it points to outlive the call.
        let n = unsafe { libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
