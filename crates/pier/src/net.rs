//! Container networking modes through pier-net: `none` (a namespace with
//! only loopback), `host` (the host's namespace), `container:NAME` (another
//! container's namespace), and bridge networks (`bridge`, or a user
//! network by name) with published ports.
//!
//! pier makes each container's network namespace itself, bind-mounted on
//! `<run dir>/netns`, and names that file in the runtime config, as CNI
//! callers do: the runtime only joins it, so berth, runc and crun all work.

use crate::container::{Containers, Endpoint, Record};
use crate::monitor::{NetSetup, Network};
use pier_image::bundle::NetNs;
use pier_net::{netns, ports, proxy, ConnectRequest, NetworkMode, Networks};
use std::path::{Path, PathBuf};

/// The network layer the monitor uses.
#[derive(Debug, Clone)]
pub struct Net {
    /// pier's root.
    pub root: PathBuf,
}

fn netns_path(run_dir: &Path) -> PathBuf {
    run_dir.join("netns")
}

impl Net {
    fn bridge(
        &self,
        rec: &Record,
        network: &str,
        run_dir: &Path,
        hosts: &Path,
    ) -> pier_net::Result<NetSetup> {
        let nets = Networks::open(&self.root)?;
        let ns = netns_path(run_dir);
        netns::create(&ns)?;
        let req = ConnectRequest {
            container_id: rec.id.clone(),
            container_name: rec.name.clone(),
            netns_path: ns.clone(),
            aliases: rec.aliases.clone(),
            hostname: Some(rec.run.hostname.clone()),
            hosts_file: Some(hosts.to_owned()),
        };
        let ep = nets.connect(network, &req)?;
        let mut endpoints = vec![Endpoint {
            network: network.to_string(),
            ip: ep.ip.to_string(),
            prefix_len: ep.prefix_len,
            gateway: ep.gateway.to_string(),
            mac: ep.mac.clone(),
        }];
        // The default route stays the first network's, as in Docker.
        for extra in &rec.extra_networks {
            let e = nets.connect(extra, &req)?;
            endpoints.push(Endpoint {
                network: extra.clone(),
                ip: e.ip.to_string(),
                prefix_len: e.prefix_len,
                gateway: e.gateway.to_string(),
                mac: e.mac.clone(),
            });
        }
        let bindings = ports::resolve_all(&rec.publish)?;
        nets.publish(network, &rec.id, &bindings)?;
        let mut keep: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
        for b in &bindings {
            let h = proxy::spawn_binding(b, ep.ip).map_err(|e| pier_net::Error::Io {
                action: format!("publish {b}"),
                source: e,
            })?;
            keep.push(Box::new(h));
        }
        Ok(NetSetup {
            netns: NetNs::Path(ns),
            endpoints,
            ports: bindings.iter().map(ToString::to_string).collect(),
            keep,
        })
    }
}

impl Network for Net {
    fn setup(&self, rec: &Record, run_dir: &Path, hosts: &Path) -> Result<NetSetup, String> {
        let mode = NetworkMode::parse(&rec.network).map_err(|e| e.to_string())?;
        match &mode {
            NetworkMode::None => Ok(NetSetup {
                netns: NetNs::New,
                ..Default::default()
            }),
            NetworkMode::Host => Ok(NetSetup {
                netns: NetNs::Host,
                ..Default::default()
            }),
            NetworkMode::Container(other) => {
                let cs = Containers::open(&self.root).map_err(|e| e.to_string())?;
                let o = cs.find(other).map_err(|e| e.to_string())?;
                let ns = netns_path(&cs.run_dir(&o.id));
                if !ns.exists() {
                    return Err(format!(
                        "cannot join the network of container {other}: it is not running on a network of its own"
                    ));
                }
                Ok(NetSetup {
                    netns: NetNs::Path(ns),
                    ..Default::default()
                })
            }
            NetworkMode::Bridge | NetworkMode::Named(_) => {
                let name = mode.network_name().unwrap_or(pier_net::DEFAULT_NETWORK);
                self.bridge(rec, name, run_dir, hosts).map_err(|e| {
                    self.teardown(rec, run_dir);
                    e.to_string()
                })
            }
        }
    }

    fn teardown(&self, rec: &Record, run_dir: &Path) {
        if let Ok(nets) = Networks::open(&self.root) {
            if let Err(e) = nets.disconnect_all(&rec.id) {
                eprintln!("pier: network teardown of {}: {e}", rec.id);
            }
        }
        if let Err(e) = netns::remove(&netns_path(run_dir)) {
            eprintln!("pier: {e}");
        }
    }
}

/// Undoes a container's networking when its monitor could not (it died).
pub fn teardown(cs: &Containers, rec: &Record) {
    let net = Net {
        root: cs.root().to_owned(),
    };
    net.teardown(rec, &cs.run_dir(&rec.id));
}
