//! The ABIs a filter can match and their syscall numbers.

use crate::{tables, Error, Result};
use oci_spec::runtime::Arch as OciArch;

/// `__X32_SYSCALL_BIT`: x32 syscalls are x86_64 syscalls with this bit set
/// (arch/x86/include/uapi/asm/unistd.h).
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `socketcall(2)` on x86 and its call numbers (include/uapi/linux/net.h).
const X86_SOCKETCALL: u32 = 102;
const SOCKET_CALLS: &[(&str, u64)] = &[
    ("socket", 1),
    ("bind", 2),
    ("connect", 3),
    ("listen", 4),
    ("accept", 5),
    ("getsockname", 6),
    ("getpeername", 7),
    ("socketpair", 8),
    ("send", 9),
    ("recv", 10),
    ("sendto", 11),
    ("recvfrom", 12),
    ("shutdown", 13),
    ("setsockopt", 14),
    ("getsockopt", 15),
    ("sendmsg", 16),
    ("recvmsg", 17),
    ("accept4", 18),
    ("recvmmsg", 19),
    ("sendmmsg", 20),
];
/// `ipc(2)` on x86 and its call numbers (include/uapi/linux/ipc.h).
const X86_IPC: u32 = 117;
const IPC_CALLS: &[(&str, u64)] = &[
    ("semop", 1),
    ("semget", 2),
    ("semctl", 3),
    ("semtimedop", 4),
    ("msgsnd", 11),
    ("msgrcv", 12),
    ("msgget", 13),
    ("msgctl", 14),
    ("shmat", 21),
    ("shmdt", 22),
    ("shmget", 23),
    ("shmctl", 24),
];

/// A syscall ABI berth can filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// `SCMP_ARCH_X86_64`
    X86_64,
    /// `SCMP_ARCH_X86` (i386)
    X86,
    /// `SCMP_ARCH_X32`
    X32,
    /// `SCMP_ARCH_AARCH64`
    Aarch64,
    /// `SCMP_ARCH_ARM` (EABI)
    Arm,
}

/// One syscall number a rule applies to on an ABI. On x86, socket and IPC
/// calls also exist multiplexed: then the rule's first argument is replaced
/// by an equality test on the call number, as libseccomp does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub nr: u32,
    pub mux_call: Option<u64>,
}

impl Arch {
    /// The ABI berth itself runs as, or `None` on an unsupported CPU.
    pub fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "x86") {
            Some(Arch::X86)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else if cfg!(target_arch = "arm") {
            Some(Arch::Arm)
        } else {
            None
        }
    }

    /// The libseccomp/OCI name, e.g. `SCMP_ARCH_X86_64`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::X86 => "SCMP_ARCH_X86",
            Arch::X32 => "SCMP_ARCH_X32",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
            Arch::Arm => "SCMP_ARCH_ARM",
        }
    }

    /// The `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch`
    /// (include/uapi/linux/audit.h). x32 shares x86_64's.
    pub fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => 0xc000_003e,
            Arch::X86 => 0x4000_0003,
            Arch::Aarch64 => 0xc000_00b7,
            Arch::Arm => 0x4000_0028,
        }
    }

    /// Whether libseccomp compares only the low 32 bits of arguments. It
    /// does so for the 32-bit ABIs, x32 included (`long` is 32 bits there).
    pub(crate) fn args_32bit(self) -> bool {
        matches!(self, Arch::X86 | Arch::X32 | Arch::Arm)
    }

    /// Maps an OCI `architectures` entry; `SCMP_ARCH_NATIVE` is `native`.
    pub(crate) fn from_oci(arch: OciArch, native: Arch) -> Result<Arch> {
        Ok(match arch {
            OciArch::ScmpArchNative => native,
            OciArch::ScmpArchX86_64 => Arch::X86_64,
            OciArch::ScmpArchX86 => Arch::X86,
            OciArch::ScmpArchX32 => Arch::X32,
            OciArch::ScmpArchAarch64 => Arch::Aarch64,
            OciArch::ScmpArchArm => Arch::Arm,
            other => return Err(Error::UnsupportedArch(other.to_string())),
        })
    }

    fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Arch::X86_64 => tables::X86_64,
            Arch::X86 => tables::X86,
            Arch::X32 => tables::X32,
            Arch::Aarch64 => tables::AARCH64,
            Arch::Arm => tables::ARM,
        }
    }

    /// The number of a syscall on this ABI, as `seccomp_data.nr` carries it
    /// (x32 numbers include `__X32_SYSCALL_BIT`); `None` if the ABI has no
    /// such syscall.
    pub fn syscall_number(self, name: &str) -> Option<u32> {
        let table = self.table();
        let i = table.binary_search_by(|(n, _)| (*n).cmp(name)).ok()?;
        let nr = table[i].1;
        Some(if self == Arch::X32 {
            nr | X32_SYSCALL_BIT
        } else {
            nr
        })
    }

    /// Every syscall this ABI has, by name, with its `seccomp_data.nr`.
    pub fn syscalls(self) -> impl Iterator<Item = (&'static str, u32)> {
        let bit = if self == Arch::X32 {
            X32_SYSCALL_BIT
        } else {
            0
        };
        self.table().iter().map(move |&(n, nr)| (n, nr | bit))
    }

    /// Every syscall number a rule for `name` must be added under, in the
    /// order libseccomp adds them (multiplexed form first).
    pub(crate) fn resolve(self, name: &str) -> Vec<Resolved> {
        let mut out = Vec::with_capacity(2);
        if self == Arch::X86 {
            let muxed = SOCKET_CALLS
                .iter()
                .map(|c| (X86_SOCKETCALL, c))
                .chain(IPC_CALLS.iter().map(|c| (X86_IPC, c)))
                .find(|(_, (n, _))| *n == name);
            if let Some((nr, (_, call))) = muxed {
                out.push(Resolved {
                    nr,
                    mux_call: Some(*call),
                });
            }
        }
        if let Some(nr) = self.syscall_number(name) {
            out.push(Resolved { nr, mux_call: None });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for arch in [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64, Arch::Arm] {
            let t = arch.table();
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "{arch:?}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(Arch::X86_64.syscall_number("mkdir"), Some(83));
        assert_eq!(Arch::X86.syscall_number("mkdir"), Some(39));
        assert_eq!(Arch::X32.syscall_number("mkdir"), Some(0x4000_0053));
        assert_eq!(Arch::X32.syscall_number("rt_sigaction"), Some(0x4000_0200));
        assert_eq!(Arch::Arm.syscall_number("set_tls"), Some(0xf0005));
        assert_eq!(Arch::Aarch64.syscall_number("mkdir"), None);
        assert_eq!(Arch::Aarch64.syscall_number("mkdirat"), Some(34));
    }

    #[test]
    fn x86_socketcall_is_multiplexed() {
        assert_eq!(
            Arch::X86.resolve("socket"),
            vec![
                Resolved {
                    nr: 102,
                    mux_call: Some(1)
                },
                Resolved {
                    nr: 359,
                    mux_call: None
                }
            ]
        );
        assert_eq!(
            Arch::X86.resolve("send"),
            vec![Resolved {
                nr: 102,
                mux_call: Some(9)
            }]
        );
        assert_eq!(Arch::X86_64.resolve("send"), vec![]);
        assert_eq!(Arch::X86.resolve("shmget")[0].nr, 117);
    }
}
