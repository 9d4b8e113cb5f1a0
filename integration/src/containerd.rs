//! A private containerd, driven with `ctr`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cleanup;
use crate::{Cmd, Running, Scratch};

/// The test image's name once imported into containerd.
pub const CTR_IMAGE: &str = "docker.io/berth-test/busybox:latest";

/// Plugins that need more than a root and a state directory (CRI wants CNI and a
/// pause image, so only the CRI test enables it; the others need special
/// filesystems or collectors).
const DISABLED_PLUGINS: &[&str] = &[
    "io.containerd.grpc.v1.cri",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
];

/// A containerd daemon with its own root, state, sockets and namespace, stopped
/// (with everything it started) on drop.
///
/// Containers run by `ctr` get the cgroup `/<namespace>/<id>`; the namespace is the
/// scratch name, so the scratch's cleanup finds them.
pub struct Containerd {
    daemon: Option<Child>,
    address: PathBuf,
    namespace: String,
    runc_root: PathBuf,
    fifo_dir: PathBuf,
    out_dir: PathBuf,
    log: PathBuf,
    /// Dropped last: the directory everything above lives in.
    scratch: Scratch,
}

impl Containerd {
    /// Starts containerd with the default (non-CRI) configuration.
    pub fn start() -> Self {
        Self::start_with("ctd", false, |_| String::new())
    }

    /// Starts containerd; `extra(scratch)` is appended to its config.toml, and the
    /// CRI plugin is left enabled when `cri` is set. `tag` shows in the scratch
    /// directory's name.
    pub fn start_with(tag: &str, cri: bool, extra: impl FnOnce(&Scratch) -> String) -> Self {
        let scratch = Scratch::new(tag);
        let dir = scratch.path().to_path_buf();
        let address = dir.join("containerd.sock");
        let disabled: Vec<String> = DISABLED_PLUGINS
            .iter()
            .filter(|p| !(cri && p.ends_with(".cri")))
            .map(|p| format!("{p:?}"))
            .collect();
        let extra = extra(&scratch);
        let config = format!(
            "version = 2\n\
             root = {root:?}\n\
             state = {state:?}\n\
             disabled_plugins = [{disabled}]\n\
             [grpc]\n  address = {address:?}\n\
             [ttrpc]\n  address = {ttrpc:?}\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = {opt:?}\n\
             {extra}\n",
            root = dir.join("root"),
            state = dir.join("state"),
            disabled = disabled.join(", "),
            address = address,
            ttrpc = dir.join("containerd.sock.ttrpc"),
            opt = dir.join("opt"),
        );
        let config_path = scratch.write("config.toml", &config);
        let log = dir.join("containerd.log");
        let log_file = File::create(&log).expect("create containerd log");
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup log"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start containerd (is it installed?): {e}"));
        let mut this = Containerd {
            daemon: Some(daemon),
            address,
            namespace: scratch.name().to_string(),
            runc_root: scratch.mkdir("runc-root"),
            fifo_dir: scratch.mkdir("fifo"),
            out_dir: scratch.mkdir("out"),
            log,
            scratch,
        };
        this.wait_ready();
        this
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let version = self
                .ctr_raw()
                .arg("version")
                .timeout(Duration::from_secs(5))
                .output();
            if version.success() {
                return;
            }
            let exited = self
                .daemon
                .as_mut()
                .and_then(|d| d.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() >= deadline {
                panic!(
                    "containerd did not come up ({}):\n{version}\n--- containerd log ---\n{}",
                    exited.map_or("timed out".to_string(), |s| s.to_string()),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The grpc socket.
    pub fn address(&self) -> &Path {
        &self.address
    }

    /// The namespace `ctr` works in (also the cgroup parent of its containers).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn scratch(&self) -> &Scratch {
        &self.scratch
    }

    /// The `--runc-root` given with `--runc-binary`: the runtime keeps container
    /// state in `<root>/<namespace>/<id>`.
    pub fn runc_root(&self) -> &Path {
        &self.runc_root
    }

    /// containerd's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `ctr -a SOCK` without a namespace.
    fn ctr_raw(&self) -> Cmd {
        Cmd::new("ctr", &self.out_dir).arg("-a").arg(&self.address)
    }

    /// `ctr -a SOCK -n NAMESPACE args...`.
    pub fn ctr<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.ctr_in(&self.namespace, args)
    }

    /// `ctr -a SOCK -n ns args...`.
    pub fn ctr_in<I, S>(&self, ns: &str, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.ctr_raw().arg("-n").arg(ns).args(args)
    }

    /// Imports the test image ([`CTR_IMAGE`]) into the namespace.
    pub fn import_image(&self) {
        self.ctr(["images", "import"])
            .arg(&crate::image().docker_archive)
            .output()
            .ok();
    }

    /// `ctr run --runc-binary <runtime> --runc-root <root> --fifo-dir <dir> FLAGS
    /// IMAGE ID ARGS...`.
    pub fn run(&self, flags: &[&str], id: &str, args: &[&str]) -> Cmd {
        self.ctr(["run", "--runc-binary"])
            .arg(crate::runtime_bin())
            .arg("--runc-root")
            .arg(&self.runc_root)
            .arg("--fifo-dir")
            .arg(&self.fifo_dir)
            .args(flags)
            .arg(CTR_IMAGE)
            .arg(id)
            .args(args)
    }

    /// `ctr task exec --fifo-dir <dir> --exec-id EXEC_ID FLAGS ID ARGS...`.
    pub fn exec(&self, flags: &[&str], id: &str, exec_id: &str, args: &[&str]) -> Cmd {
        self.ctr(["task", "exec", "--fifo-dir"])
            .arg(&self.fifo_dir)
            .arg("--exec-id")
            .arg(exec_id)
            .args(flags)
            .arg(id)
            .args(args)
    }

    /// The task's status from `ctr task ls` (`RUNNING`, `PAUSED`, `STOPPED`...), or
    /// None when there is no task.
    pub fn task_status(&self, id: &str) -> Option<String> {
        let out = self
            .ctr(["task", "ls"])
            .timeout(Duration::from_secs(20))
            .output();
        out.stdout.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.first() == Some(&id)).then(|| fields.last().unwrap_or(&"").to_string())
        })
    }

    /// Waits until the task's status is `want`; panics with the last status and
    /// containerd's log otherwise.
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str) {
        let mut last = None;
        let reached = crate::wait_until(crate::STATE_TIMEOUT, || {
            last = self.task_status(id);
            last.as_deref() == Some(want)
        });
        assert!(
            reached,
            "task {id} did not become {want}: last status {last:?}\n--- containerd log ---\n{}",
            self.log()
        );
    }

    /// The runtime's own view of a container: `<runtime> --root <runc-root>/<ns>
    /// state ID`, as JSON.
    #[track_caller]
    pub fn runtime_state(&self, id: &str) -> Value {
        let out = Cmd::new(crate::runtime_bin(), &self.out_dir)
            .arg("--root")
            .arg(self.runc_root.join(&self.namespace))
            .args(["state", id])
            .output();
        out.ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e})\n{out}"))
    }

    /// Starts `ctr events`, recording every event from now on.
    pub fn events(&self) -> Events {
        let running = self.ctr_raw().arg("events").spawn();
        // ctr subscribes asynchronously; give it a moment so the first events of the
        // test are not missed.
        std::thread::sleep(Duration::from_millis(300));
        Events { running }
    }

    /// Kills and deletes every task and container in every namespace, through
    /// containerd (so the runtime's `kill`/`delete` run), for at most `budget`.
    fn remove_everything(&self, budget: Duration) {
        let deadline = Instant::now() + budget;
        let quick = |cmd: Cmd| {
            let out = cmd.timeout(Duration::from_secs(15)).try_output();
            out.map(|o| o.stdout).unwrap_or_default()
        };
        let namespaces = quick(self.ctr_raw().args(["namespaces", "ls", "-q"]));
        for ns in namespaces.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let tasks = quick(self.ctr_in(ns, ["task", "ls", "-q"]));
            for task in tasks.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if Instant::now() >= deadline {
                    return;
                }
                quick(self.ctr_in(ns, ["task", "kill", "--all", "--signal", "SIGKILL", task]));
                quick(self.ctr_in(ns, ["task", "delete", "--force", task]));
            }
            let containers = quick(self.ctr_in(ns, ["containers", "ls", "-q"]));
            for c in containers.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if Instant::now() >= deadline {
                    return;
                }
                quick(self.ctr_in(ns, ["containers", "delete", c]));
            }
        }
    }

    /// The shims' sockets (`/run/containerd/s/<hash>` in containerd 1.6), read from
    /// the `address` file of every task bundle.
    fn shim_sockets(&self) -> Vec<PathBuf> {
        let tasks = self.scratch.join("state/io.containerd.runtime.v2.task");
        let mut out = Vec::new();
        for ns in std::fs::read_dir(tasks).into_iter().flatten().flatten() {
            for task in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
                if let Ok(addr) = std::fs::read_to_string(task.path().join("address")) {
                    if let Some(path) = addr.trim().strip_prefix("unix://") {
                        out.push(PathBuf::from(path));
                    }
                }
            }
        }
        out
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // A paused task cannot be killed until it is thawed.
        cleanup::thaw_cgroups(&self.namespace);
        let alive = self
            .daemon
            .as_mut()
            .is_some_and(|d| matches!(d.try_wait(), Ok(None)));
        if alive {
            self.remove_everything(Duration::from_secs(60));
        }
        let sockets = self.shim_sockets();
        if let Some(mut daemon) = self.daemon.take() {
            stop_daemon(&mut daemon, Duration::from_secs(10));
        }
        // Shims outlive containerd; theirs command lines name our socket.
        self.scratch.kill_processes();
        for socket in sockets {
            if socket.starts_with("/run/containerd/s") {
                let _ = std::fs::remove_file(socket);
            }
        }
    }
}

/// SIGTERM, then SIGKILL after `grace`.
pub(crate) fn stop_daemon(daemon: &mut Child, grace: Duration) {
    if let Ok(pid) = libc::pid_t::try_from(daemon.id()) {
        cleanup::signal(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !matches!(daemon.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// `ctr events`, running in the background and recording into a file.
pub struct Events {
    running: Running,
}

impl Events {
    /// Every event line so far: `TIME NAMESPACE TOPIC JSON`.
    pub fn lines(&self) -> Vec<String> {
        self.running
            .stdout_now()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The JSON of the first event on `topic` (e.g. `/tasks/oom`) whose payload
    /// has `container_id` == `id`, waiting up to `timeout`.
    pub fn find(&self, topic: &str, id: &str, timeout: Duration) -> Option<Value> {
        let mut found = None;
        crate::wait_until(timeout, || {
            found = self.lines().iter().find_map(|line| {
                // `DATE TIME ZONE NAMESPACE TOPIC JSON`: find the topic and parse
                // what follows it rather than counting fields.
                let at = line.find(&format!(" {topic} "))?;
                let json: Value = serde_json::from_str(line[at + topic.len() + 2..].trim()).ok()?;
                (json.get("container_id").and_then(Value::as_str) == Some(id)).then_some(json)
            });
            found.is_some()
        });
        found
    }

    /// Everything recorded, for messages.
    pub fn dump(&self) -> String {
        format!("{}{}", self.running.stdout_now(), self.running.stderr_now())
    }
}
