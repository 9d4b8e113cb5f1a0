//! The runtime binary with a private state root.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::cmd::{Invocation, Output, Spawned};
use crate::{Bundle, Leaks};

/// The runtime under test, with its own `--root`.
///
/// Every container id passed to `create`/`run` is remembered and force-deleted on
/// drop, so a failing test does not leave containers running.
pub struct Runtime {
    bin: PathBuf,
    root: TempDir,
    io: TempDir,
    made: Mutex<Vec<(String, Arc<TempDir>)>>,
}

impl Runtime {
    pub fn new() -> Self {
        Self::with_bin(crate::runtime_bin())
    }

    /// A given runtime binary rather than `BERTH_BIN`: differential tests run
    /// the same bundle under berth and runc.
    pub fn with_bin(bin: PathBuf) -> Self {
        let root = tempfile::Builder::new()
            .prefix("berth-e2e-root-")
            .tempdir()
            .expect("create runtime root");
        let io = tempfile::Builder::new()
            .prefix("berth-e2e-io-")
            .tempdir()
            .expect("create io dir");
        Runtime {
            bin,
            root,
            io,
            made: Mutex::new(Vec::new()),
        }
    }

    /// `BERTH_BIN` started through `/bin/sh` as `PREFIX BIN ARGS...`, to
    /// change how the runtime is started: `trap '' HUP; exec` (signals it
    /// inherits ignored), `exec setpriv --groups 0,4 --` (its groups).
    pub fn wrapped(prefix: &str) -> Self {
        let mut rt = Self::new();
        let wrapper = rt.io.path().join("runtime-wrapper");
        std::fs::write(
            &wrapper,
            format!("#!/bin/sh\n{prefix} '{}' \"$@\"\n", rt.bin.display()),
        )
        .expect("write runtime wrapper");
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod runtime wrapper");
        rt.bin = wrapper;
        rt
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The `--root` directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `<root>/<id>`, where runc keeps a container's state.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root().join(id)
    }

    /// An invocation with `--root <root>` before `args`.
    pub fn cmd(&self, args: &[&str]) -> Invocation {
        let mut full = vec!["--root".to_string(), self.root().display().to_string()];
        full.extend(args.iter().map(|a| a.to_string()));
        Invocation::new(&self.bin, &full, self.io.path())
    }

    /// An invocation with exactly `args` (no `--root`).
    pub fn cmd_raw(&self, args: &[&str]) -> Invocation {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Invocation::new(&self.bin, &args, self.io.path())
    }

    /// Runs `--root <root> args...`.
    pub fn exec(&self, args: &[&str]) -> Output {
        self.cmd(args).output()
    }

    /// Remembers `id` for cleanup and keeps `bundle` alive until then.
    ///
    /// Ids runc would refuse (`../x`, `a/b`) are not remembered: cleaning up after
    /// them would hand a path outside the state root to `delete --force`.
    pub fn track(&self, id: &str, bundle: &Bundle) {
        let valid = id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+.-".contains(&b))
            && !id.is_empty()
            && id != "."
            && id != "..";
        if !valid {
            return;
        }
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        made.push((id.to_string(), bundle.keep_alive()));
    }

    /// The invocation `<verb> --bundle <bundle> <extra...> <id>`, after saving the config.
    pub fn with_bundle(&self, verb: &str, id: &str, bundle: &Bundle, extra: &[&str]) -> Invocation {
        bundle.save();
        self.track(id, bundle);
        let path = bundle.path().display().to_string();
        let mut args = vec![verb, "--bundle", path.as_str()];
        args.extend_from_slice(extra);
        args.push(id);
        self.cmd(&args)
    }

    pub fn create(&self, id: &str, bundle: &Bundle) -> Output {
        self.create_with(id, bundle, &[])
    }

    pub fn create_with(&self, id: &str, bundle: &Bundle, extra: &[&str]) -> Output {
        self.with_bundle("create", id, bundle, extra).output()
    }

    pub fn start(&self, id: &str) -> Output {
        self.exec(&["start", id])
    }

    /// Foreground `run`: returns when the container exits, with its exit code.
    pub fn run(&self, id: &str, bundle: &Bundle) -> Output {
        self.with_bundle("run", id, bundle, &[]).output()
    }

    /// Foreground `run` that the test can interact with while it runs.
    pub fn spawn_run(&self, id: &str, bundle: &Bundle) -> Spawned {
        self.with_bundle("run", id, bundle, &[]).spawn()
    }

    /// `run -d`.
    pub fn run_detached(&self, id: &str, bundle: &Bundle) -> Output {
        self.with_bundle("run", id, bundle, &["--detach"]).output()
    }

    /// `state <id>`, which must succeed, parsed.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.exec(&["state", id]);
        out.ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON: {e}\n{out}"))
    }

    /// The container's status, or None if `state` fails.
    pub fn status(&self, id: &str) -> Option<String> {
        let out = self.exec(&["state", id]);
        if !out.success() {
            return None;
        }
        let state: Value = serde_json::from_str(&out.stdout).ok()?;
        state["status"].as_str().map(str::to_string)
    }

    /// Polls `state` until the status is `want`; panics after [`crate::STATE_TIMEOUT`].
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str) -> Value {
        let mut last = None;
        let reached = crate::wait_until(crate::STATE_TIMEOUT, || {
            last = self.status(id);
            last.as_deref() == Some(want)
        });
        assert!(
            reached,
            "{id} did not become {want} (last status: {last:?})"
        );
        self.state(id)
    }

    pub fn kill(&self, id: &str, signal: &str) -> Output {
        self.exec(&["kill", id, signal])
    }

    pub fn delete(&self, id: &str) -> Output {
        self.exec(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Output {
        self.exec(&["delete", "--force", id])
    }

    /// `list` with extra flags.
    pub fn list(&self, extra: &[&str]) -> Output {
        let mut args = vec!["list"];
        args.extend_from_slice(extra);
        self.exec(&args)
    }

    /// What `id` has on the host right now (see [`Leaks`]).
    pub fn leaks(&self, id: &str, bundle: &Bundle) -> Leaks {
        Leaks::snapshot(id, &[bundle.path(), self.root()], &self.state_dir(id))
    }

    /// Asserts that `id` left nothing behind compared to `before`, allowing up to
    /// 3 s for killed processes to be reaped.
    #[track_caller]
    pub fn assert_nothing_left(&self, id: &str, bundle: &Bundle, before: &Leaks) {
        let mut new = Leaks::default();
        let clean = crate::wait_until(Duration::from_secs(3), || {
            new = self.leaks(id, bundle).new_since(before);
            new.is_empty()
        });
        assert!(clean, "container {id} left things behind:\n{new}");
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let made = std::mem::take(self.made.get_mut().unwrap_or_else(|e| e.into_inner()));
        if !self.bin.exists() {
            return;
        }
        for (id, _bundle) in &made {
            let root = self.root().display().to_string();
            let args: Vec<String> = ["--root", &root, "delete", "--force", id]
                .iter()
                .map(|a| a.to_string())
                .collect();
            let spawned = Invocation::new(&self.bin, &args, self.io.path())
                .timeout(Duration::from_secs(20))
                .spawn();
            if spawned.wait_quietly().is_none() {
                eprintln!("cleanup: delete --force {id} timed out");
            }
        }
        // Safety net for a runtime that failed to clean up: the test that caused it
        // has already failed or will fail its own leak assertions, but the next tests
        // (and the host) should not inherit the mess.
        for (id, bundle) in &made {
            let leaks = Leaks::snapshot(id, &[bundle.path(), self.root()], &self.state_dir(id));
            for pid in leaks.pids() {
                eprintln!("cleanup: killing leftover process {pid} of {id}");
                // SAFETY: kill(2) on a process of this test's container (its command
                // line, cgroup, root or cwd names the unique id or the bundle).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            if !leaks.cgroups.is_empty() {
                crate::wait_until(Duration::from_secs(2), || {
                    Leaks::snapshot(id, &[bundle.path()], &self.state_dir(id))
                        .processes
                        .is_empty()
                });
                crate::leaks::remove_cgroups(&leaks.cgroups);
            }
            crate::leaks::detach_mounts_under(bundle.path());
        }
        crate::leaks::detach_mounts_under(self.root());
        // The bundles (the second tuple field) are released here, after the deletes.
        drop(made);
    }
}
