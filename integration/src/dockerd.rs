//! A private dockerd (on its own private containerd), driven with `docker`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::containerd::stop_daemon;
use crate::{Cmd, Containerd, Scratch};

/// The test image's name once loaded into dockerd.
pub const DOCKER_IMAGE: &str = "berth-test/busybox:latest";

/// dockerd with its own data root, exec root, socket, pid file and cgroup
/// parent, with the runtime under test added as `berth`
/// (`--add-runtime berth=<runtime>`), stopped with everything it started on drop.
pub struct Dockerd {
    daemon: Option<Child>,
    host: String,
    docker_bin: PathBuf,
    config_dir: PathBuf,
    out_dir: PathBuf,
    log: PathBuf,
    exec_root: PathBuf,
    /// Stopped after dockerd (field order is drop order).
    containerd: Containerd,
    scratch: Scratch,
}

impl Dockerd {
    pub fn start() -> Self {
        let containerd = Containerd::start_with("dctd", false, |_| String::new());
        let scratch = Scratch::new("dock");
        let dir = scratch.path().to_path_buf();
        let config = scratch.write("daemon.json", "{}\n");
        let socket = dir.join("docker.sock");
        let exec_root = dir.join("exec");
        let log = dir.join("dockerd.log");
        let log_file = File::create(&log).expect("create dockerd log");
        let runtime = crate::runtime_bin();
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(&exec_root)
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
                "--userland-proxy=false",
                "--storage-driver=overlay2",
            ])
            .arg("--containerd")
            .arg(containerd.address())
            // Containers land in /<scratch name>/<id>, which the cleanup finds.
            .arg("--cgroup-parent")
            .arg(format!("/{}", scratch.name()))
            .arg("--add-runtime")
            .arg(format!("berth={}", runtime.display()))
            // Also the default: `docker info` then runs `<runtime> --version`.
            .arg("--default-runtime=berth")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup log"))
            .stderr(log_file);
        let daemon = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start dockerd (is docker.io installed?): {e}"));
        // The docker.io client matches the daemon; a newer one elsewhere on PATH
        // would work too, but the packaged pair is what users have.
        let docker_bin = if Path::new("/usr/bin/docker").exists() {
            PathBuf::from("/usr/bin/docker")
        } else {
            PathBuf::from("docker")
        };
        let mut this = Dockerd {
            daemon: Some(daemon),
            host: format!("unix://{}", socket.display()),
            docker_bin,
            config_dir: scratch.mkdir("client"),
            out_dir: scratch.mkdir("out"),
            log,
            exec_root,
            containerd,
            scratch,
        };
        this.wait_ready();
        this
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let version = self
                .docker(["version"])
                .timeout(Duration::from_secs(10))
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
                    "dockerd did not come up ({}):\n{version}\n--- dockerd log ---\n{}",
                    exited.map_or("timed out".to_string(), |s| s.to_string()),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `docker args...` against this daemon.
    pub fn docker<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Cmd::new(&self.docker_bin, &self.out_dir)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", &self.config_dir)
            .args(args)
    }

    /// Loads the test image ([`DOCKER_IMAGE`]).
    pub fn load_image(&self) {
        self.docker(["load", "-i"])
            .arg(&crate::image().docker_archive)
            .output()
            .ok();
    }

    /// dockerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The private containerd dockerd runs on.
    pub fn containerd(&self) -> &Containerd {
        &self.containerd
    }

    /// Where the shim keeps runtime state for dockerd's containers:
    /// `<exec-root>/runtime-runc/moby` (dockerd passes `Root` to the shim).
    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root.join("runtime-runc/moby")
    }

    /// `docker inspect -f FORMAT ID`, trimmed.
    #[track_caller]
    pub fn inspect(&self, id: &str, format: &str) -> String {
        let out = self.docker(["inspect", "-f", format, id]).output();
        out.ok();
        out.stdout.trim().to_string()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        crate::cleanup::thaw_cgroups(self.scratch.name());
        let alive = self
            .daemon
            .as_mut()
            .is_some_and(|d| matches!(d.try_wait(), Ok(None)));
        if alive {
            let ids = self
                .docker(["ps", "-aq"])
                .timeout(Duration::from_secs(20))
                .try_output()
                .map(|o| o.stdout)
                .unwrap_or_default();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                self.docker(["rm", "-f"])
                    .args(&ids)
                    .timeout(Duration::from_secs(60))
                    .try_output();
            }
        }
        if let Some(mut daemon) = self.daemon.take() {
            stop_daemon(&mut daemon, Duration::from_secs(20));
        }
        // Then containerd (its drop removes what is left in the moby namespace and
        // stops the shims), then the scratch directory.
    }
}
