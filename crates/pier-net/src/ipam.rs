//! IPv4 subnets and address allocation.
//!
//! Leases themselves live in the network records of the store
//! ([`crate::Network::endpoints`]); this module only knows the arithmetic: which
//! subnets are free and which address is the next one to hand out.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// An IPv4 subnet in CIDR notation, with no host bits set (`10.88.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    addr: Ipv4Addr,
    prefix_len: u8,
}

impl Subnet {
    /// A subnet from its network address and prefix length; host bits are an
    /// error, as in Docker ("10.0.0.1/24" is refused).
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Subnet> {
        let value = format!("{addr}/{prefix_len}");
        if prefix_len > 30 {
            return Err(Error::InvalidSubnet {
                value,
                reason:
                    "the prefix must be at most /30 to leave room for a gateway and a container"
                        .into(),
            });
        }
        let subnet = Subnet { addr, prefix_len };
        if u32::from(addr) & !subnet.mask() != 0 {
            return Err(Error::InvalidSubnet {
                value,
                reason: format!(
                    "host bits are set; did you mean {}?",
                    subnet.network_of(addr)
                ),
            });
        }
        Ok(subnet)
    }

    fn network_of(&self, addr: Ipv4Addr) -> Subnet {
        Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & self.mask()),
            prefix_len: self.prefix_len,
        }
    }

    fn mask(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n)),
        }
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// Whether `ip` lies in this subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    /// Whether two subnets share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// The first usable host address: Docker's (and everyone's) default
    /// gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    /// Whether `ip` may be given to a host in this subnet (inside it and
    /// neither the network nor the broadcast address).
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.addr && ip != self.broadcast()
    }

    /// The lowest host address that is neither the gateway nor `taken`.
    pub fn next_free(&self, gateway: Ipv4Addr, taken: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        let first = u32::from(self.addr) + 1;
        let last = u32::from(self.broadcast()) - 1;
        (first..=last)
            .map(Ipv4Addr::from)
            .find(|ip| *ip != gateway && !taken.contains(ip))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for Subnet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Subnet> {
        let bad = |reason: &str| Error::InvalidSubnet {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| bad("expected CIDR notation such as 10.89.0.0/24"))?;
        if addr.contains(':') {
            return Err(bad("IPv6 subnets are not supported"));
        }
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix_len: u8 = len
            .parse()
            .ok()
            .filter(|n| *n <= 32)
            .ok_or_else(|| bad("the prefix length must be a number from 0 to 32"))?;
        Subnet::new(addr, prefix_len).map_err(|e| match e {
            Error::InvalidSubnet { reason, .. } => bad(&reason),
            other => other,
        })
    }
}

impl Serialize for Subnet {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The pool that subnets of new networks come from, in order: Docker's
/// (172.17.0.0/16 is the default bridge's first choice, user networks start at
/// 172.18.0.0/16), then 192.168.0.0/20 blocks.
pub(crate) fn pool() -> impl Iterator<Item = Subnet> {
    let b16 = (17u8..=31).map(|b| Subnet {
        addr: Ipv4Addr::new(172, b, 0, 0),
        prefix_len: 16,
    });
    let c20 = (0u8..16).map(|c| Subnet {
        addr: Ipv4Addr::new(192, 168, c * 16, 0),
        prefix_len: 20,
    });
    b16.chain(c20)
}

/// A MAC address derived from the IP, as Docker does (`02:42:` + the four
/// bytes of the address): locally administered, unicast and stable across
/// reconnects.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `02:42:0a:00:00:02`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let s: Subnet = "10.1.0.0/16".parse().unwrap();
        assert_eq!(s.to_string(), "10.1.0.0/16");
        assert!(s.contains("10.1.255.3".parse().unwrap()));
        assert!(!s.contains("10.2.0.1".parse().unwrap()));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 1, 255, 255));
        for bad in [
            "10.1.0.0",
            "10.1.0.1/16",
            "10.1.0.0/33",
            "x/8",
            "fd00::/64",
            "10.0.0.0/31",
        ] {
            let e = bad.parse::<Subnet>().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
        assert!("10.1.0.1/16"
            .parse::<Subnet>()
            .unwrap_err()
            .to_string()
            .contains("10.1.0.0/16"));
    }

    #[test]
    fn overlap_and_allocation() {
        let a: Subnet = "10.0.0.0/8".parse().unwrap();
        let b: Subnet = "10.5.0.0/24".parse().unwrap();
        let c: Subnet = "10.6.0.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a) && !b.overlaps(&c));
        let gw = b.first_host();
        assert_eq!(b.next_free(gw, &[]), Some(Ipv4Addr::new(10, 5, 0, 2)));
        let taken = [Ipv4Addr::new(10, 5, 0, 2), Ipv4Addr::new(10, 5, 0, 3)];
        assert_eq!(b.next_free(gw, &taken), Some(Ipv4Addr::new(10, 5, 0, 4)));
        let tiny: Subnet = "10.9.0.0/30".parse().unwrap();
        assert_eq!(
            tiny.next_free(tiny.first_host(), &[Ipv4Addr::new(10, 9, 0, 2)]),
            None
        );
        assert_eq!(
            format_mac(&mac_for(Ipv4Addr::new(10, 0, 0, 2))),
            "02:42:0a:00:00:02"
        );
    }
}
