//! The seccomp compiler: an arbitrary `LinuxSeccomp` is compiled for every
//! ABI berth knows as the native one, and each program is run through the
//! BPF interpreter (`berth_seccomp::bpf::run`, which refuses what the
//! kernel's checker refuses) on random `seccomp_data`.
//!
//! Invariants: no panic; a compiled program has 1-4096 instructions; the
//! interpreter accepts it for every input; and every verdict is one the
//! profile can produce: the default action, a rule's action, or
//! `SECCOMP_RET_KILL_THREAD` for a foreign ABI.

use berth_seccomp::bpf::{self, SeccompData};
use berth_seccomp::{compile_with, Arch, Options};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction as Act};
use serde_json::{json, Value};

use crate::gen::Rng;

const ARCHES: [Arch; 5] = [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64, Arch::Arm];

const ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
];

const ARCH_NAMES: &[&str] = &[
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_S390X",
];

const FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

const OPS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// Syscalls that take part in x86 multiplexing or are special to runc.
const SPECIAL: &[&str] = &[
    "socket",
    "connect",
    "accept4",
    "sendmsg",
    "recvmmsg",
    "semop",
    "shmat",
    "msgrcv",
    "ipc",
    "socketcall",
    "write",
    "clone",
    "clone3",
    "personality",
    "mmap",
    "mmap2",
    "open",
    "openat",
    "ptrace",
    "no_such_syscall",
];

/// Checks one input: JSON for a `LinuxSeccomp`, or else the choices of a
/// generated one (so that libFuzzer's byte mutations still reach the
/// compiler rather than the JSON parser).
pub fn check(data: &[u8]) {
    let mut rng = Rng::from_bytes(data);
    let profile = match serde_json::from_slice::<LinuxSeccomp>(data) {
        Ok(p) => p,
        Err(_) => match serde_json::from_slice::<LinuxSeccomp>(&generate(&mut rng)) {
            Ok(p) => p,
            Err(_) => return,
        },
    };
    check_profile(&profile, &mut rng);
}

/// `SECCOMP_RET_*` for an action, as the compiler must produce it.
fn ret(act: Act, errno: Option<u32>) -> u32 {
    let data = errno.unwrap_or(EPERM) & bpf::SECCOMP_RET_DATA;
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

/// EPERM, the errno runc returns when `errnoRet` is not set.
const EPERM: u32 = 1;

/// Compiles `profile` for every native ABI and runs the programs.
pub fn check_profile(profile: &LinuxSeccomp, rng: &mut Rng) {
    let mut allowed = vec![
        ret(profile.default_action(), profile.default_errno_ret()),
        bpf::SECCOMP_RET_KILL_THREAD,
    ];
    let mut names = Vec::new();
    let mut values = vec![0u64, u64::MAX];
    for call in profile.syscalls().iter().flatten() {
        allowed.push(ret(call.action(), call.errno_ret()));
        names.extend(call.names().iter().cloned());
        for a in call.args().iter().flatten() {
            let v = a.value();
            values.extend([v, v.wrapping_add(1), v.wrapping_sub(1)]);
            if let Some(two) = a.value_two() {
                values.extend([two, two & v, two | !v]);
            }
        }
    }
    for native in ARCHES {
        let opts = Options {
            native: Some(native),
            debug: None,
        };
        let program = match compile_with(profile, &opts) {
            Ok(p) => p,
            Err(e) => {
                assert!(!e.to_string().is_empty(), "empty error message");
                continue;
            }
        };
        let filter = program.instructions();
        assert!(
            !filter.is_empty() && filter.len() <= bpf::BPF_MAXINSNS,
            "program of {} instructions",
            filter.len()
        );
        for _ in 0..48 {
            let data = seccomp_data(rng, &names, &values);
            let verdict = bpf::run(filter, &data).unwrap_or_else(|e| {
                panic!("the interpreter refuses a compiled program (native {native:?}): {e}")
            });
            assert!(
                allowed.contains(&verdict),
                "verdict {verdict:#x} ({}) for {data:?} (native {native:?}) is none of the \
                 profile's actions {allowed:x?}",
                bpf::action_name(verdict)
            );
            assert_eq!(verdict, program.evaluate(&data));
        }
    }
}

/// A `seccomp_data` aimed at the profile: a known ABI, a syscall the profile
/// names (or a neighbour), arguments near the compared values.
fn seccomp_data(rng: &mut Rng, names: &[String], values: &[u64]) -> SeccompData {
    let arch = *rng.pick(&ARCHES);
    let audit = if rng.one_in(10) {
        rng.next_u64() as u32
    } else {
        arch.audit_arch()
    };
    let nr = match rng.below(5) {
        0 | 1 if !names.is_empty() => {
            let name = rng.pick(names);
            arch.syscall_number(name).unwrap_or(0) as i32
        }
        2 => *rng.pick(&[
            -1i32,
            102,
            117,
            0x4000_0000,
            0x4000_0001,
            i32::MAX,
            i32::MIN,
        ]),
        3 => rng.below(512) as i32,
        _ => rng.next_u64() as i32,
    };
    let mut args = [0u64; 6];
    for a in &mut args {
        *a = if rng.one_in(3) {
            rng.interesting_u64()
        } else {
            *rng.pick(values)
        };
    }
    SeccompData {
        nr,
        arch: audit,
        instruction_pointer: rng.next_u64(),
        args,
    }
}

fn syscall_name(rng: &mut Rng, strict: bool) -> String {
    if !strict && rng.one_in(20) {
        return String::new();
    }
    if rng.one_in(4) {
        return (*rng.pick(SPECIAL)).to_owned();
    }
    let arch = *rng.pick(&ARCHES);
    let all: Vec<&str> = arch.syscalls().map(|(n, _)| n).collect();
    (*rng.pick(&all)).to_owned()
}

fn arg(rng: &mut Rng, strict: bool) -> Value {
    let mut a = json!({
        "index": if !strict && rng.one_in(12) { rng.below(9) } else { rng.below(6) },
        "value": rng.interesting_u64(),
        "op": rng.pick(OPS),
    });
    if rng.one_in(2) {
        a["valueTwo"] = json!(rng.interesting_u64());
    }
    a
}

fn takes_errno(action: &str) -> bool {
    action == "SCMP_ACT_ERRNO" || action == "SCMP_ACT_TRACE"
}

/// A random profile, as JSON: mostly valid, sometimes not.
pub fn generate(rng: &mut Rng) -> Vec<u8> {
    // Most profiles avoid the mistakes that fail compilation at once, so
    // that the rule merging and code generation get most of the inputs.
    let strict = !rng.one_in(4);
    let mut default = *rng.pick(ACTIONS);
    while strict && default == "SCMP_ACT_NOTIFY" {
        default = *rng.pick(ACTIONS);
    }
    let mut p = json!({ "defaultAction": default });
    if rng.one_in(3) && (!strict || takes_errno(default)) {
        p["defaultErrnoRet"] = json!(rng.interesting_u64() & 0xffff_ffff);
    }
    if rng.one_in(2) {
        let n = rng.below(4);
        let names = if strict { &ARCH_NAMES[..6] } else { ARCH_NAMES };
        p["architectures"] = (0..n).map(|_| json!(rng.pick(names))).collect();
    }
    if rng.one_in(4) {
        p["flags"] = (0..rng.below(3)).map(|_| json!(rng.pick(FLAGS))).collect();
    }
    if rng.one_in(8) {
        p["listenerPath"] = json!("/run/agent.sock");
    }
    if rng.one_in(8) && (!strict || p.get("listenerPath").is_some()) {
        p["listenerMetadata"] = json!("meta");
    }
    let count = match rng.below(16) {
        0 => 0,
        15 => 100 + rng.below(300),
        _ => rng.below(30),
    };
    let mut calls = Vec::with_capacity(count);
    for _ in 0..count {
        let action = *rng.pick(ACTIONS);
        let mut names: Vec<String> = (0..1 + rng.below(4))
            .map(|_| syscall_name(rng, strict))
            .collect();
        if strict && action == "SCMP_ACT_NOTIFY" {
            names.retain(|n| n != "write");
            if names.is_empty() {
                names.push("openat".to_owned());
            }
        }
        let mut c = json!({ "names": names, "action": action });
        if rng.one_in(4) && (!strict || takes_errno(action)) {
            c["errnoRet"] = json!(rng.interesting_u64() & 0xffff_ffff);
        }
        if rng.one_in(2) {
            c["args"] = (0..rng.below(5)).map(|_| arg(rng, strict)).collect();
        }
        calls.push(c);
    }
    p["syscalls"] = Value::Array(calls);
    if rng.one_in(10) {
        crate::gen::mutate(rng, &mut p);
    }
    serde_json::to_vec(&p).unwrap_or_default()
}
