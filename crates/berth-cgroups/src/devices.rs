//! The cgroup v2 device controller: an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the cgroup with
//! `BPF_CGROUP_DEVICE` (cgroup-v2.rst, "Device controller"; the kernel asks
//! it on every open/mknod of a device node). v1 hosts use
//! `devices.allow`/`devices.deny` instead, which the runtime writes itself.
//!
//! The program is generated from the OCI rule list as crun and runc do, with
//! v1's semantics: the rules are checked from the last to the first and the
//! first that matches decides; nothing matching means deny. An allow rule
//! matches when it grants every access asked for, a deny rule when it denies
//! any of them, so `allow c 1:3 rwm` then `deny c 1:3 w` leaves `r` and `m`,
//! as the v1 controller would. No BPF library: bpf(2) through libc.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::fs::resource_err;
use crate::{Error, Result};

// include/uapi/linux/bpf.h
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_DEVCG_ACC_MKNOD: i32 = 1;
const BPF_DEVCG_ACC_READ: i32 = 2;
const BPF_DEVCG_ACC_WRITE: i32 = 4;
const BPF_DEVCG_DEV_BLOCK: i32 = 1;
const BPF_DEVCG_DEV_CHAR: i32 = 2;

/// One eBPF instruction (`struct bpf_insn`): opcode, dst/src registers in
/// one byte (dst in the low nibble), jump offset, immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Self {
            code,
            regs: dst | (src << 4),
            off,
            imm,
        }
    }
    /// `dst = *(u32 *)(src + off)` (BPF_LDX | BPF_MEM | BPF_W)
    const fn load_u32(dst: u8, src: u8, off: i16) -> Self {
        Self::new(0x61, dst, src, off, 0)
    }
    /// `(u32) dst &= imm` (BPF_ALU | BPF_AND | BPF_K)
    const fn and32(dst: u8, imm: i32) -> Self {
        Self::new(0x54, dst, 0, 0, imm)
    }
    /// `(u32) dst >>= imm` (BPF_ALU | BPF_RSH | BPF_K)
    const fn rsh32(dst: u8, imm: i32) -> Self {
        Self::new(0x74, dst, 0, 0, imm)
    }
    /// `(u32) dst = src` (BPF_ALU | BPF_MOV | BPF_X)
    const fn mov32_reg(dst: u8, src: u8) -> Self {
        Self::new(0xbc, dst, src, 0, 0)
    }
    /// `(u32) dst = imm` (BPF_ALU | BPF_MOV | BPF_K)
    const fn mov32(dst: u8, imm: i32) -> Self {
        Self::new(0xb4, dst, 0, 0, imm)
    }
    /// `if dst != imm goto +off` (BPF_JMP | BPF_JNE | BPF_K)
    const fn jne(dst: u8, imm: i32) -> Self {
        Self::new(0x55, dst, 0, 0, imm)
    }
    /// `if dst != src goto +off` (BPF_JMP | BPF_JNE | BPF_X)
    const fn jne_reg(dst: u8, src: u8) -> Self {
        Self::new(0x5d, dst, src, 0, 0)
    }
    /// `if dst == imm goto +off` (BPF_JMP | BPF_JEQ | BPF_K)
    const fn jeq(dst: u8, imm: i32) -> Self {
        Self::new(0x15, dst, 0, 0, imm)
    }
    /// `return r0` (BPF_JMP | BPF_EXIT)
    const fn exit() -> Self {
        Self::new(0x95, 0, 0, 0, 0)
    }
    fn is_jump(&self) -> bool {
        matches!(self.code, 0x55 | 0x5d | 0x15)
    }
}

const F: &str = "linux.resources.devices";

/// Builds the device filter for `rules` (see the module docs).
pub(crate) fn program(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>> {
    // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; },
    // access_type = (access << 16) | type.
    let mut prog = vec![
        Insn::load_u32(R2, R1, 0),
        Insn::and32(R2, 0xffff),
        Insn::load_u32(R3, R1, 0),
        Insn::rsh32(R3, 16),
        Insn::load_u32(R4, R1, 4),
        Insn::load_u32(R5, R1, 8),
    ];
    let rwm = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
    for (i, rule) in rules.iter().enumerate().rev() {
        let mut block = Vec::new();
        match rule.typ() {
            None | Some(LinuxDeviceType::A) => {}
            Some(LinuxDeviceType::B) => block.push(Insn::jne(R2, BPF_DEVCG_DEV_BLOCK)),
            Some(LinuxDeviceType::C | LinuxDeviceType::U) => {
                block.push(Insn::jne(R2, BPF_DEVCG_DEV_CHAR))
            }
            Some(LinuxDeviceType::P) => {
                return Err(resource_err(
                    format!("{F}[{i}].type"),
                    "p",
                    "FIFOs are not device nodes; the device controller has no rules for them",
                ))
            }
        }
        let access_str = rule.access().as_deref().unwrap_or("rwm");
        let mut access = 0;
        for c in access_str.chars() {
            access |= match c {
                'r' => BPF_DEVCG_ACC_READ,
                'w' => BPF_DEVCG_ACC_WRITE,
                'm' => BPF_DEVCG_ACC_MKNOD,
                _ => 0x100,
            };
        }
        if access == 0 || access & 0x100 != 0 {
            return Err(resource_err(
                format!("{F}[{i}].access"),
                format!("{access_str:?}"),
                "must be a combination of r, w and m",
            ));
        }
        if access != rwm {
            block.push(Insn::mov32_reg(R1, R3));
            block.push(Insn::and32(R1, access));
            block.push(if rule.allow() {
                // Some access asked for is not granted: next rule.
                Insn::jne_reg(R1, R3)
            } else {
                // None of the access asked for is denied: next rule.
                Insn::jeq(R1, 0)
            });
        }
        for (name, value, reg) in [("major", rule.major(), R4), ("minor", rule.minor(), R5)] {
            // Absent or negative (runc's -1) is the wildcard `*`.
            match value {
                Some(v) if v > i64::from(i32::MAX) => {
                    return Err(resource_err(
                        format!("{F}[{i}].{name}"),
                        v,
                        "is not a device number",
                    ))
                }
                Some(v) if v >= 0 => block.push(Insn::jne(reg, v as i32)),
                _ => {}
            }
        }
        let matches_all = block.is_empty();
        block.push(Insn::mov32(R0, i32::from(rule.allow())));
        block.push(Insn::exit());
        let len = block.len();
        for (j, insn) in block.iter_mut().enumerate() {
            if insn.is_jump() {
                // Past this block: the next (earlier) rule.
                insn.off = (len - j - 1) as i16;
            }
        }
        prog.extend(block);
        if matches_all {
            // `a *:* rwm` decides everything: the earlier rules and the
            // default can never run, and the verifier refuses unreachable
            // instructions.
            return Ok(prog);
        }
    }
    prog.push(Insn::mov32(R0, 0));
    prog.push(Insn::exit());
    Ok(prog)
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, fully initialised #[repr(C)] bpf_attr
    // prefix for `cmd`, and its size is passed with it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` was just returned by bpf(2) and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// The `BPF_PROG_LOAD` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH`/`BPF_PROG_DETACH` part.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// The `BPF_PROG_QUERY` part (explicit padding: no uninitialised bytes).
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
}

/// The `BPF_PROG_GET_FD_BY_ID` part.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

fn load(prog: &[Insn], dir: &Path) -> Result<OwnedFd> {
    let license = b"Apache\0";
    let mut name = [0u8; 16];
    name[..9].copy_from_slice(b"berth_dev");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(source) => {
            // Load again with the verifier's log, for the error message.
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|b| *b == 0).unwrap_or(0);
            let text = String::from_utf8_lossy(&log[..end]).trim().to_owned();
            Err(Error::Bpf {
                op: "load",
                path: dir.to_owned(),
                source,
                log: if text.is_empty() {
                    String::new()
                } else {
                    format!("\nverifier log:\n{text}")
                },
            })
        }
    }
}

/// The ids of the device programs attached to the cgroup `dirfd`.
pub(crate) fn attached(dirfd: &OwnedFd) -> std::io::Result<Vec<u32>> {
    // A cgroup holds at most 64 programs per attach type (BPF_CGROUP_MAX_PROGS).
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: dirfd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    let c = CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| Error::Io {
        op: "open",
        path: dir.to_owned(),
        source: std::io::ErrorKind::InvalidInput.into(),
    })?;
    // SAFETY: a NUL-terminated path; open(2) returns a new fd or -1.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::Io {
            op: "open",
            path: dir.to_owned(),
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Loads the device filter for `rules` and attaches it to the cgroup v2
/// directory `dir`, replacing the filters attached before (`update`).
///
/// The new program is attached before the old ones are detached, so there is
/// no moment without a filter (while both are attached, a device needs both
/// to allow it). `rules` is the complete list: the config's rules and the
/// devices every container gets, in the order v1 would apply them.
pub fn apply_device_rules_v2(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let insns = program(rules)?;
    let dirfd = open_dir(dir)?;
    let old = attached(&dirfd).map_err(|source| Error::Bpf {
        op: "query",
        path: dir.to_owned(),
        source,
        log: String::new(),
    })?;
    let prog = load(&insns, dir)?;
    let mut attach = AttachAttr {
        target_fd: dirfd.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    bpf(BPF_PROG_ATTACH, &mut attach).map_err(|source| Error::Bpf {
        op: "attach",
        path: dir.to_owned(),
        source,
        log: String::new(),
    })?;
    for id in old {
        let mut get = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        // A program that went away meanwhile needs no detaching.
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut get) else {
            continue;
        };
        let old_prog = owned(fd);
        let mut detach = AttachAttr {
            target_fd: dirfd.as_raw_fd() as u32,
            attach_bpf_fd: old_prog.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        bpf(BPF_PROG_DETACH, &mut detach).map_err(|source| Error::Bpf {
            op: "detach the previous",
            path: dir.to_owned(),
            source,
            log: String::new(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, TestCgroup};
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    fn rule(
        allow: bool,
        t: LinuxDeviceType,
        maj: Option<i64>,
        min: Option<i64>,
        acc: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(t)
            .access(acc);
        if let Some(m) = maj {
            b = b.major(m);
        }
        if let Some(m) = min {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    fn deny_all() -> LinuxDeviceCgroup {
        rule(false, LinuxDeviceType::A, None, None, "rwm")
    }

    /// Runs the program the way the kernel would, for the opcodes it uses.
    fn run(prog: &[Insn], typ: i32, access: i32, major: u32, minor: u32) -> bool {
        let ctx = [((access << 16) | typ) as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let imm64 = i64::from(i.imm) as u64;
            let mut jump = false;
            match i.code {
                0x61 => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
                0x54 => r[dst] = u64::from(r[dst] as u32 & i.imm as u32),
                0x74 => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                0xbc => r[dst] = u64::from(r[src] as u32),
                0xb4 => r[dst] = u64::from(i.imm as u32),
                0x55 => jump = r[dst] != imm64,
                0x5d => jump = r[dst] != r[src],
                0x15 => jump = r[dst] == imm64,
                0x95 => return r[0] == 1,
                c => panic!("unexpected opcode {c:#x}"),
            }
            pc += 1;
            if jump {
                pc += i.off as usize;
            }
        }
    }

    const C: i32 = BPF_DEVCG_DEV_CHAR;
    const B: i32 = BPF_DEVCG_DEV_BLOCK;
    const RD: i32 = BPF_DEVCG_ACC_READ;
    const WR: i32 = BPF_DEVCG_ACC_WRITE;
    const MK: i32 = BPF_DEVCG_ACC_MKNOD;

    #[test]
    fn no_rules_deny_everything() {
        let p = program(&[]).unwrap();
        assert!(!run(&p, C, RD, 1, 3));
    }

    #[test]
    fn allow_list_after_deny_all() {
        let p = program(&[
            deny_all(),
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            rule(true, LinuxDeviceType::C, Some(136), None, "rw"),
            rule(true, LinuxDeviceType::B, Some(8), Some(0), "r"),
        ])
        .unwrap();
        assert!(run(&p, C, RD | WR, 1, 3));
        assert!(run(&p, C, MK, 1, 3));
        assert!(!run(&p, C, RD, 1, 5));
        assert!(!run(&p, B, RD, 1, 3));
        assert!(run(&p, C, RD | WR, 136, 7));
        assert!(!run(&p, C, MK, 136, 7));
        assert!(run(&p, B, RD, 8, 0));
        assert!(!run(&p, B, RD | WR, 8, 0), "one access not granted");
    }

    #[test]
    fn later_rules_win_and_partial_denies_keep_the_rest() {
        let p = program(&[
            rule(true, LinuxDeviceType::A, None, None, "rwm"),
            rule(false, LinuxDeviceType::C, Some(1), Some(3), "w"),
        ])
        .unwrap();
        assert!(run(&p, C, RD, 1, 3));
        assert!(!run(&p, C, WR, 1, 3));
        assert!(!run(&p, C, RD | WR, 1, 3));
        assert!(run(&p, B, WR, 1, 3));
        // A final deny-all overrides everything before it.
        let mut rules = vec![rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm")];
        rules.push(deny_all());
        assert!(!run(&program(&rules).unwrap(), C, RD, 1, 3));
        // Negative numbers are runc's wildcard.
        let p = program(&[rule(true, LinuxDeviceType::C, Some(-1), Some(-1), "m")]).unwrap();
        assert!(run(&p, C, MK, 42, 42));
    }

    #[test]
    fn invalid_rules_name_the_field() {
        let err = program(&[rule(true, LinuxDeviceType::C, Some(1), Some(3), "rx")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "linux.resources.devices[0].access: \"rx\": must be a combination of r, w and m"
        );
        let err = program(&[
            deny_all(),
            rule(true, LinuxDeviceType::P, None, None, "rwm"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("linux.resources.devices[1].type: p: "),
            "{err}"
        );
    }

    fn cat(dir: &Path, file: &str) -> std::process::Output {
        testutil::spawn_in(&[dir.to_owned()], "cat", &[file])
            .wait_with_output()
            .unwrap()
    }

    /// In this host's cgroup2 tree: a child in the cgroup is denied
    /// /dev/null (EPERM), then allowed it by an update.
    #[test]
    fn v2_device_program_denies_and_allows_dev_null() {
        let cg = TestCgroup::unified_only();
        let dir = cg.manager().unified_dir().unwrap();
        apply_device_rules_v2(&dir, &[deny_all()]).unwrap();
        let out = cat(&dir, "/dev/null");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("Operation not permitted"), "{stderr}");

        let rules = [
            deny_all(),
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
        ];
        apply_device_rules_v2(&dir, &rules).unwrap();
        let out = cat(&dir, "/dev/null");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // /dev/zero (1:5) is still denied.
        assert!(
            !testutil::spawn_in(std::slice::from_ref(&dir), "head", &["-c1", "/dev/zero"])
                .wait_with_output()
                .unwrap()
                .status
                .success()
        );
        // The update replaced the first program.
        assert_eq!(attached(&open_dir(&dir).unwrap()).unwrap().len(), 1);
    }
}
