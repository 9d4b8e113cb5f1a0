//! Shared harness of pier's registry tests: a real `docker-registry` on
//! 127.0.0.1 (no auth, htpasswd, or token auth with a token server written
//! here), images built by umoci or written by hand as OCI layouts, skopeo
//! as the oracle, and the pier binary.

#![allow(dead_code)] // each test file uses part of the harness
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

pub mod containers;

use base64::Engine as _;
use sha2::Digest as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn ensure_tools() {
    let missing = ["docker-registry", "skopeo", "umoci", "htpasswd", "openssl"]
        .iter()
        .any(|t| !Path::new("/usr/bin").join(t).exists());
    if missing {
        let hack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hack/install-deps.sh");
        let st = Command::new(hack)
            .status()
            .expect("run hack/install-deps.sh");
        assert!(st.success(), "hack/install-deps.sh failed");
    }
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd`, which must fail; returns its stderr.
pub fn fails(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How a test registry authenticates.
pub enum Auth<'a> {
    None,
    /// htpasswd with one user.
    Basic(&'a str, &'a str),
    /// Docker token auth: a token server (see [`TokenServer`]) that gives
    /// anonymous clients `pull` and this user everything.
    Token(&'a str, &'a str),
}

/// A `docker-registry` on a free loopback port; killed on drop. Its
/// output (access log included) goes to `log`.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
    cfg: PathBuf,
    _token: Option<TokenServer>,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(auth: Auth<'_>) -> Registry {
        ensure_tools();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        let mut token = None;
        match auth {
            Auth::None => {}
            Auth::Basic(user, pass) => {
                let out = run(Command::new("htpasswd").args(["-Bbn", user, pass]));
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, out.stdout).unwrap();
                cfg += &format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    file.display()
                );
            }
            Auth::Token(user, pass) => {
                let t = TokenServer::start(dir.path(), user, pass);
                cfg += &format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    t.port,
                    t.cert.display()
                );
                token = Some(t);
            }
        }
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let log = dir.path().join("registry.log");
        let child = serve(&cfg_path, std::fs::File::create(&log).unwrap());
        let reg = Registry {
            child,
            port,
            log,
            cfg: cfg_path,
            _token: token,
            _dir: dir,
        };
        wait_port(port);
        reg
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Access log lines so far.
    pub fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILLs the registry, as a crash would; its storage stays.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the registry again (killing it first if it runs) on the same
    /// port, with the same storage and auth; the log goes on.
    pub fn restart(&mut self) {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .unwrap();
        self.child = serve(&self.cfg, log);
        wait_port(self.port);
    }
}

/// `docker-registry serve cfg`, its output to `log`.
fn serve(cfg: &Path, log: std::fs::File) -> Child {
    Command::new("docker-registry")
        .arg("serve")
        .arg(cfg)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start docker-registry")
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SERVICE: &str = "pier-test-registry";
const ISSUER: &str = "pier-test-token-server";

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// A Docker token server (distribution's `docs/spec/auth/token.md`): RS256
/// JWTs signed by `openssl dgst` with a self-signed key whose certificate
/// is the registry's root bundle and rides in the `x5c` header.
pub struct TokenServer {
    pub port: u16,
    cert: PathBuf,
    stop: Arc<AtomicBool>,
}

impl TokenServer {
    fn start(dir: &Path, user: &str, pass: &str) -> TokenServer {
        let key = dir.join("token.key");
        let cert = dir.join("token.pem");
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=pier-test-token"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        let der = run(Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert))
        .stdout;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                let Some(req) = read_request(&conn) else {
                    continue;
                };
                let auth = req.header("authorization");
                let authed = auth.as_deref() == Some(basic.as_str());
                if auth.is_some() && !authed {
                    respond(
                        &conn,
                        401,
                        "application/json",
                        br#"{"details":"bad credentials"}"#,
                    );
                    continue;
                }
                // scope=repository:NAME:ACTIONS, repeatable.
                let mut access = Vec::new();
                for (k, v) in req.query() {
                    if k != "scope" {
                        continue;
                    }
                    let mut parts = v.splitn(2, ':');
                    let (Some(kind), Some(rest)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    let Some((name, actions)) = rest.rsplit_once(':') else {
                        continue;
                    };
                    let granted: Vec<&str> = actions
                        .split(',')
                        .filter(|a| authed || *a == "pull")
                        .collect();
                    access
                        .push(serde_json::json!({"type": kind, "name": name, "actions": granted}));
                }
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
                let claims = serde_json::json!({
                    "iss": ISSUER, "sub": if authed { "alice" } else { "" }, "aud": SERVICE,
                    "exp": now + 300, "nbf": now - 10, "iat": now - 10,
                    "jti": format!("{now}-{}", access.len()), "access": access,
                });
                let signing = format!(
                    "{}.{}",
                    b64url(header.to_string().as_bytes()),
                    b64url(claims.to_string().as_bytes())
                );
                let mut sign = Command::new("openssl")
                    .args(["dgst", "-sha256", "-sign"])
                    .arg(&key)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                sign.stdin
                    .take()
                    .unwrap()
                    .write_all(signing.as_bytes())
                    .unwrap();
                let sig = sign.wait_with_output().unwrap().stdout;
                let token = format!("{signing}.{}", b64url(&sig));
                let body = serde_json::json!({"token": token, "expires_in": 300});
                respond(&conn, 200, "application/json", body.to_string().as_bytes());
            }
        });
        TokenServer { port, cert, stop }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An HTTP request as a tiny test server reads it.
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Query pairs, percent-decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        let q = self.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        q.split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (unescape(k), unescape(v)))
            .collect()
    }
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one request head (no body) from `conn`.
pub fn read_request(conn: &TcpStream) -> Option<Request> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Some(Request {
        method,
        target,
        headers,
    })
}

/// Writes a whole response and closes.
pub fn respond(mut conn: &TcpStream, status: u16, ctype: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
    let _ = conn.flush();
}

/// A one-layer busybox image in an OCI layout at `dir`, tag `latest`.
pub fn build_image(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::copy("/usr/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let layout = dir.join("oci");
    let image = format!("{}:latest", layout.display());
    run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    run(Command::new("umoci").args(["new", "--image", &image]));
    run(Command::new("umoci")
        .args(["insert", "--image", &image])
        .arg(&rootfs)
        .arg("/"));
    run(Command::new("umoci").args([
        "config",
        "--image",
        &image,
        "--os",
        "linux",
        "--config.cmd",
        "sh",
        "--no-history",
    ]));
    layout
}

pub fn skopeo() -> Command {
    let mut c = Command::new("skopeo");
    c.arg("--insecure-policy");
    c
}

/// `skopeo copy` with plain HTTP allowed on both ends.
pub fn skopeo_copy(from: &str, to: &str, extra: &[&str]) {
    run(skopeo()
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .args(extra)
        .arg(from)
        .arg(to));
}

pub fn pier(root: &Path, home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pier"));
    c.arg("--root")
        .arg(root)
        .env("HOME", home)
        .env_remove("DOCKER_CONFIG");
    c
}

pub fn inspect_digest(target: &str, extra: &[&str]) -> String {
    let out = run(skopeo().arg("inspect").args(extra).arg(target));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

pub fn blob_count(root: &Path) -> usize {
    std::fs::read_dir(root.join("blobs/sha256"))
        .unwrap()
        .count()
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(data))
}

/// How a hand-made layer is compressed.
#[derive(Clone, Copy)]
pub enum Comp {
    Gzip,
    Zstd,
}

/// A layer's files: name and content.
pub type Files<'a> = Vec<(&'a str, Vec<u8>)>;

/// An OCI image layout written by hand: any compression, any platform,
/// indexes.
pub struct Layout {
    pub dir: PathBuf,
    refs: Vec<serde_json::Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let l = Layout {
            dir: dir.to_path_buf(),
            refs: Vec::new(),
        };
        l.write_index();
        l
    }

    fn write_index(&self) {
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": self.refs});
        std::fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }

    /// Stores `data`; returns a descriptor of `media`.
    pub fn blob(&self, media: &str, data: &[u8]) -> serde_json::Value {
        let d = sha256(data);
        std::fs::write(
            self.dir.join("blobs/sha256").join(&d["sha256:".len()..]),
            data,
        )
        .unwrap();
        serde_json::json!({"mediaType": media, "digest": d, "size": data.len()})
    }

    /// An image of `layers` (each: compression and files; a file named
    /// `.wh.x` is a whiteout); returns its manifest descriptor.
    pub fn image(&self, arch: &str, layers: &[(Comp, Files<'_>)]) -> serde_json::Value {
        let mut descs = Vec::new();
        let mut diff_ids = Vec::new();
        for (comp, files) in layers {
            let mut b = tar::Builder::new(Vec::new());
            for (name, data) in files {
                let mut h = tar::Header::new_ustar();
                h.set_size(data.len() as u64);
                h.set_mode(0o755);
                h.set_mtime(1);
                h.set_uid(0);
                h.set_gid(0);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, name, &data[..]).unwrap();
            }
            let raw = b.into_inner().unwrap();
            diff_ids.push(sha256(&raw));
            let (media, data) = match comp {
                Comp::Gzip => {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    e.write_all(&raw).unwrap();
                    (
                        "application/vnd.oci.image.layer.v1.tar+gzip",
                        e.finish().unwrap(),
                    )
                }
                Comp::Zstd => (
                    "application/vnd.oci.image.layer.v1.tar+zstd",
                    zstd::encode_all(&raw[..], 3).unwrap(),
                ),
            };
            descs.push(self.blob(media, &data));
        }
        let config = serde_json::json!({
            "created": "2000-01-01T00:00:00Z", "architecture": arch, "os": "linux",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "Labels": {"arch": arch}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        );
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": descs,
        });
        let mut d = self.blob(
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().as_bytes(),
        );
        d["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
        d
    }

    /// An index of `manifests`; returns its descriptor.
    pub fn index(&self, manifests: &[serde_json::Value]) -> serde_json::Value {
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        self.blob(
            "application/vnd.oci.image.index.v1+json",
            index.to_string().as_bytes(),
        )
    }

    /// Names `desc` `tag` in index.json.
    pub fn tag(&mut self, tag: &str, desc: &serde_json::Value) {
        let mut d = desc.clone();
        d["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
        self.refs.push(d);
        self.write_index();
    }
}

/// Deterministic incompressible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A TCP proxy to `port` that cuts the first connection sending more than
/// `cut_after` bytes back to the client, once, and records whether a
/// client asked for a `Range`.
pub struct CuttingProxy {
    pub port: u16,
    pub cut: Arc<AtomicBool>,
    pub ranged: Arc<AtomicBool>,
}

impl CuttingProxy {
    pub fn start(upstream: u16, cut_after: usize) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let ranged = Arc::new(AtomicBool::new(false));
        let (cut2, ranged2) = (cut.clone(), ranged.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { break };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let ranged = ranged2.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 << 10];
                    while let Ok(n) = c_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if String::from_utf8_lossy(&buf[..n])
                            .to_ascii_lowercase()
                            .contains("range: bytes=")
                        {
                            ranged.store(true, Ordering::Relaxed);
                        }
                        if s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_out.shutdown(std::net::Shutdown::Write);
                });
                let cut = cut2.clone();
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 << 10];
                    let mut sent = 0;
                    while let Ok(n) = s_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if sent + n > cut_after && !cut.swap(true, Ordering::Relaxed) {
                            let _ = c_out.write_all(&buf[..cut_after.saturating_sub(sent)]);
                            let _ = c_out.shutdown(std::net::Shutdown::Both);
                            let _ = s_in.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        sent += n;
                        if c_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = c_out.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        CuttingProxy { port, cut, ranged }
    }
}
