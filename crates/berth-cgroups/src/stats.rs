//! Usage statistics, serialised exactly as runc's `events` prints them
//! (runc `types/events.go`, which containerd's go-runc `events.go` decodes):
//! the same keys, the same key order, and Go's `omitempty` where runc has it.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::fs::{io_err, parse_u64, Cg, FsManager};
use crate::{Manager, Result};

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One line of `berth events`: `{"type":"stats","id":ID,"data":{…}}` or
/// `{"type":"oom","id":ID}` (runc `types.Event`).
#[derive(Debug, Clone, Serialize)]
pub struct Event<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a Stats>,
}

/// runc `types.Stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub cpu: CpuStats,
    pub cpuset: CpuSetStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
    /// Keyed by page size as runc names them: `2MB`, `1GB`.
    pub hugetlb: BTreeMap<String, HugetlbStats>,
    /// Always `{}`: berth has no Intel RDT support.
    pub intel_rdt: IntelRdt,
    /// `null` unless the runtime fills it (runc does from the network
    /// namespace; the cgroup layer cannot).
    pub network_interfaces: Option<Vec<NetworkInterface>>,
}

/// runc `types.IntelRdt`, empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IntelRdt {}

/// runc `types.NetworkInterface` (untagged Go fields, capitalised keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInterface {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// runc `types.Cpu`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuStats {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// runc `types.CpuUsage`; all nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

/// runc `types.Throttling`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// runc `types.CPUSet`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuSetStats {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

/// runc `types.MemoryEntry`; bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// runc `types.Memory`. `swap` is memory+swap, as v1 reports it; on v2 it is
/// computed the same way (runc does so for compatibility).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemoryStats {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// `memory.stat`, as is.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// runc `types.Pids`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PidsStats {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// runc `types.BlkioEntry`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// runc `types.Blkio`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlkioStats {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

/// runc `types.Hugetlb`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HugetlbStats {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

// ---------------------------------------------------------------------------
// Parsers of the kernel's file formats (cgroup-v1/*.rst, cgroup-v2.rst).

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat, *.events).
/// Lines that are not `word number` are skipped.
pub(crate) fn parse_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (k, v) = (it.next()?, it.next()?);
            if it.next().is_some() {
                return None;
            }
            Some((k.to_owned(), parse_u64(v)?))
        })
        .collect()
}

/// Space-separated numbers (cpuacct.usage_percpu).
pub(crate) fn parse_numbers(text: &str) -> Vec<u64> {
    text.split_whitespace().filter_map(parse_u64).collect()
}

/// cpuacct.usage_all: a `cpu user system` header, then one line per cpu.
/// Returns (kernel, user) per cpu, in cpu order.
pub(crate) fn parse_usage_all(text: &str) -> (Vec<u64>, Vec<u64>) {
    let mut kernel = Vec::new();
    let mut user = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<u64> = line.split_whitespace().filter_map(parse_u64).collect();
        if let [_, u, s] = f[..] {
            user.push(u);
            kernel.push(s);
        }
    }
    (kernel, user)
}

/// A v1 blkio stats file: `MAJ:MIN Op value` lines and a final `Total N`.
pub(crate) fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dev, op, value) = match f[..] {
                [dev, op, value] => (dev, op.to_owned(), value),
                // blkio.sectors and blkio.time have no op column.
                [dev, value] if dev.contains(':') => (dev, String::new(), value),
                _ => return None,
            };
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// v2 io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N`,
/// mapped onto v1's tables as runc does: bytes and ios, Read and Write.
pub(crate) fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((major, minor)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else {
                continue;
            };
            let (table, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            table.push(BlkioEntry {
                major,
                minor,
                op: op.to_owned(),
                value,
            });
        }
    }
    (bytes, ios)
}

/// A cpuset list (`0-3,8,10-11`) as numbers.
pub(crate) fn parse_cpu_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

/// `hugepages-2048kB` (a /sys/kernel/mm/hugepages entry) as runc names the
/// size: `2MB`. (runc formats with units.CustomSize("%g%s", …, 1024).)
pub(crate) fn hugepage_size_name(dir_name: &str) -> Option<String> {
    let kb: u64 = dir_name
        .strip_prefix("hugepages-")?
        .strip_suffix("kB")?
        .parse()
        .ok()?;
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut size = (kb * 1024) as f64;
    let mut i = 0;
    while size >= 1024.0 && i + 1 < units.len() {
        size /= 1024.0;
        i += 1;
    }
    Some(format!("{size}{}", units[i]))
}

/// The huge page sizes the kernel supports, as `2MB`, `1GB`, sorted.
pub(crate) fn hugepage_sizes() -> Vec<String> {
    let mut sizes: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|d| {
            d.flatten()
                .filter_map(|e| hugepage_size_name(&e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    sizes.sort();
    sizes
}

// ---------------------------------------------------------------------------
// Collection.

fn opt_u64(cg: &Cg, file: &str) -> Result<u64> {
    Ok(cg
        .read_opt(file)?
        .and_then(|s| parse_u64(s.trim()))
        .unwrap_or(0))
}

fn opt_keyed(cg: &Cg, file: &str) -> Result<BTreeMap<String, u64>> {
    Ok(cg
        .read_opt(file)?
        .map(|s| parse_keyed(&s))
        .unwrap_or_default())
}

/// USER_HZ ticks (cpuacct.stat) per second.
fn clock_ticks() -> u64 {
    // SAFETY: sysconf(3) has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 {
        n as u64
    } else {
        100
    }
}

pub(crate) fn collect(m: &FsManager) -> Result<Stats> {
    // A cgroup that is gone has no stats: say so rather than print zeros.
    let paths = m.paths();
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        return Err(io_err("read stats of", missing)(std::io::Error::from(
            std::io::ErrorKind::NotFound,
        )));
    }
    let mut s = Stats::default();
    cpu(m, &mut s.cpu)?;
    cpuset(m, &mut s.cpuset)?;
    memory(m, &mut s.memory)?;
    pids(m, &mut s.pids)?;
    blkio(m, &mut s.blkio)?;
    hugetlb(m, &mut s.hugetlb)?;
    Ok(s)
}

fn cpu(m: &FsManager, s: &mut CpuStats) -> Result<()> {
    if let Some(acct) = m.v1("cpuacct") {
        s.usage.total = opt_u64(&acct, "cpuacct.usage")?;
        s.usage.percpu = acct
            .read_opt("cpuacct.usage_percpu")?
            .map(|t| parse_numbers(&t))
            .unwrap_or_default();
        if let Some(all) = acct.read_opt("cpuacct.usage_all")? {
            (s.usage.percpu_kernel, s.usage.percpu_user) = parse_usage_all(&all);
        }
        let stat = opt_keyed(&acct, "cpuacct.stat")?;
        let ns = 1_000_000_000 / clock_ticks();
        s.usage.user = stat.get("user").copied().unwrap_or(0) * ns;
        s.usage.kernel = stat.get("system").copied().unwrap_or(0) * ns;
    }
    if let Some(cpu) = m.v1("cpu") {
        let stat = opt_keyed(&cpu, "cpu.stat")?;
        let get = |k: &str| stat.get(k).copied().unwrap_or(0);
        s.throttling = Throttling {
            periods: get("nr_periods"),
            throttled_periods: get("nr_throttled"),
            throttled_time: get("throttled_time"),
        };
    }
    // v2: cpu.stat is a core file (usage without the cpu controller,
    // throttling with it); used for whatever v1 did not provide.
    if m.v1("cpuacct").is_none() || m.v1("cpu").is_none() {
        if let Some(cg) = m.v2(None) {
            let stat = opt_keyed(&cg, "cpu.stat")?;
            let get = |k: &str| stat.get(k).copied().unwrap_or(0);
            if m.v1("cpuacct").is_none() {
                s.usage.total = get("usage_usec") * 1000;
                s.usage.user = get("user_usec") * 1000;
                s.usage.kernel = get("system_usec") * 1000;
            }
            if m.v1("cpu").is_none() {
                s.throttling = Throttling {
                    periods: get("nr_periods"),
                    throttled_periods: get("nr_throttled"),
                    throttled_time: get("throttled_usec") * 1000,
                };
            }
        }
    }
    Ok(())
}

fn cpuset(m: &FsManager, s: &mut CpuSetStats) -> Result<()> {
    let Some(cg) = m.locate("cpuset", Some("cpuset")) else {
        return Ok(());
    };
    if cg.v2 {
        s.cpus = parse_cpu_list(&cg.read_opt("cpuset.cpus.effective")?.unwrap_or_default());
        s.mems = parse_cpu_list(&cg.read_opt("cpuset.mems.effective")?.unwrap_or_default());
        return Ok(());
    }
    s.cpus = parse_cpu_list(&cg.read_opt("cpuset.cpus")?.unwrap_or_default());
    s.mems = parse_cpu_list(&cg.read_opt("cpuset.mems")?.unwrap_or_default());
    s.cpu_exclusive = opt_u64(&cg, "cpuset.cpu_exclusive")?;
    s.mem_hardwall = opt_u64(&cg, "cpuset.mem_hardwall")?;
    s.mem_exclusive = opt_u64(&cg, "cpuset.mem_exclusive")?;
    s.memory_migrate = opt_u64(&cg, "cpuset.memory_migrate")?;
    s.memory_spread_page = opt_u64(&cg, "cpuset.memory_spread_page")?;
    s.memory_spread_slab = opt_u64(&cg, "cpuset.memory_spread_slab")?;
    s.memory_pressure = opt_u64(&cg, "cpuset.memory_pressure")?;
    s.sched_load_balance = opt_u64(&cg, "cpuset.sched_load_balance")?;
    s.sched_relax_domain_level = cg
        .read_opt("cpuset.sched_relax_domain_level")?
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    Ok(())
}

/// v1 `memory[.<module>].{usage_in_bytes,max_usage_in_bytes,failcnt,limit_in_bytes}`;
/// all zero when the module (memsw, kmem) is absent.
fn memory_entry_v1(cg: &Cg, module: &str) -> Result<MemoryEntry> {
    let f = |name: &str| {
        if module.is_empty() {
            format!("memory.{name}")
        } else {
            format!("memory.{module}.{name}")
        }
    };
    Ok(MemoryEntry {
        limit: opt_u64(cg, &f("limit_in_bytes"))?,
        usage: opt_u64(cg, &f("usage_in_bytes"))?,
        max: opt_u64(cg, &f("max_usage_in_bytes"))?,
        failcnt: opt_u64(cg, &f("failcnt"))?,
    })
}

/// v2 `<module>.{current,max,peak}` and the `max` count of `<module>.events`.
fn memory_entry_v2(cg: &Cg, module: &str) -> Result<MemoryEntry> {
    Ok(MemoryEntry {
        limit: opt_u64(cg, &format!("{module}.max"))?,
        usage: opt_u64(cg, &format!("{module}.current"))?,
        max: opt_u64(cg, &format!("{module}.peak"))?,
        failcnt: opt_keyed(cg, &format!("{module}.events"))?
            .get("max")
            .copied()
            .unwrap_or(0),
    })
}

fn memory(m: &FsManager, s: &mut MemoryStats) -> Result<()> {
    let Some(cg) = m.locate("memory", Some("memory")) else {
        return Ok(());
    };
    s.raw = opt_keyed(&cg, "memory.stat")?;
    if cg.v2 {
        s.cache = s.raw.get("file").copied().unwrap_or(0);
        s.usage = memory_entry_v2(&cg, "memory")?;
        // v1 reports memory+swap; runc adds them up on v2 for compatibility.
        let swap = memory_entry_v2(&cg, "memory.swap")?;
        s.swap = MemoryEntry {
            limit: if swap.limit == u64::MAX || s.usage.limit == u64::MAX {
                u64::MAX
            } else {
                swap.limit + s.usage.limit
            },
            usage: swap.usage + s.usage.usage,
            max: 0,
            failcnt: swap.failcnt,
        };
    } else {
        s.cache = s.raw.get("cache").copied().unwrap_or(0);
        s.usage = memory_entry_v1(&cg, "")?;
        s.swap = memory_entry_v1(&cg, "memsw")?;
        s.kernel = memory_entry_v1(&cg, "kmem")?;
        s.kernel_tcp = memory_entry_v1(&cg, "kmem.tcp")?;
    }
    Ok(())
}

fn pids(m: &FsManager, s: &mut PidsStats) -> Result<()> {
    let Some(cg) = m.locate("pids", Some("pids")) else {
        return Ok(());
    };
    s.current = opt_u64(&cg, "pids.current")?;
    let max = opt_u64(&cg, "pids.max")?;
    s.limit = if max == u64::MAX { 0 } else { max };
    Ok(())
}

fn blkio(m: &FsManager, s: &mut BlkioStats) -> Result<()> {
    let Some(cg) = m.locate("blkio", Some("io")) else {
        return Ok(());
    };
    if cg.v2 {
        if let Some(text) = cg.read_opt("io.stat")? {
            (s.io_service_bytes_recursive, s.io_serviced_recursive) = parse_io_stat(&text);
        }
        return Ok(());
    }
    blkio_v1(&cg, s)
}

/// v1 blkio: the first group of files whose first file has entries wins,
/// in runc's order: BFQ debug, BFQ, CFQ, throttle recursive, throttle.
fn blkio_v1(cg: &Cg, s: &mut BlkioStats) -> Result<()> {
    type Slot = fn(&mut BlkioStats) -> &mut Vec<BlkioEntry>;
    let bytes: Slot = |s| &mut s.io_service_bytes_recursive;
    let serviced: Slot = |s| &mut s.io_serviced_recursive;
    let queued: Slot = |s| &mut s.io_queued_recursive;
    let service_time: Slot = |s| &mut s.io_service_time_recursive;
    let wait_time: Slot = |s| &mut s.io_wait_time_recursive;
    let merged: Slot = |s| &mut s.io_merged_recursive;
    let time: Slot = |s| &mut s.io_time_recursive;
    let sectors: Slot = |s| &mut s.sectors_recursive;
    let groups: [&[(&str, Slot)]; 5] = [
        &[
            ("blkio.bfq.sectors_recursive", sectors),
            ("blkio.bfq.io_service_time_recursive", service_time),
            ("blkio.bfq.io_wait_time_recursive", wait_time),
            ("blkio.bfq.io_merged_recursive", merged),
            ("blkio.bfq.io_queued_recursive", queued),
            ("blkio.bfq.time_recursive", time),
            ("blkio.bfq.io_serviced_recursive", serviced),
            ("blkio.bfq.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.bfq.io_serviced_recursive", serviced),
            ("blkio.bfq.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.sectors_recursive", sectors),
            ("blkio.io_service_time_recursive", service_time),
            ("blkio.io_wait_time_recursive", wait_time),
            ("blkio.io_merged_recursive", merged),
            ("blkio.io_queued_recursive", queued),
            ("blkio.time_recursive", time),
            ("blkio.io_serviced_recursive", serviced),
            ("blkio.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.throttle.io_serviced_recursive", serviced),
            ("blkio.throttle.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.throttle.io_serviced", serviced),
            ("blkio.throttle.io_service_bytes", bytes),
        ],
    ];
    for group in groups {
        let mut tables = Vec::new();
        for (i, (file, slot)) in group.iter().enumerate() {
            let entries = cg
                .read_opt(file)?
                .map(|t| parse_blkio_v1(&t))
                .unwrap_or_default();
            if i == 0 && entries.is_empty() {
                break;
            }
            tables.push((*slot, entries));
        }
        if tables.is_empty() {
            continue;
        }
        for (slot, entries) in tables {
            *slot(s) = entries;
        }
        return Ok(());
    }
    Ok(())
}

fn hugetlb(m: &FsManager, out: &mut BTreeMap<String, HugetlbStats>) -> Result<()> {
    let Some(cg) = m.locate("hugetlb", Some("hugetlb")) else {
        return Ok(());
    };
    for size in hugepage_sizes() {
        let stats = if cg.v2 {
            // Not enabled for this cgroup (hybrid hosts enable on demand).
            if !cg.exists(&format!("hugetlb.{size}.current")) {
                continue;
            }
            HugetlbStats {
                usage: opt_u64(&cg, &format!("hugetlb.{size}.current"))?,
                max: 0,
                failcnt: opt_keyed(&cg, &format!("hugetlb.{size}.events"))?
                    .get("max")
                    .copied()
                    .unwrap_or(0),
            }
        } else {
            HugetlbStats {
                usage: opt_u64(&cg, &format!("hugetlb.{size}.usage_in_bytes"))?,
                max: opt_u64(&cg, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
                failcnt: opt_u64(&cg, &format!("hugetlb.{size}.failcnt"))?,
            }
        };
        out.insert(size, stats);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, FakeTree, TestCgroup};
    use crate::Manager;

    #[test]
    fn keyed_files() {
        let t =
            "cache 4096\nrss 8192\nhierarchical_memory_limit 9223372036854771712\nbad line here\n";
        let m = parse_keyed(t);
        assert_eq!(m["cache"], 4096);
        assert_eq!(m["hierarchical_memory_limit"], 9223372036854771712);
        assert_eq!(m.len(), 3);
        let ev = parse_keyed("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n");
        assert_eq!(ev["max"], 12);
        assert_eq!(ev["oom_kill"], 1);
    }

    #[test]
    fn cpuacct_files() {
        assert_eq!(parse_numbers("100 200 \n"), vec![100, 200]);
        let (k, u) = parse_usage_all("cpu user system\n0 300 100\n1 400 200\n");
        assert_eq!(k, vec![100, 200]);
        assert_eq!(u, vec![300, 400]);
    }

    #[test]
    fn blkio_v1_file() {
        let t = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n";
        let e = parse_blkio_v1(t);
        assert_eq!(e.len(), 6);
        assert_eq!(
            e[0],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 4096
            }
        );
        assert_eq!(parse_blkio_v1("Total 0\n"), vec![]);
        assert_eq!(parse_blkio_v1("8:16 99\n")[0].value, 99);
    }

    #[test]
    fn io_stat_file() {
        let (bytes, ios) = parse_io_stat(
            "254:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n7:0 rbytes=5 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
        );
        assert_eq!(bytes.len(), 4);
        assert_eq!(bytes[1].op, "Write");
        assert_eq!(bytes[1].value, 2048);
        assert_eq!(ios[0].major, 254);
        assert_eq!(ios[2].minor, 0);
    }

    #[test]
    fn cpu_lists_and_page_sizes() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list(""), Vec::<u16>::new());
        assert_eq!(hugepage_size_name("hugepages-2048kB").unwrap(), "2MB");
        assert_eq!(hugepage_size_name("hugepages-1048576kB").unwrap(), "1GB");
        assert_eq!(hugepage_size_name("hugepages-64kB").unwrap(), "64KB");
        assert_eq!(hugepage_size_name("hugepages-32768kB").unwrap(), "32MB");
        assert_eq!(hugepage_size_name("nr_hugepages"), None);
    }

    /// The JSON is runc's: keys, order and omitted zeroes as go-runc expects.
    #[test]
    fn json_shape_is_runcs() {
        let mut s = Stats::default();
        s.cpu.usage.total = 10;
        s.cpu.usage.percpu = vec![4, 6];
        s.cpu.throttling.throttled_periods = 2;
        s.memory.usage = MemoryEntry {
            limit: 100,
            usage: 50,
            max: 60,
            failcnt: 0,
        };
        s.memory.raw.insert("cache".into(), 1);
        s.pids.current = 3;
        s.blkio.io_service_bytes_recursive.push(BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 1,
        });
        s.hugetlb.insert(
            "2MB".into(),
            HugetlbStats {
                usage: 0,
                max: 0,
                failcnt: 0,
            },
        );
        let json = serde_json::to_string(&Event {
            kind: "stats",
            id: "c1",
            data: Some(&s),
        })
        .unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"type":"stats","id":"c1","data":{"#,
                r#""cpu":{"usage":{"total":10,"percpu":[4,6],"kernel":0,"user":0},"throttling":{"throttledPeriods":2}},"#,
                r#""cpuset":{"cpu_exclusive":0,"mem_hardwall":0,"mem_exclusive":0,"memory_migrate":0,"memory_spread_page":0,"memory_spread_slab":0,"memory_pressure":0,"sched_load_balance":0,"sched_relax_domain_level":0},"#,
                r#""memory":{"usage":{"limit":100,"usage":50,"max":60,"failcnt":0},"swap":{"limit":0,"failcnt":0},"kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0},"raw":{"cache":1}},"#,
                r#""pids":{"current":3},"#,
                r#""blkio":{"ioServiceBytesRecursive":[{"major":8,"op":"Read","value":1}]},"#,
                r#""hugetlb":{"2MB":{"failcnt":0}},"intel_rdt":{},"network_interfaces":null}}"#
            )
        );
        let oom = serde_json::to_string(&Event {
            kind: "oom",
            id: "c1",
            data: None,
        })
        .unwrap();
        assert_eq!(oom, r#"{"type":"oom","id":"c1"}"#);
    }

    #[test]
    fn v2_stats_from_a_fake_tree() {
        let fake = FakeTree::v2(&["cpu", "memory", "pids", "io", "cpuset"]);
        let m = crate::FsManager::new(fake.layout.clone(), "/c");
        m.create().unwrap();
        let d = fake.root.path().join("c");
        let w = |f: &str, t: &str| std::fs::write(d.join(f), t).unwrap();
        w("cgroup.procs", "");
        w("cpu.stat", "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 10\nnr_throttled 3\nthrottled_usec 70\n");
        w("memory.stat", "anon 4096\nfile 8192\n");
        w("memory.current", "12288\n");
        w("memory.max", "1048576\n");
        w("memory.peak", "20000\n");
        w("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
        w("memory.swap.current", "100\n");
        w("memory.swap.max", "max\n");
        w("pids.current", "2\n");
        w("pids.max", "max\n");
        w(
            "io.stat",
            "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        w("cpuset.cpus.effective", "0-1\n");
        w("cpuset.mems.effective", "0\n");
        let s = m.stats().unwrap();
        assert_eq!(s.cpu.usage.total, 2_000_000);
        assert_eq!(s.cpu.usage.user, 1_500_000);
        assert_eq!(s.cpu.usage.kernel, 500_000);
        assert_eq!(s.cpu.throttling.periods, 10);
        assert_eq!(s.cpu.throttling.throttled_periods, 3);
        assert_eq!(s.cpu.throttling.throttled_time, 70_000);
        assert_eq!(s.memory.cache, 8192);
        assert_eq!(
            s.memory.usage,
            MemoryEntry {
                limit: 1_048_576,
                usage: 12288,
                max: 20000,
                failcnt: 4
            }
        );
        assert_eq!(s.memory.swap.usage, 12388);
        assert_eq!(s.memory.swap.limit, u64::MAX);
        assert_eq!(
            s.pids,
            PidsStats {
                current: 2,
                limit: 0
            }
        );
        assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
        assert_eq!(s.blkio.io_serviced_recursive[1].value, 2);
        assert_eq!(s.cpuset.cpus, vec![0, 1]);
    }

    #[test]
    fn stats_of_a_real_child() {
        let cg = TestCgroup::new();
        let m = &cg.manager().clone();
        let child = testutil::spawn_in(
            &m.paths(),
            "sh",
            &[
                "-c",
                "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 60",
            ],
        );
        // Let the shell burn some cpu and the exec charge some memory.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let s = loop {
            let s = m.stats().unwrap();
            if s.cpu.usage.total > 0 && s.memory.usage.usage > 0
                || std::time::Instant::now() > deadline
            {
                break s;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(s.pids.current >= 1, "{s:?}");
        assert!(s.memory.usage.usage > 0, "{s:?}");
        assert!(s.memory.usage.limit > 0, "{s:?}");
        assert!(s.cpu.usage.total > 0, "{s:?}");
        assert!(!s.cpu.usage.percpu.is_empty(), "{s:?}");
        assert!(!s.cpuset.cpus.is_empty(), "{s:?}");
        assert!(s.memory.raw.contains_key("cache"), "{s:?}");
        let json = serde_json::to_value(&s).unwrap();
        assert!(json["pids"]["current"].as_u64().unwrap() >= 1);
        assert!(json["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
        testutil::reap(child);
        drop(cg);
        let gone = crate::FsManager::new(m.layout().clone(), m.cgroup_path());
        assert!(gone.stats().is_err());
    }

    #[test]
    fn hugetlb_stats_from_the_cgroup2_tree() {
        let cg = TestCgroup::new();
        let m = cg.manager();
        let l = oci_spec::runtime::LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(2097152i64)
            .build()
            .unwrap();
        m.apply(
            &oci_spec::runtime::LinuxResourcesBuilder::default()
                .hugepage_limits(vec![l])
                .build()
                .unwrap(),
        )
        .unwrap();
        let s = m.stats().unwrap();
        assert_eq!(s.hugetlb["2MB"], HugetlbStats::default());
    }
}
