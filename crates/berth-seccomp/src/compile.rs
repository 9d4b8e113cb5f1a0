//! From an OCI `LinuxSeccomp` to a BPF program.
//!
//! The program checks `seccomp_data.arch` first (bad arch → KILL_THREAD),
//! then finds the syscall number by binary search over ranges of numbers
//! with the same outcome (so an allow-list costs about log2(ranges)
//! comparisons instead of one per syscall), then evaluates the argument
//! conditions of that syscall as merged in [`crate::db`].

use crate::arch::{Arch, X32_SYSCALL_BIT};
use crate::asm::{Asm, BlockId, Cond, FxHashMap};
use crate::bpf::{self, SockFilter, BPF_ABS, BPF_ALU, BPF_AND, BPF_K, BPF_LD, BPF_W};
use crate::db::{ArchDb, ArgCmp, Entry, NodeId, Op, Rule};
use crate::{Error, Result};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompFilterFlag as Flag,
    LinuxSeccompOperator as OciOp,
};
use std::collections::BTreeSet;

// seccomp(2) filter flags (linux/seccomp.h).
pub(crate) const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1 << 0;
pub(crate) const SECCOMP_FILTER_FLAG_LOG: u32 = 1 << 1;
pub(crate) const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = 1 << 2;
pub(crate) const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;
pub(crate) const SECCOMP_FILTER_FLAG_TSYNC_ESRCH: u32 = 1 << 4;
pub(crate) const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// How to compile. `Options::default()` targets the ABI berth runs as.
#[derive(Default, Clone, Copy)]
pub struct Options<'a> {
    /// The ABI the filter is built for; its syscalls are always in the
    /// filter, as libseccomp always includes the native architecture.
    pub native: Option<Arch>,
    /// Receives a line for every syscall name skipped on an architecture
    /// that does not have it (libseccomp skips them silently; runc logs
    /// names it cannot resolve at debug level).
    pub debug: Option<&'a dyn Fn(&str)>,
}

/// A compiled filter, ready to be installed in the container's init.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub(crate) filter: Vec<SockFilter>,
    /// The profile's flags (TSYNC, LOG, SPEC_ALLOW, WAIT_KILLABLE_RECV).
    pub(crate) flags: u32,
    /// Some rule returns SECCOMP_RET_USER_NOTIF: install asks for a listener.
    pub(crate) notify: bool,
    /// The distinct return values, to check the kernel supports them.
    pub(crate) actions: Vec<u32>,
}

impl Program {
    /// The BPF instructions.
    pub fn instructions(&self) -> &[SockFilter] {
        &self.filter
    }

    /// Whether installing the filter returns a notify listener fd.
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits from the profile's `flags`.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// The verdict of the filter for one syscall, without installing it.
    pub fn evaluate(&self, data: &bpf::SeccompData) -> u32 {
        // The assembler only emits programs the interpreter accepts.
        bpf::run(&self.filter, data).unwrap_or(bpf::SECCOMP_RET_KILL_PROCESS)
    }
}

/// Compiles a profile for the ABI berth runs as. Do it once, in the parent.
pub fn compile(profile: &LinuxSeccomp) -> Result<Program> {
    compile_with(profile, &Options::default())
}

fn action(act: Act, errno_ret: Option<u32>) -> u32 {
    // runc: errnoRet defaults to EPERM for both ERRNO and TRACE; the
    // kernel keeps the low 16 bits (SECCOMP_RET_DATA).
    let data = errno_ret.unwrap_or(libc::EPERM as u32) & bpf::SECCOMP_RET_DATA;
    match act {
        Act::ScmpActKill | Act::ScmpActKillThread => bpf::SECCOMP_RET_KILL_THREAD,
        Act::ScmpActKillProcess => bpf::SECCOMP_RET_KILL_PROCESS,
        Act::ScmpActTrap => bpf::SECCOMP_RET_TRAP,
        Act::ScmpActErrno => bpf::SECCOMP_RET_ERRNO | data,
        Act::ScmpActTrace => bpf::SECCOMP_RET_TRACE | data,
        Act::ScmpActLog => bpf::SECCOMP_RET_LOG,
        Act::ScmpActAllow => bpf::SECCOMP_RET_ALLOW,
        Act::ScmpActNotify => bpf::SECCOMP_RET_USER_NOTIF,
    }
}

fn takes_errno(act: Act) -> bool {
    matches!(act, Act::ScmpActErrno | Act::ScmpActTrace)
}

fn op(op: OciOp) -> Op {
    match op {
        OciOp::ScmpCmpNe => Op::Ne,
        OciOp::ScmpCmpLt => Op::Lt,
        OciOp::ScmpCmpLe => Op::Le,
        OciOp::ScmpCmpEq => Op::Eq,
        OciOp::ScmpCmpGe => Op::Ge,
        OciOp::ScmpCmpGt => Op::Gt,
        OciOp::ScmpCmpMaskedEq => Op::MaskedEq,
    }
}

/// Compiles a profile with explicit options.
pub fn compile_with(profile: &LinuxSeccomp, opts: &Options) -> Result<Program> {
    let native = match opts.native.or_else(Arch::native) {
        Some(a) => a,
        None => return Err(Error::UnsupportedNative(std::env::consts::ARCH)),
    };
    let log = |msg: String| {
        if let Some(f) = opts.debug {
            f(&msg)
        }
    };

    // Validation, as the runtime-spec and runc require.
    let default_act = profile.default_action();
    if default_act == Act::ScmpActNotify {
        return Err(Error::NotifyDefault);
    }
    if profile.default_errno_ret().is_some() && !takes_errno(default_act) {
        return Err(Error::DefaultErrnoRet(default_act.to_string()));
    }
    if profile.listener_metadata().is_some() && profile.listener_path().is_none() {
        return Err(Error::MetadataWithoutListener);
    }
    let default = action(default_act, profile.default_errno_ret());
    let bad_arch = bpf::SECCOMP_RET_KILL_THREAD;

    let mut flags = 0;
    for f in profile.flags().iter().flatten() {
        flags |= match f {
            Flag::SeccompFilterFlagTsync => SECCOMP_FILTER_FLAG_TSYNC,
            Flag::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
            Flag::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            Flag::SeccompFilterFlagWaitKillableRecv => SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        };
    }

    // The native ABI first, then the profile's, each once.
    let mut arches = vec![native];
    for a in profile.architectures().iter().flatten() {
        let a = Arch::from_oci(*a, native)?;
        if !arches.contains(&a) {
            arches.push(a);
        }
    }
    let mut dbs: Vec<ArchDb> = arches.iter().map(|&a| ArchDb::new(a)).collect();

    let mut notify = false;
    for (i, call) in profile.syscalls().iter().flatten().enumerate() {
        if call.names().is_empty() || call.names().iter().any(|n| n.is_empty()) {
            return Err(Error::EmptyName(i));
        }
        if call.errno_ret().is_some() && !takes_errno(call.action()) {
            return Err(Error::ErrnoRet {
                name: call.names()[0].clone(),
                action: call.action().to_string(),
            });
        }
        let act = action(call.action(), call.errno_ret());
        if call.action() == Act::ScmpActNotify && call.names().iter().any(|n| n == "write") {
            return Err(Error::NotifyWrite);
        }
        // runc skips rules that would do what the default does (libseccomp
        // refuses them).
        if act == default {
            continue;
        }
        // runc: conditions on distinct arguments form one rule (AND); if an
        // argument index repeats, every condition becomes its own rule (OR).
        let args = call.args().as_deref().unwrap_or(&[]);
        let mut conds = Vec::with_capacity(args.len());
        for a in args {
            if a.index() > 5 {
                return Err(Error::ArgIndex {
                    name: call.names()[0].clone(),
                    index: a.index(),
                });
            }
            let op = op(a.op());
            let (mask, datum) = match op {
                Op::MaskedEq => (a.value(), a.value_two().unwrap_or(0)),
                _ => (u64::MAX, a.value()),
            };
            conds.push((a.index(), ArgCmp { op, mask, datum }));
        }
        let repeated = conds
            .iter()
            .enumerate()
            .any(|(j, (idx, _))| conds[..j].iter().any(|(k, _)| k == idx));
        let mut rules = Vec::new();
        if repeated {
            for &(idx, cmp) in &conds {
                let mut r = Rule {
                    action: act,
                    args: [None; 6],
                };
                r.args[idx] = Some(cmp);
                rules.push(r);
            }
        } else {
            let mut r = Rule {
                action: act,
                args: [None; 6],
            };
            for &(idx, cmp) in &conds {
                r.args[idx] = Some(cmp);
            }
            rules.push(r);
        }

        for name in call.names() {
            if act == bpf::SECCOMP_RET_USER_NOTIF
                && dbs.iter().any(|db| !db.arch.resolve(name).is_empty())
            {
                notify = true;
            }
            for rule in &rules {
                for db in dbs.iter_mut() {
                    let targets = db.arch.resolve(name);
                    if targets.is_empty() {
                        log(format!(
                            "seccomp: syscall {name} does not exist on {}, skipped there",
                            db.arch.name()
                        ));
                    }
                    for t in targets {
                        let mut r = rule.clone();
                        if let Some(call) = t.mux_call {
                            r.args[0] = Some(ArgCmp {
                                op: Op::Eq,
                                mask: u64::MAX,
                                datum: call,
                            });
                        }
                        db.add(t.nr, &r).map_err(|_| Error::Conflict {
                            name: name.clone(),
                            arch: db.arch.name(),
                        })?;
                    }
                }
            }
        }
    }
    if !notify {
        // The kernel refuses WAIT_KILLABLE_RECV without a listener; without
        // SCMP_ACT_NOTIFY rules the flag has nothing to act on.
        flags &= !SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    }

    let mut gen = Gen {
        asm: Asm::default(),
        memo: FxHashMap::default(),
        actions: BTreeSet::new(),
    };
    let default_blk = gen.ret(default);
    let bad_blk = gen.ret(bad_arch);

    // x86_64 and x32 share AUDIT_ARCH_X86_64: one block for both, split on
    // __X32_SYSCALL_BIT.
    let has_x32 = arches.contains(&Arch::X32);
    let has_x86_64 = arches.contains(&Arch::X86_64);
    let mut arch_blocks: Vec<(u32, BlockId)> = Vec::new();
    for db in &dbs {
        if db.arch == Arch::X32 && has_x86_64 {
            continue;
        }
        let mut ranges: Vec<(u32, u64, BlockId)> = Vec::new();
        let add_db = |gen: &mut Gen, db: &ArchDb, ranges: &mut Vec<(u32, u64, BlockId)>| {
            let mut entries: Vec<(u32, Entry)> =
                db.syscalls.iter().map(|(&nr, &e)| (nr, e)).collect();
            entries.sort_unstable_by_key(|&(nr, _)| nr);
            for (nr, entry) in entries {
                let blk = match entry {
                    Entry::Action(a) => gen.ret(a),
                    Entry::Tree(n) => gen.level(db, n, default_blk)?,
                };
                ranges.push((nr, u64::from(nr) + 1, blk));
            }
            Ok::<(), Error>(())
        };
        add_db(&mut gen, db, &mut ranges)?;
        match db.arch {
            Arch::X86_64 if has_x32 => {
                let x32 = dbs.iter().find(|d| d.arch == Arch::X32);
                if let Some(x32) = x32 {
                    add_db(&mut gen, x32, &mut ranges)?;
                }
            }
            // Without x32, x32 syscalls are a bad ABI; -1 stays the
            // default so that tracers can skip syscalls (seccomp(2)).
            Arch::X86_64 => ranges.push((X32_SYSCALL_BIT, 0xffff_ffff, bad_blk)),
            Arch::X32 => ranges.push((0, u64::from(X32_SYSCALL_BIT), bad_blk)),
            _ => {}
        }
        let body = gen.dispatch(&ranges, default_blk);
        let ld_nr = bpf::stmt(BPF_LD | BPF_W | BPF_ABS, bpf::OFFSET_NR);
        let entry = gen.asm.prefix(vec![ld_nr], body);
        arch_blocks.push((db.arch.audit_arch(), entry));
    }
    let mut next = bad_blk;
    for &(audit, blk) in arch_blocks.iter().rev() {
        next = gen.asm.branch(vec![], Cond::Eq, audit, blk, next);
    }
    let ld_arch = bpf::stmt(BPF_LD | BPF_W | BPF_ABS, bpf::OFFSET_ARCH);
    let entry = gen.asm.prefix(vec![ld_arch], next);
    let filter = gen.asm.assemble(entry);
    if filter.len() > bpf::BPF_MAXINSNS {
        return Err(Error::TooLong(filter.len()));
    }
    Ok(Program {
        filter,
        flags,
        notify,
        actions: gen.actions.into_iter().collect(),
    })
}

struct Gen {
    asm: Asm,
    memo: FxHashMap<(Arch, NodeId, BlockId), BlockId>,
    actions: BTreeSet<u32>,
}

impl Gen {
    fn ret(&mut self, action: u32) -> BlockId {
        self.actions.insert(action);
        self.asm.ret(action)
    }

    /// The code for the level `n` is on: try its nodes in order, and go to
    /// `fall` if none leads to an action.
    fn level(&mut self, db: &ArchDb, n: NodeId, fall: BlockId) -> Result<BlockId> {
        let conflict = || Error::Conflict {
            name: "(tree)".into(),
            arch: db.arch.name(),
        };
        let head = db.level_head(n).ok_or_else(conflict)?;
        if let Some(&b) = self.memo.get(&(db.arch, head, fall)) {
            return Ok(b);
        }
        let nodes = db.level(head).ok_or_else(conflict)?;
        let mut next = fall;
        for &id in nodes.iter().rev() {
            let node = &db.nodes[id];
            let t = match (node.nxt_t, node.act_t) {
                (Some(sub), _) => self.level(db, sub, next)?,
                (None, Some(a)) => self.ret(a),
                (None, None) => next,
            };
            let f = match (node.nxt_f, node.act_f) {
                (Some(sub), _) => self.level(db, sub, next)?,
                (None, Some(a)) => self.ret(a),
                (None, None) => next,
            };
            let off = if node.hi {
                bpf::offset_arg_hi(node.arg)
            } else {
                bpf::offset_arg_lo(node.arg)
            };
            let mut stmts = vec![bpf::stmt(BPF_LD | BPF_W | BPF_ABS, off)];
            if node.mask != u32::MAX {
                stmts.push(bpf::stmt(BPF_ALU | BPF_AND | BPF_K, node.mask));
            }
            let cond = match node.op {
                Op::Gt => Cond::Gt,
                Op::Ge => Cond::Ge,
                _ => Cond::Eq,
            };
            next = self.asm.branch(stmts, cond, node.datum, t, f);
        }
        self.memo.insert((db.arch, head, fall), next);
        Ok(next)
    }

    /// A binary search on the syscall number (in the accumulator) over the
    /// half-open ranges `[start, end)`; numbers in no range go to `default`.
    fn dispatch(&mut self, ranges: &[(u32, u64, BlockId)], default: BlockId) -> BlockId {
        let mut sorted = ranges.to_vec();
        sorted.sort_by_key(|r| r.0);
        // A partition of 0..2^32 into (start, target), gaps filled with the
        // default, neighbours with the same target merged.
        let mut parts: Vec<(u32, BlockId)> = Vec::new();
        let push = |parts: &mut Vec<(u32, BlockId)>, start: u64, blk: BlockId| {
            if parts.last().map(|p| p.1) != Some(blk) {
                parts.push((start as u32, blk));
            }
        };
        let mut at: u64 = 0;
        for (start, end, blk) in sorted {
            let start = u64::from(start);
            if start > at {
                push(&mut parts, at, default);
            }
            push(&mut parts, start.max(at), blk);
            at = at.max(end);
        }
        if at < 1 << 32 {
            push(&mut parts, at, default);
        }
        self.search(&parts)
    }

    fn search(&mut self, parts: &[(u32, BlockId)]) -> BlockId {
        if parts.len() == 1 {
            return parts[0].1;
        }
        let mid = parts.len() / 2;
        let hi = self.search(&parts[mid..]);
        let lo = self.search(&parts[..mid]);
        self.asm.branch(vec![], Cond::Ge, parts[mid].0, hi, lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::SeccompData;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).expect("valid profile")
    }

    fn x86_64(p: &LinuxSeccomp) -> Program {
        compile_with(
            p,
            &Options {
                native: Some(Arch::X86_64),
                debug: None,
            },
        )
        .expect("compiles")
    }

    fn verdict(prog: &Program, arch: Arch, nr: u32, args: [u64; 6]) -> u32 {
        prog.evaluate(&SeccompData {
            nr: nr as i32,
            arch: arch.audit_arch(),
            instruction_pointer: 0,
            args,
        })
    }

    #[test]
    fn arch_and_x32_handling() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        }));
        let prog = x86_64(&p);
        let errno = bpf::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        assert_eq!(verdict(&prog, Arch::X86_64, 83, [0; 6]), errno);
        assert_eq!(
            verdict(&prog, Arch::X86_64, 84, [0; 6]),
            bpf::SECCOMP_RET_ALLOW
        );
        // x32 not listed: x32 syscalls are a bad ABI, -1 is not.
        assert_eq!(verdict(&prog, Arch::X32, 83 | X32_SYSCALL_BIT, [0; 6]), 0);
        assert_eq!(
            verdict(&prog, Arch::X86_64, u32::MAX, [0; 6]),
            bpf::SECCOMP_RET_ALLOW
        );
        // An ABI not in the filter.
        assert_eq!(
            verdict(&prog, Arch::X86, 39, [0; 6]),
            bpf::SECCOMP_RET_KILL_THREAD
        );

        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
        }));
        let prog = x86_64(&p);
        let enosys = bpf::SECCOMP_RET_ERRNO | 38;
        assert_eq!(
            verdict(&prog, Arch::X32, 83 | X32_SYSCALL_BIT, [0; 6]),
            enosys
        );
        assert_eq!(verdict(&prog, Arch::X86, 39, [0; 6]), enosys);
        assert_eq!(
            verdict(&prog, Arch::X86, 83, [0; 6]),
            bpf::SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn argument_comparisons_on_64_bit_values() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_TRAP",
                 "args": [{"index": 0, "value": 0x1_0000_0005u64, "op": "SCMP_CMP_GT"},
                          {"index": 1, "value": 0xff00, "valueTwo": 0x1200, "op": "SCMP_CMP_MASKED_EQ"}]},
                // the same index twice: two rules (OR), as runc does
                {"names": ["write"], "action": "SCMP_ACT_LOG",
                 "args": [{"index": 2, "value": 1, "op": "SCMP_CMP_LT"},
                          {"index": 2, "value": 0x1_0000_0000u64, "op": "SCMP_CMP_GT"}]}
            ]
        }));
        let prog = x86_64(&p);
        let trap = bpf::SECCOMP_RET_TRAP;
        let allow = bpf::SECCOMP_RET_ALLOW;
        assert_eq!(
            verdict(&prog, Arch::X86_64, 0, [0x1_0000_0006, 0x12ab, 0, 0, 0, 0]),
            trap
        );
        assert_eq!(
            verdict(&prog, Arch::X86_64, 0, [0x1_0000_0005, 0x12ab, 0, 0, 0, 0]),
            allow
        );
        assert_eq!(
            verdict(&prog, Arch::X86_64, 0, [0x2_0000_0000, 0x1200, 0, 0, 0, 0]),
            trap
        );
        assert_eq!(
            verdict(&prog, Arch::X86_64, 0, [0x2_0000_0000, 0x1300, 0, 0, 0, 0]),
            allow
        );
        let log = bpf::SECCOMP_RET_LOG;
        assert_eq!(verdict(&prog, Arch::X86_64, 1, [0, 0, 0, 0, 0, 0]), log);
        assert_eq!(verdict(&prog, Arch::X86_64, 1, [0, 0, 4, 0, 0, 0]), allow);
        assert_eq!(
            verdict(&prog, Arch::X86_64, 1, [0, 0, 0x1_0000_0001, 0, 0, 0]),
            log
        );
    }

    #[test]
    fn rules_libseccomp_hangs_on_compile() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_GT"}, {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_GT"}, {"index": 1, "value": 0x2_0000_0000u64, "op": "SCMP_CMP_EQ"}]}
            ]
        }));
        let prog = x86_64(&p);
        let errno = bpf::SECCOMP_RET_ERRNO | 1;
        for (a0, a1, want) in [
            (6, 1, errno),
            (6, 0x2_0000_0000, errno),
            (0x1_0000_0000, 1, errno),
            (5, 1, bpf::SECCOMP_RET_ALLOW),
            (6, 2, bpf::SECCOMP_RET_ALLOW),
        ] {
            assert_eq!(verdict(&prog, Arch::X86_64, 83, [a0, a1, 0, 0, 0, 0]), want);
        }
    }

    #[test]
    fn validation_errors() {
        let bad = |v: serde_json::Value| compile(&profile(v)).unwrap_err().to_string();
        assert!(bad(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"})).contains("default"));
        assert!(
            bad(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 5}))
                .contains("defaultErrnoRet")
        );
        assert!(bad(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "listenerMetadata": "x"}))
        .contains("listenerPath"));
        assert!(bad(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_MIPS"]}))
        .contains("SCMP_ARCH_MIPS"));
        assert!(bad(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}))
        .contains("write"));
        assert!(bad(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_TRAP", "errnoRet": 3}]}))
        .contains("errnoRet"));
        assert!(bad(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_TRAP",
                "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}))
        .contains("index 6"));
        assert!(bad(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_TRAP",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
                {"names": ["read"], "action": "SCMP_ACT_LOG",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}))
        .contains("conflicting rules for syscall read"));
    }

    #[test]
    fn skipped_names_are_reported() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_AARCH64"],
            "syscalls": [{"names": ["mkdir", "no_such_call"], "action": "SCMP_ACT_ALLOW"}]
        }));
        let lines = std::cell::RefCell::new(Vec::new());
        let log = |m: &str| lines.borrow_mut().push(m.to_string());
        compile_with(
            &p,
            &Options {
                native: Some(Arch::X86_64),
                debug: Some(&log),
            },
        )
        .unwrap();
        let lines = lines.into_inner();
        assert!(lines
            .iter()
            .any(|l| l.contains("mkdir") && l.contains("AARCH64")));
        assert!(lines.iter().any(|l| l.contains("no_such_call")));
    }

    #[test]
    fn wait_killable_recv_only_with_a_listener() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        }));
        assert_eq!(x86_64(&p).flags(), SECCOMP_FILTER_FLAG_LOG);
    }
}
