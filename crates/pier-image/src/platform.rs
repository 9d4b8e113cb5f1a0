//! Platforms (`os/arch[/variant]`) and choosing one from an image index.

use std::fmt;

/// Errors parsing a platform.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// not os/arch[/variant]
    #[error("invalid platform {0:?}: expected os/arch[/variant]")]
    Invalid(String),
}

/// A target platform, in Go's GOOS/GOARCH vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `v7`, `v8`, ...
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/arch[/variant]`; the architecture is normalised
    /// (`x86_64` is `amd64`, `aarch64` is `arm64`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(Error::Invalid(s.to_string()));
        }
        let (architecture, variant) = normalize_arch(parts[1], parts.get(2).copied());
        Ok(Platform {
            os: parts[0].to_lowercase(),
            architecture,
            variant,
        })
    }

    /// The platform this binary runs on.
    pub fn host() -> Self {
        let (architecture, variant) = normalize_arch(std::env::consts::ARCH, None);
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture,
            variant,
        }
    }

    /// Whether an index entry's platform is acceptable: os and architecture
    /// equal, and the variant equal when both name one (arm64's `v8` is the
    /// default, as containerd's platform matcher treats it).
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        let (arch, variant) = normalize_arch(arch, variant);
        if self.os != os || self.architecture != arch {
            return false;
        }
        match (self.variant.as_deref(), variant.as_deref()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_lowercase();
    let variant = variant.map(str::to_lowercase);
    match arch.as_str() {
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), variant.filter(|v| v != "v1")),
        "aarch64" | "arm64" => ("arm64".into(), variant.filter(|v| v != "v8")),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "i386" | "i686" | "x86" => ("386".into(), variant),
        _ => (arch, variant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.to_string(), "linux/arm64");
        assert!(p.matches("linux", "arm64", Some("v8")));
        assert!(p.matches("linux", "arm64", None));
        let p = Platform::parse("linux/arm/v7").unwrap();
        assert!(p.matches("linux", "arm", Some("v7")));
        assert!(!p.matches("linux", "arm", Some("v6")));
        assert!(!p.matches("windows", "arm", Some("v7")));
        let p = Platform::parse("linux/x86_64").unwrap();
        assert_eq!(p.architecture, "amd64");
        assert!(p.matches("linux", "amd64", None));
        assert!(!p.matches("unknown", "unknown", None));
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//v7").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        assert_eq!(Platform::host().os, "linux");
    }
}
