//! Image references and Docker's normalisation of them.
//!
//! `[host[:port]/]path[:tag][@digest]`: the first path component is a
//! registry when it contains `.` or `:` or is `localhost` (as in
//! distribution's `reference.ParseNormalizedNamed`); otherwise the registry
//! is Docker Hub and a one-component name gets `library/`. A reference with
//! neither tag nor digest gets `:latest`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Docker Hub's name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's registry API host (containerd maps `docker.io` to it).
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Errors parsing a reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// empty image reference
    #[error("empty image reference")]
    Empty,
    /// invalid reference format: repository name must be lowercase
    #[error("invalid reference format: repository name must be lowercase: {0}")]
    Uppercase(String),
    /// invalid repository name
    #[error("invalid reference format: invalid repository name {0:?}")]
    Name(String),
    /// invalid tag
    #[error("invalid reference format: invalid tag {0:?}")]
    Tag(String),
    /// invalid digest
    #[error("invalid reference format: invalid digest {0:?}")]
    Digest(String),
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

/// A fully normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host with optional port, `docker.io` for Docker Hub.
    pub registry: String,
    /// Repository path, `library/busybox` for official Hub images.
    pub repository: String,
    /// Tag, `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// Digest `sha256:<hex>`.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalises `s` the way `docker pull` does.
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() {
            return Err(Error::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                valid_digest(d)?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' only if no '/' follows it (otherwise
        // the ':' is a registry port).
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => {
                (&rest[..i], Some(rest[i + 1..].to_string()))
            }
            _ => (rest, None),
        };
        if let Some(t) = &tag {
            valid_tag(t)?;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        // Docker accepts these aliases for the Hub.
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(Error::Uppercase(s.to_string()));
        }
        valid_name(&repository)?;
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host to send API requests to.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What to ask the registry for: the digest if there is one, else the tag.
    pub fn object(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// Docker's short form: `busybox:latest` for `docker.io/library/busybox:latest`.
    pub fn familiar(&self) -> String {
        let name = if self.registry == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.name()
        };
        let mut s = name;
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Self {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Reference::parse(s)
    }
}

/// Whether Docker lets `registry` speak plain HTTP without configuration:
/// `localhost` and loopback addresses (dockerd's default insecure registry
/// list is 127.0.0.0/8; `localhost` and `::1` follow the same idea).
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = host_of(registry);
    if host == "localhost" {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// The host part of `host[:port]` (IPv6 in brackets).
pub fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

fn valid_tag(t: &str) -> Result<()> {
    // [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphanumeric() || c == '_' || (i > 0 && (c == '.' || c == '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Tag(t.to_string()))
    }
}

fn valid_digest(d: &str) -> Result<()> {
    let ok = match d.split_once(':') {
        Some(("sha256", hex)) => {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        }
        Some(("sha512", hex)) => {
            hex.len() == 128 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Digest(d.to_string()))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
fn valid_name(name: &str) -> Result<()> {
    let bad = || Error::Name(name.to_string());
    if name.is_empty() || name.len() > 255 {
        return Err(bad());
    }
    for comp in name.split('/') {
        let b = comp.as_bytes();
        if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
            return Err(bad());
        }
        let mut i = 0;
        while i < b.len() {
            if is_alnum(b[i]) {
                i += 1;
                continue;
            }
            // A separator: '.', '_', '__' or '-'+, then an alphanumeric.
            let start = i;
            match b[i] {
                b'.' => i += 1,
                b'_' => {
                    i += 1;
                    if b.get(i) == Some(&b'_') {
                        i += 1;
                    }
                }
                b'-' => {
                    while b.get(i) == Some(&b'-') {
                        i += 1;
                    }
                }
                _ => return Err(bad()),
            }
            if i == start || !b.get(i).is_some_and(|&c| is_alnum(c)) {
                return Err(bad());
            }
        }
    }
    Ok(())
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_normalisation() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            norm("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            norm("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("user/app:v1"), "docker.io/user/app:v1");
        assert_eq!(norm("a/b/c"), "docker.io/a/b/c:latest");
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.api_host(), DOCKER_HUB_API);
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(r.object(), "latest");
    }

    #[test]
    fn registries_with_ports_and_localhost() {
        assert_eq!(norm("localhost/x"), "localhost/x:latest");
        assert_eq!(norm("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(norm("127.0.0.1:5000/x/y:t"), "127.0.0.1:5000/x/y:t");
        assert_eq!(norm("quay.io/a/b"), "quay.io/a/b:latest");
        assert_eq!(norm("[::1]:5000/x"), "[::1]:5000/x:latest");
        let r = Reference::parse("127.0.0.1:5000/busybox").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "busybox");
        assert_eq!(r.api_host(), "127.0.0.1:5000");
        assert_eq!(r.familiar(), "127.0.0.1:5000/busybox:latest");
    }

    #[test]
    fn digests() {
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.object(), D);
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{D}"));
        let r = Reference::parse(&format!("localhost:5000/x:t@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert_eq!(r.object(), D);
        assert!(matches!(
            Reference::parse("busybox@sha256:abc"),
            Err(Error::Digest(_))
        ));
        assert!(matches!(
            Reference::parse("busybox@md5:abc"),
            Err(Error::Digest(_))
        ));
    }

    #[test]
    fn invalid() {
        assert_eq!(Reference::parse(""), Err(Error::Empty));
        assert!(matches!(
            Reference::parse("BusyBox"),
            Err(Error::Uppercase(_))
        ));
        assert!(Reference::parse("a:b:c").is_err());
        assert!(matches!(Reference::parse("busybox:"), Err(Error::Tag(_))));
        assert!(matches!(Reference::parse("x:.t"), Err(Error::Tag(_))));
        assert!(matches!(Reference::parse("-a"), Err(Error::Name(_))));
        assert!(matches!(Reference::parse("a..b"), Err(Error::Name(_))));
        assert!(matches!(Reference::parse("a//b"), Err(Error::Name(_))));
        assert!(matches!(
            Reference::parse("localhost:5000/"),
            Err(Error::Name(_))
        ));
        assert!(Reference::parse("a__b-c---d.e").is_ok());
        assert!(Reference::parse(&format!("x:{}", "a".repeat(129))).is_err());
    }

    #[test]
    fn loopback() {
        assert!(is_loopback_registry("localhost:5000"));
        assert!(is_loopback_registry("localhost"));
        assert!(is_loopback_registry("127.0.0.1:5000"));
        assert!(is_loopback_registry("127.3.4.5"));
        assert!(is_loopback_registry("[::1]:5000"));
        assert!(!is_loopback_registry("docker.io"));
        assert!(!is_loopback_registry("10.0.0.1:5000"));
        assert!(!is_loopback_registry("localhost.example.com"));
    }

    #[test]
    fn with_tag() {
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.with_tag("v2").to_string(), "docker.io/library/busybox:v2");
    }
}
