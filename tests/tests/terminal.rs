//! `process.terminal` with `--console-socket`: the runtime sends the pty
//! master over the socket as runc does (one message, one SCM_RIGHTS fd, a
//! non-empty name as payload), and the container's stdio is the pty.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use berth_e2e::{recv_fd, unique_id, Bundle, Runtime};

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
