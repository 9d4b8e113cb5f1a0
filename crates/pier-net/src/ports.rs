//! `-p/--publish` specs in Docker's syntax and their resolution into
//! concrete host ports.
//!
//! `[ip:][hostPort[-end]:]containerPort[-end][/tcp|udp]`:
//!
//! | spec                      | meaning                                           |
//! |---------------------------|---------------------------------------------------|
//! | `80`                      | container 80/tcp on an ephemeral port, all addresses |
//! | `8080:80`                 | host 8080 to container 80                          |
//! | `127.0.0.1:8080:80/udp`   | only on 127.0.0.1, UDP                             |
//! | `127.0.0.1::80`           | an ephemeral port on 127.0.0.1                     |
//! | `8000-8002:80-82`         | three ports, pairwise                              |
//! | `8000-8010:80`            | the first free host port of the range              |

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One parsed `-p` spec, before host ports are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// The host address to listen on; `None` means all (0.0.0.0).
    pub host_ip: Option<Ipv4Addr>,
    /// The host port range; `None` means ephemeral ports.
    pub host_ports: Option<(u16, u16)>,
    /// The container port range (a single port has start == end).
    pub container_ports: (u16, u16),
    pub protocol: Protocol,
}

/// A published port with everything decided: what pier records, what the
/// DNAT rules and the proxy use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortBinding {
    /// 0.0.0.0 for all addresses.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl PortBinding {
    /// The address the userspace proxy listens on for this binding.
    pub fn listen_addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.host_ip, self.host_port)
    }

    /// Whether two bindings want the same host socket.
    pub fn conflicts_with(&self, other: &PortBinding) -> bool {
        self.protocol == other.protocol
            && self.host_port == other.host_port
            && (self.host_ip == other.host_ip
                || self.host_ip.is_unspecified()
                || other.host_ip.is_unspecified())
    }
}

impl fmt::Display for PortBinding {
    /// Docker's `docker port` form: `0.0.0.0:8080->80/tcp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.host_ip, self.host_port, self.container_port, self.protocol
        )
    }
}

impl FromStr for PortSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<PortSpec> {
        let bad = |reason: &str| Error::InvalidPortSpec {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let (rest, protocol) = match s.rsplit_once('/') {
            Some((rest, "tcp")) => (rest, Protocol::Tcp),
            Some((rest, "udp")) => (rest, Protocol::Udp),
            Some((_, "sctp")) => return Err(bad("sctp is not supported")),
            Some((_, p)) => {
                return Err(bad(&format!("unknown protocol {p:?}: expected tcp or udp")))
            }
            None => (s, Protocol::Tcp),
        };
        if rest.starts_with('[') {
            return Err(bad("IPv6 host addresses are not supported"));
        }
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, container) = match parts.as_slice() {
            [c] => (None, None, *c),
            [h, c] => (None, Some(*h), *c),
            [ip, h, c] => (Some(*ip), Some(*h).filter(|h| !h.is_empty()), *c),
            _ => return Err(bad("expected [ip:][hostPort:]containerPort[/protocol]")),
        };
        let host_ip = ip
            .map(|ip| {
                ip.parse::<Ipv4Addr>()
                    .map_err(|_| bad(&format!("{ip:?} is not an IPv4 address")))
            })
            .transpose()?;
        let container_ports = parse_range(container).map_err(|r| bad(&r))?;
        let host_ports = match host {
            None => None,
            Some(h) => Some(parse_range(h).map_err(|r| bad(&r))?),
        };
        if let Some((hs, he)) = host_ports {
            let (cs, ce) = container_ports;
            if cs != ce && he - hs != ce - cs {
                return Err(bad(
                    "the host and container port ranges must have the same length",
                ));
            }
        }
        Ok(PortSpec {
            host_ip,
            host_ports,
            container_ports,
            protocol,
        })
    }
}

fn parse_range(s: &str) -> std::result::Result<(u16, u16), String> {
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{p:?} is not a port number (1-65535)"))
    };
    match s.split_once('-') {
        None => port(s).map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if b < a {
                return Err(format!("port range {s} ends before it starts"));
            }
            Ok((a, b))
        }
    }
}

impl PortSpec {
    /// Parses one `-p` value.
    pub fn parse(s: &str) -> Result<PortSpec> {
        s.parse()
    }

    /// Chooses the host ports: fixed ones as given, ephemeral ones from the
    /// kernel (a socket bound to port 0 and closed again), and for a host
    /// range with one container port the first one that is free now.
    /// Ports already bound on the host are skipped for ephemeral choices,
    /// so ports held by running proxies are never chosen.
    pub fn resolve(&self) -> Result<Vec<PortBinding>> {
        let host_ip = self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let (cs, ce) = self.container_ports;
        let binding = |host_port, container_port| PortBinding {
            host_ip,
            host_port,
            container_port,
            protocol: self.protocol,
        };
        match self.host_ports {
            Some((hs, he)) if cs == ce && hs != he => {
                let port = (hs..=he)
                    .find(|p| port_is_free(host_ip, *p, self.protocol))
                    .ok_or_else(|| Error::NoFreePort {
                        range: format!("{hs}-{he}"),
                        port: format!("{cs}/{}", self.protocol),
                    })?;
                Ok(vec![binding(port, cs)])
            }
            Some((hs, _)) => Ok((cs..=ce).map(|c| binding(hs + (c - cs), c)).collect()),
            None => (cs..=ce)
                .map(|c| {
                    let port = ephemeral_port(host_ip, self.protocol).map_err(Error::io(
                        format!("choose a host port for {c}/{}", self.protocol),
                    ))?;
                    Ok(binding(port, c))
                })
                .collect(),
        }
    }
}

/// Parses and resolves every `-p` value of a container, refusing two
/// bindings of the same host port.
pub fn resolve_all<S: AsRef<str>>(specs: &[S]) -> Result<Vec<PortBinding>> {
    let mut out: Vec<PortBinding> = Vec::new();
    for s in specs {
        for b in PortSpec::parse(s.as_ref())?.resolve()? {
            if out.iter().any(|o| o.conflicts_with(&b)) {
                return Err(Error::InvalidPortSpec {
                    value: s.as_ref().to_string(),
                    reason: format!(
                        "host port {}/{} is published twice",
                        b.host_port, b.protocol
                    ),
                });
            }
            out.push(b);
        }
    }
    Ok(out)
}

fn port_is_free(ip: Ipv4Addr, port: u16, proto: Protocol) -> bool {
    let addr = SocketAddrV4::new(ip, port);
    match proto {
        Protocol::Tcp => TcpListener::bind(addr).is_ok(),
        Protocol::Udp => UdpSocket::bind(addr).is_ok(),
    }
}

fn ephemeral_port(ip: Ipv4Addr, proto: Protocol) -> std::io::Result<u16> {
    let addr = SocketAddrV4::new(ip, 0);
    Ok(match proto {
        Protocol::Tcp => TcpListener::bind(addr)?.local_addr()?.port(),
        Protocol::Udp => UdpSocket::bind(addr)?.local_addr()?.port(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PortSpec {
        s.parse().unwrap()
    }

    #[test]
    fn docker_forms() {
        assert_eq!(
            p("80"),
            PortSpec {
                host_ip: None,
                host_ports: None,
                container_ports: (80, 80),
                protocol: Protocol::Tcp
            }
        );
        assert_eq!(p("8080:80").host_ports, Some((8080, 8080)));
        let s = p("127.0.0.1:8080:80/udp");
        assert_eq!(s.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(s.protocol, Protocol::Udp);
        let s = p("127.0.0.1::80");
        assert_eq!((s.host_ip, s.host_ports), (Some(Ipv4Addr::LOCALHOST), None));
        assert_eq!(p("8000-8002:80-82").host_ports, Some((8000, 8002)));
        let b = p("8000-8002:80-82").resolve().unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!((b[2].host_port, b[2].container_port), (8002, 82));
        assert_eq!(b[0].to_string(), "0.0.0.0:8000->80/tcp");
    }

    #[test]
    fn ephemeral_and_range() {
        let b = p("127.0.0.1::80").resolve().unwrap();
        assert_eq!(b.len(), 1);
        assert_ne!(b[0].host_port, 0);
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let spec = format!("127.0.0.1:{port}-{}:80", port.saturating_add(1));
        let b = p(&spec).resolve().unwrap();
        assert_eq!(b[0].host_port, port + 1);
    }

    #[test]
    fn errors_name_the_value() {
        for bad in [
            "",
            "abc",
            "0",
            "70000",
            "80/sctp",
            "80/icmp",
            "1.2.3:80:80",
            "[::1]:80:80",
            "8000-8001:80-82",
            "90-80",
            "1:2:3:4",
        ] {
            let e = bad.parse::<PortSpec>().unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        let e = resolve_all(&["8080:80", "8080:81"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("8080:81") && e.contains("twice"), "{e}");
    }
}
