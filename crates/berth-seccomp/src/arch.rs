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

    /// The open-addressing index of [`Self::table`], built at compile time.
    fn index(self) -> &'static [u16; INDEX_SLOTS] {
        match self {
            Arch::X86_64 => &X86_64_INDEX,
            Arch::X86 => &X86_INDEX,
            Arch::X32 => &X32_INDEX,
            Arch::Aarch64 => &AARCH64_INDEX,
            Arch::Arm => &ARM_INDEX,
        }
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
        // A hash probe, not a binary search: a compile looks up every name
        // of the profile once per ABI, and the search was a third of it.
        let index = self.index();
        let mut slot = name_hash(name.as_bytes()) as usize & (INDEX_SLOTS - 1);
        let nr = loop {
            let i = index[slot];
            if i == EMPTY {
                return None;
            }
            let (n, nr) = table[usize::from(i)];
            if n == name {
                break nr;
            }
            slot = (slot + 1) & (INDEX_SLOTS - 1);
        };
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

/// Slots of each name index: a power of two, over twice the largest table
/// (so probes stay short and an empty slot always ends a search).
const INDEX_SLOTS: usize = 2048;
const EMPTY: u16 = u16::MAX;

/// FNV-1a, usable in const context.
const fn name_hash(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    h
}

/// Positions of `table`'s entries by name hash, linear probing.
const fn build_index(table: &[(&str, u32)]) -> [u16; INDEX_SLOTS] {
    assert!(
        table.len() * 2 < INDEX_SLOTS,
        "syscall table too large for its index"
    );
    let mut slots = [EMPTY; INDEX_SLOTS];
    let mut i = 0;
    while i < table.len() {
        let mut s = name_hash(table[i].0.as_bytes()) as usize & (INDEX_SLOTS - 1);
        while slots[s] != EMPTY {
            s = (s + 1) & (INDEX_SLOTS - 1);
        }
        slots[s] = i as u16;
        i += 1;
    }
    slots
}

static X86_64_INDEX: [u16; INDEX_SLOTS] = build_index(tables::X86_64);
static X86_INDEX: [u16; INDEX_SLOTS] = build_index(tables::X86);
static X32_INDEX: [u16; INDEX_SLOTS] = build_index(tables::X32);
static AARCH64_INDEX: [u16; INDEX_SLOTS] = build_index(tables::AARCH64);
static ARM_INDEX: [u16; INDEX_SLOTS] = build_index(tables::ARM);

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
    fn the_index_finds_every_name_and_only_those() {
        for arch in [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64, Arch::Arm] {
            for &(name, nr) in arch.table() {
                let bit = if arch == Arch::X32 {
                    X32_SYSCALL_BIT
                } else {
                    0
                };
                assert_eq!(arch.syscall_number(name), Some(nr | bit), "{arch:?} {name}");
            }
            for missing in ["", "nosuchcall", "mkdir2", "mkdi", "MKDIR"] {
                assert_eq!(arch.syscall_number(missing), None, "{arch:?} {missing:?}");
            }
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
