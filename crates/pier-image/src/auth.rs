//! Registry credentials in Docker's `config.json` (`$DOCKER_CONFIG/config.json`,
//! default `~/.docker/config.json`): `{"auths": {"<registry>": {"auth":
//! base64("user:password")}}}`. Docker Hub's key is
//! `https://index.docker.io/v1/`. Other keys of the file are kept as they are.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::reference::DOCKER_HUB;

/// The key Docker uses for Docker Hub in `auths`.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// Errors reading or writing the credentials file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// I/O on the config file
    #[error("failed to {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// the config file is not valid JSON
    #[error("invalid JSON in {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
    /// neither DOCKER_CONFIG nor HOME is set
    #[error("cannot find the docker config: neither DOCKER_CONFIG nor HOME is set")]
    NoHome,
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

/// A user name and password (or identity token as password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl Credentials {
    /// `Basic base64(user:password)`.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            B64.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// The config file path from the environment.
pub fn default_config_path() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return Ok(PathBuf::from(d).join("config.json"));
    }
    let home = std::env::var_os("HOME").ok_or(Error::NoHome)?;
    Ok(PathBuf::from(home).join(".docker/config.json"))
}

fn key_for(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_AUTH_KEY
    } else {
        registry
    }
}

/// The Docker config file holding registry credentials.
#[derive(Debug, Clone)]
pub struct AuthFile {
    path: PathBuf,
}

impl AuthFile {
    /// The file at `path` (need not exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AuthFile { path: path.into() }
    }

    /// The file named by the environment.
    pub fn from_env() -> Result<Self> {
        Ok(Self::new(default_config_path()?))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<Value> {
        match fs::read(&self.path) {
            Ok(d) if d.iter().all(u8::is_ascii_whitespace) => Ok(json!({})),
            Ok(d) => serde_json::from_slice(&d).map_err(|source| Error::Json {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(json!({})),
            Err(source) => Err(Error::Io {
                op: "read",
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Credentials for `registry` (as written in references: `docker.io`,
    /// `host:port`). Entries written as URLs (`https://host/v1/`) match too.
    pub fn get(&self, registry: &str) -> Result<Option<Credentials>> {
        let v = self.load()?;
        let Some(auths) = v["auths"].as_object() else {
            return Ok(None);
        };
        let want = key_for(registry);
        let entry = auths.get(want).or_else(|| {
            auths
                .iter()
                .find(|(k, _)| strip_url(k) == strip_url(want))
                .map(|(_, e)| e)
        });
        let Some(entry) = entry else {
            return Ok(None);
        };
        if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
            let Ok(raw) = B64.decode(auth.trim()) else {
                return Ok(None);
            };
            let raw = String::from_utf8_lossy(&raw).into_owned();
            if let Some((u, p)) = raw.split_once(':') {
                return Ok(Some(Credentials {
                    username: u.to_string(),
                    password: p.trim_end_matches('\0').to_string(),
                }));
            }
        }
        match (entry["username"].as_str(), entry["password"].as_str()) {
            (Some(u), Some(p)) => Ok(Some(Credentials {
                username: u.into(),
                password: p.into(),
            })),
            _ => Ok(None),
        }
    }

    /// Stores credentials for `registry` (`docker login`).
    pub fn set(&self, registry: &str, creds: &Credentials) -> Result<()> {
        let mut v = self.load()?;
        if !v.is_object() {
            v = json!({});
        }
        if !v["auths"].is_object() {
            v["auths"] = json!({});
        }
        let auth = B64.encode(format!("{}:{}", creds.username, creds.password));
        v["auths"][key_for(registry)] = json!({ "auth": auth });
        self.save(&v)
    }

    /// Removes credentials for `registry`; false if there were none.
    pub fn remove(&self, registry: &str) -> Result<bool> {
        let mut v = self.load()?;
        let want = key_for(registry);
        let removed = match v["auths"].as_object_mut() {
            Some(a) => {
                let keys: Vec<String> = a
                    .keys()
                    .filter(|k| *k == want || strip_url(k) == strip_url(want))
                    .cloned()
                    .collect();
                keys.iter().filter(|k| a.remove(*k).is_some()).count() > 0
            }
            None => false,
        };
        if removed {
            self.save(&v)?;
        }
        Ok(removed)
    }

    fn save(&self, v: &Value) -> Result<()> {
        let io = |op, source| Error::Io {
            op,
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io("create the directory of", e))?;
        }
        let data = serde_json::to_vec_pretty(v).map_err(|source| Error::Json {
            path: self.path.clone(),
            source,
        })?;
        // The file holds passwords: 0600, written to a temp file and renamed.
        let tmp = self
            .path
            .with_extension(format!("json.tmp-{}", std::process::id()));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io("create", e))?;
        f.write_all(&data).map_err(|e| io("write", e))?;
        f.sync_all().map_err(|e| io("sync", e))?;
        fs::rename(&tmp, &self.path).map_err(|e| io("rename into place", e))
    }
}

fn strip_url(k: &str) -> &str {
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    k.split('/').next().unwrap_or(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_logout_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".docker/config.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            r#"{"credsStore":"none","auths":{"https://quay.io/v1/":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        let f = AuthFile::new(&path);
        let c = Credentials {
            username: "alice".into(),
            password: "s3:cret".into(),
        };
        assert_eq!(f.get("docker.io").unwrap(), None);
        f.set("docker.io", &c).unwrap();
        f.set("127.0.0.1:5000", &c).unwrap();
        assert_eq!(f.get("docker.io").unwrap(), Some(c.clone()));
        assert_eq!(f.get("127.0.0.1:5000").unwrap(), Some(c.clone()));
        assert_eq!(f.get("quay.io").unwrap().unwrap().username, "u");
        let v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["credsStore"], "none");
        assert_eq!(
            v["auths"][DOCKER_HUB_AUTH_KEY]["auth"],
            B64.encode("alice:s3:cret")
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(f.remove("docker.io").unwrap());
        assert!(!f.remove("docker.io").unwrap());
        assert_eq!(f.get("docker.io").unwrap(), None);
        assert!(f.get("127.0.0.1:5000").unwrap().is_some());
        assert_eq!(
            c.basic_header(),
            format!("Basic {}", B64.encode("alice:s3:cret"))
        );
    }
}
