//! Bundles: a private directory with a copy of the rootfs and a `config.json`.
//!
//! The config starts as the runtime's own `spec` template (so berth's template is
//! exercised too), with `terminal: false`, and is edited as JSON.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use tempfile::TempDir;

/// A bundle directory, removed when both the `Bundle` and every [`crate::Runtime`]
/// that created a container from it are gone: the runtime deletes its containers on
/// drop, and their rootfs must still exist then, whatever order the test drops in.
pub struct Bundle {
    dir: Arc<TempDir>,
    config: Value,
}

/// `$BERTH_BIN spec` output, generated once per test process.
fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-spec-")
            .tempdir()
            .expect("create spec dir");
        let bin = crate::runtime_bin();
        let out = Command::new(&bin)
            .arg("spec")
            .arg("--bundle")
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        assert!(
            out.status.success(),
            "{} spec failed: {}\n{}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = fs::read_to_string(dir.path().join("config.json")).expect("read spec output");
        serde_json::from_str(&text).expect("spec output is JSON")
    })
}

impl Bundle {
    /// A bundle with a fresh rootfs copy and the runtime's spec template, with
    /// `terminal: false`, `args: ["true"]` and a writable root (the template's is
    /// read-only; tests that want that say so with [`Bundle::readonly_root`]).
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir()
            .expect("create bundle dir");
        // TempDir is 0700; a user-namespaced container root (mapped to an
        // unprivileged host uid) must still be able to reach its rootfs.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .expect("chmod bundle dir");
        crate::rootfs::copy_to(&dir.path().join("rootfs"));
        let mut config = template().clone();
        config["root"]["path"] = json!("rootfs");
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(["true"]);
        config["root"]["readonly"] = json!(false);
        Bundle {
            dir: Arc::new(dir),
            config,
        }
    }

    /// The bundle directory (absolute).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The bundle's rootfs directory on the host.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Keeps the directory alive for as long as the returned handle lives.
    pub(crate) fn keep_alive(&self) -> Arc<TempDir> {
        Arc::clone(&self.dir)
    }

    pub fn config(&self) -> &Value {
        &self.config
    }

    pub fn config_mut(&mut self) -> &mut Value {
        &mut self.config
    }

    /// Lets a container blocked in [`crate::WAIT_FOR_GATE`] go on (the rootfs `/tmp`
    /// is the host directory `rootfs/tmp`).
    pub fn open_gate(&self) {
        fs::write(self.rootfs().join("tmp/.gate"), "").expect("open gate");
    }

    /// Writes `config.json`; the runtime wrapper calls this before create/run.
    pub fn save(&self) {
        let text = serde_json::to_string_pretty(&self.config).expect("serialize config");
        fs::write(self.dir.path().join("config.json"), text).expect("write config.json");
    }

    fn process(&mut self) -> &mut Value {
        &mut self.config["process"]
    }

    fn linux(&mut self) -> &mut Value {
        if self.config["linux"].is_null() {
            self.config["linux"] = json!({});
        }
        &mut self.config["linux"]
    }

    /// Appends `value` to the array at `parent[key]`, creating it if needed.
    fn push(parent: &mut Value, key: &str, value: Value) {
        if !parent[key].is_array() {
            parent[key] = json!([]);
        }
        if let Some(array) = parent[key].as_array_mut() {
            array.push(value);
        }
    }

    /// Sets `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.process()["args"] = json!(args);
        self
    }

    /// Sets `process.args` to `["sh", "-c", script]`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }

    /// Replaces `process.env`.
    pub fn env(&mut self, env: &[&str]) -> &mut Self {
        self.process()["env"] = json!(env);
        self
    }

    /// Adds one `KEY=value` to `process.env`.
    pub fn add_env(&mut self, var: &str) -> &mut Self {
        Self::push(self.process(), "env", json!(var));
        self
    }

    pub fn cwd(&mut self, cwd: &str) -> &mut Self {
        self.process()["cwd"] = json!(cwd);
        self
    }

    pub fn user(&mut self, uid: u32, gid: u32, additional_gids: &[u32]) -> &mut Self {
        let user = &mut self.process()["user"];
        user["uid"] = json!(uid);
        user["gid"] = json!(gid);
        if additional_gids.is_empty() {
            if let Some(user) = user.as_object_mut() {
                user.remove("additionalGids");
            }
        } else {
            user["additionalGids"] = json!(additional_gids);
        }
        self
    }

    pub fn umask(&mut self, umask: u32) -> &mut Self {
        self.process()["user"]["umask"] = json!(umask);
        self
    }

    /// Sets (or replaces) one rlimit, e.g. `("RLIMIT_NOFILE", 1000, 2000)`.
    pub fn rlimit(&mut self, kind: &str, soft: u64, hard: u64) -> &mut Self {
        let entry = json!({"type": kind, "soft": soft, "hard": hard});
        let process = self.process();
        if let Some(list) = process["rlimits"].as_array_mut() {
            list.retain(|r| r["type"] != kind);
        }
        Self::push(process, "rlimits", entry);
        self
    }

    pub fn hostname(&mut self, name: &str) -> &mut Self {
        self.config["hostname"] = json!(name);
        self
    }

    pub fn domainname(&mut self, name: &str) -> &mut Self {
        self.config["domainname"] = json!(name);
        self
    }

    /// Appends a mount.
    pub fn mount(
        &mut self,
        destination: &str,
        kind: &str,
        source: &str,
        options: &[&str],
    ) -> &mut Self {
        let mount = json!({
            "destination": destination,
            "type": kind,
            "source": source,
            "options": options,
        });
        Self::push(&mut self.config, "mounts", mount);
        self
    }

    /// Appends a bind mount of a host path.
    pub fn bind(&mut self, host: &Path, destination: &str, options: &[&str]) -> &mut Self {
        let mut opts = vec!["bind"];
        opts.extend_from_slice(options);
        self.mount(destination, "bind", &host.to_string_lossy(), &opts)
    }

    /// Removes the mounts at `destination`.
    pub fn remove_mount(&mut self, destination: &str) -> &mut Self {
        if let Some(mounts) = self.config["mounts"].as_array_mut() {
            mounts.retain(|m| m["destination"] != destination);
        }
        self
    }

    /// Appends a hook of `kind` (`prestart`, `createRuntime`, …).
    pub fn hook(&mut self, kind: &str, hook: Value) -> &mut Self {
        if !self.config["hooks"].is_object() {
            self.config["hooks"] = json!({});
        }
        Self::push(&mut self.config["hooks"], kind, hook);
        self
    }

    /// Appends a `/bin/sh -c script` hook of `kind`.
    pub fn sh_hook(&mut self, kind: &str, script: &str) -> &mut Self {
        self.hook(
            kind,
            json!({"path": "/bin/sh", "args": ["sh", "-c", script]}),
        )
    }

    /// Adds a namespace of `kind`, or replaces an existing one (for `path`).
    pub fn namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        self.remove_namespace(kind);
        let entry = match path {
            Some(path) => json!({"type": kind, "path": path}),
            None => json!({"type": kind}),
        };
        Self::push(self.linux(), "namespaces", entry);
        self
    }

    pub fn remove_namespace(&mut self, kind: &str) -> &mut Self {
        if let Some(list) = self.linux()["namespaces"].as_array_mut() {
            list.retain(|ns| ns["type"] != kind);
        }
        self
    }

    /// Whether the config asks for a namespace of `kind`.
    pub fn has_namespace(&self, kind: &str) -> bool {
        self.config["linux"]["namespaces"]
            .as_array()
            .is_some_and(|list| list.iter().any(|ns| ns["type"] == kind))
    }

    /// Adds a user namespace mapping container ids 0..size to host_id.. (uids and gids).
    pub fn user_namespace(&mut self, host_id: u32, size: u32) -> &mut Self {
        self.namespace("user", None);
        let map = json!([{"containerID": 0, "hostID": host_id, "size": size}]);
        let linux = self.linux();
        linux["uidMappings"] = map.clone();
        linux["gidMappings"] = map;
        self
    }

    pub fn masked_path(&mut self, path: &str) -> &mut Self {
        Self::push(self.linux(), "maskedPaths", json!(path));
        self
    }

    pub fn readonly_path(&mut self, path: &str) -> &mut Self {
        Self::push(self.linux(), "readonlyPaths", json!(path));
        self
    }

    pub fn sysctl(&mut self, key: &str, value: &str) -> &mut Self {
        let linux = self.linux();
        if !linux["sysctl"].is_object() {
            linux["sysctl"] = json!({});
        }
        linux["sysctl"][key] = json!(value);
        self
    }

    /// Appends an entry to `linux.devices`.
    pub fn device(&mut self, device: Value) -> &mut Self {
        Self::push(self.linux(), "devices", device);
        self
    }

    pub fn annotation(&mut self, key: &str, value: &str) -> &mut Self {
        if !self.config["annotations"].is_object() {
            self.config["annotations"] = json!({});
        }
        self.config["annotations"][key] = json!(value);
        self
    }

    pub fn cgroups_path(&mut self, path: &str) -> &mut Self {
        self.linux()["cgroupsPath"] = json!(path);
        self
    }

    pub fn readonly_root(&mut self, readonly: bool) -> &mut Self {
        self.config["root"]["readonly"] = json!(readonly);
        self
    }

    /// Sets the value at a JSON pointer (e.g. `/linux/timeOffsets`); the parent must exist.
    pub fn set(&mut self, pointer: &str, value: Value) -> &mut Self {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer has a slash");
        let target = self
            .config
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("no {parent} in config"));
        target[key] = value;
        self
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Self::new()
    }
}
