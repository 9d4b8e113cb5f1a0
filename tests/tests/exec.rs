//! `exec`: a new process in an existing container (`runc:exec.go`, contract §1.3 and
//! §2.6), checked from inside the container: namespaces, cgroup, credentials, stdio,
//! fds, `--process`, `--detach`, terminals, and what the runtime leaves behind.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use berth_e2e::{
    extra_fds, recv_fd, unique_id, wait_until, Bundle, Invocation, Leaks, Output, Pty, Runtime,
    TtyReader, STATE_TIMEOUT,
};
use serde_json::json;

/// The init of the containers exec'd into: it only has to stay up.
const INIT: &[&str] = &["sleep", "120"];

/// How long terminal tests wait for the shell on the other side.
const TTY_TIMEOUT: Duration = Duration::from_secs(10);

/// CAP_SYS_ADMIN is bit 21 of the capability sets (`linux/capability.h`).
const CAP_SYS_ADMIN: u64 = 1 << 21;
/// CAP_CHOWN is bit 0.
const CAP_CHOWN: u64 = 1;

/// A running container whose init sleeps, with leak snapshots from before it was
/// created and from when it was up (init, its cgroup, its state).
struct Container<'a> {
    rt: &'a Runtime,
    id: String,
    bundle: Bundle,
    before: Leaks,
    started: Leaks,
    /// Init's pid on the host.
    pid: i64,
}

impl<'a> Container<'a> {
    /// `run -d` of a bundle whose init sleeps, after `edit`.
    fn run(rt: &'a Runtime, tag: &str, edit: impl FnOnce(&mut Bundle)) -> Self {
        let id = unique_id(tag);
        let mut bundle = Bundle::new();
        bundle.args(INIT);
        edit(&mut bundle);
        let before = rt.leaks(&id, &bundle);
        rt.run_detached(&id, &bundle).ok();
        let pid = rt.wait_status(&id, "running")["pid"]
            .as_i64()
            .expect("init pid");
        let started = rt.leaks(&id, &bundle);
        Container {
            rt,
            id,
            bundle,
            before,
            started,
            pid,
        }
    }

    /// `exec <flags...> <id> <command...>`, ready to run.
    fn exec_cmd(&self, flags: &[&str], command: &[&str]) -> Invocation {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.push(&self.id);
        args.extend_from_slice(command);
        self.rt.cmd(&args)
    }

    fn exec(&self, flags: &[&str], command: &[&str]) -> Output {
        self.exec_cmd(flags, command).output()
    }

    /// `exec <flags...> <id> sh -c <script>`, which must exit 0; returns stdout.
    #[track_caller]
    fn sh_with(&self, flags: &[&str], script: &str) -> String {
        let out = self.exec(flags, &["sh", "-c", script]);
        out.ok();
        out.stdout.clone()
    }

    #[track_caller]
    fn sh(&self, script: &str) -> String {
        self.sh_with(&[], script)
    }

    /// Asserts that the execs so far left nothing behind: no exec'd process, no
    /// runtime helper, no extra mount or cgroup; init is still there.
    #[track_caller]
    fn assert_only_init(&self) {
        self.rt
            .assert_nothing_left(&self.id, &self.bundle, &self.started);
        assert!(
            alive(self.pid),
            "init {} of {} died\n{}",
            self.pid,
            self.id,
            self.rt.leaks(&self.id, &self.bundle)
        );
    }

    /// Deletes the container and asserts that nothing at all is left.
    #[track_caller]
    fn finish(self) {
        self.rt.delete_force(&self.id).ok();
        self.rt
            .assert_nothing_left(&self.id, &self.bundle, &self.before);
    }
}

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: i64) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    matches!(state, Some(s) if s != "Z" && s != "X")
}

/// The value of a `Key:\tvalue` line of /proc/self/status-like output.
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in\n{text}"))
}

/// A capability set as /proc/self/status prints it (hex).
fn caps(text: &str, key: &str) -> u64 {
    u64::from_str_radix(field(text, key), 16).unwrap_or_else(|e| panic!("{key}: {e}\n{text}"))
}

/// `/proc/<pid>/ns/<name>` as the host sees it.
fn host_ns(pid: i64, name: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{name}: {e}"))
}

/// Script printing `name own-ns init-ns` for every namespace of the shell.
const NS_SCRIPT: &str =
    "for f in /proc/self/ns/*; do n=${f##*/}; echo \"$n $(readlink $f) $(readlink /proc/1/ns/$n)\"; done";

/// Parses [`NS_SCRIPT`] output into `(name, own, init)`.
fn ns_lines(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?.to_string();
            let own = f.next()?.to_string();
            let init = f.next().unwrap_or_default().to_string();
            Some((name, own, init))
        })
        .filter(|(name, own, _)| own.starts_with(&format!("{}:[", ns_kind(name))))
        .collect()
}

/// The kind in the link text of `/proc/self/ns/<name>` (`pid_for_children` -> `pid`).
fn ns_kind(name: &str) -> &str {
    name.strip_suffix("_for_children").unwrap_or(name)
}

/// Accepts one connection, giving up after `timeout` (the runtime may fail before
/// it connects).
fn accept(listener: &UnixListener, timeout: Duration) -> UnixStream {
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let mut conn = None;
    let accepted = wait_until(timeout, || match listener.accept() {
        Ok((stream, _)) => {
            conn = Some(stream);
            true
        }
        Err(_) => false,
    });
    assert!(accepted, "nobody connected to the console socket");
    let conn = conn.expect("accepted");
    conn.set_nonblocking(false).expect("blocking stream");
    conn
}

/// The exec'd process joins every namespace of init, is not pid 1, has a parent
/// outside the pid namespace, and is in init's cgroup.
#[test]
fn exec_joins_namespaces_and_cgroup() {
    let rt = Runtime::new();
    // A cgroup namespace too, which the spec template leaves out: "every namespace".
    let c = Container::run(&rt, "exec-ns", |b| {
        b.namespace("cgroup", None);
    });
    let out = c.sh(&format!(
        "{NS_SCRIPT}; echo pid=$$ ppid=$PPID; cat /proc/self/cgroup; echo --; cat /proc/1/cgroup"
    ));

    let ns = ns_lines(&out);
    let names: Vec<&str> = ns.iter().map(|(n, _, _)| n.as_str()).collect();
    for want in ["cgroup", "ipc", "mnt", "net", "pid", "uts", "user"] {
        assert!(names.contains(&want), "no {want} namespace in\n{out}");
    }
    for (name, own, init) in &ns {
        assert_eq!(own, init, "{name}: exec'd {own}, init {init}\n{out}");
        // And as the host sees init (in case /proc/1 inside were not init).
        assert_eq!(own, &host_ns(c.pid, name), "{name}\n{out}");
    }

    let ids = out
        .lines()
        .find(|l| l.starts_with("pid="))
        .unwrap_or_else(|| panic!("no pid line\n{out}"));
    let pid: u32 = ids
        .split_whitespace()
        .next()
        .and_then(|p| p.strip_prefix("pid="))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("bad pid line {ids:?}"));
    assert!(pid > 1, "exec'd process must not be pid 1: {ids}");
    // Its parent (the runtime) is outside the container's pid namespace.
    assert!(ids.ends_with(" ppid=0"), "{ids}");

    let (own, init) = out
        .split_once("pid=")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .and_then(|(_, rest)| rest.split_once("--\n"))
        .unwrap_or_else(|| panic!("no cgroup output\n{out}"));
    assert!(!own.trim().is_empty(), "{out}");
    assert_eq!(own, init, "exec'd process not in init's cgroup\n{out}");

    c.assert_only_init();
    c.finish();
}

#[test]
fn exec_exit_code_and_stdio() {
    let rt = Runtime::new();
    let c = Container::run(&rt, "exec-stdio", |_| {});

    assert_eq!(c.exec(&[], &["sh", "-c", "exit 5"]).code(), 5);
    assert_eq!(c.exec(&[], &["true"]).code(), 0);
    // A signal death is 128 + signo, as for `run`.
    let out = c.exec(&[], &["sh", "-c", "kill -9 $$"]);
    assert_eq!(out.code(), 128 + 9, "{out}");

    let out = c.exec(&[], &["sh", "-c", "echo out; echo err >&2"]);
    out.ok();
    assert_eq!(out.stdout, "out\n", "{out}");
    assert_eq!(out.stderr, "err\n", "{out}");

    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input");
    fs::write(&input, "line one\nline two\n").expect("write input");
    let out = c
        .exec_cmd(&[], &["cat"])
        .stdin(File::open(&input).expect("open input"))
        .output();
    out.ok();
    assert_eq!(out.stdout, "line one\nline two\n", "{out}");

    c.assert_only_init();
    c.finish();
}

#[test]
fn exec_cwd_env_user_groups() {
    let rt = Runtime::new();
    let c = Container::run(&rt, "exec-flags", |b| {
        b.env(&["PATH=/bin:/usr/bin", "FOO=config", "KEEP=1"]);
    });

    assert_eq!(c.exec(&["--cwd", "/tmp"], &["pwd"]).stdout, "/tmp\n");

    // -e adds to the config's env and overrides a variable it already has, leaving
    // one definition.
    let out = c.exec(&["-e", "FOO=override", "-e", "NEW=1"], &["env"]);
    out.ok();
    let env: Vec<&str> = out.stdout.lines().collect();
    let foo: Vec<&&str> = env.iter().filter(|l| l.starts_with("FOO=")).collect();
    assert_eq!(foo, [&"FOO=override"], "{out}");
    for want in ["NEW=1", "KEEP=1", "PATH=/bin:/usr/bin"] {
        assert!(env.contains(&want), "no {want}\n{out}");
    }

    let out = c.sh_with(
        &["-u", "1000:1001"],
        "id -u; id -g; grep Groups /proc/self/status",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["1000", "1001"], "{out}");
    assert_eq!(field(&out, "Groups:"), "", "no supplementary groups\n{out}");

    // Without a gid, the config's (0) stays.
    let out = c.sh_with(&["--user", "1000"], "id -u; id -g");
    assert_eq!(out, "1000\n0\n");

    let out = c.sh_with(
        // runc 1.1.5 (urfave/cli v1) refuses `-g` and `--additional-gids` together.
        &["-u", "1000:1000", "-g", "10", "-g", "20"],
        "grep Groups /proc/self/status",
    );
    let mut groups: Vec<&str> = field(&out, "Groups:").split_whitespace().collect();
    groups.sort_unstable();
    assert_eq!(groups, ["10", "20"], "{out}");

    c.assert_only_init();
    c.finish();
}

#[test]
fn exec_cap_and_no_new_privs() {
    let rt = Runtime::new();
    // The template sets noNewPrivileges; clear it so that the flag has to set it.
    let c = Container::run(&rt, "exec-caps", |b| {
        b.set("/process/noNewPrivileges", json!(false));
    });
    const STATUS: &str = "grep -E '^(Cap|NoNewPrivs)' /proc/self/status";

    let plain = c.sh(STATUS);
    assert_eq!(caps(&plain, "CapEff:") & CAP_SYS_ADMIN, 0, "{plain}");
    assert_eq!(field(&plain, "NoNewPrivs:"), "0", "{plain}");

    let added = c.sh_with(&["--cap", "CAP_SYS_ADMIN"], STATUS);
    for set in ["CapEff:", "CapPrm:", "CapBnd:"] {
        assert_ne!(caps(&added, set) & CAP_SYS_ADMIN, 0, "{set}\n{added}");
    }
    // The config's capabilities are still there.
    assert_eq!(
        caps(&added, "CapEff:") & !CAP_SYS_ADMIN,
        caps(&plain, "CapEff:"),
        "{plain}\n{added}"
    );

    let nnp = c.sh_with(&["--no-new-privs"], STATUS);
    assert_eq!(field(&nnp, "NoNewPrivs:"), "1", "{nnp}");

    c.assert_only_init();
    c.finish();
}

#[test]
fn exec_preserve_fds_and_no_leaked_fds() {
    let rt = Runtime::new();
    let c = Container::run(&rt, "exec-fds", |_| {});
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = dir.path().join("fd3");
    fs::write(&shared, "from-host\n").expect("write");
    let open = |path: &Path| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open")
    };
    let host_dir = || File::open(dir.path()).expect("open host dir");

    // `exec ls` lists the fds the exec'd process itself holds.
    let out = c
        .exec_cmd(
            &["--preserve-fds", "1"],
            &[
                "sh",
                "-c",
                "cat <&3; echo from-exec >&3; exec ls -l /proc/self/fd/",
            ],
        )
        .fd(3, open(&shared))
        .fd(4, host_dir())
        .output();
    out.ok();
    assert!(out.stdout.starts_with("from-host\n"), "{out}");
    let extra = extra_fds(&out.stdout);
    assert_eq!(extra.len(), 1, "only fd 3 may be passed: {extra:?}\n{out}");
    assert!(extra[0].0 == 3 && extra[0].1.ends_with("/fd3"), "{extra:?}");
    assert_eq!(
        fs::read_to_string(&shared).expect("read back"),
        "from-host\nfrom-exec\n"
    );

    // CVE-2024-21626 class: a directory fd of the caller must not reach the exec'd
    // process, where `cd /proc/self/fd/N` would put it outside the container root.
    let out = c
        .exec_cmd(&[], &["ls", "-l", "/proc/self/fd/"])
        .fd(3, host_dir())
        .fd(5, host_dir())
        .output();
    out.ok();
    let extra = extra_fds(&out.stdout);
    assert!(extra.is_empty(), "fds leaked into exec: {extra:?}\n{out}");
    let out = c
        .exec_cmd(
            &[],
            &[
                "sh",
                "-c",
                "for n in 3 4 5 6 7 8 9; do (cd /proc/self/fd/$n 2>/dev/null && echo escaped via $n: $(pwd -P)); done; true",
            ],
        )
        .fd(3, host_dir())
        .fd(5, host_dir())
        .output();
    out.ok();
    assert!(!out.stdout.contains("escaped"), "{out}");

    c.assert_only_init();
    c.finish();
}

/// CVE-2024-21626: the runtime's own fds (runc leaked one to /sys/fs/cgroup) and
/// the caller's must not be usable as the exec'd process's cwd.
#[test]
fn exec_cwd_cannot_use_the_runtimes_fds() {
    let rt = Runtime::new();
    let c = Container::run(&rt, "exec-cwd-fd", |_| {});
    let marker = c.bundle.path().join("host-marker");
    fs::write(&marker, "").expect("write host marker");
    // From a cwd outside the container root, `..` climbs to the host's root.
    let script = format!(
        "cd ../../../../../../../../..; test -e .{} && echo ESCAPED; pwd -P",
        marker.display()
    );
    for n in 3..=9 {
        let cwd = format!("/proc/self/fd/{n}");
        // Directory fds of the caller, outside the container root, at 4 and 8.
        let host_dir = || File::open(c.bundle.path()).expect("open bundle dir");
        let out = c
            .exec_cmd(&["--cwd", &cwd], &["sh", "-c", &script])
            .fd(4, host_dir())
            .fd(8, host_dir())
            .output();
        // Failing is fine (the cwd does not exist in the container); escaping is not.
        assert!(!out.stdout.contains("ESCAPED"), "--cwd {cwd}\n{out}");
    }
    c.assert_only_init();
    c.finish();
}

/// `exec --process`: the complete process as containerd's shim writes it
/// (contract §2.6). Its env is taken as is, not merged with config.json's, and the
/// other process flags are ignored.
#[test]
fn exec_process_json() {
    let rt = Runtime::new();
    let c = Container::run(&rt, "exec-process", |b| {
        b.env(&["PATH=/bin:/usr/bin", "FROM_CONFIG=1"]);
        b.set("/process/noNewPrivileges", json!(false));
    });
    let caps = json!(["CAP_CHOWN", "CAP_SYS_ADMIN"]);
    let process = json!({
        "terminal": false,
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]},
        "args": [
            "sh",
            "-c",
            "echo uid=$(id -u) gid=$(id -g); pwd; env; \
             grep -E '^(Groups|CapEff|NoNewPrivs):' /proc/self/status; \
             grep 'Max open files' /proc/self/limits"
        ],
        "env": ["PATH=/usr/bin:/bin", "FROM_PROCESS=1"],
        "cwd": "/tmp",
        "capabilities": {
            "bounding": caps,
            "effective": caps,
            "inheritable": caps,
            "permitted": caps,
            "ambient": caps,
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 456, "soft": 123}],
        "noNewPrivileges": true,
    });
    let path = c.bundle.path().join("process.json");
    fs::write(&path, serde_json::to_string_pretty(&process).expect("json")).expect("write");
    let path = path.display().to_string();

    let out = c.exec(&["--process", &path, "--cwd", "/", "-e", "IGNORED=1"], &[]);
    out.ok();
    let text = &out.stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "uid=1000 gid=1000", "{out}");
    assert_eq!(lines[1], "/tmp", "{out}");
    assert!(lines.contains(&"FROM_PROCESS=1"), "{out}");
    assert!(lines.contains(&"PATH=/usr/bin:/bin"), "{out}");
    assert!(
        !text.contains("FROM_CONFIG") && !text.contains("IGNORED"),
        "env must be exactly process.json's\n{out}"
    );
    let mut groups: Vec<&str> = field(text, "Groups:").split_whitespace().collect();
    groups.sort_unstable();
    assert_eq!(groups, ["10", "20"], "{out}");
    assert_eq!(
        u64::from_str_radix(field(text, "CapEff:"), 16).expect("CapEff"),
        CAP_CHOWN | CAP_SYS_ADMIN,
        "{out}"
    );
    assert_eq!(field(text, "NoNewPrivs:"), "1", "{out}");
    let limits: Vec<&str> = field(text, "Max open files").split_whitespace().collect();
    if berth_e2e::is_berth() || limits[0] == "123" {
        assert_eq!(&limits[..2], ["123", "456"], "{out}");
    } else {
        // runc 1.1.5 (the control) sets the exec's rlimits from its parent
        // with prlimit while the child's Go runtime raises the nofile soft
        // limit to the hard one at start-up: a race it sometimes loses.
        assert_eq!(&limits[..2], ["456", "456"], "{out}");
    }

    // `-p` with `--detach` as the shim runs it.
    let pid_file = c.bundle.path().join("process.pid");
    let sleeper = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["sleep", "60"],
        "env": ["PATH=/bin"],
        "cwd": "/",
    });
    let sleeper_path = c.bundle.path().join("sleeper.json");
    fs::write(&sleeper_path, sleeper.to_string()).expect("write");
    c.exec(
        &[
            "-d",
            "--pid-file",
            &pid_file.display().to_string(),
            "-p",
            &sleeper_path.display().to_string(),
        ],
        &[],
    )
    .ok();
    let pid: i64 = fs::read_to_string(&pid_file)
        .expect("pid file")
        .parse()
        .expect("pid is decimal");
    assert!(alive(pid));
    // SAFETY: kill(2) on the process this test just started in its container.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    assert!(wait_until(STATE_TIMEOUT, || !alive(pid)));

    c.assert_only_init();
    c.finish();
}

#[test]
fn exec_malformed_process_json() {
    let rt = Runtime::new();
    let c = Container::run(&rt, "exec-bad-process", |_| {});
    let cases = [
        (
            "wrong-type.json",
            json!({"args": "true", "cwd": "/"}),
            "args",
        ),
        (
            "wrong-uid.json",
            json!({"args": ["true"], "cwd": "/", "user": {"uid": "root", "gid": 0}}),
            "uid",
        ),
        ("no-args.json", json!({"args": [], "cwd": "/"}), "args"),
        (
            "relative-cwd.json",
            json!({"args": ["true"], "cwd": "tmp"}),
            "cwd",
        ),
    ];
    for (name, process, field) in cases {
        let path = c.bundle.path().join(name);
        fs::write(&path, process.to_string()).expect("write");
        let path = path.display().to_string();
        let out = c.exec(&["-p", &path], &[]);
        assert_eq!(out.code(), 255, "{name}\n{out}");
        out.stderr_mentions(&[field]);
        // runc 1.1.5 reports decoding errors with Go's json message, which names
        // the field but not the file; berth names both.
        if berth_e2e::is_berth() && name.starts_with("wrong-") {
            out.stderr_mentions(&[&path]);
        }
    }
    let out = c.exec(&["-p", "/does/not/exist.json"], &[]);
    assert_eq!(out.code(), 255, "{out}");
    out.stderr_mentions(&["/does/not/exist.json"]);

    c.assert_only_init();
    c.finish();
}

/// `exec -d --pid-file`: exits once the process runs; the pid file is what go-runc
/// reads; the process is in the container and nothing of the runtime stays with it.
#[test]
fn exec_detached_pid_file() {
    let rt = Runtime::new();
    let c = Container::run(&rt, "exec-detach", |_| {});
    let pid_file = c.bundle.path().join("exec.pid");
    let pid_arg = pid_file.display().to_string();

    let out = c.exec(&["-d", "--pid-file", &pid_arg], &["sleep", "60"]);
    out.ok();
    let written = fs::read_to_string(&pid_file).expect("pid file written before exit");
    // go-runc: strconv.Atoi(string(data)), no trimming.
    let pid: i64 = written
        .parse()
        .unwrap_or_else(|_| panic!("pid file {written:?} must be decimal, no newline"));
    assert!(alive(pid), "exec'd pid {pid} is not running");
    let cmdline = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert_eq!(
        cmdline, "sleep\x0060\x00",
        "pid file names the exec'd process"
    );
    let cgroup = |p: i64| fs::read_to_string(format!("/proc/{p}/cgroup")).expect("cgroup");
    assert_eq!(cgroup(pid), cgroup(c.pid), "not in the container's cgroup");
    for ns in ["mnt", "pid", "net", "ipc", "uts"] {
        assert_eq!(host_ns(pid, ns), host_ns(c.pid, ns), "{ns}");
    }

    // Reparented: its parent is not a runtime process that stayed behind.
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let ppid: i64 = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .expect("ppid");
    let parent_exe = fs::read_link(format!("/proc/{ppid}/exe")).ok();
    let bin = fs::canonicalize(rt.bin()).expect("runtime binary");
    assert_ne!(
        parent_exe.as_deref(),
        Some(bin.as_path()),
        "the exec'd process's parent {ppid} is the runtime"
    );
    // The only new process since the container started is the sleep itself.
    let new = rt.leaks(&c.id, &c.bundle).new_since(&c.started);
    assert_eq!(new.pids(), [pid as i32], "{new}");

    // SAFETY: kill(2) on the process this test just started in its container.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    assert!(wait_until(STATE_TIMEOUT, || !alive(pid)));
    c.assert_only_init();
    c.finish();
}

#[test]
fn exec_into_a_stopped_container_fails() {
    let rt = Runtime::new();
    let id = unique_id("exec-stopped");
    let mut bundle = Bundle::new();
    bundle.args(&["true"]);
    let before = rt.leaks(&id, &bundle);
    rt.run_detached(&id, &bundle).ok();
    rt.wait_status(&id, "stopped");
    let out = rt.exec(&["exec", &id, "true"]);
    assert_eq!(out.code(), 255, "{out}");
    out.stderr_mentions(&["cannot exec in a stopped container"]);
    assert_eq!(rt.status(&id).as_deref(), Some("stopped"));
    rt.delete(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn exec_unknown_container_fails() {
    let rt = Runtime::new();
    let id = unique_id("exec-unknown");
    let out = rt.exec(&["exec", &id, "true"]);
    out.fails().stderr_mentions(&["does not exist"]);
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn exec_missing_program_fails() {
    let rt = Runtime::new();
    let c = Container::run(&rt, "exec-missing", |_| {});
    let out = c.exec(&[], &["no-such-program"]);
    assert_eq!(out.code(), 255, "{out}");
    out.stderr_mentions(&["executable file not found"]);
    let out = c.exec(&[], &["/bin/no-such-program"]);
    assert_eq!(out.code(), 255, "{out}");
    out.stderr_mentions(&["no such file or directory"]);
    c.assert_only_init();
    c.finish();
}

/// runc execs into a created container (init waiting for `start`) like into a
/// running one (containerd's shim refuses that itself, the runtime does not), and
/// the container can still be started afterwards.
#[test]
fn exec_into_a_created_container() {
    let rt = Runtime::new();
    let id = unique_id("exec-created");
    let mut bundle = Bundle::new();
    bundle.args(INIT);
    let before = rt.leaks(&id, &bundle);
    rt.create(&id, &bundle).ok();
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");

    // /proc/1/ns inside may be unreadable while init is still the runtime's code
    // (not dumpable); compare with the host's view of init instead.
    let out = rt.exec(&["exec", &id, "sh", "-c", &format!("echo $$; {NS_SCRIPT}")]);
    out.ok();
    let inner: i64 = out
        .stdout
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("no pid\n{out}"));
    assert!(inner > 1, "{out}");
    let ns = ns_lines(&out.stdout);
    assert!(ns.len() >= 6, "{out}");
    for (name, own, _) in &ns {
        assert_eq!(own, &host_ns(pid, name), "{name}\n{out}");
    }
    assert_eq!(rt.status(&id).as_deref(), Some("created"));

    rt.start(&id).ok();
    let state = rt.wait_status(&id, "running");
    assert_eq!(state["pid"].as_i64(), Some(pid));
    rt.delete_force(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}

/// `exec -d -t --console-socket`, as containerd's shim and conmon run it: the
/// process gets a new pty whose master arrives on the socket, and its output goes
/// there rather than to the runtime's stdout.
#[test]
fn exec_tty_with_console_socket() {
    let rt = Runtime::new();
    let c = Container::run(&rt, "exec-tty-sock", |_| {});
    let dir = tempfile::tempdir().expect("tempdir");
    let sock_path = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).expect("bind console socket");
    let sock = sock_path.display().to_string();
    let pid_file = dir.path().join("exec.pid");
    let pid_arg = pid_file.display().to_string();

    let exec = c
        .exec_cmd(
            &[
                "-d",
                "-t",
                "--console-socket",
                &sock,
                "--pid-file",
                &pid_arg,
            ],
            &[
                "sh",
                "-c",
                "tty; test -t 0 && test -t 1 && test -t 2 && echo on-the-master",
            ],
        )
        .spawn();
    let conn = accept(&listener, TTY_TIMEOUT);
    let (name, master) = recv_fd(&conn);
    assert!(!name.is_empty(), "the payload names the master");
    // SAFETY: isatty on the fd we just received.
    assert_eq!(unsafe { libc::isatty(master.as_raw_fd()) }, 1, "not a tty");
    let mut reader = TtyReader::start(File::from(master));
    let out = exec.wait();
    out.ok();
    let pid: i64 = fs::read_to_string(&pid_file)
        .expect("pid file")
        .parse()
        .expect("decimal pid");
    assert!(pid > 0);

    assert!(reader.wait_closed(TTY_TIMEOUT), "pty never closed");
    let text = reader.text();
    let first = text.lines().next().unwrap_or_default();
    let n = first.strip_prefix("/dev/pts/").unwrap_or_default();
    assert!(
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
        "tty printed {first:?}\n{text:?}"
    );
    assert!(text.contains("on-the-master\n"), "{text:?}");
    assert!(!out.stdout_now().contains("on-the-master"), "{out}");

    c.assert_only_init();
    c.finish();
}

/// runc's `checkTerminal`: a console socket without a terminal, or a detached
/// terminal without a console socket, is refused before anything runs.
#[test]
fn exec_terminal_flag_combinations() {
    let rt = Runtime::new();
    let c = Container::run(&rt, "exec-tty-flags", |_| {});
    let dir = tempfile::tempdir().expect("tempdir");
    let sock_path = dir.path().join("console.sock");
    let _listener = UnixListener::bind(&sock_path).expect("bind console socket");
    let sock = sock_path.display().to_string();
    let marker = c.bundle.rootfs().join("tmp/ran");
    let script = ["sh", "-c", "touch /tmp/ran"];

    for flags in [
        vec!["--console-socket", sock.as_str()],
        vec!["-d", "--console-socket", sock.as_str()],
    ] {
        let out = c.exec(&flags, &script);
        assert_eq!(out.code(), 255, "{out}");
        out.stderr_mentions(&["cannot use console socket"]);
    }
    let out = c.exec(&["-d", "-t"], &script);
    assert_eq!(out.code(), 255, "{out}");
    out.stderr_mentions(&["cannot allocate tty"]);
    assert!(!marker.exists(), "a refused exec ran the process");

    c.assert_only_init();
    c.finish();
}

/// Types `script` into a shell on `pty` once the runtime has attached it (raw
/// mode) and the shell prompts.
fn type_into_shell(pty: &Pty, reader: &TtyReader, script: &str) {
    assert!(
        wait_until(TTY_TIMEOUT, || pty.is_raw()),
        "the runtime never put the terminal in raw mode\n{:?}",
        reader.text()
    );
    assert!(
        reader.wait_for("# ", TTY_TIMEOUT),
        "no shell prompt\n{:?}",
        reader.text()
    );
    pty.write(script);
}

/// Waits for a line equal to `line` in the terminal output.
#[track_caller]
fn wait_for_line(reader: &TtyReader, line: &str) {
    let found = wait_until(TTY_TIMEOUT, || {
        reader.text().lines().any(|l| l.trim_end() == line)
    });
    assert!(found, "no line {line:?} in\n{:?}", reader.text());
}

/// `run` with `terminal: true` and no `--console-socket`, from a terminal: the
/// runtime attaches the caller's terminal (raw mode, window size, pty proxied)
/// and restores it afterwards.
#[test]
fn run_attaches_the_callers_terminal() {
    let rt = Runtime::new();
    let id = unique_id("run-attach");
    let mut bundle = Bundle::new();
    bundle.args(&["sh"]);
    bundle.config_mut()["process"]["terminal"] = json!(true);
    let before = rt.leaks(&id, &bundle);

    let mut pty = Pty::open(33, 101);
    let cooked = pty.termios();
    let reader = pty.reader();
    let run = rt
        .with_bundle("run", &id, &bundle, &[])
        .terminal(pty.take_slave())
        .spawn();
    type_into_shell(&pty, &reader, "stty size; echo hi; exit 3\n");
    let out = run.wait();
    assert_eq!(
        out.code(),
        3,
        "{out}\n--- terminal ---\n{:?}",
        reader.text()
    );
    wait_for_line(&reader, "33 101");
    wait_for_line(&reader, "hi");

    let after = pty.termios();
    assert!(
        after.c_lflag == cooked.c_lflag && after.c_iflag == cooked.c_iflag,
        "terminal settings not restored"
    );
    rt.assert_nothing_left(&id, &bundle, &before);
}

/// `exec -t` without `--console-socket` from a terminal, including a window
/// resize while attached (SIGWINCH to the runtime, passed on to the container pty).
#[test]
fn exec_tty_attaches_the_callers_terminal() {
    let rt = Runtime::new();
    let c = Container::run(&rt, "exec-attach", |_| {});
    let mut pty = Pty::open(33, 101);
    let cooked = pty.termios();
    let reader = pty.reader();
    let exec = c
        .exec_cmd(&["-t"], &["sh"])
        .terminal(pty.take_slave())
        .spawn();
    type_into_shell(&pty, &reader, "echo size=$(stty size); echo hi\n");
    wait_for_line(&reader, "size=33 101");
    wait_for_line(&reader, "hi");

    pty.set_size(40, 120);
    pty.write(
        "i=0; while [ \"$(stty size)\" != '40 120' ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; \
         echo resized=$(stty size); exit 3\n",
    );
    let out = exec.wait();
    assert_eq!(
        out.code(),
        3,
        "{out}\n--- terminal ---\n{:?}",
        reader.text()
    );
    wait_for_line(&reader, "resized=40 120");

    let after = pty.termios();
    assert!(
        after.c_lflag == cooked.c_lflag && after.c_iflag == cooked.c_iflag,
        "terminal settings not restored"
    );
    c.assert_only_init();
    c.finish();
}

/// Many execs into one container (two at a time on the 2-core VM) all succeed and
/// leave nothing behind.
#[test]
fn fifty_execs_two_at_a_time() {
    let rt = Runtime::new();
    let c = Container::run(&rt, "exec-parallel", |_| {});
    let results: Vec<Output> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let c = &c;
                s.spawn(move || {
                    (0..25)
                        .map(|i| {
                            c.exec(&["-e", &format!("N={w}-{i}")], &["sh", "-c", "echo $N $$"])
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    assert_eq!(results.len(), 50);
    for out in &results {
        out.ok();
        let mut words = out.stdout.split_whitespace();
        let (n, pid) = (words.next(), words.next());
        assert!(
            n.is_some_and(|n| n.contains('-')) && pid.is_some_and(|p| p != "1"),
            "{out}"
        );
    }
    c.assert_only_init();
    c.finish();
}
