//! The network store and the operations on networks and endpoints.
//!
//! ```text
//! <root>/networks/
//!   .lock            flock(2)ed exclusively by every operation
//!   <name>.json      one network: definition and endpoints (= IP leases),
//!                    written to a temp file and renamed into place
//! ```
//!
//! The JSON files are the truth; bridges, veths and nft rules are derived
//! from them and made again (idempotently) when missing.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::hosts::{self, HostEntry};
use crate::ipam::{self, Subnet};
use crate::netlink::Netlink;
use crate::netns;
use crate::nft;
use crate::ports::PortBinding;

/// The name of the default network, which exists implicitly.
pub const DEFAULT_NETWORK: &str = "bridge";

/// Names and tables the store uses on the host. [`Config::default`] is what
/// pier uses; tests pick their own so that runs never share a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The bridge device of the default network (`pier0`).
    pub default_bridge: String,
    /// The prefix of user networks' bridge devices (`pier-`), followed by
    /// as much of the network id as fits in 15 characters.
    pub bridge_prefix: String,
    /// The nftables table (family `ip`) holding pier's rules (`pier`).
    pub nft_table: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            default_bridge: "pier0".into(),
            bridge_prefix: "pier-".into(),
            nft_table: "pier".into(),
        }
    }
}

/// Options of `pier network create`.
#[derive(Debug, Clone, Default)]
pub struct NetworkOptions {
    /// Only `bridge` (the default) is supported.
    pub driver: Option<String>,
    /// CIDR; by default the first free /16 of 172.18-31.0.0, then /20s of
    /// 192.168.0.0/16, skipping subnets of other networks and host routes.
    pub subnet: Option<String>,
    /// By default the first address of the subnet.
    pub gateway: Option<String>,
    /// No outbound NAT, no default route, no traffic to other interfaces.
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

/// A network, as stored and as `pier network inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub driver: String,
    /// The bridge device.
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// By container id. Each endpoint holds its address lease.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
}

impl Network {
    /// The first 12 digits of the id, as `pier network ls` shows it.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

/// A container's attachment to a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub container_id: String,
    pub container_name: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    /// `02:42:…`.
    pub mac: String,
    /// The host side of the veth pair, a port of the network's bridge.
    pub host_veth: String,
    /// The container side (`eth0`, `eth1` for a second network…).
    pub ifname: String,
    pub netns_path: PathBuf,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub hosts_file: Option<PathBuf>,
    /// Ports published to this endpoint (DNAT rules).
    #[serde(default)]
    pub ports: Vec<PortBinding>,
}

/// What [`Networks::connect`] needs to know about the container.
#[derive(Debug, Clone, Default)]
pub struct ConnectRequest {
    pub container_id: String,
    /// Resolvable by peers on user networks.
    pub container_name: String,
    /// The container's network namespace (see [`crate::netns::create`]).
    pub netns_path: PathBuf,
    /// More names peers resolve to this container (`--network-alias`).
    pub aliases: Vec<String>,
    /// The container's own name for itself in its hosts file (by default the
    /// first 12 characters of the container id, as Docker's hostname).
    pub hostname: Option<String>,
    /// The container's `/etc/hosts` on the host, kept up to date with the
    /// peers of every user network the container is on. Created if missing.
    pub hosts_file: Option<PathBuf>,
}

/// The network store under `<root>/networks`.
#[derive(Debug, Clone)]
pub struct Networks {
    dir: PathBuf,
    config: Config,
}

/// The store's lock, held for the whole of an operation.
struct Lock(#[allow(dead_code)] Flock<File>);

impl Networks {
    /// Opens (and creates) the store under `root` (pier's `--root`) with the
    /// default [`Config`].
    pub fn open(root: &Path) -> Result<Networks> {
        Networks::open_with(root, Config::default())
    }

    /// Opens the store with chosen device and table names.
    pub fn open_with(root: &Path, config: Config) -> Result<Networks> {
        let dir = root.join("networks");
        fs::create_dir_all(&dir)
            .map_err(Error::io(format!("create network store {}", dir.display())))?;
        Ok(Networks { dir, config })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Creates a user network.
    pub fn create(&self, name: &str, opts: NetworkOptions) -> Result<Network> {
        check_name(name)?;
        if name == "host" || name == "none" {
            return Err(Error::InvalidName {
                value: name.into(),
                reason: "the name is reserved for a network mode".into(),
            });
        }
        if let Some(d) = opts.driver.as_deref().filter(|d| *d != "bridge") {
            return Err(Error::InvalidOption {
                option: "driver",
                value: d.into(),
                reason: "only the bridge driver is supported".into(),
            });
        }
        let subnet = opts
            .subnet
            .as_deref()
            .map(str::parse::<Subnet>)
            .transpose()?;
        let _lock = self.lock()?;
        let nets = self.load_all()?;
        if name == DEFAULT_NETWORK || nets.iter().any(|n| n.name == name) {
            return Err(Error::NetworkExists(name.into()));
        }
        let subnet = match subnet {
            Some(s) => {
                if let Some(o) = nets.iter().find(|n| n.subnet.overlaps(&s)) {
                    return Err(Error::SubnetOverlap {
                        subnet: s.to_string(),
                        other: format!("network {} ({})", o.name, o.subnet),
                    });
                }
                s
            }
            None => self.free_subnet(name, &nets, true)?,
        };
        let gateway = match opts.gateway.as_deref() {
            None => subnet.first_host(),
            Some(g) => {
                let bad = |reason: String| Error::InvalidGateway {
                    value: g.into(),
                    reason,
                };
                let ip: Ipv4Addr = g.parse().map_err(|_| bad("not an IPv4 address".into()))?;
                if !subnet.is_host(ip) {
                    return Err(bad(format!("not a host address of subnet {subnet}")));
                }
                ip
            }
        };
        let id = random_id()?;
        let bridge = format!("{}{}", self.config.bridge_prefix, id)
            .chars()
            .take(15)
            .collect();
        let net = Network {
            name: name.into(),
            id,
            created: rfc3339(SystemTime::now()),
            driver: "bridge".into(),
            bridge,
            subnet,
            gateway,
            internal: opts.internal,
            labels: opts.labels,
            endpoints: BTreeMap::new(),
        };
        self.save(&net)?;
        Ok(net)
    }

    /// Every network, the default one included, sorted by name.
    pub fn list(&self) -> Result<Vec<Network>> {
        let _lock = self.lock()?;
        self.ensure_default()?;
        let mut nets = self.load_all()?;
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nets)
    }

    /// A network by name, full id or unique id prefix.
    pub fn inspect(&self, name: &str) -> Result<Network> {
        let _lock = self.lock()?;
        let nets = self.load_for(name)?;
        let i = find(&nets, name)?;
        Ok(nets[i].clone())
    }

    /// Removes a user network and its bridge and rules. Refused while
    /// containers are connected, and for the default network.
    pub fn remove(&self, name: &str) -> Result<()> {
        let _lock = self.lock()?;
        let nets = self.load_for(name)?;
        let net = &nets[find(&nets, name)?];
        self.remove_locked(net)
    }

    /// Removes every user network without endpoints; returns their names.
    pub fn prune(&self) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        let mut removed = Vec::new();
        for net in self.load_all()? {
            if net.name != DEFAULT_NETWORK && net.endpoints.is_empty() {
                self.remove_locked(&net)?;
                removed.push(net.name);
            }
        }
        Ok(removed)
    }

    fn remove_locked(&self, net: &Network) -> Result<()> {
        if net.name == DEFAULT_NETWORK {
            return Err(Error::Predefined(net.name.clone()));
        }
        if !net.endpoints.is_empty() {
            let containers: Vec<&str> = net
                .endpoints
                .values()
                .map(|e| e.container_name.as_str())
                .collect();
            return Err(Error::NetworkInUse {
                name: net.name.clone(),
                containers: containers.join(", "),
            });
        }
        let table = &self.config.nft_table;
        let rules = nft::list(table)?;
        let batch = nft::delete_lines(table, &rules, |c| c == nft::net_comment(&net.id));
        if !batch.is_empty() {
            nft::apply(&batch, &format!("remove the rules of network {}", net.name))?;
        }
        Netlink::new()?.del_link(&net.bridge)?;
        let path = self.path(&net.name);
        fs::remove_file(&path).map_err(Error::io(format!("remove {}", path.display())))
    }

    /// Connects a container's network namespace to a network: a veth pair
    /// between the network's bridge (created if missing) and the namespace,
    /// an address lease, the default route, outbound NAT, and the hosts
    /// files of everyone on the network. On error nothing is left behind.
    pub fn connect(&self, network: &str, req: &ConnectRequest) -> Result<Endpoint> {
        check_container_id(&req.container_id)?;
        let _lock = self.lock()?;
        let mut nets = self.load_for(network)?;
        let ni = find(&nets, network)?;
        let net = &nets[ni];
        let cid = req.container_id.as_str();
        if net.endpoints.contains_key(cid) {
            return Err(Error::AlreadyConnected {
                container: cid.into(),
                network: net.name.clone(),
            });
        }
        if let Some(other) = net
            .endpoints
            .values()
            .find(|e| !req.container_name.is_empty() && e.container_name == req.container_name)
        {
            return Err(Error::NameInUse {
                name: req.container_name.clone(),
                other: other.container_id.clone(),
                network: net.name.clone(),
            });
        }
        let taken: Vec<Ipv4Addr> = net.endpoints.values().map(|e| e.ip).collect();
        let ip = net
            .subnet
            .next_free(net.gateway, &taken)
            .ok_or_else(|| Error::NoFreeAddress {
                network: net.name.clone(),
                subnet: net.subnet.to_string(),
            })?;
        let used_ifnames: Vec<&str> = nets
            .iter()
            .filter_map(|n| n.endpoints.get(cid))
            .map(|e| e.ifname.as_str())
            .collect();
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !used_ifnames.contains(&n.as_str()))
            .unwrap_or_else(|| "eth0".into());
        let ep = Endpoint {
            container_id: cid.into(),
            container_name: req.container_name.clone(),
            ip,
            prefix_len: net.subnet.prefix_len(),
            gateway: net.gateway,
            mac: ipam::format_mac(&ipam::mac_for(ip)),
            host_veth: veth_name(&net.id, cid),
            ifname,
            netns_path: req.netns_path.clone(),
            aliases: req.aliases.clone(),
            hostname: req.hostname.clone(),
            hosts_file: req.hosts_file.clone(),
            ports: Vec::new(),
        };
        self.plumb(net, &ep)?;
        nets[ni].endpoints.insert(cid.into(), ep.clone());
        let done = self
            .save(&nets[ni])
            .and_then(|()| self.refresh_hosts(&nets, ni, None, cid));
        if let Err(e) = done {
            nets[ni].endpoints.remove(cid);
            let _ = self.unplumb(&nets[ni], &ep);
            let _ = self.save(&nets[ni]);
            let _ = self.refresh_hosts(&nets, ni, Some(&ep), "");
            return Err(e);
        }
        Ok(ep)
    }

    /// Makes the devices and rules of a new endpoint; undoes its own work
    /// on error.
    fn plumb(&self, net: &Network, ep: &Endpoint) -> Result<()> {
        let nl = Netlink::new()?;
        let (bridge, _) = nl.ensure_bridge(
            &net.bridge,
            ipam::mac_for(net.gateway),
            net.gateway,
            net.subnet.prefix_len(),
        )?;
        self.ensure_rules(net)?;
        if !net.internal {
            enable_ip_forward()?;
        }
        let ns = netns::open(&ep.netns_path)?;
        // A veth of this very endpoint left by a crash in the middle of an
        // earlier connect.
        nl.del_link(&ep.host_veth)?;
        let mac = ipam::mac_for(ep.ip);
        nl.add_veth(
            &ep.host_veth,
            &ep.ifname,
            mac,
            &ns,
            bridge,
            &ep.container_id,
        )?;
        let gw = (!net.internal).then_some(net.gateway);
        let inside = netns::run_in(&ep.netns_path, || {
            Netlink::new()?.configure_container_if(&ep.ifname, ep.ip, ep.prefix_len, gw)
        });
        if let Err(e) = inside {
            let _ = nl.del_link(&ep.host_veth);
            return Err(e);
        }
        Ok(())
    }

    /// Removes an endpoint's veth (and with it the container's side) and
    /// its rules. Fine if they are gone already.
    fn unplumb(&self, net: &Network, ep: &Endpoint) -> Result<()> {
        let table = &self.config.nft_table;
        let rules = nft::list(table)?;
        let comment = nft::ep_comment(&net.id, &ep.container_id);
        let batch = nft::delete_lines(table, &rules, |c| c == comment);
        if !batch.is_empty() {
            nft::apply(
                &batch,
                &format!(
                    "remove the rules of container {} on network {}",
                    ep.container_id, net.name
                ),
            )?;
        }
        Netlink::new()?.del_link(&ep.host_veth)?;
        Ok(())
    }

    /// The table, and the network's NAT and isolation rules, if missing.
    fn ensure_rules(&self, net: &Network) -> Result<()> {
        let table = &self.config.nft_table;
        let rules = nft::list(table)?;
        let comment = nft::net_comment(&net.id);
        let mut batch = String::new();
        let has_base = rules.iter().any(|r| r.chain == "prerouting");
        if !has_base {
            batch.push_str(&nft::base_batch(table));
        }
        if !rules.iter().any(|r| r.comment == comment) {
            let (sub, br) = (net.subnet, &net.bridge);
            let c = format!("comment \"{comment}\"");
            if !net.internal {
                batch.push_str(&format!(
                    "add rule ip {table} nat-out ip saddr {sub} oifname != \"{br}\" masquerade {c}\n"
                ));
            }
            // Hairpin: a container reaching a published port through the
            // host's address, served by a container on the same bridge.
            batch.push_str(&format!(
                "add rule ip {table} nat-out ct status dnat ip saddr {sub} oifname \"{br}\" masquerade {c}\n"
            ));
            // Networks do not reach each other (Docker's isolation).
            for other in [
                format!("{}*", self.config.bridge_prefix),
                self.config.default_bridge.clone(),
            ] {
                batch.push_str(&format!(
                    "add rule ip {table} isolate iifname \"{br}\" oifname \"{other}\" oifname != \"{br}\" drop {c}\n"
                ));
            }
            if net.internal {
                batch.push_str(&format!(
                    "add rule ip {table} isolate iifname \"{br}\" oifname != \"{br}\" drop {c}\n\
                     add rule ip {table} isolate oifname \"{br}\" iifname != \"{br}\" drop {c}\n"
                ));
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        nft::apply(&batch, &format!("add the rules of network {}", net.name))
    }

    /// Disconnects a container: deletes its veth, frees its lease, removes
    /// its port rules and updates the hosts files. Idempotent, and works
    /// when the network namespace is already gone.
    pub fn disconnect(&self, network: &str, container_id: &str) -> Result<()> {
        let _lock = self.lock()?;
        let mut nets = self.load_for(network)?;
        let ni = find(&nets, network)?;
        let Some(ep) = nets[ni].endpoints.remove(container_id) else {
            // Leftovers of a connect that crashed before saving.
            let _ = Netlink::new()?.del_link(&veth_name(&nets[ni].id, container_id));
            return Ok(());
        };
        self.unplumb(&nets[ni], &ep)?;
        self.save(&nets[ni])?;
        self.refresh_hosts(&nets, ni, Some(&ep), "")
    }

    /// Disconnects a container from every network it is on (for `pier rm`).
    pub fn disconnect_all(&self, container_id: &str) -> Result<()> {
        let names: Vec<String> = {
            let _lock = self.lock()?;
            self.load_all()?
                .into_iter()
                .filter(|n| n.endpoints.contains_key(container_id))
                .map(|n| n.name)
                .collect()
        };
        for n in names {
            self.disconnect(&n, container_id)?;
        }
        Ok(())
    }

    /// Publishes ports of a connected container: DNAT rules from the host's
    /// addresses (non-loopback) to its address on `network`. Refuses host
    /// ports that another binding of this store already holds. The
    /// loopback side is the proxy's (see [`crate::proxy`]).
    pub fn publish(
        &self,
        network: &str,
        container_id: &str,
        bindings: &[PortBinding],
    ) -> Result<()> {
        let _lock = self.lock()?;
        let mut nets = self.load_for(network)?;
        let ni = find(&nets, network)?;
        for b in bindings {
            for n in &nets {
                for e in n.endpoints.values() {
                    if e.ports.iter().any(|p| p.conflicts_with(b)) {
                        return Err(Error::PortInUse {
                            port: format!("{}:{}/{}", b.host_ip, b.host_port, b.protocol),
                            container: e.container_id.clone(),
                        });
                    }
                }
            }
        }
        let net = &nets[ni];
        let ep = net
            .endpoints
            .get(container_id)
            .ok_or_else(|| Error::NotConnected {
                container: container_id.into(),
                network: net.name.clone(),
            })?;
        let table = &self.config.nft_table;
        let comment = nft::ep_comment(&net.id, container_id);
        let mut batch = nft::base_batch(table);
        for b in bindings {
            let daddr = if b.host_ip.is_unspecified() {
                String::new()
            } else {
                format!("ip daddr {} ", b.host_ip)
            };
            batch.push_str(&format!(
                "add rule ip {table} hostports {daddr}{} dport {} dnat to {}:{} comment \"{comment}\"\n",
                b.protocol, b.host_port, ep.ip, b.container_port
            ));
        }
        nft::apply(
            &batch,
            &format!(
                "publish ports of container {container_id} on network {}",
                net.name
            ),
        )?;
        if let Some(ep) = nets[ni].endpoints.get_mut(container_id) {
            ep.ports.extend_from_slice(bindings);
        }
        self.save(&nets[ni])
    }

    /// Removes every published port of a container, on every network.
    pub fn unpublish(&self, container_id: &str) -> Result<()> {
        let _lock = self.lock()?;
        let table = &self.config.nft_table;
        let rules = nft::list(table)?;
        let suffix = format!(":{container_id}");
        let batch = nft::delete_lines(table, &rules, |c| {
            c.starts_with(nft::EP_PREFIX) && c.ends_with(&suffix)
        });
        if !batch.is_empty() {
            nft::apply(
                &batch,
                &format!("unpublish ports of container {container_id}"),
            )?;
        }
        for mut net in self.load_all()? {
            if let Some(ep) = net.endpoints.get_mut(container_id) {
                if !ep.ports.is_empty() {
                    ep.ports.clear();
                    self.save(&net)?;
                }
            }
        }
        Ok(())
    }

    /// Rewrites the hosts file of every endpoint of `nets[ni]`, and of
    /// `gone` (just disconnected). Only `create_for`'s file may be created;
    /// other missing files belong to containers being removed.
    fn refresh_hosts(
        &self,
        nets: &[Network],
        ni: usize,
        gone: Option<&Endpoint>,
        create_for: &str,
    ) -> Result<()> {
        let mut result = Ok(());
        let eps = nets[ni].endpoints.values().chain(gone);
        for ep in eps {
            let Some(path) = &ep.hosts_file else { continue };
            if ep.container_id != create_for && !path.exists() {
                continue;
            }
            let content = self.hosts_content(nets, &ep.container_id, ep);
            if let Err(e) = hosts::write_in_place(path, &content) {
                if ep.container_id == create_for {
                    return Err(e);
                }
                result = result.and(Err(e));
            }
        }
        result
    }

    /// A container's hosts file: itself, then the peers of every user
    /// network it is on (the default network resolves no names, as in
    /// Docker).
    fn hosts_content(&self, nets: &[Network], cid: &str, fallback: &Endpoint) -> String {
        let mine: Vec<&Endpoint> = nets.iter().filter_map(|n| n.endpoints.get(cid)).collect();
        let first = mine
            .iter()
            .min_by_key(|e| {
                e.ifname
                    .trim_start_matches("eth")
                    .parse::<u32>()
                    .unwrap_or(u32::MAX)
            })
            .copied()
            .unwrap_or(fallback);
        let hostname = first
            .hostname
            .clone()
            .unwrap_or_else(|| cid.chars().take(12).collect());
        let own = (!mine.is_empty()).then(|| HostEntry {
            ip: first.ip,
            names: vec![hostname],
        });
        let mut peers: Vec<HostEntry> = Vec::new();
        for n in nets.iter().filter(|n| n.name != DEFAULT_NETWORK) {
            if !n.endpoints.contains_key(cid) {
                continue;
            }
            for p in n.endpoints.values().filter(|p| p.container_id != cid) {
                let mut names = vec![p.container_name.clone()];
                for a in &p.aliases {
                    if !names.contains(a) {
                        names.push(a.clone());
                    }
                }
                names.retain(|n| !n.is_empty());
                peers.push(HostEntry { ip: p.ip, names });
            }
        }
        peers.sort_by_key(|e| e.ip);
        hosts::render(own.as_ref(), &peers)
    }

    fn lock(&self) -> Result<Lock> {
        let path = self.dir.join(".lock");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(Error::io(format!("open {}", path.display())))?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map(Lock)
            .map_err(|(_, e)| Error::sys(format!("lock {}", path.display()))(e))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// All networks, with the default one made first if `name` is it.
    fn load_for(&self, name: &str) -> Result<Vec<Network>> {
        if name == DEFAULT_NETWORK {
            self.ensure_default()?;
        }
        self.load_all()
    }

    fn load_all(&self) -> Result<Vec<Network>> {
        let mut out = Vec::new();
        let entries =
            fs::read_dir(&self.dir).map_err(Error::io(format!("read {}", self.dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(Error::io(format!("read {}", self.dir.display())))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let path = entry.path();
            let mut data = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut data))
                .map_err(Error::io(format!("read {}", path.display())))?;
            let net =
                serde_json::from_slice(&data).map_err(|source| Error::Corrupt { path, source })?;
            out.push(net);
        }
        Ok(out)
    }

    fn save(&self, net: &Network) -> Result<()> {
        let path = self.path(&net.name);
        let tmp = self.dir.join(format!(".{}.json.tmp", net.name));
        let data = serde_json::to_vec_pretty(net).map_err(|e| Error::Io {
            action: format!("encode network {}", net.name),
            source: e.into(),
        })?;
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(Error::io(format!("write {}", path.display())))
    }

    fn ensure_default(&self) -> Result<()> {
        if self.path(DEFAULT_NETWORK).exists() {
            return Ok(());
        }
        let nets = self.load_all()?;
        let subnet = self.free_subnet(DEFAULT_NETWORK, &nets, false)?;
        let net = Network {
            name: DEFAULT_NETWORK.into(),
            id: random_id()?,
            created: rfc3339(SystemTime::now()),
            driver: "bridge".into(),
            bridge: self.config.default_bridge.clone(),
            subnet,
            gateway: subnet.first_host(),
            internal: false,
            labels: BTreeMap::new(),
            endpoints: BTreeMap::new(),
        };
        self.save(&net)
    }

    /// The first subnet of the pool that overlaps neither another network
    /// nor a route of the host. User networks leave 172.17.0.0/16 to the
    /// default network, as Docker does.
    fn free_subnet(&self, name: &str, nets: &[Network], user: bool) -> Result<Subnet> {
        let routes = Netlink::new()?.routes_v4()?;
        let routes: Vec<Subnet> = routes
            .into_iter()
            .filter_map(|(a, l)| Subnet::new(a, l.min(30)).ok())
            .collect();
        ipam::pool()
            .skip(usize::from(user))
            .find(|s| {
                !nets.iter().any(|n| n.subnet.overlaps(s)) && !routes.iter().any(|r| r.overlaps(s))
            })
            .ok_or_else(|| Error::NoFreeSubnet(name.into()))
    }
}

fn find(nets: &[Network], name: &str) -> Result<usize> {
    if let Some(i) = nets.iter().position(|n| n.name == name || n.id == name) {
        return Ok(i);
    }
    let by_prefix: Vec<usize> = (0..nets.len())
        .filter(|i| !name.is_empty() && nets[*i].id.starts_with(name))
        .collect();
    match by_prefix.as_slice() {
        [i] => Ok(*i),
        _ => Err(Error::NetworkNotFound(name.into())),
    }
}

/// Docker's rule for network names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidName {
        value: name.into(),
        reason: reason.into(),
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(bad("the name is empty")),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err(bad("the name must start with a letter or a digit"))
        }
        _ => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        return Err(bad("only letters, digits, '_', '.' and '-' are allowed"));
    }
    if name.len() > 200 {
        return Err(bad("the name is longer than 200 characters"));
    }
    Ok(())
}

/// Container ids go into rule comments and file names.
fn check_container_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(Error::InvalidOption {
            option: "container_id",
            value: id.into(),
            reason: "expected 1 to 64 letters, digits, '_', '.' or '-'".into(),
        });
    }
    Ok(())
}

/// The host side of an endpoint's veth: `veth` and 11 hex digits of a hash
/// of the network and container ids, so it is known again without the
/// store (cleanup after a crash) and fits IFNAMSIZ.
pub(crate) fn veth_name(net_id: &str, container_id: &str) -> String {
    let h = Sha256::digest(format!("{net_id}/{container_id}").as_bytes());
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    format!("veth{}", &hex[..11])
}

fn random_id() -> Result<String> {
    let mut buf = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(Error::io("read /dev/urandom"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn enable_ip_forward() -> Result<()> {
    // /proc/sys/net is the calling thread's network namespace's.
    let path = "/proc/sys/net/ipv4/ip_forward";
    if fs::read_to_string(path)
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
    {
        return Ok(());
    }
    fs::write(path, "1").map_err(Error::io(format!("enable forwarding in {path}")))
}

/// `2024-05-01T12:34:56Z`.
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("my-net_1.x").is_ok());
        for bad in ["", "-a", "a b", "a/b", "ä"] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        assert!(check_container_id("abc123").is_ok());
        assert!(check_container_id("a\"b").is_err());
    }

    #[test]
    fn veth_names_fit_ifnamsiz() {
        let v = veth_name("0123", "abc");
        assert_eq!(v.len(), 15);
        assert_eq!(v, veth_name("0123", "abc"));
        assert_ne!(v, veth_name("0123", "abd"));
    }

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
