//! `linux.resources.cpu`: the cpu controller (shares/weight, CFS quota,
//! period and burst, realtime, idle) and cpuset (cpus, mems).

use std::path::PathBuf;

use oci_spec::runtime::LinuxCpu;

use crate::fs::{resource_err, Cg, FsManager};
use crate::{convert, Result};

const F: &str = "linux.resources.cpu";

fn field(name: &str) -> String {
    format!("{F}.{name}")
}

pub(crate) fn apply(m: &FsManager, cpu: &LinuxCpu) -> Result<()> {
    apply_cpu(m, cpu)?;
    apply_cpuset(m, cpu)
}

/// The first cpu-controller field that is set, for error messages and to
/// know whether the controller is needed at all.
fn first_cpu_field(cpu: &LinuxCpu) -> Option<(&'static str, String)> {
    let set = |v: Option<String>, name| v.map(|v| (name, v));
    set(cpu.shares().map(|v| v.to_string()), "shares")
        .or_else(|| set(cpu.quota().map(|v| v.to_string()), "quota"))
        .or_else(|| set(cpu.period().map(|v| v.to_string()), "period"))
        .or_else(|| set(cpu.burst().map(|v| v.to_string()), "burst"))
        .or_else(|| {
            set(
                cpu.realtime_runtime().map(|v| v.to_string()),
                "realtimeRuntime",
            )
        })
        .or_else(|| {
            set(
                cpu.realtime_period().map(|v| v.to_string()),
                "realtimePeriod",
            )
        })
        .or_else(|| set(cpu.idle().map(|v| v.to_string()), "idle"))
}

fn apply_cpu(m: &FsManager, cpu: &LinuxCpu) -> Result<()> {
    let Some((name, value)) = first_cpu_field(cpu) else {
        return Ok(());
    };
    let cg = m.locate_for("cpu", Some("cpu"), &field(name), &value)?;
    if cg.v2 {
        apply_v2(&cg, cpu)
    } else {
        apply_v1(m, &cg, cpu)
    }
}

/// Whether `idle` asks for SCHED_IDLE; the weight is then meaningless and the
/// kernel refuses to change it, so shares are not written (as runc).
fn is_idle(cpu: &LinuxCpu) -> bool {
    cpu.idle() == Some(1)
}

fn apply_v1(m: &FsManager, cg: &Cg, cpu: &LinuxCpu) -> Result<()> {
    // A burst larger than the new quota is refused: clear it first and set
    // it after quota and period.
    if let Some(burst) = cpu.burst() {
        cg.set("cpu.cfs_burst_us", "0", &field("burst"), burst)?;
    }
    let period = cpu.period().filter(|p| *p != 0);
    let quota = cpu.quota().filter(|q| *q != 0);
    if let Some(p) = period {
        if let Err(e) = cg.try_write("cpu.cfs_period_us", &p.to_string()) {
            // The kernel checks quota/period against the parent's bandwidth:
            // a shorter period with the old quota can fail, the new quota
            // first then works (runc does the same retry).
            match quota {
                Some(q) if e.raw_os_error() == Some(libc::EINVAL) => {
                    cg.set("cpu.cfs_quota_us", &q.to_string(), &field("quota"), q)?;
                }
                _ => {
                    return Err(cg.write_err(
                        "cpu.cfs_period_us",
                        &p.to_string(),
                        &field("period"),
                        p,
                        e,
                    ))
                }
            }
            cg.set("cpu.cfs_period_us", &p.to_string(), &field("period"), p)?;
        }
    }
    if let Some(q) = quota {
        cg.set("cpu.cfs_quota_us", &q.to_string(), &field("quota"), q)?;
    }
    if let Some(burst) = cpu.burst().filter(|b| *b != 0) {
        cg.set(
            "cpu.cfs_burst_us",
            &burst.to_string(),
            &field("burst"),
            burst,
        )?;
    }
    // Realtime: the period first (the runtime must fit in it).
    if let Some(p) = cpu.realtime_period().filter(|p| *p != 0) {
        cg.set(
            "cpu.rt_period_us",
            &p.to_string(),
            &field("realtimePeriod"),
            p,
        )?;
    }
    if let Some(r) = cpu.realtime_runtime().filter(|r| *r != 0) {
        set_rt_runtime(m, cg, r)?;
    }
    if let Some(idle) = cpu.idle() {
        cg.set("cpu.idle", &idle.to_string(), &field("idle"), idle)?;
    }
    if let Some(shares) = cpu.shares().filter(|s| *s != 0 && !is_idle(cpu)) {
        cg.set("cpu.shares", &shares.to_string(), &field("shares"), shares)?;
        // The kernel clamps to [2, 262144] silently: say so instead.
        let got = cg.read_u64("cpu.shares")?;
        if got != shares {
            let bound = if shares > got { "maximum" } else { "minimum" };
            return Err(resource_err(
                field("shares"),
                shares,
                format!("the {bound} allowed cpu.shares is {got}"),
            ));
        }
    }
    Ok(())
}

/// v1 realtime runtime. Every ancestor must have at least as much runtime
/// as it hands out (sched-rt-group.rst, "the sum of the runtimes of the
/// children must not exceed the parent's"), and new cgroups start at 0: if
/// the leaf refuses, raise the ancestors below the root that have less,
/// top down, and retry.
fn set_rt_runtime(m: &FsManager, cg: &Cg, runtime: i64) -> Result<()> {
    let name = field("realtimeRuntime");
    let data = runtime.to_string();
    let Err(first) = cg.try_write("cpu.rt_runtime_us", &data) else {
        return Ok(());
    };
    if runtime < 0 || first.raw_os_error() != Some(libc::EINVAL) {
        return Err(cg.write_err("cpu.rt_runtime_us", &data, &name, runtime, first));
    }
    let Some(h) = m.layout().v1("cpu") else {
        return Err(cg.write_err("cpu.rt_runtime_us", &data, &name, runtime, first));
    };
    let mut dir = PathBuf::from(&h.mount_point);
    let parts: Vec<&str> = m
        .cgroup_path()
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        dir.push(part);
        let ancestor = Cg {
            dir: dir.clone(),
            v2: false,
        };
        let have = ancestor.read_u64("cpu.rt_runtime_us")?;
        if have == u64::MAX || have >= runtime as u64 {
            continue;
        }
        ancestor.try_write("cpu.rt_runtime_us", &data).map_err(|e| {
            resource_err(
                &name,
                runtime,
                format!(
                    "the parent cgroup {} has {have}us of realtime runtime and cannot be given {runtime}us: {e}",
                    dir.display()
                ),
            )
        })?;
    }
    cg.set("cpu.rt_runtime_us", &data, &name, runtime)
}

fn apply_v2(cg: &Cg, cpu: &LinuxCpu) -> Result<()> {
    if let Some(r) = cpu.realtime_runtime().filter(|r| *r != 0) {
        return Err(resource_err(
            field("realtimeRuntime"),
            r,
            "realtime scheduling groups do not exist in cgroup v2",
        ));
    }
    if let Some(p) = cpu.realtime_period().filter(|p| *p != 0) {
        return Err(resource_err(
            field("realtimePeriod"),
            p,
            "realtime scheduling groups do not exist in cgroup v2",
        ));
    }
    if let Some(burst) = cpu.burst() {
        cg.set("cpu.max.burst", "0", &field("burst"), burst)?;
    }
    if let Some(max) = cpu_max(cpu.quota(), cpu.period()) {
        let (name, value) = match (cpu.quota(), cpu.period()) {
            (Some(q), _) if q != 0 => ("quota", q.to_string()),
            (_, Some(p)) => ("period", p.to_string()),
            _ => ("quota", String::new()),
        };
        cg.set("cpu.max", &max, &field(name), value)?;
    }
    if let Some(burst) = cpu.burst().filter(|b| *b != 0) {
        cg.set("cpu.max.burst", &burst.to_string(), &field("burst"), burst)?;
    }
    if let Some(idle) = cpu.idle() {
        cg.set("cpu.idle", &idle.to_string(), &field("idle"), idle)?;
    }
    if let Some(shares) = cpu.shares().filter(|s| *s != 0 && !is_idle(cpu)) {
        let weight = convert::cpu_shares_to_weight(shares);
        cg.set("cpu.weight", &weight.to_string(), &field("shares"), shares)?;
    }
    Ok(())
}

/// The v2 `cpu.max` line for quota and period, as runc writes it: the quota
/// (`max` when unlimited or only the period is given), then the period if
/// one is given. `None` when neither is set.
pub(crate) fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let quota = quota.filter(|q| *q != 0);
    let period = period.filter(|p| *p != 0);
    if quota.is_none() && period.is_none() {
        return None;
    }
    let mut s = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".to_owned(),
    };
    if let Some(p) = period {
        s.push(' ');
        s.push_str(&p.to_string());
    }
    Some(s)
}

fn apply_cpuset(m: &FsManager, cpu: &LinuxCpu) -> Result<()> {
    let cpus = cpu.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = cpu.mems().as_deref().filter(|s| !s.is_empty());
    let (name, value) = match (cpus, mems) {
        (Some(c), _) => ("cpus", c),
        (None, Some(m)) => ("mems", m),
        (None, None) => return Ok(()),
    };
    let cg = m.locate_for("cpuset", Some("cpuset"), &field(name), value)?;
    // mems before cpus is as good as the reverse; the kernel checks each
    // against the parent's effective set.
    if let Some(c) = cpus {
        cg.set("cpuset.cpus", c, &field("cpus"), c)?;
    }
    if let Some(mm) = mems {
        cg.set("cpuset.mems", mm, &field("mems"), mm)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{read, FakeTree, TestCgroup};
    use crate::Manager;
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxResourcesBuilder};

    fn resources(cpu: LinuxCpu) -> oci_spec::runtime::LinuxResources {
        LinuxResourcesBuilder::default().cpu(cpu).build().unwrap()
    }

    #[test]
    fn cpu_max_line() {
        assert_eq!(cpu_max(None, None), None);
        assert_eq!(cpu_max(Some(0), Some(0)), None);
        assert_eq!(
            cpu_max(Some(50_000), Some(100_000)).unwrap(),
            "50000 100000"
        );
        assert_eq!(cpu_max(Some(-1), Some(100_000)).unwrap(), "max 100000");
        assert_eq!(cpu_max(Some(20_000), None).unwrap(), "20000");
        assert_eq!(cpu_max(None, Some(250_000)).unwrap(), "max 250000");
    }

    #[test]
    fn v2_cpu_on_a_fake_tree() {
        let fake = FakeTree::v2(&["cpu", "cpuset"]);
        let m = FsManager::new(fake.layout.clone(), "/berth/c");
        m.create().unwrap();
        let dir = fake.root.path().join("berth/c");
        FakeTree::touch(
            &dir,
            &[
                "cpu.weight",
                "cpu.max",
                "cpu.max.burst",
                "cpu.idle",
                "cpuset.cpus",
                "cpuset.mems",
            ],
            "",
        );
        let cpu = LinuxCpuBuilder::default()
            .shares(1024u64)
            .quota(50_000i64)
            .period(100_000u64)
            .burst(10_000u64)
            .idle(0i64)
            .cpus("0")
            .mems("0")
            .build()
            .unwrap();
        m.apply(&resources(cpu)).unwrap();
        assert_eq!(read(&dir, "cpu.weight"), "100");
        assert_eq!(read(&dir, "cpu.max"), "50000 100000");
        assert_eq!(read(&dir, "cpu.max.burst"), "10000");
        assert_eq!(read(&dir, "cpu.idle"), "0");
        assert_eq!(read(&dir, "cpuset.cpus"), "0");
        assert_eq!(read(&dir, "cpuset.mems"), "0");
        assert!(read(fake.root.path(), "cgroup.subtree_control").contains("cpu"));

        let rt = LinuxCpuBuilder::default()
            .realtime_runtime(1000i64)
            .build()
            .unwrap();
        let err = m.apply(&resources(rt)).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.cpu.realtimeRuntime: 1000: "),
            "{err}"
        );
    }

    #[test]
    fn v2_without_the_cpu_controller_is_an_error() {
        let fake = FakeTree::v2(&["memory"]);
        let m = FsManager::new(fake.layout.clone(), "/berth/c");
        m.create().unwrap();
        let cpu = LinuxCpuBuilder::default().shares(512u64).build().unwrap();
        let err = m.apply(&resources(cpu)).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.cpu.shares: 512: no cpu"),
            "{err}"
        );
    }

    #[test]
    fn v1_cpu_on_this_host() {
        let cg = TestCgroup::new();
        let m = cg.manager();
        let cpu = LinuxCpuBuilder::default()
            .shares(512u64)
            .quota(20_000i64)
            .period(100_000u64)
            .burst(5_000u64)
            .realtime_period(1_000_000u64)
            .realtime_runtime(1_000i64)
            .cpus("0")
            .mems("0")
            .build()
            .unwrap();
        m.apply(&resources(cpu)).unwrap();
        let dir = m.v1("cpu").unwrap().dir;
        assert_eq!(read(&dir, "cpu.shares"), "512");
        assert_eq!(read(&dir, "cpu.cfs_quota_us"), "20000");
        assert_eq!(read(&dir, "cpu.cfs_period_us"), "100000");
        assert_eq!(read(&dir, "cpu.cfs_burst_us"), "5000");
        assert_eq!(read(&dir, "cpu.rt_period_us"), "1000000");
        assert_eq!(read(&dir, "cpu.rt_runtime_us"), "1000");
        let cpuset = m.v1("cpuset").unwrap().dir;
        assert_eq!(read(&cpuset, "cpuset.cpus"), "0");
        assert_eq!(read(&cpuset, "cpuset.mems"), "0");

        // update: a smaller quota below the old burst, unlimited quota.
        let cpu = LinuxCpuBuilder::default()
            .quota(-1i64)
            .period(50_000u64)
            .build()
            .unwrap();
        m.apply(&resources(cpu)).unwrap();
        assert_eq!(read(&dir, "cpu.cfs_quota_us"), "-1");
        assert_eq!(read(&dir, "cpu.cfs_period_us"), "50000");

        // The kernel's clamp is reported, not hidden.
        let cpu = LinuxCpuBuilder::default().shares(1u64).build().unwrap();
        let err = m.apply(&resources(cpu)).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.cpu.shares: 1: the minimum allowed cpu.shares is 2"),
            "{err}"
        );
    }

    /// A new cgroup below /berth has no realtime runtime to hand out: the
    /// ancestors get raised first.
    #[test]
    fn v1_realtime_runtime_is_granted_through_the_ancestors() {
        let cg = TestCgroup::nested();
        let m = cg.manager();
        let cpu = LinuxCpuBuilder::default()
            .realtime_runtime(2_000i64)
            .build()
            .unwrap();
        m.apply(&resources(cpu)).unwrap();
        let dir = m.v1("cpu").unwrap().dir;
        assert_eq!(read(&dir, "cpu.rt_runtime_us"), "2000");
        assert_eq!(read(dir.parent().unwrap(), "cpu.rt_runtime_us"), "2000");
        // More than the whole machine has is a clear error.
        let cpu = LinuxCpuBuilder::default()
            .realtime_runtime(999_999_999i64)
            .build()
            .unwrap();
        let err = m.apply(&resources(cpu)).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.cpu.realtimeRuntime: 999999999: "),
            "{err}"
        );
    }

    #[test]
    fn v1_cpuset_outside_the_parent_is_an_error() {
        let cg = TestCgroup::new();
        let cpu = LinuxCpuBuilder::default().cpus("4095").build().unwrap();
        let err = cg.manager().apply(&resources(cpu)).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.cpu.cpus: 4095: failed to write"),
            "{err}"
        );
    }
}
