//! `--network` values.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The network a container is given, from `--network`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// `none`: a network namespace with only `lo`.
    None,
    /// `host`: the host's network namespace (no namespace of its own).
    Host,
    /// `bridge` (or `default`): the default network.
    Bridge,
    /// `container:NAME|ID`: another container's network namespace.
    Container(String),
    /// A user-defined network, by name or id.
    Named(String),
}

impl NetworkMode {
    /// Parses a `--network` value.
    pub fn parse(s: &str) -> Result<NetworkMode> {
        s.parse()
    }

    /// The name of the network to connect to, for the modes that use one.
    pub fn network_name(&self) -> Option<&str> {
        match self {
            NetworkMode::Bridge => Some(crate::DEFAULT_NETWORK),
            NetworkMode::Named(n) => Some(n),
            _ => None,
        }
    }
}

impl FromStr for NetworkMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<NetworkMode> {
        let bad = |reason: &str| Error::InvalidMode {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        match s {
            "" => Err(bad(
                "expected none, host, bridge, container:NAME or a network name",
            )),
            "none" => Ok(NetworkMode::None),
            "host" => Ok(NetworkMode::Host),
            "bridge" | "default" => Ok(NetworkMode::Bridge),
            _ => {
                if let Some(c) = s.strip_prefix("container:") {
                    if c.is_empty() {
                        return Err(bad("container: needs a container name or id"));
                    }
                    return Ok(NetworkMode::Container(c.to_string()));
                }
                crate::network::check_name(s).map_err(|e| match e {
                    Error::InvalidName { reason, .. } => bad(&reason),
                    other => other,
                })?;
                Ok(NetworkMode::Named(s.to_string()))
            }
        }
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Bridge => f.write_str("bridge"),
            NetworkMode::Container(c) => write!(f, "container:{c}"),
            NetworkMode::Named(n) => f.write_str(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes() {
        assert_eq!(NetworkMode::parse("none").unwrap(), NetworkMode::None);
        assert_eq!(NetworkMode::parse("host").unwrap(), NetworkMode::Host);
        assert_eq!(NetworkMode::parse("default").unwrap(), NetworkMode::Bridge);
        assert_eq!(
            NetworkMode::parse("container:abc").unwrap(),
            NetworkMode::Container("abc".into())
        );
        assert_eq!(
            NetworkMode::parse("my_net.1").unwrap(),
            NetworkMode::Named("my_net.1".into())
        );
        assert_eq!(
            NetworkMode::parse("my-net").unwrap().network_name(),
            Some("my-net")
        );
        for bad in ["", "container:", "-x", "a b", "x/y"] {
            let e = NetworkMode::parse(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
