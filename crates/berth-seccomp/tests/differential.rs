//! Differential tests: the same profile compiled by berth-seccomp and by
//! libseccomp (built the way runc builds it), both programs run in the BPF
//! interpreter over many (arch, syscall, arguments) tuples, verdicts compared.
//!
//! libseccomp runs in a forked child: version 2.5.4 loops forever on some
//! profiles (two rules sharing a 64-bit ordered comparison whose next
//! argument differs, see `db.rs`); those are counted and skipped.
//!
//! Everything is compiled for an x86_64 host, arm64 and arm included as
//! extra architectures: libseccomp 2.5.4 emits a filter that never loads
//! the syscall number when its native ABI is removed, so a foreign "native"
//! ABI cannot be emulated.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use berth_seccomp::bpf::{self, SeccompData, SockFilter};
use berth_seccomp::{compile_with, Arch, Options};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompOperator as Op};
use serde_json::json;
use std::collections::BTreeSet;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

const AUDIT_PPC64LE: u32 = 0xc000_0015;

fn scmp_arch(a: Arch) -> ScmpArch {
    match a {
        Arch::X86_64 => ScmpArch::X8664,
        Arch::X86 => ScmpArch::X86,
        Arch::X32 => ScmpArch::X32,
        Arch::Aarch64 => ScmpArch::Aarch64,
        Arch::Arm => ScmpArch::Arm,
    }
}

fn oci_arch(a: &str) -> Arch {
    match a {
        "SCMP_ARCH_X86_64" => Arch::X86_64,
        "SCMP_ARCH_X86" => Arch::X86,
        "SCMP_ARCH_X32" => Arch::X32,
        "SCMP_ARCH_AARCH64" => Arch::Aarch64,
        "SCMP_ARCH_ARM" => Arch::Arm,
        other => panic!("unexpected arch {other}"),
    }
}

fn scmp_action(act: Act, errno: Option<u32>) -> ScmpAction {
    let e = errno.unwrap_or(1);
    match act {
        Act::ScmpActKill | Act::ScmpActKillThread => ScmpAction::KillThread,
        Act::ScmpActKillProcess => ScmpAction::KillProcess,
        Act::ScmpActTrap => ScmpAction::Trap,
        Act::ScmpActErrno => ScmpAction::Errno(e as i32),
        Act::ScmpActTrace => ScmpAction::Trace(e as u16),
        Act::ScmpActLog => ScmpAction::Log,
        Act::ScmpActAllow => ScmpAction::Allow,
        Act::ScmpActNotify => ScmpAction::Notify,
    }
}

/// The filter runc's `InitSeccomp` would build (without its ENOSYS stub).
fn libseccomp_filter(
    p: &LinuxSeccomp,
    native: Arch,
    optimize: u32,
) -> Result<ScmpFilterContext, String> {
    let e = |e: libseccomp::error::SeccompError| e.to_string();
    let default = scmp_action(p.default_action(), p.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).map_err(e)?;
    assert_eq!(
        native,
        Arch::X86_64,
        "libseccomp's native ABI is the host's"
    );
    for a in p.architectures().iter().flatten() {
        let a = scmp_arch(oci_arch(&a.to_string()));
        if !ctx.is_arch_present(a).map_err(e)? {
            ctx.add_arch(a).map_err(e)?;
        }
    }
    ctx.set_ctl_nnp(false).map_err(e)?;
    if optimize != 1 {
        ctx.set_ctl_optimize(optimize).map_err(e)?;
    }
    for call in p.syscalls().iter().flatten() {
        let act = scmp_action(call.action(), call.errno_ret());
        if act == default {
            continue;
        }
        let conds: Vec<(usize, ScmpArgCompare)> = call
            .args()
            .iter()
            .flatten()
            .map(|a| {
                let (op, datum) = match a.op() {
                    Op::ScmpCmpNe => (ScmpCompareOp::NotEqual, a.value()),
                    Op::ScmpCmpLt => (ScmpCompareOp::Less, a.value()),
                    Op::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, a.value()),
                    Op::ScmpCmpEq => (ScmpCompareOp::Equal, a.value()),
                    Op::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, a.value()),
                    Op::ScmpCmpGt => (ScmpCompareOp::Greater, a.value()),
                    Op::ScmpCmpMaskedEq => (
                        ScmpCompareOp::MaskedEqual(a.value()),
                        a.value_two().unwrap_or(0),
                    ),
                };
                (a.index(), ScmpArgCompare::new(a.index() as u32, op, datum))
            })
            .collect();
        let repeated = conds
            .iter()
            .enumerate()
            .any(|(j, c)| conds[..j].iter().any(|d| d.0 == c.0));
        for name in call.names() {
            let Ok(sys) = ScmpSyscall::from_name(name) else {
                continue;
            };
            if conds.is_empty() {
                ctx.add_rule(act, sys).map_err(e)?;
            } else if repeated {
                for c in &conds {
                    ctx.add_rule_conditional(act, sys, &[c.1]).map_err(e)?;
                }
            } else {
                let cs: Vec<ScmpArgCompare> = conds.iter().map(|c| c.1).collect();
                ctx.add_rule_conditional(act, sys, &cs).map_err(e)?;
            }
        }
    }
    Ok(ctx)
}

/// libseccomp 2.5.4 sometimes emits an architecture's block without loading
/// the syscall number first (seen with x86_64 + arm + x86, and whenever the
/// native ABI is removed): every syscall of that ABI then compares the arch
/// value and gets the default action. Finds the ABIs so affected.
fn arches_without_nr_load(f: &[SockFilter], tokens: &[u32]) -> Vec<u32> {
    let mut bad = vec![];
    for &token in tokens {
        // Follow the path where the arch test matches; after it, the next
        // conditional jump must come after a load.
        let (mut pc, mut loaded_arch, mut matched) = (0usize, false, false);
        while let Some(ins) = f.get(pc) {
            pc += 1;
            match ins.code {
                0x20 => loaded_arch = ins.k == 4,
                0x15 | 0x25 | 0x35 | 0x45 if loaded_arch && !matched => {
                    if ins.code == 0x15 && ins.k == token {
                        matched = true;
                        pc += ins.jt as usize;
                    } else {
                        pc += ins.jf as usize;
                    }
                }
                0x15 | 0x25 | 0x35 | 0x45 => {
                    if loaded_arch {
                        bad.push(token);
                    }
                    break;
                }
                0x05 => pc += ins.k as usize,
                _ => break,
            }
        }
    }
    bad
}

enum Reference {
    /// The BPF, and libseccomp's pseudo-code of the same filter.
    Filter(Vec<SockFilter>, String),
    Refused(String),
    Hung,
}

/// Builds the libseccomp filter in a child process and reads its BPF back.
fn reference(p: &LinuxSeccomp, native: Arch) -> Reference {
    reference_opt(p, native, 1)
}

fn reference_opt(p: &LinuxSeccomp, native: Arch, optimize: u32) -> Reference {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: the fds are new and owned here.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child only runs libseccomp and writes to the pipe, then
    // _exits; glibc's malloc is usable after fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        drop(rd);
        let w = wr.as_raw_fd();
        let put = |b: &[u8]| {
            // SAFETY: writing a valid buffer to our pipe.
            unsafe { libc::write(w, b.as_ptr().cast(), b.len()) };
        };
        match libseccomp_filter(p, native, optimize) {
            Ok(ctx) => {
                // BPF, then libseccomp's own pseudo-code of the same rules.
                put(b"F");
                let _ = ctx.export_bpf(&wr);
                put(b"\0PFC\0");
                let _ = ctx.export_pfc(&wr);
            }
            Err(msg) => {
                put(b"E");
                put(msg.as_bytes());
            }
        }
        // SAFETY: leave without running the parent's atexit handlers.
        unsafe { libc::_exit(0) };
    }
    drop(wr);
    // SAFETY: fcntl on our own fd.
    unsafe { libc::fcntl(rd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let mut file = std::fs::File::from(rd);
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 65536];
    let hung = loop {
        match file.read(&mut buf) {
            Ok(0) => break false,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    break true;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("reading from libseccomp child: {e}"),
        }
    };
    if hung {
        // SAFETY: killing and reaping our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if hung {
        return Reference::Hung;
    }
    match out.first() {
        Some(b'F') => {
            let marker = b"\0PFC\0";
            let at = (1..out.len())
                .step_by(8)
                .find(|&i| out[i..].starts_with(marker))
                .expect("PFC marker");
            let body = &out[1..at];
            let pfc = String::from_utf8_lossy(&out[at + marker.len()..]).into_owned();
            Reference::Filter(
                body.chunks(8)
                    .map(|c| SockFilter {
                        code: u16::from_ne_bytes([c[0], c[1]]),
                        jt: c[2],
                        jf: c[3],
                        k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                    })
                    .collect(),
                pfc,
            )
        }
        Some(b'E') => Reference::Refused(String::from_utf8_lossy(&out[1..]).into_owned()),
        _ => panic!("libseccomp child died: status {status:#x}"),
    }
}

/// libseccomp's pseudo-filter-code (`seccomp_export_pfc`): its rule
/// database printed as nested `if`s, interpreted here. It is the reference
/// when libseccomp's BPF generator contradicts its own database.
struct Pfc {
    /// Per `if ($arch == N)` section: the token and its statements.
    arches: Vec<(u32, Vec<Stmt>)>,
}

enum Stmt {
    If {
        word: Option<(u8, Option<bool>)>, // None: $syscall; Some((arg, hi?))
        mask: Option<u32>,
        op: &'static str,
        k: u32,
        then: Vec<Stmt>,
        els: Vec<Stmt>,
    },
    Action(u32),
}

fn pfc_action(s: &str) -> u32 {
    let s = s.trim_end_matches(';');
    let num = |x: &str| -> u32 { x.trim_end_matches(')').parse().unwrap() };
    match s {
        "KILL_PROCESS" => bpf::SECCOMP_RET_KILL_PROCESS,
        "KILL" => bpf::SECCOMP_RET_KILL_THREAD,
        "TRAP" => bpf::SECCOMP_RET_TRAP,
        "LOG" => bpf::SECCOMP_RET_LOG,
        "ALLOW" => bpf::SECCOMP_RET_ALLOW,
        "NOTIFY" => bpf::SECCOMP_RET_USER_NOTIF,
        _ if s.starts_with("ERRNO(") => bpf::SECCOMP_RET_ERRNO | num(&s[6..]),
        _ if s.starts_with("TRACE(") => bpf::SECCOMP_RET_TRACE | num(&s[6..]),
        _ if s.starts_with("0x") => u32::from_str_radix(&s[2..], 16).unwrap(),
        _ => panic!("unknown PFC action {s}"),
    }
}

impl Pfc {
    fn parse(text: &str) -> Pfc {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|l| (l.len() - l.trim_start().len(), l.trim()))
            .collect();
        let mut i = 0;
        let top = Self::block(&lines, &mut i, 0);
        let mut arches = vec![];
        for st in top {
            if let Stmt::If {
                k,
                then,
                word: None,
                op: "arch",
                ..
            } = st
            {
                arches.push((k, then));
            }
        }
        Pfc { arches }
    }

    fn block(lines: &[(usize, &str)], i: &mut usize, indent: usize) -> Vec<Stmt> {
        let mut out = vec![];
        while *i < lines.len() && lines[*i].0 == indent {
            let l = lines[*i].1;
            *i += 1;
            if let Some(a) = l.strip_prefix("action ") {
                out.push(Stmt::Action(pfc_action(a)));
                continue;
            }
            let cond = l
                .strip_prefix("if (")
                .and_then(|c| c.strip_suffix(')'))
                .unwrap();
            let parts: Vec<&str> = cond.split_whitespace().collect();
            let (lhs, rest) = (parts[0], &parts[1..]);
            let (mask, rest) = if rest[0] == "&" {
                let m = rest[1].trim_start_matches("0x");
                (Some(u32::from_str_radix(m, 16).unwrap()), &rest[2..])
            } else {
                (None, rest)
            };
            let k: u32 = rest[1].parse().unwrap();
            let (word, op) = match lhs {
                "$arch" => (None, "arch"),
                "$syscall" => (None, "=="),
                a => {
                    let (n, half) = match a.split_once('.') {
                        Some((n, "hi32")) => (n, Some(true)),
                        Some((n, _)) => (n, Some(false)),
                        None => (a, None),
                    };
                    let op = match rest[0] {
                        "==" => "==",
                        ">" => ">",
                        ">=" => ">=",
                        o => panic!("PFC op {o}"),
                    };
                    (Some((n[2..].parse().unwrap(), half)), op)
                }
            };
            let then = Self::block(lines, i, indent + 2);
            let els = if *i < lines.len() && lines[*i] == (indent, "else") {
                *i += 1;
                Self::block(lines, i, indent + 2)
            } else {
                vec![]
            };
            out.push(Stmt::If {
                word,
                mask,
                op,
                k,
                then,
                els,
            });
        }
        out
    }

    fn run(stmts: &[Stmt], d: &SeccompData) -> Option<u32> {
        for st in stmts {
            match st {
                Stmt::Action(a) => return Some(*a),
                Stmt::If {
                    word,
                    mask,
                    op,
                    k,
                    then,
                    els,
                } => {
                    let v = match word {
                        None => d.nr as u32,
                        Some((n, Some(true))) => (d.args[*n as usize] >> 32) as u32,
                        Some((n, _)) => d.args[*n as usize] as u32,
                    } & mask.unwrap_or(u32::MAX);
                    let hit = match *op {
                        ">" => v > *k,
                        ">=" => v >= *k,
                        _ => v == *k,
                    };
                    if let Some(r) = Self::run(if hit { then } else { els }, d) {
                        return Some(r);
                    }
                }
            }
        }
        None
    }

    /// The verdict for `d`, with libseccomp's x86_64/x32 ABI split; `None`
    /// when the pseudo-code cannot say (bad arch and friends).
    fn eval(&self, d: &SeccompData) -> Option<u32> {
        let x32 = d.nr as u32 & 0x4000_0000 != 0 && d.nr != -1;
        let sections: Vec<&(u32, Vec<Stmt>)> =
            self.arches.iter().filter(|(t, _)| *t == d.arch).collect();
        let section = match sections.len() {
            0 => return None,
            // x86_64 without x32: x32 numbers are a bad ABI.
            1 if d.arch == Arch::X86_64.audit_arch() && x32 => return None,
            1 => sections[0],
            _ => sections[usize::from(x32)],
        };
        Self::run(&section.1, d)
    }
}

/// A small deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// Numbers libseccomp gives syscalls an ABI lacks (`__PNR_*`, about
/// -10000 - n, and -100..-224 for x86's multiplexed calls). It adds rules
/// for them that no real syscall can reach; berth does not. Not sampled.
fn pseudo_nr(nr: u32) -> bool {
    let n = nr as i32;
    (-20000..=-2).contains(&n)
}

/// Syscall argument values near every constant the profile compares with.
fn interesting_values(p: &LinuxSeccomp) -> Vec<u64> {
    let mut v: BTreeSet<u64> = [
        0,
        1,
        2,
        40,
        0xffff_ffff,
        1 << 32,
        u64::MAX,
        0x7fff_ffff_ffff_ffff,
    ]
    .into_iter()
    .collect();
    for call in p.syscalls().iter().flatten() {
        for a in call.args().iter().flatten() {
            for x in [a.value(), a.value_two().unwrap_or(0)] {
                for d in [
                    x,
                    x.wrapping_add(1),
                    x.wrapping_sub(1),
                    x ^ (1 << 32),
                    x & 0xffff_ffff,
                ] {
                    v.insert(d);
                    v.insert(d.rotate_left(32));
                }
            }
        }
    }
    v.into_iter().collect()
}

struct Stats {
    profiles: usize,
    cases: usize,
    refused_both: usize,
    hung: usize,
    miscompiled: usize,
    miscompiled_cases: usize,
}

/// Compiles `p` both ways and compares verdicts on many syscalls; returns
/// the number of cases compared (0 when libseccomp hung).
fn compare(p: &LinuxSeccomp, native: Arch, rng: &mut Rng, per_nr: usize, stats: &mut Stats) {
    stats.profiles += 1;
    let ours = compile_with(
        p,
        &Options {
            native: Some(native),
            debug: None,
        },
    );
    let theirs = match reference(p, native) {
        Reference::Hung => {
            stats.hung += 1;
            return;
        }
        Reference::Refused(msg) => {
            assert!(
                ours.is_err(),
                "libseccomp refused ({msg}) but berth compiled:\n{}",
                serde_json::to_string(p).unwrap_or_default()
            );
            stats.refused_both += 1;
            return;
        }
        Reference::Filter(f, pfc) => (f, pfc),
    };
    let (theirs, pfc) = theirs;
    let pfc = Pfc::parse(&pfc);
    let ours = match ours {
        Ok(prog) => prog,
        Err(e) => panic!(
            "berth refused ({e}) but libseccomp compiled:\n{}",
            serde_json::to_string(p).unwrap_or_default()
        ),
    };

    let mut arches: Vec<Arch> = vec![native];
    for a in p.architectures().iter().flatten() {
        let a = oci_arch(&a.to_string());
        if !arches.contains(&a) {
            arches.push(a);
        }
    }
    let names: BTreeSet<&str> = p
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|c| c.names().iter().map(String::as_str))
        .chain(["read", "socketcall", "ipc", "mkdir", "clone", "personality"])
        .collect();
    let values = interesting_values(p);
    let mut tokens: Vec<u32> = arches.iter().map(|a| a.audit_arch()).collect();
    tokens.dedup();
    let broken = arches_without_nr_load(&theirs, &tokens);
    if !broken.is_empty() {
        // Compared all the same: the pseudo-code decides for these ABIs.
        stats.miscompiled += 1;
    }
    tokens.push(AUDIT_PPC64LE);
    tokens.push(rng.next() as u32);
    for &token in &tokens {
        let mut nrs: BTreeSet<u32> = [0, 1, 0xffff_ffff, 0x3fff_ffff, 0x4000_0000, 0x4000_0001]
            .into_iter()
            .collect();
        for a in [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64, Arch::Arm] {
            for n in &names {
                if let Some(nr) = a.syscall_number(n) {
                    nrs.insert(nr);
                    nrs.insert(nr.wrapping_add(1));
                    nrs.insert(nr.wrapping_sub(1));
                    nrs.insert(nr ^ 0x4000_0000);
                }
            }
        }
        for _ in 0..8 {
            nrs.insert(rng.below(600) as u32);
            nrs.insert(rng.next() as u32);
        }
        for nr in nrs {
            if pseudo_nr(nr) {
                continue;
            }
            for i in 0..per_nr {
                let mut d = SeccompData {
                    nr: nr as i32,
                    arch: token,
                    instruction_pointer: rng.next(),
                    args: [0; 6],
                };
                for a in d.args.iter_mut() {
                    *a = if i == 0 {
                        0
                    } else if rng.below(5) == 0 {
                        rng.next()
                    } else {
                        *rng.pick(&values)
                    };
                }
                let mut want = bpf::run(&theirs, &d).expect("libseccomp's filter runs");
                let got = bpf::run(ours.instructions(), &d).expect("our filter runs");
                if got != want && pfc.eval(&d) == Some(got) {
                    // libseccomp's BPF disagrees with its own rule
                    // database (its pseudo-code): a libseccomp bug.
                    stats.miscompiled_cases += 1;
                    want = got;
                }
                if got != want && std::env::var_os("SECCOMP_DUMP").is_some() {
                    eprintln!("libseccomp:");
                    dump(&theirs);
                    eprintln!("berth:");
                    dump(ours.instructions());
                }
                assert_eq!(
                    got,
                    want,
                    "verdicts differ for {d:x?}\nprofile: {}",
                    serde_json::to_string(p).unwrap_or_default()
                );
                stats.cases += 1;
            }
        }
    }
}

fn dump(f: &[SockFilter]) {
    for (i, ins) in f.iter().enumerate() {
        eprintln!(
            "{i:4}: {:04x} {:3} {:3} {:#x}",
            ins.code, ins.jt, ins.jf, ins.k
        );
    }
}

/// moby's default profile as an OCI profile for one architecture and
/// capability set, as moby's `setupSeccomp` converts it.
fn docker_profile(goarch: &str, caps: &[&str]) -> LinuxSeccomp {
    serde_json::from_value(berth_seccomp::docker::default_profile(goarch, caps)).unwrap()
}

use berth_seccomp::docker::DEFAULT_CAPS as DOCKER_CAPS;

#[test]
fn docker_default_profile_matches_libseccomp() {
    let mut rng = Rng(0x005e_edd0_c4e2);
    let mut stats = Stats {
        profiles: 0,
        cases: 0,
        refused_both: 0,
        hung: 0,
        miscompiled: 0,
        miscompiled_cases: 0,
    };
    let mut all_caps = DOCKER_CAPS.to_vec();
    all_caps.extend(["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_TIME", "CAP_BPF"]);
    for goarch in ["amd64", "arm64"] {
        let native = Arch::X86_64;
        for caps in [DOCKER_CAPS, &all_caps[..]] {
            let p = docker_profile(goarch, caps);
            compare(&p, native, &mut rng, 12, &mut stats);
            let ours = compile_with(
                &p,
                &Options {
                    native: Some(native),
                    debug: None,
                },
            )
            .unwrap();
            if let (Reference::Filter(f, _), Reference::Filter(tree, _)) =
                (reference(&p, native), reference_opt(&p, native, 2))
            {
                eprintln!(
                    "docker default profile, {goarch}, {} caps: berth {} instructions, \
                     libseccomp {} (linear) / {} (binary tree, as runc sets it)",
                    caps.len(),
                    ours.instructions().len(),
                    f.len(),
                    tree.len()
                );
            }
        }
    }
    eprintln!(
        "docker profiles: {} profiles, {} cases compared",
        stats.profiles, stats.cases
    );
    assert_eq!(stats.hung + stats.miscompiled, 0);
    assert!(stats.cases > 10_000);
}

const POOL: &[&str] = &[
    "read",
    "write",
    "mkdir",
    "mkdirat",
    "openat",
    "ioctl",
    "mmap",
    "clone",
    "personality",
    "socket",
    "connect",
    "send",
    "recvmmsg",
    "shmget",
    "semop",
    "socketcall",
    "arch_prctl",
    "set_tls",
    "rt_sigaction",
    "_llseek",
    "not_a_syscall",
];

fn random_profile(rng: &mut Rng, arm: bool) -> LinuxSeccomp {
    let acts = [
        ("SCMP_ACT_ALLOW", false),
        ("SCMP_ACT_ERRNO", true),
        ("SCMP_ACT_TRACE", true),
        ("SCMP_ACT_TRAP", false),
        ("SCMP_ACT_LOG", false),
        ("SCMP_ACT_KILL", false),
        ("SCMP_ACT_KILL_PROCESS", false),
        ("SCMP_ACT_NOTIFY", false),
    ];
    let ops = [
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ];
    let values = [
        0u64,
        1,
        5,
        40,
        0xff,
        0x7fff_ffff,
        0xffff_ffff,
        1 << 32,
        0x1_0000_0005,
        0xffff_ffff_0000_0000,
        u64::MAX,
    ];
    let value = |rng: &mut Rng| {
        if rng.below(4) == 0 {
            rng.next() >> rng.below(64)
        } else {
            *rng.pick(&values)
        }
    };
    let (d_act, d_errno) = *rng.pick(&acts[..7]);
    let mut p = json!({"defaultAction": d_act});
    if d_errno && rng.below(2) == 0 {
        p["defaultErrnoRet"] = json!(rng.below(200));
    }
    let subs: &[&str] = if arm {
        &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_X86"]
    } else {
        &["SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    };
    let arches: Vec<&str> = subs.iter().copied().filter(|_| rng.below(2) == 0).collect();
    p["architectures"] = json!(arches);
    let mut calls = vec![];
    for _ in 0..1 + rng.below(8) {
        let (act, errno) = *rng.pick(&acts);
        let mut names: Vec<&str> = (0..1 + rng.below(3)).map(|_| *rng.pick(POOL)).collect();
        names.dedup();
        if act == "SCMP_ACT_NOTIFY" {
            names.retain(|n| *n != "write");
            if names.is_empty() {
                names.push("mkdir");
            }
        }
        let mut c = json!({"names": names, "action": act});
        if errno && rng.below(2) == 0 {
            c["errnoRet"] = json!(rng.below(200));
        }
        let nargs = [0, 0, 1, 1, 2, 3][rng.below(6) as usize];
        let mut args = vec![];
        for _ in 0..nargs {
            let op = *rng.pick(&ops);
            let mut a = json!({"index": rng.below(4), "value": value(rng), "op": op});
            if op == "SCMP_CMP_MASKED_EQ" {
                a["valueTwo"] = json!(value(rng));
            }
            args.push(a);
        }
        if !args.is_empty() {
            c["args"] = json!(args);
        }
        calls.push(c);
    }
    p["syscalls"] = json!(calls);
    serde_json::from_value(p).unwrap()
}

#[test]
fn random_profiles_match_libseccomp() {
    let mut rng = Rng(0x0b5e_55ed_1234_5678);
    let mut stats = Stats {
        profiles: 0,
        cases: 0,
        refused_both: 0,
        hung: 0,
        miscompiled: 0,
        miscompiled_cases: 0,
    };
    for i in 0..400 {
        let native = Arch::X86_64;
        let p = random_profile(&mut rng, i % 3 == 2);
        compare(&p, native, &mut rng, 6, &mut stats);
    }
    eprintln!(
        "random profiles: {} profiles, {} cases compared, {} refused by both, {} skipped (libseccomp hung), {} where libseccomp's BPF never loads the syscall number for some ABI, {} cases where libseccomp's BPF contradicts its own pseudo-code and berth agrees with the pseudo-code",
        stats.profiles, stats.cases, stats.refused_both, stats.hung, stats.miscompiled, stats.miscompiled_cases
    );
    assert!(stats.cases > 100_000);
    assert!(stats.hung < stats.profiles / 10);
}

/// Our syscall tables agree with libseccomp's wherever libseccomp knows the
/// syscall (it may lack the newest ones), in both directions.
#[test]
fn syscall_tables_match_libseccomp() {
    let mut newer = 0;
    for arch in [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64, Arch::Arm] {
        let sa = scmp_arch(arch);
        for nr in (0..1024u32).chain(0xf0000..0xf0010) {
            let nr = if arch == Arch::X32 {
                nr | 0x4000_0000
            } else {
                nr
            };
            let Ok(name) = ScmpSyscall::from_raw_syscall(nr as i32).get_name_by_arch(sa) else {
                continue;
            };
            assert_eq!(
                arch.syscall_number(&name),
                Some(nr),
                "{arch:?}: libseccomp says {nr} is {name}"
            );
        }
        for (name, nr) in arch.syscalls() {
            match ScmpSyscall::from_name_by_arch(name, sa).map(|s| s.as_raw_syscall()) {
                Ok(theirs) if theirs >= 0 => assert_eq!(nr as i32, theirs, "{arch:?} {name}"),
                _ => newer += 1,
            }
        }
    }
    eprintln!("{newer} (arch, syscall) pairs known to berth but not to this libseccomp");
}
