//! pier's nftables table: outbound NAT per network, isolation of internal
//! networks and DNAT for published ports.
//!
//! Rules are written as `nft -f -` text batches (a batch applies whole or not
//! at all) and found again through `nft -j list table`, by their comment:
//! `pier-net:<network id>` for a network's rules and
//! `pier-ep:<network id>:<container id>` for an endpoint's published ports.
//!
//! ```text
//! table ip pier {
//!   chain prerouting  { type nat hook prerouting priority dstnat; fib daddr type local jump hostports }
//!   chain output      { type nat hook output priority -100;
//!                       ip daddr != 127.0.0.0/8 fib daddr type local jump hostports }
//!   chain postrouting { type nat hook postrouting priority srcnat; jump nat-out }
//!   chain forward     { type filter hook forward priority filter; jump isolate }
//!   chain hostports   { tcp dport 8080 dnat to 172.18.0.2:80 comment "pier-ep:…" … }
//!   chain nat-out     { ip saddr 172.18.0.0/16 oifname != "pier-…" masquerade comment "pier-net:…"
//!                       ct status dnat ip saddr 172.18.0.0/16 oifname "pier-…" masquerade … }
//!   chain isolate     { iifname "pier-…" oifname != "pier-…" drop (internal networks) … }
//! }
//! ```
//!
//! Loopback destinations are left to the userspace proxy (see
//! [`crate::proxy`]): a packet from 127.0.0.1 cannot be routed to a bridge
//! without `route_localnet`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::error::{Error, Result};

/// One rule of the table, as listed by `nft -j`.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub chain: String,
    pub handle: u64,
    pub comment: String,
}

/// The static part of the table: base chains hooked into netfilter and
/// their single jump each. Base chains are flushed and refilled in the same
/// batch, so running this any number of times (even concurrently) leaves
/// exactly one jump per chain.
pub(crate) fn base_batch(table: &str) -> String {
    format!(
        "add table ip {table}
add chain ip {table} hostports
add chain ip {table} nat-out
add chain ip {table} isolate
add chain ip {table} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
flush chain ip {table} prerouting
add rule ip {table} prerouting fib daddr type local jump hostports
add chain ip {table} output {{ type nat hook output priority -100; policy accept; }}
flush chain ip {table} output
add rule ip {table} output ip daddr != 127.0.0.0/8 fib daddr type local jump hostports
add chain ip {table} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
flush chain ip {table} postrouting
add rule ip {table} postrouting jump nat-out
add chain ip {table} forward {{ type filter hook forward priority filter; policy accept; }}
flush chain ip {table} forward
add rule ip {table} forward jump isolate
"
    )
}

/// Runs `nft -f -` with `batch` on stdin.
pub(crate) fn apply(batch: &str, action: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::io(format!("run nft to {action}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(batch.as_bytes())
            .map_err(Error::io(format!("write the nft batch to {action}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(Error::io(format!("wait for nft to {action}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Nft {
            action: action.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[derive(Deserialize)]
struct Listing {
    nftables: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct JsonRule {
    chain: String,
    handle: u64,
    #[serde(default)]
    comment: String,
}

/// The rules of `table`; none if the table does not exist.
pub(crate) fn list(table: &str) -> Result<Vec<Rule>> {
    let out = Command::new("nft")
        .args(["-j", "list", "table", "ip", table])
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io(format!("run nft to list table ip {table}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("No such file or directory") {
            return Ok(Vec::new());
        }
        return Err(Error::Nft {
            action: format!("list table ip {table}"),
            stderr: stderr.trim().to_string(),
        });
    }
    let listing: Listing = serde_json::from_slice(&out.stdout).map_err(|e| Error::Nft {
        action: format!("list table ip {table}"),
        stderr: format!("unexpected JSON: {e}"),
    })?;
    Ok(listing
        .nftables
        .into_iter()
        .filter_map(|mut v| v.get_mut("rule").map(serde_json::Value::take))
        .filter_map(|v| serde_json::from_value::<JsonRule>(v).ok())
        .map(|r| Rule {
            chain: r.chain,
            handle: r.handle,
            comment: r.comment,
        })
        .collect())
}

/// `delete rule` lines for every rule whose comment satisfies `matches`.
pub(crate) fn delete_lines(table: &str, rules: &[Rule], matches: impl Fn(&str) -> bool) -> String {
    rules
        .iter()
        .filter(|r| matches(&r.comment))
        .map(|r| format!("delete rule ip {table} {} handle {}\n", r.chain, r.handle))
        .collect()
}

/// Comment prefix of every endpoint rule.
pub(crate) const EP_PREFIX: &str = "pier-ep:";

pub(crate) fn net_comment(net_id: &str) -> String {
    format!("pier-net:{}", short(net_id))
}

pub(crate) fn ep_comment(net_id: &str, container_id: &str) -> String {
    format!("{EP_PREFIX}{}:{container_id}", short(net_id))
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
