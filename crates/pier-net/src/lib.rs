//! pier's networking: bridge networks, IPAM, port publishing and name
//! resolution through `/etc/hosts`, without a daemon.
//!
//! # How pier uses it
//!
//! ```no_run
//! # fn main() -> pier_net::Result<()> {
//! use pier_net::{netns, ports, proxy, ConnectRequest, NetworkMode, Networks};
//! use std::path::Path;
//!
//! let nets = Networks::open(Path::new("/var/lib/pier"))?;
//! let mode = NetworkMode::parse("bridge")?;
//! let ns = Path::new("/run/pier/netns/0123abcd");
//! netns::create(ns)?; // config.json: {"type": "network", "path": ns}
//! let ep = nets.connect(
//!     mode.network_name().unwrap_or("bridge"),
//!     &ConnectRequest {
//!         container_id: "0123abcd".into(),
//!         container_name: "web".into(),
//!         netns_path: ns.into(),
//!         hosts_file: Some("/var/lib/pier/containers/0123abcd/hosts".into()),
//!         ..Default::default()
//!     },
//! )?;
//! let bindings = ports::resolve_all(&["8080:80"])?;
//! nets.publish("bridge", "0123abcd", &bindings)?;
//! // In the monitor, for the container's lifetime:
//! let proxies: Vec<_> = bindings
//!     .iter()
//!     .map(|b| proxy::spawn_binding(b, ep.ip))
//!     .collect::<std::io::Result<_>>()
//!     .map_err(|e| pier_net::Error::Io { action: "start port proxy".into(), source: e })?;
//! // `pier rm`:
//! drop(proxies);
//! nets.disconnect_all("0123abcd")?; // veths, leases, rules, hosts files
//! netns::remove(ns)?;
//! # Ok(())
//! # }
//! ```
//!
//! Every operation on the store takes an exclusive `flock` on
//! `<root>/networks/.lock`, so concurrent `pier run`s never hand out the
//! same address. Devices and rules live in the calling thread's network
//! namespace (the host's, for pier).

pub mod error;
pub mod hosts;
pub mod ipam;
pub mod mode;
mod netlink;
pub mod netns;
mod network;
mod nft;
pub mod ports;
pub mod proxy;

pub use error::{Error, Result};
pub use ipam::Subnet;
pub use mode::NetworkMode;
pub use network::{
    Config, ConnectRequest, Endpoint, Network, NetworkOptions, Networks, DEFAULT_NETWORK,
};
pub use ports::{PortBinding, PortSpec, Protocol};
