//! The whole host's view, for before/after comparisons around a suite or a
//! stress run: everything berth (and later pier) can leave behind, not only
//! what is named after one container (that is [`crate::Leaks`]).
//!
//! A [`HostSnapshot`] records, as `(kind, key)` items:
//! - `mount`: every line of `/proc/self/mountinfo` (mount point, type,
//!   source, root), counted when stacked;
//! - `cgroup`: every directory of the unified tree, and in each v1 hierarchy
//!   the top-level directories (runc's default `/<id>`) and everything under
//!   `berth/` (berth's default `/berth/<id>`);
//! - `netdev`: the host's network devices (what `ip -o link` lists);
//! - `netns`: the named network namespaces in `/run/netns`;
//! - `process`: every live process but kernel threads, zombies and the
//!   checker itself, keyed by pid and start time;
//! - `state`: the entries of the runtime state roots and of each container
//!   directory in them (`/run/berth` by default);
//! - `tmp`: files and directories in the temp dirs whose name starts with a
//!   berth pattern (`berth`, `pier`);
//! - `fds`: the number of open fds of every long-lived berth or pier process
//!   (a monitor, a daemon); skipped when there is none;
//! - `nft`, `iptables`: the firewall rules, counters left out, when the
//!   tools exist.
//!
//! The leaks are the items of the second snapshot that are not in the first
//! (and fd counts that grew). Short-lived noise (a process that was just
//! starting) goes away if the check waits a little: see
//! [`HostSnapshot::leaks_settled`].
//!
//! `hack/leakcheck.sh` runs the same code through the `leakcheck` binary of
//! this crate (`src/bin/leakcheck.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What an item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Mount,
    Cgroup,
    NetDev,
    NetNs,
    Process,
    State,
    Tmp,
    Fds,
    Nft,
    Iptables,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Mount,
        Kind::Cgroup,
        Kind::NetDev,
        Kind::NetNs,
        Kind::Process,
        Kind::State,
        Kind::Tmp,
        Kind::Fds,
        Kind::Nft,
        Kind::Iptables,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Mount => "mount",
            Kind::Cgroup => "cgroup",
            Kind::NetDev => "netdev",
            Kind::NetNs => "netns",
            Kind::Process => "process",
            Kind::State => "state",
            Kind::Tmp => "tmp",
            Kind::Fds => "fds",
            Kind::Nft => "nft",
            Kind::Iptables => "iptables",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to look at. [`HostScope::from_env`] is the default of the tests and
/// of `hack/leakcheck.sh`.
#[derive(Clone, Debug)]
pub struct HostScope {
    /// Runtime state roots whose entries are recorded.
    pub state_roots: Vec<PathBuf>,
    /// Directories searched for temp files.
    pub temp_dirs: Vec<PathBuf>,
    /// Name prefixes of the temp files that belong to the tools.
    pub temp_prefixes: Vec<String>,
    /// Command names of the long-lived processes whose fds are counted.
    pub fd_processes: Vec<String>,
    /// Items whose text contains one of these are ignored (local noise).
    pub ignore: Vec<String>,
}

/// Splits a `:`-separated (paths) or `,`-separated (words) list.
fn list_var(name: &str, sep: char) -> Option<Vec<String>> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .split(sep)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

impl HostScope {
    /// The default scope, adjusted by:
    /// - `BERTH_LEAKCHECK_ROOTS`: `:`-separated state roots (default
    ///   `/run/berth:/run/pier`);
    /// - `BERTH_LEAKCHECK_TMP_PREFIXES`: `,`-separated (default `berth,pier`);
    /// - `BERTH_LEAKCHECK_FD_PROCS`: `,`-separated command names (default
    ///   `berth,pier`);
    /// - `BERTH_LEAKCHECK_IGNORE`: `,`-separated substrings of items to ignore.
    pub fn from_env() -> Self {
        let state_roots = list_var("BERTH_LEAKCHECK_ROOTS", ':')
            .unwrap_or_else(|| vec!["/run/berth".into(), "/run/pier".into()]);
        let mut temp_dirs = vec![PathBuf::from("/tmp")];
        if let Some(dir) = std::env::var_os("TMPDIR").filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            if !temp_dirs.contains(&dir) {
                temp_dirs.push(dir);
            }
        }
        HostScope {
            state_roots: state_roots.into_iter().map(PathBuf::from).collect(),
            temp_dirs,
            temp_prefixes: list_var("BERTH_LEAKCHECK_TMP_PREFIXES", ',')
                .unwrap_or_else(|| vec!["berth".into(), "pier".into()]),
            fd_processes: list_var("BERTH_LEAKCHECK_FD_PROCS", ',')
                .unwrap_or_else(|| vec!["berth".into(), "pier".into()]),
            ignore: list_var("BERTH_LEAKCHECK_IGNORE", ',').unwrap_or_default(),
        }
    }
}

impl Default for HostScope {
    fn default() -> Self {
        Self::from_env()
    }
}

/// Everything recorded, `(kind, key) -> description`. The key identifies the
/// thing (a pid and its start time); the description is what a person needs
/// to recognise it (the command line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostSnapshot {
    pub items: BTreeMap<(Kind, String), String>,
}

/// What a later snapshot has that an earlier one had not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostLeaks {
    /// `(kind, description)`, sorted.
    pub items: Vec<(Kind, String)>,
}

impl HostLeaks {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl fmt::Display for HostLeaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (kind, what) in &self.items {
            writeln!(f, "  {kind}: {what}")?;
        }
        Ok(())
    }
}

impl HostSnapshot {
    /// Records the host as it is now.
    pub fn take(scope: &HostScope) -> Self {
        let mut snap = HostSnapshot::default();
        snap.add_counted(Kind::Mount, mounts());
        for dir in cgroups() {
            snap.add(Kind::Cgroup, dir.display().to_string(), String::new());
        }
        for dev in names_in(Path::new("/sys/class/net")) {
            snap.add(Kind::NetDev, dev, String::new());
        }
        for ns in names_in(Path::new("/run/netns")) {
            snap.add(Kind::NetNs, format!("/run/netns/{ns}"), String::new());
        }
        let me = std::process::id();
        for p in processes() {
            if p.pid == me {
                continue;
            }
            if scope.fd_processes.contains(&p.comm) {
                let key = format!("{} {} {}", p.pid, p.start, p.comm);
                snap.add(Kind::Fds, key, p.fds.to_string());
            }
            // Only processes of berth or of its containers (in a berth
            // cgroup) count: whatever else the machine runs meanwhile is
            // not the runtime's to answer for.
            let in_berth_cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", p.pid))
                .is_ok_and(|c| c.contains("berth"));
            // The program's own name, not its arguments: a compiler
            // building berth meanwhile is not berth.
            let argv0 = p.cmdline.split(' ').next().unwrap_or("");
            let program = argv0.rsplit('/').next().unwrap_or(argv0);
            if !(program.contains("berth") || in_berth_cgroup) {
                continue;
            }
            let key = format!("{} {}", p.pid, p.start);
            snap.add(Kind::Process, key, format!("{} {}", p.pid, p.cmdline));
        }
        for root in &scope.state_roots {
            for entry in names_in(root) {
                let dir = root.join(&entry);
                snap.add(Kind::State, dir.display().to_string(), String::new());
                for file in names_in(&dir) {
                    let path = dir.join(file).display().to_string();
                    snap.add(Kind::State, path, String::new());
                }
            }
        }
        for dir in &scope.temp_dirs {
            for name in names_in(dir) {
                if scope.temp_prefixes.iter().any(|p| name.starts_with(p)) {
                    let path = dir.join(name).display().to_string();
                    snap.add(Kind::Tmp, path, String::new());
                }
            }
        }
        if let Some(rules) = command_lines("nft", &["list", "ruleset"]) {
            snap.add_counted(Kind::Nft, rules.iter().map(|l| strip_counters(l)));
        }
        for tool in ["iptables-save", "ip6tables-save"] {
            if let Some(rules) = command_lines(tool, &[]) {
                let rules = rules
                    .iter()
                    .filter(|l| !l.starts_with('#'))
                    .map(|l| format!("{tool}: {}", strip_chain_counters(l)));
                snap.add_counted(Kind::Iptables, rules);
            }
        }
        snap.items.retain(|(_, key), what| {
            !scope
                .ignore
                .iter()
                .any(|i| key.contains(i.as_str()) || what.contains(i.as_str()))
        });
        snap
    }

    fn add(&mut self, kind: Kind, key: String, what: String) {
        self.items.insert((kind, key), what);
    }

    /// Adds lines that may repeat, the second one as `line #2` and so on.
    fn add_counted(&mut self, kind: Kind, lines: impl IntoIterator<Item = String>) {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for line in lines {
            let n = seen.entry(line.clone()).or_insert(0);
            *n += 1;
            let key = if *n == 1 {
                line
            } else {
                format!("{line} #{n}")
            };
            self.add(kind, key, String::new());
        }
    }

    /// The number of items of `kind`.
    pub fn count(&self, kind: Kind) -> usize {
        self.items.keys().filter(|(k, _)| *k == kind).count()
    }

    /// What `self` has that `before` had not; for `fds`, the processes whose
    /// fd count grew.
    pub fn leaks_since(&self, before: &HostSnapshot) -> HostLeaks {
        let mut items = Vec::new();
        for ((kind, key), what) in &self.items {
            if *kind == Kind::Fds {
                let Some(old) = before.items.get(&(*kind, key.clone())) else {
                    // Not long-lived: it started after the first snapshot.
                    continue;
                };
                let (old, new) = (old.parse().unwrap_or(0), what.parse().unwrap_or(0));
                if new > old {
                    items.push((*kind, format!("{key}: {old} -> {new} open fds")));
                }
                continue;
            }
            if !before.items.contains_key(&(*kind, key.clone())) {
                let text = if what.is_empty() { key } else { what };
                items.push((*kind, text.clone()));
            }
        }
        items.sort();
        HostLeaks { items }
    }

    /// Takes snapshots until nothing is new since `before` or `timeout`
    /// passes, and returns the last difference: processes that were exiting
    /// and cgroups being removed get the time to go.
    pub fn leaks_settled(before: &HostSnapshot, scope: &HostScope, timeout: Duration) -> HostLeaks {
        let deadline = Instant::now() + timeout;
        loop {
            let leaks = HostSnapshot::take(scope).leaks_since(before);
            if leaks.is_empty() || Instant::now() >= deadline {
                return leaks;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The text form: one `kind<TAB>key<TAB>description` line per item.
    pub fn to_text(&self) -> String {
        let clean = |s: &str| s.replace(['\t', '\n'], " ");
        self.items
            .iter()
            .map(|((kind, key), what)| format!("{kind}\t{}\t{}\n", clean(key), clean(what)))
            .collect()
    }

    /// Parses [`HostSnapshot::to_text`] output.
    pub fn from_text(text: &str) -> Result<Self, String> {
        let mut snap = HostSnapshot::default();
        for (n, line) in text.lines().enumerate() {
            let mut fields = line.splitn(3, '\t');
            let (Some(kind), Some(key)) = (fields.next(), fields.next()) else {
                return Err(format!("line {}: not kind<TAB>key<TAB>description", n + 1));
            };
            let kind = Kind::from_name(kind)
                .ok_or_else(|| format!("line {}: unknown kind {kind:?}", n + 1))?;
            let what = fields.next().unwrap_or_default().to_string();
            snap.items.insert((kind, key.to_string()), what);
        }
        Ok(snap)
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        fs::write(path, self.to_text())
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_text(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// `mountpoint fstype source root=...` for each line of mountinfo.
fn mounts() -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let (fstype, source) = (right.next()?, right.next()?);
            Some(format!(
                "{} {fstype} {source} root={}",
                left.get(4)?,
                left.get(3)?
            ))
        })
        .collect()
}

/// The cgroup directories to compare (see the module doc).
fn cgroups() -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split(' ').next().unwrap_or_default();
        let Some(point) = left.split(' ').nth(4) else {
            continue;
        };
        let point = PathBuf::from(point);
        if !seen.insert(point.clone()) {
            continue;
        }
        match fstype {
            "cgroup2" => walk_dirs(&point, 12, &mut found),
            "cgroup" => {
                for name in names_in(&point) {
                    let dir = point.join(&name);
                    if !dir.is_dir() {
                        continue;
                    }
                    found.push(dir.clone());
                    if name == "berth" {
                        walk_dirs(&dir, 8, &mut found);
                    }
                }
            }
            _ => {}
        }
    }
    found
}

fn walk_dirs(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let path = entry.path();
            found.push(path.clone());
            walk_dirs(&path, depth - 1, found);
        }
    }
}

/// The names in `dir`, or none if it cannot be read.
fn names_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// One live process.
struct Proc {
    pid: u32,
    /// Start time in clock ticks after boot (proc(5), stat field 22).
    start: u64,
    comm: String,
    cmdline: String,
    fds: usize,
}

/// Every process but kernel threads and zombies.
fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    for name in names_in(Path::new("/proc")) {
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let dir = Path::new("/proc").join(&name);
        let Ok(stat) = fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        // comm is in parentheses and may contain anything, so split at the
        // last ')': state is field 3, ppid 4, flags 9, starttime 22.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c).to_string();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let state = fields.first().copied().unwrap_or("X");
        let ppid = fields.get(1).copied().unwrap_or("0");
        let flags: u64 = fields.get(6).and_then(|f| f.parse().ok()).unwrap_or(0);
        const PF_KTHREAD: u64 = 0x0020_0000;
        if matches!(state, "Z" | "X") || flags & PF_KTHREAD != 0 || pid == 2 || ppid == "2" {
            continue;
        }
        let start = fields.get(19).and_then(|f| f.parse().ok()).unwrap_or(0);
        let cmdline = fs::read(dir.join("cmdline"))
            .map(|raw| {
                let text = String::from_utf8_lossy(&raw).replace('\0', " ");
                text.trim().chars().take(300).collect::<String>()
            })
            .unwrap_or_default();
        let fds = fs::read_dir(dir.join("fd")).map_or(0, |d| d.count());
        out.push(Proc {
            pid,
            start,
            comm,
            cmdline,
            fds,
        });
    }
    out
}

/// The output lines of `tool args`, or None if it is missing or fails.
fn command_lines(tool: &str, args: &[&str]) -> Option<Vec<String>> {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    )
}

/// Drops nft's `counter packets N bytes M` values.
fn strip_counters(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        if (words[i] == "packets" || words[i] == "bytes") && i + 1 < words.len() {
            out.push(words[i]);
            i += 2;
            continue;
        }
        out.push(words[i]);
        i += 1;
    }
    out.join(" ")
}

/// Drops the `[packets:bytes]` of iptables-save's chain lines.
fn strip_chain_counters(line: &str) -> String {
    match (line.starts_with(':'), line.rfind(" [")) {
        (true, Some(i)) => line[..i].to_string(),
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        let mut snap = HostSnapshot::default();
        snap.add(Kind::Process, "1 2".into(), "1 sh -c\ttab".into());
        snap.add_counted(Kind::Mount, vec!["/a tmpfs x root=/".to_string(); 2]);
        let back = HostSnapshot::from_text(&snap.to_text()).expect("parse");
        assert_eq!(back.count(Kind::Mount), 2);
        assert_eq!(back.items[&(Kind::Process, "1 2".into())], "1 sh -c tab");
    }

    #[test]
    fn fd_growth_only_counts_for_long_lived_processes() {
        let mut before = HostSnapshot::default();
        before.add(Kind::Fds, "10 5 pier".into(), "4".into());
        let mut after = before.clone();
        after.add(Kind::Fds, "10 5 pier".into(), "6".into());
        after.add(Kind::Fds, "11 9 pier".into(), "60".into());
        let leaks = after.leaks_since(&before);
        assert_eq!(leaks.items.len(), 1, "{leaks}");
        assert!(leaks.items[0].1.contains("4 -> 6"), "{leaks}");
    }

    #[test]
    fn counters_are_not_rules() {
        assert_eq!(
            strip_counters("ip saddr 1.2.3.4 counter packets 10 bytes 600 accept"),
            "ip saddr 1.2.3.4 counter packets bytes accept"
        );
        assert_eq!(
            strip_chain_counters(":INPUT ACCEPT [5:300]"),
            ":INPUT ACCEPT"
        );
    }
}
