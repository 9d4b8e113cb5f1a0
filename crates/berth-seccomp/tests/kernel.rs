//! Filters installed in the running kernel: each test forks a child that
//! sets no_new_privs, installs a filter and makes raw syscalls, and the
//! parent checks how the child ended. Needs a kernel with seccomp (CI runs
//! these as root).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use berth_seccomp::{
    action_available, bpf, compile, container_process_state, flag_available, send_listener_json,
    Program,
};
use oci_spec::runtime::{LinuxSeccomp, State};
use serde_json::json;
use std::ffi::CString;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

fn profile(v: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("valid profile")
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Forks; the child installs `prog` (with no_new_privs set) and runs `body`,
/// whose return value is its exit code. Returns the wait status.
fn in_child(prog: &Program, body: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only makes syscalls (install does not allocate on
    // success) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            // SAFETY: leaving the child.
            unsafe { libc::_exit(200) };
        }
        let code = match prog.install() {
            Ok(_) => body(),
            Err(_) => 201,
        };
        // SAFETY: leaving the child without running the harness's code.
        unsafe { libc::_exit(code) };
    }
    wait(pid)
}

fn wait(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    status
}

fn exit_code(status: i32) -> Option<i32> {
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
}

fn signal(status: i32) -> Option<i32> {
    libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status))
}

fn mkdir(path: &CString, mode: libc::c_long) -> (i64, i32) {
    // SAFETY: raw mkdir(2) with a valid C string.
    let r = unsafe { libc::syscall(libc::SYS_mkdir, path.as_ptr(), mode) };
    (r, errno())
}

fn mkdirat(path: &CString, mode: libc::c_long) -> (i64, i32) {
    // SAFETY: raw mkdirat(2) with a valid C string.
    let r = unsafe { libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, path.as_ptr(), mode) };
    (r, errno())
}

#[test]
fn errno_actions_and_argument_conditions() {
    let prog = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
             "args": [{"index": 2, "value": 0o700, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getppid"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}
        ]
    })))
    .unwrap();
    let root = CString::new("/").unwrap();
    let status = in_child(&prog, || {
        // denied with the default errno, EPERM
        if mkdir(&root, 0o755) != (-1, libc::EPERM) {
            return 1;
        }
        // denied with errnoRet, only for mode 0700
        if mkdirat(&root, 0o700) != (-1, libc::ENOSYS) {
            return 2;
        }
        // allowed: the kernel's own answer
        if mkdirat(&root, 0o755) != (-1, libc::EEXIST) {
            return 3;
        }
        // TRACE without a tracer: the syscall fails with ENOSYS
        // SAFETY: getppid has no arguments.
        if unsafe { libc::syscall(libc::SYS_getppid) } != -1 || errno() != libc::ENOSYS {
            return 4;
        }
        0
    });
    assert_eq!(exit_code(status), Some(0), "status {status:#x}");
}

#[test]
fn kill_and_trap_actions() {
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"] {
        let prog = compile(&profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": action}]
        })))
        .unwrap();
        let status = in_child(&prog, || {
            // SAFETY: getppid has no arguments.
            unsafe { libc::syscall(libc::SYS_getppid) };
            0
        });
        assert_eq!(signal(status), Some(libc::SIGSYS), "{action}: {status:#x}");
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x32_syscalls_are_a_bad_arch_unless_listed() {
    let prog = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW"}))).unwrap();
    let status = in_child(&prog, || {
        // getpid through the x32 ABI
        // SAFETY: a raw syscall without arguments.
        unsafe { libc::syscall(39 | 0x4000_0000) };
        0
    });
    assert_eq!(signal(status), Some(libc::SIGSYS), "status {status:#x}");

    // Listed: the filter lets it through (the kernel may lack x32: ENOSYS).
    let prog = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X32"]
    })))
    .unwrap();
    let status = in_child(&prog, || {
        // SAFETY: a raw syscall without arguments.
        unsafe { libc::syscall(39 | 0x4000_0000) };
        0
    });
    assert_eq!(exit_code(status), Some(0), "status {status:#x}");
}

#[test]
fn filter_flags_install() {
    for f in [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    ] {
        let prog = compile(&profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": [f],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_LOG"},
                         {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9}]
        })))
        .unwrap();
        let status = in_child(&prog, || {
            // SAFETY: getppid has no arguments.
            let r = unsafe { libc::syscall(libc::SYS_getppid) };
            if r == -1 && errno() == 9 {
                0
            } else {
                1
            }
        });
        assert_eq!(exit_code(status), Some(0), "{f}: status {status:#x}");
    }
}

#[test]
fn kernel_support_probes() {
    for flag in [1, 2, 4, 8] {
        assert!(flag_available(flag), "flag {flag:#x}");
    }
    assert!(!flag_available(1 << 31));
    for a in [
        bpf::SECCOMP_RET_KILL_PROCESS,
        bpf::SECCOMP_RET_KILL_THREAD,
        bpf::SECCOMP_RET_TRAP,
        bpf::SECCOMP_RET_ERRNO,
        bpf::SECCOMP_RET_USER_NOTIF,
        bpf::SECCOMP_RET_TRACE,
        bpf::SECCOMP_RET_LOG,
        bpf::SECCOMP_RET_ALLOW,
    ] {
        assert!(action_available(a), "action {a:#x}");
    }
    assert!(!action_available(0x1234_0000));
}

// linux/seccomp.h
#[repr(C)]
#[derive(Default)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    data: bpf::SeccompData,
}
#[repr(C)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}
const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;

/// Receives one message and one fd over SCM_RIGHTS.
fn recv_with_fd(sock: &std::os::unix::net::UnixStream) -> (Vec<u8>, OwnedFd) {
    let mut data = vec![0u8; 8192];
    let mut cbuf = [0u64; 8];
    let mut iov = [IoSliceMut::new(&mut data)];
    // SAFETY: msghdr is plain data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr().cast();
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: msg points to live buffers.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: the kernel filled the control buffer; check it is SCM_RIGHTS.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null());
        assert_eq!(
            ((*c).cmsg_level, (*c).cmsg_type),
            (libc::SOL_SOCKET, libc::SCM_RIGHTS)
        );
        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>())
    };
    data.truncate(n as usize);
    // SAFETY: the fd arrived with the message and is ours now.
    (data, unsafe { OwnedFd::from_raw_fd(fd) })
}

#[test]
fn notify_through_the_listener_socket() {
    let dir = std::env::temp_dir().join(format!("berth-seccomp-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "MKNOD=/dev/null",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    let prog = compile(&p).unwrap();
    assert!(prog.uses_notify());
    let state: State = serde_json::from_value(json!({
        "ociVersion": "1.2.0", "id": "c1", "status": "creating", "pid": 4242, "bundle": "/b"
    }))
    .unwrap();
    let cps = container_process_state(state, 4242, p.listener_metadata().clone());
    let payload = serde_json::to_vec(&cps).unwrap();
    let target = CString::new(dir.join("made-by-child").to_str().unwrap()).unwrap();

    // SAFETY: the child makes syscalls only and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: prctl with integer arguments; _exit leaves the child.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(200);
            }
        }
        let code = match prog.install() {
            Ok(Some(fd)) => {
                if send_listener_json(fd.as_fd(), &sock, &payload).is_err() {
                    202
                } else {
                    drop(fd);
                    // Blocks until the agent answers.
                    let (r, e) = mkdir(&target, 0o755);
                    if r == -1 {
                        e
                    } else {
                        203
                    }
                }
            }
            Ok(None) => 204,
            Err(_) => 201,
        };
        // SAFETY: leaving the child.
        unsafe { libc::_exit(code) };
    }

    let (conn, _) = listener.accept().unwrap();
    let (msg, notify_fd) = recv_with_fd(&conn);
    let got: serde_json::Value = serde_json::from_slice(&msg).unwrap();
    assert_eq!(got["fds"], json!(["seccompFd"]));
    assert_eq!(got["metadata"], "MKNOD=/dev/null");
    assert_eq!(got["pid"], 4242);
    assert_eq!(got["state"]["id"], "c1");
    assert_eq!(got["ociVersion"], "1.2.0");

    let mut req = SeccompNotif::default();
    // SAFETY: NOTIF_RECV fills a struct seccomp_notif.
    let r = unsafe { libc::ioctl(notify_fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut req) };
    assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
    assert_eq!(req.pid, pid as u32);
    assert_eq!(req.data.nr as i64, libc::SYS_mkdir);
    let resp = SeccompNotifResp {
        id: req.id,
        val: 0,
        error: -libc::EXDEV,
        flags: 0,
    };
    // SAFETY: NOTIF_SEND reads a struct seccomp_notif_resp.
    let r = unsafe { libc::ioctl(notify_fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    assert_eq!(r, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());

    let status = wait(pid);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(exit_code(status), Some(libc::EXDEV), "status {status:#x}");
}
