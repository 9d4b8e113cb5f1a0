//! Process attributes of the spec beyond user and capabilities:
//! `process.scheduler` (sched_setattr(2)), `process.ioPriority`
//! (ioprio_set(2)), `process.execCPUAffinity` (sched_setaffinity(2)),
//! `linux.personality` (personality(2)) and `linux.memoryPolicy`
//! (set_mempolicy(2)). Applied by the container process before it drops
//! privileges (a realtime policy needs CAP_SYS_NICE).

use nix::errno::Errno;
use oci_spec::runtime::{
    IOPriorityClass, LinuxMemoryPolicy, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Process,
    Scheduler,
};

use crate::{Error, Result};

/// Parses a CPU or node list such as `0-3,7` into indices.
pub fn parse_list(field: &str, s: &str) -> Result<Vec<usize>> {
    let bad = || Error::Init(format!("{field}: {s:?} is not a list like 0-3,7"));
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a > b || b >= 4096 {
            return Err(bad());
        }
        out.extend(a..=b);
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// sched_setaffinity(2) of the calling process to `cpus`.
pub fn set_affinity(field: &str, cpus: &str) -> Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET edit it in place.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for cpu in parse_list(field, cpus)? {
        // SAFETY: cpu < 4096 < CPU_SETSIZE * 4 is checked by parse_list... CPU_SET bounds-checks too.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: a valid cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    Errno::result(rc)
        .map(drop)
        .map_err(|e| Error::Init(format!("failed to set {field} {cpus:?}: {e}")))
}

#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

fn scheduler(s: &Scheduler) -> Result<()> {
    use LinuxSchedulerPolicy as P;
    let policy = match s.policy() {
        P::SchedOther => libc::SCHED_OTHER,
        P::SchedFifo => libc::SCHED_FIFO,
        P::SchedRr => libc::SCHED_RR,
        P::SchedBatch => libc::SCHED_BATCH,
        P::SchedIdle => libc::SCHED_IDLE,
        P::SchedDeadline => 6,
        P::SchedIso => {
            return Err(Error::Init(
                "process.scheduler.policy: SCHED_ISO is not implemented by Linux".into(),
            ))
        }
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        use LinuxSchedulerFlag as F;
        flags |= match f {
            F::SchedResetOnFork => 0x01,
            F::SchedFlagReclaim => 0x02,
            F::SchedFlagDLOverrun => 0x04,
            F::SchedFlagKeepPolicy => 0x08,
            F::SchedFlagKeepParams => 0x10,
            F::SchedFlagUtilClampMin => 0x20,
            F::SchedFlagUtilClampMax => 0x40,
        };
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy as u32,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0).max(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..Default::default()
    };
    // SAFETY: a valid sched_attr of the size it declares.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    Errno::result(rc).map(drop).map_err(|e| {
        Error::Init(format!(
            "failed to set process.scheduler ({:?}): {e}",
            s.policy()
        ))
    })
}

fn io_priority(class: IOPriorityClass, priority: i64) -> Result<()> {
    let class = match class {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&priority) {
        return Err(Error::Init(format!(
            "process.ioPriority.priority: {priority} is not in 0-7"
        )));
    }
    const IOPRIO_WHO_PROCESS: i32 = 1;
    let value = (class << 13) | priority;
    // SAFETY: plain integer arguments.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    Errno::result(rc)
        .map(drop)
        .map_err(|e| Error::Init(format!("failed to set process.ioPriority: {e}")))
}

fn personality(p: &LinuxPersonality) -> Result<()> {
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(Error::Init(
            "linux.personality.flags: no flags are defined by the runtime spec".into(),
        ));
    }
    let domain = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    // SAFETY: personality(2) with a plain value.
    let rc = unsafe { libc::personality(domain) };
    Errno::result(rc)
        .map(drop)
        .map_err(|e| Error::Init(format!("failed to set linux.personality: {e}")))
}

fn memory_policy(m: &LinuxMemoryPolicy) -> Result<()> {
    use MemoryPolicyModeType as M;
    let mode: i32 = match m.mode() {
        M::MpolDefault => 0,
        M::MpolPreferred => 1,
        M::MpolBind => 2,
        M::MpolInterleave => 3,
        M::MpolLocal => 4,
        M::MpolPreferredMany => 5,
        M::MpolWeightedInterleave => 6,
    };
    let mut flags = 0i32;
    for f in m.flags().iter().flatten() {
        flags |= match f {
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
        };
    }
    let mut mask = [0u64; 16];
    let mut maxnode = 0u64;
    if let Some(nodes) = m.nodes().as_deref().filter(|n| !n.is_empty()) {
        for n in parse_list("linux.memoryPolicy.nodes", nodes)? {
            if n >= 1024 {
                return Err(Error::Init(format!(
                    "linux.memoryPolicy.nodes: node {n} is out of range"
                )));
            }
            mask[n / 64] |= 1 << (n % 64);
        }
        maxnode = 1024;
    }
    // SAFETY: a node mask of maxnode bits (or none).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_set_mempolicy,
            mode | flags,
            mask.as_ptr(),
            maxnode,
        )
    };
    Errno::result(rc).map(drop).map_err(|e| {
        Error::Init(format!(
            "failed to set linux.memoryPolicy ({:?}): {e}",
            m.mode()
        ))
    })
}

/// Applies the process-level attributes (scheduler, I/O priority, final
/// CPU affinity) to the calling process.
pub fn apply_process(process: &Process) -> Result<()> {
    if let Some(s) = process.scheduler() {
        scheduler(s)?;
    }
    if let Some(io) = process.io_priority() {
        io_priority(io.class(), io.priority())?;
    }
    if let Some(cpus) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().clone())
    {
        set_affinity("process.execCPUAffinity.final", &cpus)?;
    }
    Ok(())
}

/// Applies `linux.personality` and `linux.memoryPolicy`.
pub fn apply_linux(linux: &oci_spec::runtime::Linux) -> Result<()> {
    if let Some(p) = linux.personality() {
        personality(p)?;
    }
    if let Some(m) = linux.memory_policy() {
        memory_policy(m)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(parse_list("f", "0-3,7").unwrap(), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse_list("f", "1").unwrap(), vec![1]);
        assert!(parse_list("f", "3-1").is_err());
        assert!(parse_list("f", "x").is_err());
        assert!(parse_list("f", "").is_err());
    }
}
