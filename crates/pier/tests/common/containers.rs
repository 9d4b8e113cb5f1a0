//! The containers harness: a private pier root holding a busybox image
//! built by hack/mkimage.sh, the pier binary with the runtime under test
//! (berth, or `PIER_TEST_RUNTIME`), and a check for what pier left behind.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const IMAGE: &str = "berth-test/busybox";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The runtime under test: a path, built from this workspace for berth.
pub fn runtime() -> String {
    static RT: OnceLock<String> = OnceLock::new();
    RT.get_or_init(|| match std::env::var("PIER_TEST_RUNTIME") {
        Ok(r) if !r.is_empty() && r != "berth" => {
            let out = Command::new("sh")
                .args(["-c", &format!("command -v {r}")])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        }
        _ => {
            let bin = Path::new(env!("CARGO_BIN_EXE_pier")).with_file_name("berth");
            if !bin.exists() {
                let st = Command::new(env!("CARGO"))
                    .args(["build", "-p", "berth"])
                    .current_dir(workspace())
                    .status()
                    .unwrap();
                assert!(st.success(), "cargo build -p berth failed");
            }
            bin.display().to_string()
        }
    })
    .clone()
}

pub fn image_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = workspace().join("target/pier-test-image");
        let out = Command::new(workspace().join("hack/mkimage.sh"))
            .arg(&dir)
            .output()
            .expect("run hack/mkimage.sh");
        assert!(out.status.success(), "mkimage: {out:?}");
        dir
    })
    .clone()
}

/// A private pier root holding the busybox image.
pub struct Pier {
    pub dir: tempfile::TempDir,
}

impl Pier {
    pub fn new() -> Pier {
        let img = image_dir();
        let dir = tempfile::Builder::new()
            .prefix("pier-e2e-")
            .tempdir()
            .unwrap();
        let p = Pier { dir };
        p.ok(&["images", "-q"]);
        let src = format!("oci:{}:latest", img.join("oci").display());
        let dst = format!("oci:{}:docker.io/{IMAGE}:latest", p.root().display());
        let out = Command::new("skopeo")
            .args(["copy", "-q", &src, &dst])
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo copy: {out:?}");
        p
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pier"));
        c.arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// `pier run` with the runtime under test and no network unless given.
    pub fn run_args(&self, args: &[&str]) -> Vec<String> {
        let mut v = vec!["run".to_string(), "--runtime".into(), runtime()];
        if !args.iter().any(|a| a.starts_with("--network")) {
            v.push("--network=none".into());
        }
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    pub fn out(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.out(args);
        assert!(
            out.status.success(),
            "pier {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let v = self.run_args(args);
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        self.out(&v)
    }

    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "pier run {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn inspect(&self, what: &str) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["inspect", what])).unwrap();
        v[0].clone()
    }

    pub fn wait_for(&self, what: &str, timeout: Duration, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.inspect(what);
            if f(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting on {what}: {v:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything pier left on the host for container `id`.
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        let root = self.root().display().to_string();
        for line in std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
        {
            if line.contains(&root) {
                out.push(format!("mount: {line}"));
            }
        }
        for ctl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let p = ctl.path().join("pier").join(id);
            if p.exists() {
                out.push(format!("cgroup: {}", p.display()));
            }
        }
        if Path::new("/sys/fs/cgroup/unified/pier").join(id).exists() {
            out.push("cgroup: unified".into());
        }
        if self.root().join("containers").join(id).exists() {
            out.push("container dir".into());
        }
        for rt in std::fs::read_dir(self.root().join("run"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if rt.path().join(id).exists() {
                out.push(format!("runtime state {}", rt.path().join(id).display()));
            }
            if rt.file_name().to_string_lossy() == id[..12] {
                out.push(format!("run dir {}", rt.path().display()));
            }
        }
        for p in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains("__monitor") && text.contains(id) {
                out.push(format!(
                    "monitor process {}",
                    p.file_name().to_string_lossy()
                ));
            }
        }
        out
    }
}

impl Drop for Pier {
    fn drop(&mut self) {
        // Stop whatever a failed test left running.
        if let Ok(out) = self.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = self.cmd(&["rm", "-f", id]).output();
            }
        }
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn http_get(addr: &str) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::net::TcpStream::connect(addr) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
                let mut body = String::new();
                let _ = s.read_to_string(&mut body);
                if !body.is_empty() {
                    return body;
                }
            }
            Err(e) if Instant::now() > deadline => panic!("connect {addr}: {e}"),
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A busybox web server answering `served-by-HOSTNAME`.
pub const HTTPD: &str =
    "mkdir -p /www && echo served-by-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www";
