//! Links, addresses and routes through rtnetlink, behind a small blocking
//! API: each [`Netlink`] owns a current-thread tokio runtime and one netlink
//! socket, which belongs to the network namespace of the thread that made it.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteType};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};
use tokio::runtime::Runtime;

use crate::error::{netlink_errno, Error, Result};

pub(crate) struct Netlink {
    rt: Runtime,
    handle: Handle,
}

impl Netlink {
    /// A netlink connection in the calling thread's network namespace.
    pub(crate) fn new() -> Result<Netlink> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(Error::io("start the netlink runtime"))?;
        let (conn, handle, _) = {
            let _guard = rt.enter();
            rtnetlink::new_connection().map_err(Error::io("open a netlink socket"))?
        };
        rt.spawn(conn);
        Ok(Netlink { rt, handle })
    }

    /// The index of link `name`, or `None` if there is no such link.
    pub(crate) fn link_index(&self, name: &str) -> Result<Option<u32>> {
        let res = self.rt.block_on(async {
            let mut links = self
                .handle
                .link()
                .get()
                .match_name(name.to_string())
                .execute();
            links.try_next().await
        });
        match res {
            Ok(Some(msg)) => Ok(Some(msg.header.index)),
            Ok(None) => Ok(None),
            Err(e) if netlink_errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(Error::netlink(format!("look up link {name}"))(e)),
        }
    }

    /// Makes sure bridge `name` exists, is up and holds `gateway/prefix_len`.
    /// Returns its index and whether it was created now.
    pub(crate) fn ensure_bridge(
        &self,
        name: &str,
        mac: [u8; 6],
        gateway: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(u32, bool)> {
        let mut created = false;
        let index = match self.link_index(name)? {
            Some(i) => i,
            None => {
                // A fixed MAC: otherwise the bridge takes the lowest MAC of
                // its ports, and it changes as containers come and go.
                let msg = LinkBridge::new(name).address(mac.to_vec()).build();
                match self.rt.block_on(self.handle.link().add(msg).execute()) {
                    Ok(()) => created = true,
                    // Another pier made it at the same moment.
                    Err(e) if netlink_errno(&e) == Some(libc::EEXIST) => {}
                    Err(e) => return Err(Error::netlink(format!("create bridge {name}"))(e)),
                }
                self.link_index(name)?.ok_or_else(|| Error::Netlink {
                    action: format!("find bridge {name} after creating it"),
                    errno: "ENODEV".into(),
                })?
            }
        };
        let add = self
            .handle
            .address()
            .add(index, IpAddr::V4(gateway), prefix_len)
            .execute();
        match self.rt.block_on(add) {
            Ok(()) => {}
            Err(e) if netlink_errno(&e) == Some(libc::EEXIST) => {}
            Err(e) => {
                return Err(Error::netlink(format!(
                    "add address {gateway}/{prefix_len} to bridge {name}"
                ))(e))
            }
        }
        self.set_up(index, name)?;
        Ok((index, created))
    }

    pub(crate) fn set_up(&self, index: u32, name: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).up().build();
        self.rt
            .block_on(self.handle.link().set(msg).execute())
            .map_err(Error::netlink(format!("set link {name} up")))
    }

    /// Creates the veth pair `host` (a port of bridge `bridge`, up) and
    /// `peer` (with `peer_mac`, created directly in the namespace `netns`, so
    /// its name never clashes with the host's links).
    pub(crate) fn add_veth(
        &self,
        host: &str,
        peer: &str,
        peer_mac: [u8; 6],
        netns: &impl AsRawFd,
        bridge: u32,
        container: &str,
    ) -> Result<()> {
        let peer_msg: LinkMessage = LinkUnspec::new_with_name(peer)
            .address(peer_mac.to_vec())
            .setns_by_fd(netns.as_raw_fd())
            .build();
        let msg = LinkVeth::new(host, peer)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
            .controller(bridge)
            .up()
            .build();
        self.rt
            .block_on(self.handle.link().add(msg).execute())
            .map_err(Error::netlink(format!(
                "create veth {host} for container {container}"
            )))?;
        // Hairpin mode, so that a container reaching its own published port
        // through the host's address gets the DNATed packet back on the
        // port it came from (Docker sets it too when DNAT serves hairpin).
        let hairpin = || -> Result<()> {
            let index = self.link_index(host)?.ok_or_else(|| Error::Netlink {
                action: format!("find veth {host} after creating it"),
                errno: "ENODEV".into(),
            })?;
            let msg = LinkBridgePort::new(index).hairpin(true).build();
            self.rt
                .block_on(self.handle.link().set_port(msg).execute())
                .map_err(Error::netlink(format!("set hairpin mode on veth {host}")))
        };
        hairpin().inspect_err(|_| {
            let _ = self.del_link(host);
        })
    }

    /// Deletes link `name`; `false` if it did not exist.
    pub(crate) fn del_link(&self, name: &str) -> Result<bool> {
        let Some(index) = self.link_index(name)? else {
            return Ok(false);
        };
        match self.rt.block_on(self.handle.link().del(index).execute()) {
            Ok(()) => Ok(true),
            Err(e) if netlink_errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(Error::netlink(format!("delete link {name}"))(e)),
        }
    }

    /// Inside the container's namespace: address `ifname` (already there,
    /// made by [`add_veth`](Self::add_veth)), bring it and `lo` up and, when
    /// asked, route everything through `gateway`.
    pub(crate) fn configure_container_if(
        &self,
        ifname: &str,
        ip: Ipv4Addr,
        prefix_len: u8,
        default_gateway: Option<Ipv4Addr>,
    ) -> Result<()> {
        let index = self.link_index(ifname)?.ok_or_else(|| Error::Netlink {
            action: format!("find {ifname} in the container's network namespace"),
            errno: "ENODEV".into(),
        })?;
        let add = self
            .handle
            .address()
            .add(index, IpAddr::V4(ip), prefix_len)
            .execute();
        self.rt.block_on(add).map_err(Error::netlink(format!(
            "add address {ip}/{prefix_len} to {ifname}"
        )))?;
        self.set_up(index, ifname)?;
        if let Some(lo) = self.link_index("lo")? {
            self.set_up(lo, "lo")?;
        }
        if let Some(gw) = default_gateway {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gw)
                .output_interface(index)
                .build();
            match self.rt.block_on(self.handle.route().add(route).execute()) {
                Ok(()) => {}
                // A default route exists already (another network came
                // first): keep it, as Docker keeps the first gateway.
                Err(e) if netlink_errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => {
                    return Err(Error::netlink(format!(
                        "add default route via {gw} on {ifname}"
                    ))(e))
                }
            }
        }
        Ok(())
    }

    /// The IPv4 destinations of the main routing table, the default route
    /// left out: the subnets a new network must not overlap.
    pub(crate) fn routes_v4(&self) -> Result<Vec<(Ipv4Addr, u8)>> {
        let req = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute();
        let msgs: Vec<_> = self
            .rt
            .block_on(req.try_collect())
            .map_err(Error::netlink("list routes"))?;
        let mut out = Vec::new();
        for m in msgs {
            if m.header.table != RouteHeader::RT_TABLE_MAIN
                || m.header.kind != RouteType::Unicast
                || m.header.destination_prefix_length == 0
            {
                continue;
            }
            for a in &m.attributes {
                if let RouteAttribute::Destination(RouteAddress::Inet(dst)) = a {
                    out.push((*dst, m.header.destination_prefix_length));
                }
            }
        }
        Ok(out)
    }
}
