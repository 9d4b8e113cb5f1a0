//! Installing a compiled filter: seccomp(2) with the profile's flags, after
//! checking that the running kernel knows every flag and action used.
//!
//! Installing needs `no_new_privs` or `CAP_SYS_ADMIN` (seccomp(2), EACCES);
//! the caller orders that (see the crate documentation). Nothing here
//! allocates on the success path, so [`Program::install`] is fine to call in
//! a freshly forked child.

use crate::bpf::{self, SECCOMP_RET_ACTION_FULL};
use crate::compile::{
    Program, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_FILTER_FLAG_SPEC_ALLOW, SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
};
use crate::{Error, Result};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_GET_ACTION_AVAIL: libc::c_ulong = 2;
const SECCOMP_GET_NOTIF_SIZES: libc::c_ulong = 3;

fn seccomp(op: libc::c_ulong, flags: libc::c_ulong, arg: *mut libc::c_void) -> io::Result<i64> {
    // SAFETY: seccomp(2) reads (or, for GET_NOTIF_SIZES, writes) at most the
    // object `arg` points to; every caller passes a valid pointer to the
    // object the operation expects, or NULL to probe.
    let rc = unsafe { libc::syscall(libc::SYS_seccomp, op, flags, arg) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Whether the kernel accepts the `SECCOMP_FILTER_FLAG_*` combination
/// `flags`. Probes as libseccomp does: with a NULL program, a kernel that
/// knows the flags gets as far as copying the program and fails with EFAULT.
pub fn flag_available(flags: u32) -> bool {
    let probe = seccomp(
        SECCOMP_SET_MODE_FILTER,
        libc::c_ulong::from(flags),
        std::ptr::null_mut(),
    );
    matches!(probe, Err(e) if e.raw_os_error() == Some(libc::EFAULT))
}

/// Whether the kernel implements the action of filter return value `ret`
/// (SECCOMP_GET_ACTION_AVAIL, Linux 4.14).
pub fn action_available(ret: u32) -> bool {
    let mut action = ret & SECCOMP_RET_ACTION_FULL;
    seccomp(
        SECCOMP_GET_ACTION_AVAIL,
        0,
        std::ptr::addr_of_mut!(action).cast(),
    )
    .is_ok()
}

/// `struct seccomp_notif_sizes` (linux/seccomp.h).
#[repr(C)]
#[derive(Default)]
struct NotifSizes {
    notif: u16,
    resp: u16,
    data: u16,
}

fn flag_name(flag: u32) -> &'static str {
    match flag {
        SECCOMP_FILTER_FLAG_TSYNC => "SECCOMP_FILTER_FLAG_TSYNC",
        SECCOMP_FILTER_FLAG_LOG => "SECCOMP_FILTER_FLAG_LOG",
        SECCOMP_FILTER_FLAG_SPEC_ALLOW => "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        SECCOMP_FILTER_FLAG_NEW_LISTENER => "SECCOMP_FILTER_FLAG_NEW_LISTENER",
        SECCOMP_FILTER_FLAG_TSYNC_ESRCH => "SECCOMP_FILTER_FLAG_TSYNC_ESRCH",
        SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV => "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        _ => "unknown flag",
    }
}

impl Program {
    /// The flags seccomp(2) gets: the profile's, plus NEW_LISTENER for a
    /// notify filter, plus TSYNC_ESRCH when TSYNC and NEW_LISTENER meet (the
    /// kernel refuses that pair otherwise, as both report through the
    /// return value).
    pub fn install_flags(&self) -> u32 {
        let mut flags = self.flags;
        if self.notify {
            flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
            if flags & SECCOMP_FILTER_FLAG_TSYNC != 0 {
                flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
            }
        }
        flags
    }

    /// Checks that the running kernel supports every flag and action of the
    /// filter. Cheap (a few syscalls); call it in the parent to fail before
    /// forking. [`install`](Self::install) checks again.
    pub fn check_kernel_support(&self) -> Result<()> {
        let flags = self.install_flags();
        for bit in 0..32 {
            let flag = 1u32 << bit;
            if flags & flag == 0 {
                continue;
            }
            // The kernel validates some flags only in combination.
            let mut probe = flag;
            if flag & (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV | SECCOMP_FILTER_FLAG_TSYNC_ESRCH)
                != 0
            {
                probe |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
            }
            if !flag_available(probe) {
                return Err(Error::FlagUnsupported(flag_name(flag)));
            }
        }
        if self.notify {
            let mut sizes = NotifSizes::default();
            let ok = seccomp(
                SECCOMP_GET_NOTIF_SIZES,
                0,
                std::ptr::addr_of_mut!(sizes).cast(),
            );
            if ok.is_err() {
                return Err(Error::ActionUnsupported("SCMP_ACT_NOTIFY"));
            }
        }
        for &a in &self.actions {
            if !action_available(a) {
                return Err(Error::ActionUnsupported(bpf::action_name(a)));
            }
        }
        Ok(())
    }

    /// Installs the filter on the calling thread (all threads with TSYNC).
    /// Returns the notify listener fd when the filter has SCMP_ACT_NOTIFY
    /// rules: hand it to the runtime parent, which sends it to the agent at
    /// `listenerPath` ([`crate::send_listener`]).
    pub fn install(&self) -> Result<Option<OwnedFd>> {
        self.check_kernel_support()?;
        let prog = libc::sock_fprog {
            // compile() refuses programs longer than BPF_MAXINSNS (4096).
            len: self.filter.len() as u16,
            filter: self.filter.as_ptr().cast_mut().cast(),
        };
        let flags = self.install_flags();
        let fd = seccomp(
            SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            std::ptr::addr_of!(prog).cast_mut().cast(),
        )
        .map_err(Error::Install)?;
        if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
            return Ok(None);
        }
        // SAFETY: with NEW_LISTENER, seccomp(2) returns a new file descriptor
        // that nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }
}
