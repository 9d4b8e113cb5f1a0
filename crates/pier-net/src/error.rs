//! The one error type of pier-net.

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in pier-net. Each message names the value or
/// the object it failed on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// invalid subnet {value:?}: {reason}
    #[error("invalid subnet {value:?}: {reason}")]
    InvalidSubnet { value: String, reason: String },
    /// invalid gateway {value:?}: {reason}
    #[error("invalid gateway {value:?}: {reason}")]
    InvalidGateway { value: String, reason: String },
    /// invalid network name {value:?}: {reason}
    #[error("invalid network name {value:?}: {reason}")]
    InvalidName { value: String, reason: String },
    /// invalid port spec {value:?}: {reason}
    #[error("invalid port spec {value:?}: {reason}")]
    InvalidPortSpec { value: String, reason: String },
    /// invalid network mode {value:?}: {reason}
    #[error("invalid network mode {value:?}: {reason}")]
    InvalidMode { value: String, reason: String },
    /// invalid option {option}={value:?}: {reason}
    #[error("invalid option {option}={value:?}: {reason}")]
    InvalidOption {
        option: &'static str,
        value: String,
        reason: String,
    },
    /// network {0} not found
    #[error("network {0} not found")]
    NetworkNotFound(String),
    /// network with name {0} already exists
    #[error("network with name {0} already exists")]
    NetworkExists(String),
    /// network {name} has active endpoints ({containers})
    #[error("network {name} has active endpoints ({containers})")]
    NetworkInUse { name: String, containers: String },
    /// {0} is a pre-defined network and cannot be removed
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    /// subnet {subnet} overlaps with {other}
    #[error("subnet {subnet} overlaps with {other}")]
    SubnetOverlap { subnet: String, other: String },
    /// no free subnet left in the address pool for network {0}
    #[error("no free subnet left in the address pool for network {0}")]
    NoFreeSubnet(String),
    /// no free address left in network {network} ({subnet})
    #[error("no free address left in network {network} ({subnet})")]
    NoFreeAddress { network: String, subnet: String },
    /// container {container} is already connected to network {network}
    #[error("container {container} is already connected to network {network}")]
    AlreadyConnected { container: String, network: String },
    /// container {container} is not connected to network {network}
    #[error("container {container} is not connected to network {network}")]
    NotConnected { container: String, network: String },
    /// endpoint name {name} is already used by container {other} in network {network}
    #[error("endpoint name {name} is already used by container {other} in network {network}")]
    NameInUse {
        name: String,
        other: String,
        network: String,
    },
    /// port {port} is already published by container {container}
    #[error("port {port} is already published by container {container}")]
    PortInUse { port: String, container: String },
    /// no free host port in {range} for {port}
    #[error("no free host port in {range} for {port}")]
    NoFreePort { range: String, port: String },
    /// failed to {action}: {errno}
    #[error("failed to {action}: {errno}")]
    Netlink { action: String, errno: String },
    /// failed to {action}: {source}
    #[error("failed to {action}: {source}")]
    Io {
        action: String,
        #[source]
        source: io::Error,
    },
    /// failed to {action}: {errno}
    #[error("failed to {action}: {errno}")]
    Sys { action: String, errno: nix::Error },
    /// nft failed to {action}: {stderr}
    #[error("nft failed to {action}: {stderr}")]
    Nft { action: String, stderr: String },
    /// corrupt network store file {path}: {source}
    #[error("corrupt network store file {path}: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let action = action.into();
        move |source| Error::Io { action, source }
    }

    pub(crate) fn sys(action: impl Into<String>) -> impl FnOnce(nix::Error) -> Error {
        let action = action.into();
        move |errno| Error::Sys { action, errno }
    }

    /// The errno of a failed netlink request, as its symbolic name
    /// (`EEXIST`), when the kernel gave one.
    pub(crate) fn netlink(action: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
        let action = action.into();
        move |e| Error::Netlink {
            action,
            errno: netlink_errno_name(&e),
        }
    }
}

/// The negative errno carried by a netlink error, if any.
pub(crate) fn netlink_errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| -c.get()),
        _ => None,
    }
}

fn netlink_errno_name(e: &rtnetlink::Error) -> String {
    match netlink_errno(e) {
        Some(errno) => format!("{:?}", nix::errno::Errno::from_raw(errno)),
        None => e.to_string(),
    }
}
