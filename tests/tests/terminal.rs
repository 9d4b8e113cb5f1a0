//! `process.terminal` with `--console-socket`: the runtime sends the pty
//! master over the socket as runc does (one message, one SCM_RIGHTS fd, a
//! non-empty name as payload), and the container's stdio is the pty.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use berth_e2e::{unique_id, Bundle, Runtime};

/// Receives one fd the way go-runc and conmon do: one recvmsg, a payload
/// below 4096 bytes, exactly one SCM_RIGHTS with one fd.
fn recv_fd(sock: &std::os::unix::net::UnixStream) -> (String, OwnedFd) {
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
    // SAFETY: msg points at live buffers of the sizes given.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
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

#[test]
fn console_socket_receives_the_pty_master() {
    let rt = Runtime::new();
    let id = unique_id("tty");
    let dir = tempfile::tempdir().expect("tempdir");
    let sock_path = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).expect("bind console socket");
    let mut bundle = Bundle::new();
    bundle.sh("tty; stty size; test -t 0 && test -t 1 && echo ttys; ls -l /dev/console | cut -c1");
    {
        let c = bundle.config_mut();
        c["process"]["terminal"] = true.into();
        c["process"]["consoleSize"] = serde_json::json!({"height": 33, "width": 101});
    }
    bundle.save();
    let before = rt.leaks(&id, &bundle);
    let sock = sock_path.display().to_string();
    rt.create_with(&id, &bundle, &["--console-socket", &sock])
        .ok();
    let (conn, _) = listener.accept().expect("accept");
    let (name, master) = recv_fd(&conn);
    assert!(!name.is_empty(), "the payload names the master");
    assert_eq!(
        // SAFETY: isatty on the fd we just received.
        unsafe { libc::isatty(master.as_raw_fd()) },
        1,
        "the fd is a tty"
    );
    rt.start(&id).ok();
    let mut master = File::from(master);
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    // Read until the container exits and the pty reports EIO.
    while Instant::now() < deadline {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out).replace('\r', "");
    assert_eq!(text, "/dev/pts/0\n33 101\nttys\nc\n", "{text:?}");
    rt.wait_status(&id, "stopped");
    rt.delete(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn terminal_without_console_socket_is_refused_by_create() {
    let rt = Runtime::new();
    let id = unique_id("tty-nosock");
    let mut bundle = Bundle::new();
    bundle.config_mut()["process"]["terminal"] = true.into();
    bundle.save();
    let before = rt.leaks(&id, &bundle);
    rt.create(&id, &bundle)
        .fails()
        .stderr_mentions(&["console socket"]);
    rt.assert_nothing_left(&id, &bundle, &before);
}
