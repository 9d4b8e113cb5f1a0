//! podman (with conmon) on private storage, driven with the runtime under test.

use std::path::PathBuf;
use std::time::Duration;

use crate::{Cmd, Scratch};

/// The test image's name once loaded into podman's storage.
pub const PODMAN_IMAGE: &str = "docker.io/berth-test/busybox:latest";

/// podman with its own storage root and runroot, its own containers.conf and
/// storage.conf (so nothing of the host's podman is read or written), and the
/// runtime under test as `--runtime`. podman has no daemon: on drop every
/// container is removed, conmon and container processes are killed and the
/// storage is unmounted.
pub struct Podman {
    root: PathBuf,
    runroot: PathBuf,
    containers_conf: PathBuf,
    storage_conf: PathBuf,
    registries_conf: PathBuf,
    out_dir: PathBuf,
    scratch: Scratch,
}

impl Podman {
    pub fn new() -> Self {
        let scratch = Scratch::new("pod");
        let root = scratch.mkdir("root");
        let runroot = scratch.mkdir("runroot");
        let tmp = scratch.mkdir("tmp");
        let runtime = crate::runtime_bin();
        let runtime_name = runtime
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // lock_type "file" keeps the container locks in tmp_dir: the default shm
        // locks live in one segment shared by every podman on the machine, and a
        // fresh runroot makes podman reset all of them.
        // runtime_supports_json: podman passes `--log-format=json --log FILE` only
        // to runtimes it knows by name; listing ours is what a user configuring
        // podman for berth does, and it makes podman read berth's JSON errors.
        let containers_conf = scratch.write(
            "containers.conf",
            &format!(
                "[engine]\n\
                 cgroup_manager = \"cgroupfs\"\n\
                 events_logger = \"file\"\n\
                 events_logfile_path = {events:?}\n\
                 lock_type = \"file\"\n\
                 tmp_dir = {tmp:?}\n\
                 volume_path = {volumes:?}\n\
                 runtime_supports_json = [\"crun\", \"runc\", {runtime_name:?}]\n\
                 [network]\n\
                 network_config_dir = {networks:?}\n",
                events = scratch.join("events.log"),
                volumes = scratch.join("volumes"),
                networks = scratch.join("networks"),
            ),
        );
        let storage_conf = scratch.write(
            "storage.conf",
            &format!(
                "[storage]\ndriver = \"overlay\"\nrunroot = {runroot:?}\ngraphroot = {root:?}\n"
            ),
        );
        let registries_conf =
            scratch.write("registries.conf", "unqualified-search-registries = []\n");
        Podman {
            root,
            runroot,
            containers_conf,
            storage_conf,
            registries_conf,
            out_dir: scratch.mkdir("out"),
            scratch,
        }
    }

    /// `podman --root R --runroot RR --cgroup-manager=cgroupfs --events-backend=file
    /// --runtime <runtime> args...`.
    pub fn podman<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Cmd::new("podman", &self.out_dir)
            .env("CONTAINERS_CONF", &self.containers_conf)
            .env("CONTAINERS_STORAGE_CONF", &self.storage_conf)
            .env("CONTAINERS_REGISTRIES_CONF", &self.registries_conf)
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(["--cgroup-manager=cgroupfs", "--events-backend=file"])
            .arg("--runtime")
            .arg(crate::runtime_bin())
            .args(args)
    }

    /// Flags every `podman run`/`create` here needs, before the image:
    /// no network, rlimits this machine can grant (the default nofile cannot be:
    /// CAP_SYS_RESOURCE is missing), and a cgroup parent named after the test.
    pub fn run_flags(&self) -> Vec<String> {
        vec![
            "--net=none".into(),
            "--ulimit".into(),
            "nofile=20000:20000".into(),
            "--ulimit".into(),
            "nproc=1000:1000".into(),
            format!("--cgroup-parent=/{}", self.scratch.name()),
        ]
    }

    /// `podman run <run_flags> FLAGS IMAGE ARGS...`.
    pub fn run(&self, flags: &[&str], args: &[&str]) -> Cmd {
        self.podman(["run"])
            .args(self.run_flags())
            .args(flags)
            .arg(PODMAN_IMAGE)
            .args(args)
    }

    /// Loads the test image ([`PODMAN_IMAGE`]).
    pub fn load_image(&self) {
        self.podman(["load", "-q", "-i"])
            .arg(&crate::image().docker_archive)
            .output()
            .ok();
    }

    /// `podman inspect -f FORMAT NAME`, trimmed.
    #[track_caller]
    pub fn inspect(&self, name: &str, format: &str) -> String {
        let out = self.podman(["inspect", "-f", format, name]).output();
        out.ok();
        out.stdout.trim().to_string()
    }

    pub fn scratch(&self) -> &Scratch {
        &self.scratch
    }
}

impl Default for Podman {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        crate::cleanup::thaw_cgroups(self.scratch.name());
        let ids = self
            .podman(["ps", "-aq", "--no-trunc"])
            .timeout(Duration::from_secs(30))
            .try_output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        self.podman(["rm", "--all", "--force", "--time", "0"])
            .timeout(Duration::from_secs(60))
            .try_output();
        // podman does not pass --root: the runtime keeps its state in its default
        // root (/run/berth, /run/runc), outside the scratch directory. Make sure
        // nothing of ours stays there.
        for id in ids {
            Cmd::new(crate::runtime_bin(), &self.out_dir)
                .args(["delete", "--force", id])
                .timeout(Duration::from_secs(20))
                .try_output();
        }
        // conmon and the containers (killed by the scratch's drop) and the overlay
        // mounts are all under the scratch directory or its cgroup.
    }
}
