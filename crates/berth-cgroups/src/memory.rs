//! `linux.resources.memory`: limit, reservation, swap, kernel and kernel TCP
//! limits, swappiness, the OOM killer switch, use_hierarchy and
//! checkBeforeUpdate.

use oci_spec::runtime::LinuxMemory;

use crate::fs::{resource_err, Cg, FsManager};
use crate::{convert, Result};

const F: &str = "linux.resources.memory";

fn field(name: &str) -> String {
    format!("{F}.{name}")
}

/// The OCI value as a v1 file value: `-1` is unlimited there too.
fn v1_value(v: i64) -> String {
    v.to_string()
}

/// The OCI value as a v2 file value: `max` for unlimited.
fn v2_value(v: i64) -> String {
    if v < 0 {
        "max".to_owned()
    } else {
        v.to_string()
    }
}

#[allow(deprecated)] // `kernel` is deprecated in the spec, and still ours to refuse
fn first_field(mem: &LinuxMemory) -> Option<(&'static str, String)> {
    let set = |v: Option<String>, name| v.map(|v| (name, v));
    set(mem.limit().map(|v| v.to_string()), "limit")
        .or_else(|| set(mem.reservation().map(|v| v.to_string()), "reservation"))
        .or_else(|| set(mem.swap().map(|v| v.to_string()), "swap"))
        .or_else(|| set(mem.kernel().map(|v| v.to_string()), "kernel"))
        .or_else(|| set(mem.kernel_tcp().map(|v| v.to_string()), "kernelTCP"))
        .or_else(|| set(mem.swappiness().map(|v| v.to_string()), "swappiness"))
        .or_else(|| {
            set(
                mem.disable_oom_killer().map(|v| v.to_string()),
                "disableOOMKiller",
            )
        })
        .or_else(|| set(mem.use_hierarchy().map(|v| v.to_string()), "useHierarchy"))
}

pub(crate) fn apply(m: &FsManager, mem: &LinuxMemory) -> Result<()> {
    let Some((name, value)) = first_field(mem) else {
        return Ok(());
    };
    let cg = m.locate_for("memory", Some("memory"), &field(name), &value)?;
    if mem.check_before_update() == Some(true) {
        check_usage(&cg, mem.limit())?;
    }
    if cg.v2 {
        apply_v2(&cg, mem)
    } else {
        apply_v1(&cg, mem)
    }
}

/// `checkBeforeUpdate`: refuse a limit below what the cgroup already uses,
/// instead of letting the kernel reclaim or OOM-kill to get there.
fn check_usage(cg: &Cg, limit: Option<i64>) -> Result<()> {
    let Some(limit) = limit.filter(|l| *l > 0) else {
        return Ok(());
    };
    let usage = cg.read_u64(if cg.v2 {
        "memory.current"
    } else {
        "memory.usage_in_bytes"
    })?;
    if (limit as u64) < usage {
        return Err(resource_err(
            field("limit"),
            limit,
            format!("below the current usage of {usage} bytes (checkBeforeUpdate)"),
        ));
    }
    Ok(())
}

#[allow(deprecated)]
fn apply_v1(cg: &Cg, mem: &LinuxMemory) -> Result<()> {
    let limit = mem.limit().filter(|l| *l != 0);
    let mut swap = mem.swap().filter(|s| *s != 0);
    // Unlimited memory with no swap given means both unlimited (runc).
    if limit == Some(-1) && swap.is_none() {
        swap = Some(-1);
    }
    let has_memsw = cg.exists("memory.memsw.limit_in_bytes");
    if let Some(s) = swap {
        if !has_memsw {
            if s == -1 {
                // Unlimited is what a host without swap accounting does.
                swap = None;
            } else {
                return Err(resource_err(
                    field("swap"),
                    s,
                    "swap accounting is off on this host (no memory.memsw.limit_in_bytes; boot with swapaccount=1)",
                ));
            }
        }
    }
    let set_limit = |l: i64| cg.set("memory.limit_in_bytes", &v1_value(l), &field("limit"), l);
    let set_swap = |s: i64| {
        cg.set(
            "memory.memsw.limit_in_bytes",
            &v1_value(s),
            &field("swap"),
            s,
        )
    };
    match (limit, swap) {
        (Some(l), Some(s)) => {
            // memory.limit_in_bytes <= memory.memsw.limit_in_bytes at all
            // times: raise memsw first when it grows, lower memory first
            // otherwise (runc's setMemoryAndSwap).
            let current = cg.read_u64("memory.limit_in_bytes")?;
            if s == -1 || current < s as u64 {
                set_swap(s)?;
                set_limit(l)?;
            } else {
                set_limit(l)?;
                set_swap(s)?;
            }
        }
        (Some(l), None) => set_limit(l)?,
        (None, Some(s)) => set_swap(s)?,
        (None, None) => {}
    }
    if let Some(r) = mem.reservation().filter(|r| *r != 0) {
        cg.set(
            "memory.soft_limit_in_bytes",
            &v1_value(r),
            &field("reservation"),
            r,
        )?;
    }
    if let Some(k) = mem.kernel().filter(|k| *k != 0) {
        set_checked(cg, "memory.kmem.limit_in_bytes", "kernel", k)?;
    }
    if let Some(k) = mem.kernel_tcp().filter(|k| *k != 0) {
        set_checked(cg, "memory.kmem.tcp.limit_in_bytes", "kernelTCP", k)?;
    }
    if let Some(s) = mem.swappiness() {
        if s > 100 {
            return Err(resource_err(
                field("swappiness"),
                s,
                "must be between 0 and 100",
            ));
        }
        cg.set("memory.swappiness", &s.to_string(), &field("swappiness"), s)?;
    }
    if let Some(d) = mem.disable_oom_killer() {
        cg.set(
            "memory.oom_control",
            if d { "1" } else { "0" },
            &field("disableOOMKiller"),
            d,
        )?;
    }
    if let Some(h) = mem.use_hierarchy() {
        cg.set(
            "memory.use_hierarchy",
            if h { "1" } else { "0" },
            &field("useHierarchy"),
            h,
        )?;
    }
    Ok(())
}

/// Writes a v1 kernel-memory limit and reads it back. Since Linux 6.1 the
/// kernel keeps `memory.kmem.limit_in_bytes` but ignores what is written to
/// it (mm commit "memcg: deprecate kmem.limit_in_bytes" and its follow-ups),
/// so a write that succeeds proves nothing: only the value read back does.
fn set_checked(cg: &Cg, file: &str, name: &str, value: i64) -> Result<()> {
    let data = v1_value(value);
    if !cg.exists(file) {
        return Err(resource_err(
            field(name),
            value,
            format!("this kernel has no {file} (kernel memory limits were removed)"),
        ));
    }
    cg.set(file, &data, &field(name), value)?;
    let got = cg.read_u64(file)?;
    // The kernel stores whole pages; "unlimited" reads back as a huge number.
    let page = page_size();
    let honoured = if value < 0 {
        got >= (i64::MAX as u64) - page
    } else {
        got == (value as u64) / page * page
    };
    if !honoured {
        return Err(resource_err(
            field(name),
            value,
            format!("the kernel accepts but ignores {file} (it reads back {got}); kernel memory limits are not supported by this kernel"),
        ));
    }
    Ok(())
}

fn page_size() -> u64 {
    // SAFETY: sysconf(3) has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

#[allow(deprecated)]
fn apply_v2(cg: &Cg, mem: &LinuxMemory) -> Result<()> {
    let limit = mem.limit().unwrap_or(0);
    if let Some(s) = mem.swap() {
        let swap = convert::memory_swap_to_v2(s, limit)
            .map_err(|reason| resource_err(field("swap"), s, reason))?;
        let data = match swap {
            -1 => Some("max".to_owned()),
            // memory == swap: no swap at all.
            0 if s > 0 => Some("0".to_owned()),
            0 => None,
            n => Some(n.to_string()),
        };
        if let Some(data) = data {
            if let Err(e) = cg.try_write("memory.swap.max", &data) {
                // Without swap support in the kernel, "unlimited" and "none"
                // are what the host does anyway (runc ignores these too).
                let moot =
                    e.kind() == std::io::ErrorKind::NotFound && (data == "max" || data == "0");
                if !moot {
                    return Err(cg.write_err("memory.swap.max", &data, &field("swap"), s, e));
                }
            }
        }
    } else if limit == -1 {
        // As on v1: unlimited memory and no swap given, swap unlimited too.
        let _ = cg.try_write("memory.swap.max", "max");
    }
    if limit != 0 {
        cg.set("memory.max", &v2_value(limit), &field("limit"), limit)?;
    }
    if let Some(r) = mem.reservation().filter(|r| *r != 0) {
        cg.set("memory.low", &v2_value(r), &field("reservation"), r)?;
    }
    for (name, v) in [("kernel", mem.kernel()), ("kernelTCP", mem.kernel_tcp())] {
        if let Some(v) = v.filter(|v| *v > 0) {
            return Err(resource_err(
                field(name),
                v,
                "kernel memory limits do not exist in cgroup v2 (kernel memory is part of memory.max)",
            ));
        }
    }
    if let Some(s) = mem.swappiness() {
        return Err(resource_err(
            field("swappiness"),
            s,
            "cgroup v2 has no per-cgroup swappiness (only the global vm.swappiness)",
        ));
    }
    if mem.disable_oom_killer() == Some(true) {
        return Err(resource_err(
            field("disableOOMKiller"),
            true,
            "cgroup v2 cannot disable the OOM killer",
        ));
    }
    if mem.use_hierarchy() == Some(false) {
        return Err(resource_err(
            field("useHierarchy"),
            false,
            "cgroup v2 accounting is always hierarchical",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, read, FakeTree, TestCgroup};
    use crate::Manager;
    use oci_spec::runtime::{LinuxMemoryBuilder, LinuxResourcesBuilder};

    fn resources(mem: LinuxMemory) -> oci_spec::runtime::LinuxResources {
        LinuxResourcesBuilder::default()
            .memory(mem)
            .build()
            .unwrap()
    }

    const MIB: i64 = 1024 * 1024;

    #[test]
    fn v1_memory_on_this_host() {
        let cg = TestCgroup::new();
        let m = cg.manager();
        let mem = LinuxMemoryBuilder::default()
            .limit(64 * MIB)
            .reservation(32 * MIB)
            .swap(128 * MIB)
            .kernel_tcp(16 * MIB)
            .swappiness(10u64)
            .disable_oom_killer(true)
            .build()
            .unwrap();
        m.apply(&resources(mem)).unwrap();
        let dir = m.v1("memory").unwrap().dir;
        assert_eq!(read(&dir, "memory.limit_in_bytes"), (64 * MIB).to_string());
        assert_eq!(
            read(&dir, "memory.soft_limit_in_bytes"),
            (32 * MIB).to_string()
        );
        assert_eq!(
            read(&dir, "memory.memsw.limit_in_bytes"),
            (128 * MIB).to_string()
        );
        assert_eq!(
            read(&dir, "memory.kmem.tcp.limit_in_bytes"),
            (16 * MIB).to_string()
        );
        assert_eq!(read(&dir, "memory.swappiness"), "10");
        assert!(read(&dir, "memory.oom_control").contains("oom_kill_disable 1"));

        // update: raise both above the old memsw (swap must go first), then
        // lower both (memory must go first), then unlimited.
        for (l, s) in [(256 * MIB, 512 * MIB), (16 * MIB, 32 * MIB), (-1, 0)] {
            let mut b = LinuxMemoryBuilder::default().limit(l);
            if s != 0 {
                b = b.swap(s);
            }
            m.apply(&resources(b.build().unwrap())).unwrap();
            if l > 0 {
                assert_eq!(read(&dir, "memory.limit_in_bytes"), l.to_string());
                assert_eq!(read(&dir, "memory.memsw.limit_in_bytes"), s.to_string());
            } else {
                assert_eq!(read(&dir, "memory.limit_in_bytes"), "9223372036854771712");
                assert_eq!(
                    read(&dir, "memory.memsw.limit_in_bytes"),
                    "9223372036854771712"
                );
            }
        }
    }

    #[test]
    fn v1_kernel_memory_limit_is_refused_when_ignored() {
        let cg = TestCgroup::new();
        let mem = LinuxMemoryBuilder::default()
            .kernel(64 * MIB)
            .build()
            .unwrap();
        let err = cg.manager().apply(&resources(mem)).unwrap_err().to_string();
        // This host's kernel (6.18) keeps the file and ignores writes.
        assert!(
            err.starts_with("linux.resources.memory.kernel: 67108864: "),
            "{err}"
        );
    }

    #[test]
    fn check_before_update_refuses_a_limit_below_usage() {
        let cg = TestCgroup::new();
        let m = cg.manager();
        let child = testutil::spawn_sleep(&m.paths());
        // Wait until the exec'd sleep is charged to the cgroup.
        let dir = m.v1("memory").unwrap().dir;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while read(&dir, "memory.usage_in_bytes") == "0" {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mem = LinuxMemoryBuilder::default()
            .limit(4096i64)
            .check_before_update(true)
            .build()
            .unwrap();
        let err = m.apply(&resources(mem)).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.memory.limit: 4096: below the current usage"),
            "{err}"
        );
        assert_ne!(read(&dir, "memory.limit_in_bytes"), "4096");
        testutil::reap(child);
    }

    #[test]
    fn v2_memory_on_a_fake_tree() {
        let fake = FakeTree::v2(&["memory"]);
        let m = FsManager::new(fake.layout.clone(), "/berth/c");
        m.create().unwrap();
        let dir = fake.root.path().join("berth/c");
        FakeTree::touch(&dir, &["memory.max", "memory.low", "memory.swap.max"], "");
        FakeTree::touch(&dir, &["memory.current"], "1000000\n");
        let mem = LinuxMemoryBuilder::default()
            .limit(64 * MIB)
            .reservation(32 * MIB)
            .swap(96 * MIB)
            .check_before_update(true)
            .build()
            .unwrap();
        m.apply(&resources(mem)).unwrap();
        assert_eq!(read(&dir, "memory.max"), (64 * MIB).to_string());
        assert_eq!(read(&dir, "memory.low"), (32 * MIB).to_string());
        // memory+swap 96 MiB is 32 MiB of swap.
        assert_eq!(read(&dir, "memory.swap.max"), (32 * MIB).to_string());

        // swap == limit disables swap; -1 is max.
        let mem = LinuxMemoryBuilder::default()
            .limit(MIB * 8)
            .swap(MIB * 8)
            .build()
            .unwrap();
        m.apply(&resources(mem)).unwrap();
        assert_eq!(read(&dir, "memory.swap.max"), "0");
        let mem = LinuxMemoryBuilder::default().limit(-1i64).build().unwrap();
        m.apply(&resources(mem)).unwrap();
        assert_eq!(read(&dir, "memory.max"), "max");
        assert_eq!(read(&dir, "memory.swap.max"), "max");

        for (mem, msg) in [
            (
                LinuxMemoryBuilder::default().limit(4096i64).check_before_update(true).build(),
                "linux.resources.memory.limit: 4096: below the current usage of 1000000 bytes",
            ),
            (
                LinuxMemoryBuilder::default().limit(MIB).swap(MIB / 2).build(),
                "linux.resources.memory.swap: 524288: memory+swap limit must be >= the memory limit",
            ),
            (
                LinuxMemoryBuilder::default().kernel_tcp(MIB).build(),
                "linux.resources.memory.kernelTCP: 1048576: kernel memory limits do not exist in cgroup v2",
            ),
            (
                LinuxMemoryBuilder::default().swappiness(60u64).build(),
                "linux.resources.memory.swappiness: 60: cgroup v2 has no per-cgroup swappiness",
            ),
            (
                LinuxMemoryBuilder::default().disable_oom_killer(true).build(),
                "linux.resources.memory.disableOOMKiller: true: cgroup v2 cannot disable",
            ),
        ] {
            let err = m.apply(&resources(mem.unwrap())).unwrap_err().to_string();
            assert!(err.starts_with(msg), "{err}");
        }
    }

    #[test]
    fn v2_swap_without_swap_support_is_fine_when_moot() {
        let fake = FakeTree::v2(&["memory"]);
        let m = FsManager::new(fake.layout.clone(), "/c");
        m.create().unwrap();
        let dir = fake.root.path().join("c");
        FakeTree::touch(&dir, &["memory.max"], "");
        let mem = LinuxMemoryBuilder::default()
            .limit(MIB)
            .swap(MIB)
            .build()
            .unwrap();
        m.apply(&resources(mem)).unwrap();
        let mem = LinuxMemoryBuilder::default()
            .limit(MIB)
            .swap(2 * MIB)
            .build()
            .unwrap();
        let err = m.apply(&resources(mem)).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.memory.swap: 2097152: not supported"),
            "{err}"
        );
    }
}
