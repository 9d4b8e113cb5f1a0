//! OCI hooks (`config.md`, POSIX-platform Hooks): order, state on stdin, failures and
//! timeouts.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use berth_e2e::{is_berth, unique_id, wait_until, Bundle, Runtime};
use serde_json::{json, Value};
use tempfile::TempDir;

const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Where inside the container the host log directory is bind-mounted.
const LOG_IN_CONTAINER: &str = "/hooklog";

/// A host directory hooks write to, also bind-mounted into the container.
struct HookLog {
    dir: TempDir,
}

impl HookLog {
    fn new(bundle: &mut Bundle) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-hooks-")
            .tempdir()
            .expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
        bundle.bind(dir.path(), LOG_IN_CONTAINER, &[]);
        HookLog { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A hook script appending `name` to the log and saving its stdin as
    /// `<name>.json`. It writes to the host path when that exists (runtime-namespace
    /// hooks, and createContainer, which runs before pivot_root) and to the
    /// bind mount otherwise (startContainer, after pivot_root).
    fn script(&self, name: &str) -> String {
        format!(
            "for d in {host} {inside}; do if [ -d $d ]; then \
               echo {name} >> $d/log; cat > $d/{name}.json; exit 0; fi; done; exit 1",
            host = self.path().display(),
            inside = LOG_IN_CONTAINER,
        )
    }

    fn lines(&self) -> Vec<String> {
        fs::read_to_string(self.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn state(&self, name: &str) -> Value {
        let text = fs::read_to_string(self.path().join(format!("{name}.json")))
            .unwrap_or_else(|e| panic!("{name} hook saved no stdin: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} stdin {text:?}: {e}"))
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}

/// The text naming the failed hook: runc's main branch and berth say
/// `error running createRuntime hook #1`, runc 1.1.5 only `error running hook #1`.
fn hook_error(kind: &str, index: usize) -> String {
    if is_berth() {
        format!("{kind} hook #{index}")
    } else {
        format!("hook #{index}")
    }
}

#[test]
fn hooks_run_in_order_with_state_on_stdin() {
    let rt = Runtime::new();
    let id = unique_id("hooks-order");
    let mut bundle = Bundle::new();
    let log = HookLog::new(&mut bundle);
    for kind in KINDS {
        bundle.sh_hook(kind, &log.script(kind));
    }
    bundle.args(&["true"]);

    // runc 1.1.5 runs poststart at the end of `create` (libcontainer's start()
    // serves both create and run); runc 1.2 and berth run it during `start`, after
    // the user process started, as the runtime-spec lifecycle says.
    let (after_create, after_start): (&[&str], &[&str]) = if is_berth() {
        (&KINDS[..3], &KINDS[..5])
    } else {
        (
            &["prestart", "createRuntime", "createContainer", "poststart"],
            &[
                "prestart",
                "createRuntime",
                "createContainer",
                "poststart",
                "startContainer",
            ],
        )
    };

    rt.create(&id, &bundle).ok();
    assert_eq!(log.lines(), after_create);
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");

    rt.start(&id).ok();
    // startContainer runs before the process, poststart before start returns.
    assert_eq!(log.lines(), after_start);
    rt.wait_status(&id, "stopped");

    rt.delete(&id).ok();
    let mut all = after_start.to_vec();
    all.push("poststop");
    assert_eq!(log.lines(), all);

    for kind in KINDS {
        let state = log.state(kind);
        assert_eq!(state["id"], id.as_str(), "{kind}: {state:#}");
        assert!(state["ociVersion"].is_string(), "{kind}: {state:#}");
        assert_eq!(
            state["bundle"],
            bundle.path().display().to_string(),
            "{kind}"
        );
        match kind {
            // runc reports the pid as seen by init itself (getpid() in the container
            // pid namespace), i.e. 1; the host pid would follow the state schema more
            // closely, so either is accepted.
            "createContainer" | "startContainer" => {
                let seen = state["pid"].as_i64();
                assert!(seen == Some(pid) || seen == Some(1), "{kind}: {state:#}");
            }
            "poststop" => {}
            _ => assert_eq!(state["pid"].as_i64(), Some(pid), "{kind}: {state:#}"),
        }
    }
}

#[test]
fn hook_args_and_env() {
    let rt = Runtime::new();
    let id = unique_id("hooks-env");
    let mut bundle = Bundle::new();
    let log = HookLog::new(&mut bundle);
    let out = log.file("out");
    bundle.hook(
        "createRuntime",
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo \"$0 $1 $E2E_HOOK\" > {}", out.display()), "arg0", "arg1"],
            "env": ["E2E_HOOK=from-env"],
        }),
    );
    rt.create(&id, &bundle).ok();
    assert_eq!(
        fs::read_to_string(&out).ok().as_deref(),
        Some("arg0 arg1 from-env\n")
    );
}

/// runc: `error running <name> hook #<index>: ...` (`configs/config.go Hooks.Run`).
#[test]
fn failing_create_runtime_hook_fails_create() {
    let rt = Runtime::new();
    let id = unique_id("hooks-fail");
    let mut bundle = Bundle::new();
    let log = HookLog::new(&mut bundle);
    bundle
        .sh_hook(
            "createRuntime",
            &format!("echo first >> {}", log.file("log").display()),
        )
        .sh_hook("createRuntime", "echo failing on purpose >&2; exit 3")
        .sh_hook(
            "createRuntime",
            &format!("echo third >> {}", log.file("log").display()),
        );
    let before = rt.leaks(&id, &bundle);

    let out = rt.create(&id, &bundle);
    out.fails()
        .stderr_mentions(&[&hook_error("createRuntime", 1)]);
    assert_eq!(
        log.lines(),
        ["first"],
        "hooks after the failing one must not run"
    );
    rt.exec(&["state", &id]).fails();
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn failing_prestart_hook_fails_create() {
    let rt = Runtime::new();
    let id = unique_id("hooks-prestart-fail");
    let mut bundle = Bundle::new();
    bundle.sh_hook("prestart", "exit 1");
    let before = rt.leaks(&id, &bundle);
    rt.create(&id, &bundle)
        .fails()
        .stderr_mentions(&[&hook_error("prestart", 0)]);
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn failing_create_container_hook_fails_create() {
    let rt = Runtime::new();
    let id = unique_id("hooks-cc-fail");
    let mut bundle = Bundle::new();
    bundle.sh_hook("createContainer", "exit 1");
    let before = rt.leaks(&id, &bundle);
    rt.create(&id, &bundle)
        .fails()
        .stderr_mentions(&[&hook_error("createContainer", 0)]);
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn hook_timeout_kills_the_hook() {
    let rt = Runtime::new();
    let id = unique_id("hooks-timeout");
    let mut bundle = Bundle::new();
    // The hook is sleep itself (no shell whose orphan could hold the runtime's pipes
    // open), with a duration unique to this test so it can be found afterwards.
    let duration = format!("30.{}", std::process::id());
    bundle.hook(
        "createRuntime",
        json!({"path": "/bin/sleep", "args": ["sleep", duration], "timeout": 1}),
    );
    let before = rt.leaks(&id, &bundle);
    let started = std::time::Instant::now();
    // Far below the hook's 30 s: a runtime that ignores the timeout fails here.
    let out = rt
        .with_bundle("create", &id, &bundle, &[])
        .timeout(std::time::Duration::from_secs(20))
        .output();
    eprintln!(
        "create with a 1 s hook timeout returned after {:?}",
        started.elapsed()
    );
    // runc: "hook ran past specified timeout of 1.0s".
    out.fails().stderr_mentions(&["timeout", "timed out"]);
    let hook_alive = || {
        fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| c == format!("sleep\0{duration}\0").as_bytes())
            })
    };
    assert!(
        wait_until(std::time::Duration::from_secs(3), || !hook_alive()),
        "the timed-out hook is still running"
    );
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn failing_poststop_hook_is_only_a_warning() {
    let rt = Runtime::new();
    let id = unique_id("hooks-poststop");
    let mut bundle = Bundle::new();
    let log = HookLog::new(&mut bundle);
    bundle.sh_hook("poststop", "exit 1").sh_hook(
        "poststop",
        &format!("echo second >> {}", log.file("log").display()),
    );
    let before = rt.leaks(&id, &bundle);
    rt.create(&id, &bundle).ok();
    rt.start(&id).ok();
    rt.wait_status(&id, "stopped");

    // runtime-spec: "the runtime MUST log a warning, but the remaining hooks and
    // lifecycle continue as if the hook had succeeded".
    let out = rt.delete(&id);
    out.ok();
    out.stderr_mentions(&[&hook_error("poststop", 0)]);
    rt.exec(&["state", &id]).fails();
    rt.assert_nothing_left(&id, &bundle, &before);
    // runc 1.1.5 stops at the first failing poststop hook.
    if is_berth() {
        assert_eq!(
            log.lines(),
            ["second"],
            "later poststop hooks must still run"
        );
    }
}

#[test]
fn failing_start_container_hook_stops_the_container() {
    let rt = Runtime::new();
    let id = unique_id("hooks-sc-fail");
    let mut bundle = Bundle::new();
    bundle
        .sh_hook("startContainer", "exit 1")
        .sh("echo USER-PROCESS-RAN");
    let before = rt.leaks(&id, &bundle);
    let create = rt.create(&id, &bundle);
    create.ok();
    let start = rt.start(&id);
    // The spec wants an error from `start`; runc 1.1.5 exits 0 there and only its
    // init prints the hook error (to the container's stderr).
    if is_berth() {
        start
            .fails()
            .stderr_mentions(&[&hook_error("startContainer", 0)]);
    }
    rt.wait_status(&id, "stopped");
    assert!(
        !create.stdout_now().contains("USER-PROCESS-RAN"),
        "the user process ran after its startContainer hook failed"
    );
    rt.delete(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}
