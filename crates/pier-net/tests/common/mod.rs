//! Test harness: every test runs on a thread of its own inside a fresh
//! network namespace that plays the host, so its bridges, veths, nft table
//! and sysctls are private (parallel tests and other runs on the machine
//! cannot collide, and the real host's ruleset is never touched), and they
//! all vanish with the thread. Container namespaces are bind-mounted under
//! the test's temp dir and removed by Drop guards.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use pier_net::{netns, ConnectRequest, Endpoint, Networks};

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs `f` in a private "host" network namespace with a fresh store.
/// Skips (returns `None`) when not root.
pub fn on_private_host<T: Send>(f: impl FnOnce(&Env) -> T + Send) -> Option<T> {
    if !is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare netns");
            run(&["ip", "link", "set", "lo", "up"]);
            let dir = tempfile::tempdir().expect("tempdir");
            let nets = Networks::open(dir.path()).expect("open store");
            let env = Env { dir, nets };
            f(&env)
        })
        .join()
    });
    match r {
        Ok(v) => Some(v),
        Err(p) => std::panic::resume_unwind(p),
    }
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub nets: Networks,
}

/// A container's namespace and hosts file; the namespace is removed on drop.
pub struct Ctr {
    pub id: String,
    pub name: String,
    pub ns: PathBuf,
    pub hosts: PathBuf,
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = netns::remove(&self.ns);
    }
}

impl Env {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn container(&self, name: &str) -> Ctr {
        let id = format!("{name}{}", "0123456789abcdef".repeat(4))[..64].to_string();
        let ns = self.dir.path().join("netns").join(&id);
        netns::create(&ns).expect("create netns");
        let hosts = self.dir.path().join(format!("{name}.hosts"));
        Ctr {
            id,
            name: name.into(),
            ns,
            hosts,
        }
    }

    pub fn request(&self, c: &Ctr, aliases: &[&str]) -> ConnectRequest {
        ConnectRequest {
            container_id: c.id.clone(),
            container_name: c.name.clone(),
            netns_path: c.ns.clone(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            hostname: Some(c.name.clone()),
            hosts_file: Some(c.hosts.clone()),
        }
    }

    pub fn connect(&self, net: &str, c: &Ctr, aliases: &[&str]) -> Endpoint {
        self.nets
            .connect(net, &self.request(c, aliases))
            .expect("connect")
    }
}

/// Runs a command (in the calling thread's network namespace), returning
/// its output whatever the status.
pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {args:?}: {e}"))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs a command inside a container's network namespace.
pub fn in_ns(c: &Ctr, args: &[&str]) -> Output {
    let net = format!("--net={}", c.ns.display());
    let mut all = vec!["nsenter", net.as_str()];
    all.extend_from_slice(args);
    run(&all)
}

/// Runs a command inside a container's network namespace with its hosts
/// file mounted on /etc/hosts (in a private mount namespace), as the
/// container would see it.
pub fn in_ctr(c: &Ctr, cmd: &str) -> Output {
    let script = format!(
        "mount --bind {} /etc/hosts && exec nsenter --net={} {cmd}",
        c.hosts.display(),
        c.ns.display()
    );
    run(&[
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ])
}

/// A background process, killed on drop.
pub struct Bg(pub Child);

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// busybox httpd in the container, on port 80, serving `body` as /index.html.
pub fn httpd(env: &Env, c: &Ctr, body: &str) -> Bg {
    let www = env.dir.path().join(format!("www-{}", c.name));
    std::fs::create_dir_all(&www).expect("www dir");
    std::fs::write(www.join("index.html"), body).expect("index.html");
    let child = Command::new("nsenter")
        .arg(format!("--net={}", c.ns.display()))
        .args(["busybox", "httpd", "-f", "-p", "80", "-h"])
        .arg(&www)
        .stdin(Stdio::null())
        .spawn()
        .expect("start httpd");
    let bg = Bg(child);
    // Ready when it accepts a connection from inside its namespace.
    retry(|| {
        let o = in_ns(
            c,
            &["busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:80/"],
        );
        stdout(&o).contains(body).then_some(())
    })
    .expect("httpd did not come up");
    bg
}

/// A plain HTTP/1.0 GET from the calling thread's network namespace.
pub fn http_get(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Tries `f` until it gives a value, for up to ~10 s (readiness, not a
/// timing assertion).
pub fn retry<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..200 {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// The names of the links in the calling thread's namespace.
pub fn links() -> Vec<String> {
    stdout(&run(&["ip", "-o", "link", "show"]))
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect()
}

/// `nft list table ip pier`, or "" when there is none.
pub fn ruleset() -> String {
    stdout(&run(&["nft", "list", "table", "ip", "pier"]))
}
