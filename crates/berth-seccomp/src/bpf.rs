//! Classic BPF as seccomp uses it: the instruction type, the `seccomp_data`
//! a filter reads, the return values, and an interpreter.
//!
//! The interpreter follows the kernel's checker (net/core/filter.c,
//! `seccomp_check_filter` in kernel/seccomp.c): only 32-bit absolute loads
//! from `seccomp_data`, forward jumps, and every path ends in `RET`. It lets
//! tests (and the differential test against libseccomp) evaluate a filter on
//! a synthetic syscall without installing it.

/// One classic BPF instruction (`struct sock_filter`, linux/filter.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// `struct seccomp_data` (linux/seccomp.h): what a filter sees of a syscall.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    /// The 64 bytes the kernel exposes, in the host's byte order.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        b[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        b[8..16].copy_from_slice(&self.instruction_pointer.to_ne_bytes());
        for (i, a) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        b
    }
}

// Instruction classes, sizes, modes, ops and sources (linux/bpf_common.h).
pub const BPF_LD: u16 = 0x00;
pub const BPF_LDX: u16 = 0x01;
pub const BPF_ST: u16 = 0x02;
pub const BPF_STX: u16 = 0x03;
pub const BPF_ALU: u16 = 0x04;
pub const BPF_JMP: u16 = 0x05;
pub const BPF_RET: u16 = 0x06;
pub const BPF_MISC: u16 = 0x07;
pub const BPF_W: u16 = 0x00;
pub const BPF_IMM: u16 = 0x00;
pub const BPF_ABS: u16 = 0x20;
pub const BPF_MEM: u16 = 0x60;
pub const BPF_LEN: u16 = 0x80;
pub const BPF_ADD: u16 = 0x00;
pub const BPF_SUB: u16 = 0x10;
pub const BPF_MUL: u16 = 0x20;
pub const BPF_DIV: u16 = 0x30;
pub const BPF_OR: u16 = 0x40;
pub const BPF_AND: u16 = 0x50;
pub const BPF_LSH: u16 = 0x60;
pub const BPF_RSH: u16 = 0x70;
pub const BPF_NEG: u16 = 0x80;
pub const BPF_MOD: u16 = 0x90;
pub const BPF_XOR: u16 = 0xa0;
pub const BPF_JA: u16 = 0x00;
pub const BPF_JEQ: u16 = 0x10;
pub const BPF_JGT: u16 = 0x20;
pub const BPF_JGE: u16 = 0x30;
pub const BPF_JSET: u16 = 0x40;
pub const BPF_K: u16 = 0x00;
pub const BPF_X: u16 = 0x08;
pub const BPF_A: u16 = 0x10;
pub const BPF_TAX: u16 = 0x00;
pub const BPF_TXA: u16 = 0x80;

/// The kernel's limit on a filter's length (BPF_MAXINSNS).
pub const BPF_MAXINSNS: usize = 4096;

// Filter return values (linux/seccomp.h).
pub const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const SECCOMP_RET_KILL_THREAD: u32 = 0x0000_0000;
pub const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
pub const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
pub const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
pub const SECCOMP_RET_ACTION_FULL: u32 = 0xffff_0000;
pub const SECCOMP_RET_DATA: u32 = 0x0000_ffff;

/// Offsets into `seccomp_data`.
pub const OFFSET_NR: u32 = 0;
pub const OFFSET_ARCH: u32 = 4;
/// Offset of the low 32 bits of argument `i` (little-endian).
pub const fn offset_arg_lo(i: u8) -> u32 {
    16 + 8 * i as u32
}
/// Offset of the high 32 bits of argument `i` (little-endian).
pub const fn offset_arg_hi(i: u8) -> u32 {
    20 + 8 * i as u32
}

/// A statement (non-jump) instruction.
pub const fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// A jump instruction.
pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// The name of the action in a filter return value, for messages.
pub fn action_name(ret: u32) -> &'static str {
    match ret & SECCOMP_RET_ACTION_FULL {
        SECCOMP_RET_KILL_PROCESS => "SCMP_ACT_KILL_PROCESS",
        SECCOMP_RET_KILL_THREAD => "SCMP_ACT_KILL_THREAD",
        SECCOMP_RET_TRAP => "SCMP_ACT_TRAP",
        SECCOMP_RET_ERRNO => "SCMP_ACT_ERRNO",
        SECCOMP_RET_USER_NOTIF => "SCMP_ACT_NOTIFY",
        SECCOMP_RET_TRACE => "SCMP_ACT_TRACE",
        SECCOMP_RET_LOG => "SCMP_ACT_LOG",
        SECCOMP_RET_ALLOW => "SCMP_ACT_ALLOW",
        _ => "unknown action",
    }
}

/// Why a filter could not be evaluated; the kernel would refuse to load it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The program is empty or longer than BPF_MAXINSNS.
    #[error("filter length {0} is out of range 1-4096")]
    Length(usize),
    /// Execution ran off the end of the program.
    #[error("instruction {0}: execution falls off the end of the filter")]
    FellOff(usize),
    /// A load outside `seccomp_data`, or not 4-byte aligned.
    #[error("instruction {pc}: bad load offset {k}")]
    BadLoad { pc: usize, k: u32 },
    /// An opcode the seccomp checker rejects.
    #[error("instruction {pc}: opcode {code:#06x} is not allowed in seccomp filters")]
    BadOpcode { pc: usize, code: u16 },
    /// Division by a zero constant.
    #[error("instruction {0}: division by zero")]
    DivZero(usize),
}

/// Runs a filter on `data` and returns its verdict, as the kernel would.
pub fn run(filter: &[SockFilter], data: &SeccompData) -> Result<u32, RunError> {
    if filter.is_empty() || filter.len() > BPF_MAXINSNS {
        return Err(RunError::Length(filter.len()));
    }
    let bytes = data.to_bytes();
    let word = |pc: usize, k: u32| -> Result<u32, RunError> {
        let off = k as usize;
        if k & 3 != 0 || off + 4 > bytes.len() {
            return Err(RunError::BadLoad { pc, k });
        }
        let mut w = [0u8; 4];
        w.copy_from_slice(&bytes[off..off + 4]);
        Ok(u32::from_ne_bytes(w))
    };
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    loop {
        let Some(ins) = filter.get(pc) else {
            return Err(RunError::FellOff(pc));
        };
        let bad = RunError::BadOpcode { pc, code: ins.code };
        let code = ins.code;
        pc += 1;
        match code & 0x07 {
            BPF_LD => match code {
                c if c == BPF_LD | BPF_W | BPF_ABS => a = word(pc - 1, ins.k)?,
                c if c == BPF_LD | BPF_W | BPF_LEN => a = bytes.len() as u32,
                c if c == BPF_LD | BPF_IMM => a = ins.k,
                c if c == BPF_LD | BPF_MEM => a = *mem.get(ins.k as usize).ok_or(bad)?,
                _ => return Err(bad),
            },
            BPF_LDX => match code {
                c if c == BPF_LDX | BPF_W | BPF_LEN => x = bytes.len() as u32,
                c if c == BPF_LDX | BPF_IMM => x = ins.k,
                c if c == BPF_LDX | BPF_MEM => x = *mem.get(ins.k as usize).ok_or(bad)?,
                _ => return Err(bad),
            },
            BPF_ST => *mem.get_mut(ins.k as usize).ok_or(bad)? = a,
            BPF_STX => *mem.get_mut(ins.k as usize).ok_or(bad)? = x,
            BPF_ALU => {
                let v = if code & BPF_X != 0 { x } else { ins.k };
                a = match code & 0xf0 {
                    BPF_ADD => a.wrapping_add(v),
                    BPF_SUB => a.wrapping_sub(v),
                    BPF_MUL => a.wrapping_mul(v),
                    BPF_DIV | BPF_MOD if v == 0 => return Err(RunError::DivZero(pc - 1)),
                    BPF_DIV => a / v,
                    BPF_MOD => a % v,
                    BPF_OR => a | v,
                    BPF_AND => a & v,
                    BPF_XOR => a ^ v,
                    BPF_LSH => a.checked_shl(v).unwrap_or(0),
                    BPF_RSH => a.checked_shr(v).unwrap_or(0),
                    BPF_NEG => a.wrapping_neg(),
                    _ => return Err(bad),
                };
            }
            BPF_JMP => {
                let v = if code & BPF_X != 0 { x } else { ins.k };
                let taken = match code & 0xf0 {
                    BPF_JA => {
                        pc += ins.k as usize;
                        continue;
                    }
                    BPF_JEQ => a == v,
                    BPF_JGT => a > v,
                    BPF_JGE => a >= v,
                    BPF_JSET => a & v != 0,
                    _ => return Err(bad),
                };
                pc += if taken { ins.jt } else { ins.jf } as usize;
            }
            BPF_RET => {
                return match code & 0x18 {
                    BPF_K => Ok(ins.k),
                    BPF_A => Ok(a),
                    _ => Err(bad),
                }
            }
            BPF_MISC => match code & 0xf8 {
                BPF_TAX => x = a,
                BPF_TXA => a = x,
                _ => return Err(bad),
            },
            _ => return Err(bad),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_a_small_filter() {
        // if arch != x86_64 kill; if nr == 83 errno(1) else allow
        let f = [
            stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_ARCH),
            jump(BPF_JMP | BPF_JEQ | BPF_K, 0xc000_003e, 1, 0),
            stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_THREAD),
            stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR),
            jump(BPF_JMP | BPF_JEQ | BPF_K, 83, 0, 1),
            stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
            stmt(BPF_LD | BPF_W | BPF_ABS, offset_arg_hi(1)),
            stmt(BPF_ALU | BPF_AND | BPF_K, 0xff),
            jump(BPF_JMP | BPF_JGT | BPF_K, 1, 0, 1),
            stmt(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
            stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        ];
        let mut d = SeccompData {
            nr: 83,
            arch: 0xc000_003e,
            ..Default::default()
        };
        assert_eq!(run(&f, &d), Ok(SECCOMP_RET_ERRNO | 1));
        d.nr = 0;
        assert_eq!(run(&f, &d), Ok(SECCOMP_RET_ALLOW));
        d.args[1] = 0x0000_0102_0000_0000;
        assert_eq!(run(&f, &d), Ok(SECCOMP_RET_TRAP));
        d.arch = 0x4000_0003;
        assert_eq!(run(&f, &d), Ok(SECCOMP_RET_KILL_THREAD));
    }

    #[test]
    fn rejects_bad_programs() {
        let d = SeccompData::default();
        assert_eq!(run(&[], &d), Err(RunError::Length(0)));
        assert_eq!(
            run(&[stmt(BPF_LD | BPF_W | BPF_ABS, 64)], &d),
            Err(RunError::BadLoad { pc: 0, k: 64 })
        );
        assert_eq!(
            run(&[stmt(BPF_LD | BPF_W | BPF_ABS, 0)], &d),
            Err(RunError::FellOff(1))
        );
    }
}
