//! Typing and validation: the merged node tree of a project becomes the
//! model, every short syntax expanded to its long form. Unknown keys,
//! compose keys that pier does not implement and values of the wrong type
//! are errors naming the file, line and key path.

use crate::envfile;
use crate::load::{Error, Result};
use crate::model::*;
use crate::shell;
use crate::units;
use crate::yaml::{Key, Kind, Loc, Node};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// What typing a service needs to know about the rest of the project.
pub struct Ctx<'a> {
    pub project_dir: &'a Path,
    pub home: Option<&'a str>,
    /// Every service, with whether the active profiles enable it.
    pub services: &'a BTreeMap<String, bool>,
    pub networks: &'a BTreeMap<String, Network>,
    pub volumes: &'a BTreeMap<String, Volume>,
    /// Variables for `env_file` interpolation.
    pub vars: &'a BTreeMap<String, String>,
}

// ---- helpers ---------------------------------------------------------

pub fn invalid(node: &Node, path: &str, msg: impl Into<String>) -> Error {
    Error::Invalid {
        loc: node.loc.clone(),
        path: path.to_string(),
        msg: msg.into(),
    }
}

fn invalid_at(loc: &Loc, path: &str, msg: impl Into<String>) -> Error {
    Error::Invalid {
        loc: loc.clone(),
        path: path.to_string(),
        msg: msg.into(),
    }
}

fn expected(node: &Node, path: &str, what: &str) -> Error {
    invalid(
        node,
        path,
        format!("expected {what}, found {}", node.kind_name()),
    )
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn idx(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// The entries of a mapping (null: none).
pub fn map<'n>(node: &'n Node, path: &str) -> Result<&'n [(Key, Node)]> {
    match &node.kind {
        Kind::Map(entries) => Ok(entries),
        Kind::Null => Ok(&[]),
        _ => Err(expected(node, path, "a mapping")),
    }
}

fn seq<'n>(node: &'n Node, path: &str) -> Result<&'n [Node]> {
    match &node.kind {
        Kind::Seq(items) => Ok(items),
        Kind::Null => Ok(&[]),
        _ => Err(expected(node, path, "a list")),
    }
}

pub fn string(node: &Node, path: &str) -> Result<String> {
    match &node.kind {
        Kind::Scalar(s, _) => Ok(s.clone()),
        _ => Err(expected(node, path, "a string")),
    }
}

fn opt_string(node: &Node, path: &str) -> Result<Option<String>> {
    match &node.kind {
        Kind::Null => Ok(None),
        _ => string(node, path).map(Some),
    }
}

fn boolean(node: &Node, path: &str) -> Result<bool> {
    match &node.kind {
        Kind::Scalar(s, _) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Ok(true),
            "false" | "no" | "off" => Ok(false),
            _ => Err(invalid(
                node,
                path,
                format!("expected a boolean, found {s:?}"),
            )),
        },
        Kind::Null => Ok(false),
        _ => Err(expected(node, path, "a boolean")),
    }
}

fn int(node: &Node, path: &str) -> Result<i64> {
    match &node.kind {
        Kind::Scalar(s, _) => s
            .trim()
            .parse()
            .map_err(|_| invalid(node, path, format!("expected an integer, found {s:?}"))),
        _ => Err(expected(node, path, "an integer")),
    }
}

fn uint<T: TryFrom<i64>>(node: &Node, path: &str) -> Result<T> {
    let v = int(node, path)?;
    T::try_from(v).map_err(|_| invalid(node, path, format!("{v} is out of range")))
}

fn float(node: &Node, path: &str) -> Result<f64> {
    match &node.kind {
        Kind::Scalar(s, _) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .ok_or_else(|| invalid(node, path, format!("expected a number, found {s:?}"))),
        _ => Err(expected(node, path, "a number")),
    }
}

fn bytes(node: &Node, path: &str) -> Result<i64> {
    let s = string(node, path)?;
    units::bytes(&s).map_err(|m| invalid(node, path, m))
}

fn duration_ms(node: &Node, path: &str) -> Result<u64> {
    let s = string(node, path)?;
    units::duration_ms(&s).map_err(|m| invalid(node, path, m))
}

/// A list of strings; a single string too when `single` is set.
fn strings(node: &Node, path: &str, single: bool) -> Result<Vec<String>> {
    match &node.kind {
        Kind::Scalar(s, _) if single => Ok(vec![s.clone()]),
        _ => seq(node, path)?
            .iter()
            .enumerate()
            .map(|(i, n)| string(n, &idx(path, i)))
            .collect(),
    }
}

/// `environment`/`labels`/`sysctls`: a list of `K=V` (or `K`) or a
/// mapping; a value of null (or a bare `K`) gives `None`.
fn kv(node: &Node, path: &str) -> Result<BTreeMap<String, Option<String>>> {
    let mut out = BTreeMap::new();
    match &node.kind {
        Kind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let s = string(item, &idx(path, i))?;
                match s.split_once('=') {
                    Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                    None => out.insert(s, None),
                };
            }
        }
        _ => {
            for (k, v) in map(node, path)? {
                out.insert(k.text.clone(), opt_string(v, &join(path, &k.text))?);
            }
        }
    }
    Ok(out)
}

fn kv_strings(node: &Node, path: &str) -> Result<BTreeMap<String, String>> {
    Ok(kv(node, path)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// How a key is checked.
enum KeyClass {
    Known,
    Extension,
    Unsupported(&'static str),
    Unknown,
}

fn check_key(key: &Key, path: &str, class: KeyClass) -> Result<()> {
    match class {
        KeyClass::Known | KeyClass::Extension => Ok(()),
        KeyClass::Unsupported(detail) => Err(Error::Unsupported {
            loc: key.loc.clone(),
            path: join(path, &key.text),
            detail: detail.to_string(),
        }),
        KeyClass::Unknown => Err(Error::UnknownKey {
            loc: key.loc.clone(),
            path: join(path, &key.text),
        }),
    }
}

/// Checks the keys of a mapping against `known` (and `unsupported`, which
/// the Compose Specification defines but pier does not implement).
fn check_keys(
    entries: &[(Key, Node)],
    path: &str,
    known: &[&str],
    unsupported: &[&str],
) -> Result<()> {
    for (k, _) in entries {
        let class = if k.text.starts_with("x-") {
            KeyClass::Extension
        } else if known.contains(&k.text.as_str()) {
            KeyClass::Known
        } else if unsupported.contains(&k.text.as_str()) {
            KeyClass::Unsupported("")
        } else {
            KeyClass::Unknown
        };
        check_key(k, path, class)?;
    }
    Ok(())
}

/// Lexically normalised absolute path (`.` and `..` removed).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("/");
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn host_path(src: &str, ctx: &Ctx) -> String {
    let p = if src == "~" {
        PathBuf::from(ctx.home.unwrap_or("/"))
    } else if let Some(rest) = src.strip_prefix("~/") {
        Path::new(ctx.home.unwrap_or("/")).join(rest)
    } else {
        ctx.project_dir.join(src)
    };
    clean(&p).to_string_lossy().into_owned()
}

// ---- services -----------------------------------------------------------

const SERVICE_KEYS: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "working_dir",
    "user",
    "hostname",
    "container_name",
    "ports",
    "expose",
    "volumes",
    "tmpfs",
    "networks",
    "network_mode",
    "depends_on",
    "healthcheck",
    "restart",
    "stop_signal",
    "stop_grace_period",
    "cap_add",
    "cap_drop",
    "security_opt",
    "read_only",
    "privileged",
    "init",
    "tty",
    "stdin_open",
    "ulimits",
    "sysctls",
    "labels",
    "deploy",
    "mem_limit",
    "memswap_limit",
    "mem_reservation",
    "cpus",
    "pids_limit",
    "scale",
    "profiles",
    "extends",
];

const SERVICE_UNSUPPORTED: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cgroup",
    "cgroup_parent",
    "configs",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpuset",
    "credential_spec",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "driver_opts",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "ipc",
    "isolation",
    "label_file",
    "links",
    "logging",
    "mac_address",
    "mem_swappiness",
    "models",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "platform",
    "post_start",
    "pre_stop",
    "provider",
    "pull_policy",
    "runtime",
    "secrets",
    "shm_size",
    "storage_opt",
    "use_api_socket",
    "userns_mode",
    "uts",
    "volumes_from",
];

/// The `profiles` of a raw service node.
pub fn service_profiles(node: &Node, path: &str) -> Result<Vec<String>> {
    match node.get("profiles") {
        Some(p) => strings(p, &join(path, "profiles"), false),
        None => Ok(Vec::new()),
    }
}

/// Types one service; `enabled` services also get their references to
/// other services checked against the profiles.
pub fn service(name: &str, node: &Node, enabled: bool, ctx: &Ctx) -> Result<Service> {
    let path = format!("services.{name}");
    let entries = match &node.kind {
        Kind::Map(e) => e.as_slice(),
        Kind::Null => &[],
        _ => return Err(expected(node, &path, "a mapping")),
    };
    for (k, _) in entries {
        let class = if k.text.starts_with("x-") {
            KeyClass::Extension
        } else if SERVICE_KEYS.contains(&k.text.as_str()) {
            KeyClass::Known
        } else if k.text == "build" {
            KeyClass::Unsupported(": build images with another tool and push them to a registry")
        } else if SERVICE_UNSUPPORTED.contains(&k.text.as_str()) {
            KeyClass::Unsupported("")
        } else {
            KeyClass::Unknown
        };
        check_key(k, &path, class)?;
    }
    let mut svc = Service {
        name: name.to_string(),
        replicas: 1,
        ..Service::default()
    };
    let mut env_files: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut environment: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut image = None;
    let mut deploy = None;
    let mut scale = None;
    let mut service_limits = Resources::default();
    let mut mem_reservation = None;
    for (k, v) in entries {
        let p = join(&path, &k.text);
        let p = p.as_str();
        match k.text.as_str() {
            "image" => image = opt_string(v, p)?,
            "command" => svc.command = command(v, p)?,
            "entrypoint" => svc.entrypoint = command(v, p)?,
            "environment" => environment = kv(v, p)?,
            "env_file" => env_files = env_file(v, p, ctx)?,
            "working_dir" => svc.working_dir = opt_string(v, p)?,
            "user" => svc.user = opt_string(v, p)?,
            "hostname" => svc.hostname = opt_string(v, p)?,
            "container_name" => svc.container_name = opt_string(v, p)?,
            "ports" => {
                for (i, item) in seq(v, p)?.iter().enumerate() {
                    for port in port(item, &idx(p, i))? {
                        if !svc.ports.contains(&port) {
                            svc.ports.push(port);
                        }
                    }
                }
            }
            "expose" => {
                for (i, item) in seq(v, p)?.iter().enumerate() {
                    svc.expose.push(expose(item, &idx(p, i))?);
                }
            }
            "volumes" => {
                for (i, item) in seq(v, p)?.iter().enumerate() {
                    let vol = volume_mount(item, &idx(p, i), ctx)?;
                    if let Some(dup) = svc.volumes.iter().find(|m| m.target == vol.target) {
                        return Err(invalid(
                            item,
                            &idx(p, i),
                            format!("duplicate mount target {}", dup.target),
                        ));
                    }
                    svc.volumes.push(vol);
                }
            }
            "tmpfs" => {
                svc.tmpfs = strings(v, p, true)?;
                for (i, t) in svc.tmpfs.iter().enumerate() {
                    if !t.starts_with('/') {
                        return Err(invalid(
                            v,
                            &idx(p, i),
                            format!("tmpfs path {t:?} is not absolute"),
                        ));
                    }
                }
            }
            "networks" => svc.networks = service_networks(v, p, ctx)?,
            "network_mode" => {
                let mode = string(v, p)?;
                match mode.split_once(':') {
                    None if matches!(mode.as_str(), "none" | "host" | "bridge") => {}
                    Some(("service", target)) => {
                        service_ref(v, p, target, enabled, true, ctx)?;
                    }
                    Some(("container", c)) if !c.is_empty() => {}
                    _ => {
                        return Err(invalid(
                            v,
                            p,
                            format!("invalid network_mode {mode:?} (expected none, host, bridge, service:NAME or container:NAME)"),
                        ))
                    }
                }
                svc.network_mode = Some(mode);
            }
            "depends_on" => svc.depends_on = depends_on(name, v, p, enabled, ctx)?,
            "healthcheck" => svc.healthcheck = Some(healthcheck(v, p)?),
            "restart" => svc.restart = Some(restart(v, p)?),
            "stop_signal" => svc.stop_signal = opt_string(v, p)?,
            "stop_grace_period" => {
                let s = string(v, p)?;
                svc.stop_grace_period =
                    Some(units::duration_secs(&s).map_err(|m| invalid(v, p, m))?);
            }
            "cap_add" => svc.cap_add = strings(v, p, false)?,
            "cap_drop" => svc.cap_drop = strings(v, p, false)?,
            "security_opt" => svc.security_opt = strings(v, p, false)?,
            "read_only" => svc.read_only = boolean(v, p)?,
            "privileged" => svc.privileged = boolean(v, p)?,
            "init" => svc.init = boolean(v, p)?,
            "tty" => svc.tty = boolean(v, p)?,
            "stdin_open" => svc.stdin_open = boolean(v, p)?,
            "ulimits" => svc.ulimits = ulimits(v, p)?,
            "sysctls" => svc.sysctls = kv_strings(v, p)?,
            "labels" => svc.labels = kv_strings(v, p)?,
            "deploy" => deploy = Some((v, p.to_string())),
            "mem_limit" => service_limits.memory = Some(bytes(v, p)?),
            "memswap_limit" => {
                service_limits.memswap = Some(match string(v, p)?.trim() {
                    "-1" => -1,
                    _ => bytes(v, p)?,
                })
            }
            "mem_reservation" => mem_reservation = Some(bytes(v, p)?),
            "cpus" => service_limits.cpus = Some(float(v, p)?),
            "pids_limit" => service_limits.pids = Some(int(v, p)?),
            "scale" => scale = Some((uint::<u32>(v, p)?, v)),
            "profiles" => svc.profiles = strings(v, p, false)?,
            "extends" => {}
            x if x.starts_with("x-") => {
                svc.extensions.insert(x.to_string(), v.to_json());
            }
            _ => {}
        }
    }
    svc.image = match image {
        Some(i) if !i.is_empty() => i,
        _ => {
            return Err(invalid(
                node,
                &path,
                "no image: pier compose does not build, every service needs an image",
            ))
        }
    };
    svc.environment = env_files;
    svc.environment.extend(environment);
    // A bare KEY takes its value from the environment (and .env), as
    // docker compose resolves it at load time; unset, it stays None and
    // the container does not get it.
    for (k, v) in svc.environment.iter_mut() {
        if v.is_none() {
            *v = ctx.vars.get(k).cloned();
        }
    }
    if svc.network_mode.is_some() {
        if let Some(n) = node.get("networks") {
            return Err(invalid(
                n,
                &join(&path, "networks"),
                "networks and network_mode cannot be used together",
            ));
        }
    } else if svc.networks.is_empty() {
        svc.networks
            .insert("default".to_string(), ServiceNetwork::default());
    }
    svc.limits = service_limits.clone();
    svc.reservations.memory = mem_reservation;
    if let Some((d, p)) = deploy {
        apply_deploy(&mut svc, d, &p, &service_limits, mem_reservation)?;
    }
    if let Some((n, node)) = scale {
        if node_given(entries, "deploy", "replicas") && svc.replicas != n {
            return Err(invalid(
                node,
                &join(&path, "scale"),
                format!("scale ({n}) and deploy.replicas ({}) differ", svc.replicas),
            ));
        }
        svc.replicas = n;
    }
    if svc.replicas > 1 {
        if let Some(c) = node.get("container_name") {
            return Err(invalid(
                c,
                &join(&path, "container_name"),
                format!("container_name cannot be used with {} replicas (container names must be unique)", svc.replicas),
            ));
        }
    }
    Ok(svc)
}

fn node_given(entries: &[(Key, Node)], a: &str, b: &str) -> bool {
    entries
        .iter()
        .find(|(k, _)| k.text == a)
        .is_some_and(|(_, v)| v.get(b).is_some())
}

fn command(node: &Node, path: &str) -> Result<Option<Vec<String>>> {
    match &node.kind {
        Kind::Null => Ok(None),
        Kind::Scalar(s, _) => shell::split(s)
            .map(Some)
            .map_err(|m| invalid(node, path, format!("{m} in {s:?}"))),
        _ => strings(node, path, false).map(Some),
    }
}

fn env_file(node: &Node, path: &str, ctx: &Ctx) -> Result<BTreeMap<String, Option<String>>> {
    let items: Vec<(Node, String)> = match &node.kind {
        Kind::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), idx(path, i)))
            .collect(),
        _ => vec![(node.clone(), path.to_string())],
    };
    let mut out = BTreeMap::new();
    for (item, p) in items {
        let (file, required) = match &item.kind {
            Kind::Map(entries) => {
                check_keys(entries, &p, &["path", "required", "format"], &[])?;
                let file = string(
                    item.get("path")
                        .ok_or_else(|| invalid(&item, &p, "missing path"))?,
                    &join(&p, "path"),
                )?;
                let required = match item.get("required") {
                    Some(r) => boolean(r, &join(&p, "required"))?,
                    None => true,
                };
                if let Some(f) = item.get("format") {
                    if string(f, &join(&p, "format"))? != "raw" {
                        // Only the default format is implemented.
                        return Err(invalid(
                            f,
                            &join(&p, "format"),
                            "only the default env file format is supported",
                        ));
                    }
                }
                (file, required)
            }
            _ => (string(&item, &p)?, true),
        };
        let full = clean(&ctx.project_dir.join(&file));
        let text = match std::fs::read_to_string(&full) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => {
                return Err(invalid(
                    &item,
                    &p,
                    format!("failed to read env file {}: {e}", full.display()),
                ))
            }
        };
        let vars = envfile::parse(&text, ctx.vars).map_err(|e| Error::Syntax {
            loc: Loc {
                file: full.to_string_lossy().into(),
                line: e.line,
                col: 0,
            },
            msg: e.msg,
        })?;
        out.extend(vars);
    }
    Ok(out)
}

/// One `ports` entry: short syntax (possibly a range, giving several) or
/// long syntax.
fn port(node: &Node, path: &str) -> Result<Vec<Port>> {
    match &node.kind {
        Kind::Scalar(s, _) => {
            parse_port(s).map_err(|m| invalid(node, path, format!("invalid port {s:?}: {m}")))
        }
        Kind::Map(entries) => {
            check_keys(
                entries,
                path,
                &[
                    "target",
                    "published",
                    "host_ip",
                    "protocol",
                    "mode",
                    "name",
                    "app_protocol",
                ],
                &[],
            )?;
            let target_node = node
                .get("target")
                .ok_or_else(|| invalid(node, path, "missing target"))?;
            let target: u16 = uint(target_node, &join(path, "target"))?;
            if target == 0 {
                return Err(invalid(
                    target_node,
                    &join(path, "target"),
                    "port 0 is not valid",
                ));
            }
            let published = match node.get("published") {
                Some(p) => match opt_string(p, &join(path, "published"))? {
                    Some(s) if !s.is_empty() => {
                        port_range(&s).map_err(|m| invalid(p, &join(path, "published"), m))?;
                        Some(s)
                    }
                    _ => None,
                },
                None => None,
            };
            let protocol = match node.get("protocol") {
                Some(p) => protocol(&string(p, &join(path, "protocol"))?)
                    .map_err(|m| invalid(p, &join(path, "protocol"), m))?,
                None => "tcp".to_string(),
            };
            if let Some(m) = node.get("mode") {
                let mode = string(m, &join(path, "mode"))?;
                if mode != "host" && mode != "ingress" {
                    return Err(invalid(
                        m,
                        &join(path, "mode"),
                        format!("invalid mode {mode:?} (expected host or ingress)"),
                    ));
                }
            }
            let host_ip = match node.get("host_ip") {
                Some(h) => opt_string(h, &join(path, "host_ip"))?.filter(|s| !s.is_empty()),
                None => None,
            };
            Ok(vec![Port {
                target,
                published,
                host_ip,
                protocol,
            }])
        }
        _ => Err(expected(node, path, "a port string or mapping")),
    }
}

fn protocol(p: &str) -> Result<String, String> {
    match p.to_ascii_lowercase().as_str() {
        "tcp" => Ok("tcp".to_string()),
        "udp" => Ok("udp".to_string()),
        _ => Err(format!("unsupported protocol {p:?} (expected tcp or udp)")),
    }
}

/// `N` or `N-M`.
fn port_range(s: &str) -> Result<(u16, u16), String> {
    let one = |p: &str| -> Result<u16, String> {
        match p.trim().parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{p:?} is not a port number (1-65535)")),
        }
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(format!("invalid range {s:?}"));
            }
            Ok((a, b))
        }
        None => {
            let n = one(s)?;
            Ok((n, n))
        }
    }
}

/// `[[HOST_IP:][PUBLISHED]:]TARGET[/PROTOCOL]`, ranges expanded to one
/// port per container port.
pub fn parse_port(s: &str) -> Result<Vec<Port>, String> {
    let (rest, proto) = match s.rsplit_once('/') {
        Some((r, p)) => (r, protocol(p)?),
        None => (s, "tcp".to_string()),
    };
    let (host_ip, rest) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, tail) = after
            .split_once(']')
            .ok_or("unterminated [ in the host IP")?;
        let tail = tail
            .strip_prefix(':')
            .ok_or("expected : after the host IP")?;
        (Some(ip.to_string()), tail)
    } else {
        (None, rest)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, published, target) = match (host_ip, parts.as_slice()) {
        (None, [t]) => (None, None, *t),
        (None, [p, t]) => (None, Some(*p), *t),
        (None, [ip, p, t]) => (Some(ip.to_string()), Some(*p), *t),
        (Some(ip), [p, t]) => (Some(ip), Some(*p), *t),
        _ => return Err("expected [[HOST_IP:][HOST_PORT]:]CONTAINER_PORT[/PROTOCOL]".to_string()),
    };
    let host_ip = host_ip.filter(|ip| !ip.is_empty());
    let published = published.filter(|p| !p.is_empty());
    let (t0, t1) = port_range(target)?;
    let count = usize::from(t1 - t0) + 1;
    let published_ports: Vec<Option<String>> = match published {
        None => vec![None; count],
        Some(p) => {
            let (p0, p1) = port_range(p)?;
            let pcount = usize::from(p1 - p0) + 1;
            if count == 1 {
                vec![Some(if pcount == 1 {
                    p0.to_string()
                } else {
                    format!("{p0}-{p1}")
                })]
            } else if pcount == count {
                (p0..=p1).map(|n| Some(n.to_string())).collect()
            } else {
                return Err(format!(
                    "the host range {p} and the container range {target} have different lengths"
                ));
            }
        }
    };
    Ok((t0..=t1)
        .zip(published_ports)
        .map(|(target, published)| Port {
            target,
            published,
            host_ip: host_ip.clone(),
            protocol: proto.clone(),
        })
        .collect())
}

fn expose(node: &Node, path: &str) -> Result<String> {
    let s = string(node, path)?;
    let (ports, proto) = match s.rsplit_once('/') {
        Some((p, proto)) => (p, protocol(proto).map_err(|m| invalid(node, path, m))?),
        None => (s.as_str(), "tcp".to_string()),
    };
    port_range(ports).map_err(|m| invalid(node, path, format!("invalid port {s:?}: {m}")))?;
    Ok(format!("{ports}/{proto}"))
}

const PROPAGATIONS: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

fn volume_mount(node: &Node, path: &str, ctx: &Ctx) -> Result<ServiceVolume> {
    match &node.kind {
        Kind::Scalar(s, _) => short_volume(s, ctx)
            .map_err(|m| invalid(node, path, format!("invalid volume {s:?}: {m}"))),
        Kind::Map(entries) => long_volume(node, entries, path, ctx),
        _ => Err(expected(node, path, "a volume string or mapping")),
    }
}

fn check_target(t: &str) -> Result<(), String> {
    if t.starts_with('/') {
        Ok(())
    } else {
        Err(format!("the container path {t:?} is not absolute"))
    }
}

fn named_volume(name: &str, ctx: &Ctx) -> Result<(), String> {
    if ctx.volumes.contains_key(name) {
        Ok(())
    } else {
        Err(format!(
            "undefined volume {name:?}: declare it under the top-level volumes key (or write a path starting with ., / or ~ for a bind mount)"
        ))
    }
}

/// `SRC:DST[:MODE]` or a lone `DST`.
fn short_volume(s: &str, ctx: &Ctx) -> Result<ServiceVolume, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err("expected SOURCE:TARGET[:MODE] or TARGET".to_string()),
    };
    check_target(dst)?;
    let bind = src.starts_with(['.', '/', '~']);
    let mut v = ServiceVolume {
        kind: if bind { "bind" } else { "volume" }.to_string(),
        target: dst.to_string(),
        ..ServiceVolume::default()
    };
    if bind {
        v.source = host_path(src, ctx);
        v.create_host_path = true;
    } else if !src.is_empty() {
        named_volume(src, ctx)?;
        v.source = src.to_string();
    }
    for opt in mode.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => v.read_only = true,
            "rw" => v.read_only = false,
            // SELinux relabelling: no effect without SELinux, as in Docker.
            "z" | "Z" => {}
            "nocopy" if !bind => v.nocopy = true,
            "consistent" | "cached" | "delegated" => {}
            p if bind && PROPAGATIONS.contains(&p) => v.propagation = Some(p.to_string()),
            other => return Err(format!("unknown mode {other:?}")),
        }
    }
    Ok(v)
}

fn long_volume(
    node: &Node,
    entries: &[(Key, Node)],
    path: &str,
    ctx: &Ctx,
) -> Result<ServiceVolume> {
    check_keys(
        entries,
        path,
        &[
            "type",
            "source",
            "target",
            "read_only",
            "bind",
            "volume",
            "tmpfs",
            "consistency",
        ],
        &[],
    )?;
    let kind_node = node
        .get("type")
        .ok_or_else(|| invalid(node, path, "missing type"))?;
    let kind = string(kind_node, &join(path, "type"))?;
    let target_node = node
        .get("target")
        .ok_or_else(|| invalid(node, path, "missing target"))?;
    let target = string(target_node, &join(path, "target"))?;
    check_target(&target).map_err(|m| invalid(target_node, &join(path, "target"), m))?;
    let source = match node.get("source") {
        Some(s) => opt_string(s, &join(path, "source"))?.unwrap_or_default(),
        None => String::new(),
    };
    let mut v = ServiceVolume {
        kind: kind.clone(),
        target,
        ..ServiceVolume::default()
    };
    if let Some(r) = node.get("read_only") {
        v.read_only = boolean(r, &join(path, "read_only"))?;
    }
    let only = |section: &str| -> Result<()> {
        if section != kind {
            if let Some((k, _)) = entries.iter().find(|(k, _)| k.text == section) {
                return Err(invalid_at(
                    &k.loc,
                    &join(path, section),
                    format!("not valid for a volume of type {kind}"),
                ));
            }
        }
        Ok(())
    };
    only("bind")?;
    only("volume")?;
    only("tmpfs")?;
    match kind.as_str() {
        "bind" => {
            if source.is_empty() {
                return Err(invalid(node, path, "a bind mount needs a source"));
            }
            v.source = host_path(&source, ctx);
            if let Some(b) = node.get("bind") {
                let p = join(path, "bind");
                check_keys(
                    map(b, &p)?,
                    &p,
                    &["propagation", "create_host_path", "selinux"],
                    &[],
                )?;
                if let Some(pr) = b.get("propagation") {
                    let prop = string(pr, &join(&p, "propagation"))?;
                    if !PROPAGATIONS.contains(&prop.as_str()) {
                        return Err(invalid(
                            pr,
                            &join(&p, "propagation"),
                            format!("invalid propagation {prop:?}"),
                        ));
                    }
                    v.propagation = Some(prop);
                }
                if let Some(c) = b.get("create_host_path") {
                    v.create_host_path = boolean(c, &join(&p, "create_host_path"))?;
                }
            }
        }
        "volume" => {
            if !source.is_empty() {
                let s = node.get("source").unwrap_or(node);
                named_volume(&source, ctx).map_err(|m| invalid(s, &join(path, "source"), m))?;
                v.source = source;
            }
            if let Some(b) = node.get("volume") {
                let p = join(path, "volume");
                check_keys(map(b, &p)?, &p, &["nocopy"], &["subpath"])?;
                if let Some(n) = b.get("nocopy") {
                    v.nocopy = boolean(n, &join(&p, "nocopy"))?;
                }
            }
        }
        "tmpfs" => {
            if !source.is_empty() {
                return Err(invalid(node, path, "a tmpfs mount takes no source"));
            }
            if let Some(t) = node.get("tmpfs") {
                let p = join(path, "tmpfs");
                check_keys(map(t, &p)?, &p, &["size"], &["mode"])?;
                if let Some(s) = t.get("size") {
                    let size = bytes(s, &join(&p, "size"))?;
                    v.tmpfs_size = Some(
                        u64::try_from(size)
                            .map_err(|_| invalid(s, &join(&p, "size"), "negative size"))?,
                    );
                }
            }
        }
        "npipe" | "cluster" | "image" => {
            return Err(Error::Unsupported {
                loc: kind_node.loc.clone(),
                path: join(path, "type"),
                detail: format!(": volumes of type {kind}"),
            })
        }
        _ => {
            return Err(invalid(
                kind_node,
                &join(path, "type"),
                format!("invalid type {kind:?} (expected bind, volume or tmpfs)"),
            ))
        }
    }
    Ok(v)
}

fn service_networks(
    node: &Node,
    path: &str,
    ctx: &Ctx,
) -> Result<BTreeMap<String, ServiceNetwork>> {
    let mut out = BTreeMap::new();
    let declared = |name: &str, at: &Node, p: &str| -> Result<()> {
        if name == "default" || ctx.networks.contains_key(name) {
            Ok(())
        } else {
            Err(invalid(
                at,
                p,
                format!("undefined network {name:?}: declare it under the top-level networks key"),
            ))
        }
    };
    match &node.kind {
        Kind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = idx(path, i);
                let name = string(item, &p)?;
                declared(&name, item, &p)?;
                out.insert(name, ServiceNetwork::default());
            }
        }
        _ => {
            for (k, v) in map(node, path)? {
                let p = join(path, &k.text);
                declared(&k.text, v, &p)?;
                let entries = map(v, &p)?;
                check_keys(
                    entries,
                    &p,
                    &["aliases", "ipv4_address"],
                    &[
                        "ipv6_address",
                        "link_local_ips",
                        "mac_address",
                        "driver_opts",
                        "priority",
                        "gw_priority",
                        "interface_name",
                    ],
                )?;
                let mut net = ServiceNetwork::default();
                if let Some(a) = v.get("aliases") {
                    net.aliases = strings(a, &join(&p, "aliases"), false)?;
                }
                if let Some(a) = v.get("ipv4_address") {
                    let ip = string(a, &join(&p, "ipv4_address"))?;
                    if ip.parse::<std::net::Ipv4Addr>().is_err() {
                        return Err(invalid(
                            a,
                            &join(&p, "ipv4_address"),
                            format!("invalid IPv4 address {ip:?}"),
                        ));
                    }
                    net.ipv4_address = Some(ip);
                }
                out.insert(k.text.clone(), net);
            }
        }
    }
    Ok(out)
}

/// Checks a reference from an enabled service to `target`.
fn service_ref(
    at: &Node,
    path: &str,
    target: &str,
    enabled: bool,
    required: bool,
    ctx: &Ctx,
) -> Result<bool> {
    match ctx.services.get(target) {
        Some(true) => Ok(true),
        Some(false) if enabled && required => Err(invalid(
            at,
            path,
            format!("service {target:?} is disabled by the active profiles (enable one of its profiles, or mark the dependency required: false)"),
        )),
        None if required => Err(invalid(at, path, format!("undefined service {target:?}"))),
        _ => Ok(false),
    }
}

fn depends_on(
    name: &str,
    node: &Node,
    path: &str,
    enabled: bool,
    ctx: &Ctx,
) -> Result<BTreeMap<String, DependsOn>> {
    let mut out = BTreeMap::new();
    let mut add = |dep: String, d: DependsOn, at: &Node, p: &str| -> Result<()> {
        if dep == name {
            return Err(invalid(at, p, "a service cannot depend on itself"));
        }
        if service_ref(at, p, &dep, enabled, d.required, ctx)? || !enabled {
            out.insert(dep, d);
        } else {
            eprintln!("WARN: service {name:?} has an optional dependency on {dep:?}, which is not enabled; ignoring it");
        }
        Ok(())
    };
    match &node.kind {
        Kind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = idx(path, i);
                let dep = string(item, &p)?;
                add(
                    dep,
                    DependsOn {
                        condition: "service_started".to_string(),
                        restart: false,
                        required: true,
                    },
                    item,
                    &p,
                )?;
            }
        }
        _ => {
            for (k, v) in map(node, path)? {
                let p = join(path, &k.text);
                check_keys(map(v, &p)?, &p, &["condition", "restart", "required"], &[])?;
                let mut d = DependsOn {
                    condition: "service_started".to_string(),
                    restart: false,
                    required: true,
                };
                if let Some(c) = v.get("condition") {
                    d.condition = string(c, &join(&p, "condition"))?;
                    if !matches!(
                        d.condition.as_str(),
                        "service_started" | "service_healthy" | "service_completed_successfully"
                    ) {
                        return Err(invalid(
                            c,
                            &join(&p, "condition"),
                            format!("invalid condition {:?} (expected service_started, service_healthy or service_completed_successfully)", d.condition),
                        ));
                    }
                }
                if let Some(r) = v.get("restart") {
                    d.restart = boolean(r, &join(&p, "restart"))?;
                }
                if let Some(r) = v.get("required") {
                    d.required = boolean(r, &join(&p, "required"))?;
                }
                let at = Node::new(Kind::Null, k.loc.clone());
                add(k.text.clone(), d, &at, &p)?;
            }
        }
    }
    Ok(out)
}

fn healthcheck(node: &Node, path: &str) -> Result<Healthcheck> {
    let entries = map(node, path)?;
    check_keys(
        entries,
        path,
        &[
            "test",
            "interval",
            "timeout",
            "retries",
            "start_period",
            "start_interval",
            "disable",
        ],
        &[],
    )?;
    let mut h = Healthcheck::default();
    for (k, v) in entries {
        let p = join(path, &k.text);
        match k.text.as_str() {
            "test" => {
                h.test = match &v.kind {
                    Kind::Scalar(s, _) => vec!["CMD-SHELL".to_string(), s.clone()],
                    _ => strings(v, &p, false)?,
                };
                if let Some(first) = h.test.first() {
                    if !matches!(first.as_str(), "NONE" | "CMD" | "CMD-SHELL") {
                        return Err(invalid(
                            v,
                            &p,
                            format!(
                                "a test list must start with CMD, CMD-SHELL or NONE, not {first:?}"
                            ),
                        ));
                    }
                }
            }
            "interval" => h.interval_ms = Some(duration_ms(v, &p)?),
            "timeout" => h.timeout_ms = Some(duration_ms(v, &p)?),
            "start_period" => h.start_period_ms = Some(duration_ms(v, &p)?),
            "start_interval" => h.start_interval_ms = Some(duration_ms(v, &p)?),
            "retries" => h.retries = Some(uint(v, &p)?),
            "disable" => h.disable = boolean(v, &p)?,
            _ => {}
        }
    }
    Ok(h)
}

fn restart(node: &Node, path: &str) -> Result<String> {
    let r = string(node, path)?;
    let ok = match r.split_once(':') {
        Some(("on-failure", n)) => n.parse::<u32>().is_ok(),
        Some(_) => false,
        None => matches!(
            r.as_str(),
            "no" | "always" | "on-failure" | "unless-stopped"
        ),
    };
    if ok {
        Ok(r)
    } else {
        Err(invalid(
            node,
            path,
            format!("invalid restart policy {r:?} (expected no, always, on-failure[:N] or unless-stopped)"),
        ))
    }
}

const RLIMITS: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

fn ulimits(node: &Node, path: &str) -> Result<BTreeMap<String, Ulimit>> {
    let mut out = BTreeMap::new();
    for (k, v) in map(node, path)? {
        let p = join(path, &k.text);
        if !RLIMITS.contains(&k.text.as_str()) {
            return Err(invalid_at(
                &k.loc,
                &p,
                format!("unknown ulimit {:?}", k.text),
            ));
        }
        let u = match &v.kind {
            Kind::Map(entries) => {
                check_keys(entries, &p, &["soft", "hard"], &[])?;
                let get = |key: &str| -> Result<i64> {
                    let n = v
                        .get(key)
                        .ok_or_else(|| invalid(v, &p, format!("missing {key}")))?;
                    int(n, &join(&p, key))
                };
                Ulimit {
                    soft: get("soft")?,
                    hard: get("hard")?,
                }
            }
            _ => {
                let n = int(v, &p)?;
                Ulimit { soft: n, hard: n }
            }
        };
        if u.soft > u.hard && u.hard >= 0 {
            return Err(invalid(
                v,
                &p,
                format!(
                    "soft limit {} is greater than hard limit {}",
                    u.soft, u.hard
                ),
            ));
        }
        out.insert(k.text.clone(), u);
    }
    Ok(out)
}

/// `deploy`: replicas, resources and restart_policy; the other keys are
/// Swarm's and rejected by name.
fn apply_deploy(
    svc: &mut Service,
    node: &Node,
    path: &str,
    service_limits: &Resources,
    mem_reservation: Option<i64>,
) -> Result<()> {
    let entries = map(node, path)?;
    check_keys(
        entries,
        path,
        &["replicas", "resources", "restart_policy"],
        &[
            "mode",
            "placement",
            "update_config",
            "rollback_config",
            "endpoint_mode",
            "labels",
        ],
    )?;
    if let Some(r) = node.get("replicas") {
        svc.replicas = uint(r, &join(path, "replicas"))?;
    }
    if let Some(res) = node.get("resources") {
        let rp = join(path, "resources");
        check_keys(map(res, &rp)?, &rp, &["limits", "reservations"], &[])?;
        if let Some(l) = res.get("limits") {
            let lp = join(&rp, "limits");
            check_keys(map(l, &lp)?, &lp, &["cpus", "memory", "pids"], &[])?;
            if let Some(c) = l.get("cpus") {
                let cpus = float(c, &join(&lp, "cpus"))?;
                both(service_limits.cpus, cpus, c, &join(&lp, "cpus"), "cpus")?;
                svc.limits.cpus = Some(cpus);
            }
            if let Some(m) = l.get("memory") {
                let mem = bytes(m, &join(&lp, "memory"))?;
                both(
                    service_limits.memory,
                    mem,
                    m,
                    &join(&lp, "memory"),
                    "mem_limit",
                )?;
                svc.limits.memory = Some(mem);
            }
            if let Some(p) = l.get("pids") {
                let pids = int(p, &join(&lp, "pids"))?;
                both(
                    service_limits.pids,
                    pids,
                    p,
                    &join(&lp, "pids"),
                    "pids_limit",
                )?;
                svc.limits.pids = Some(pids);
            }
        }
        if let Some(r) = res.get("reservations") {
            let rvp = join(&rp, "reservations");
            check_keys(
                map(r, &rvp)?,
                &rvp,
                &["cpus", "memory"],
                &["devices", "generic_resources"],
            )?;
            if let Some(c) = r.get("cpus") {
                svc.reservations.cpus = Some(float(c, &join(&rvp, "cpus"))?);
            }
            if let Some(m) = r.get("memory") {
                let mem = bytes(m, &join(&rvp, "memory"))?;
                both(
                    mem_reservation,
                    mem,
                    m,
                    &join(&rvp, "memory"),
                    "mem_reservation",
                )?;
                svc.reservations.memory = Some(mem);
            }
        }
    }
    if let Some(rp) = node.get("restart_policy") {
        let p = join(path, "restart_policy");
        check_keys(
            map(rp, &p)?,
            &p,
            &["condition", "max_attempts"],
            &["delay", "window"],
        )?;
        let condition = match rp.get("condition") {
            Some(c) => string(c, &join(&p, "condition"))?,
            None => "any".to_string(),
        };
        let attempts = match rp.get("max_attempts") {
            Some(m) => Some(uint::<u32>(m, &join(&p, "max_attempts"))?),
            None => None,
        };
        let restart = match (condition.as_str(), attempts) {
            ("none", _) => "no".to_string(),
            ("on-failure", Some(n)) => format!("on-failure:{n}"),
            ("on-failure", None) => "on-failure".to_string(),
            ("any", _) => "always".to_string(),
            _ => {
                let at = rp.get("condition").unwrap_or(rp);
                return Err(invalid(
                    at,
                    &join(&p, "condition"),
                    format!("invalid condition {condition:?} (expected none, on-failure or any)"),
                ));
            }
        };
        if let Some(r) = &svc.restart {
            if *r != restart {
                return Err(invalid(
                    rp,
                    &p,
                    format!("restart ({r}) and deploy.restart_policy ({restart}) differ"),
                ));
            }
        }
        svc.restart = Some(restart);
    }
    Ok(())
}

fn both<T: PartialEq + std::fmt::Debug>(
    service: Option<T>,
    deploy: T,
    at: &Node,
    path: &str,
    key: &str,
) -> Result<()> {
    match service {
        Some(s) if s != deploy => Err(invalid(
            at,
            path,
            format!("{key} ({s:?}) and {path} ({deploy:?}) differ"),
        )),
        _ => Ok(()),
    }
}

// ---- top level ---------------------------------------------------------------

pub fn network(key: &Key, node: &Node, project: &str) -> Result<Network> {
    let path = format!("networks.{}", key.text);
    let entries = map(node, &path)?;
    check_keys(
        entries,
        &path,
        &[
            "name",
            "external",
            "internal",
            "driver",
            "ipam",
            "labels",
            "attachable",
            "enable_ipv4",
        ],
        &["driver_opts", "enable_ipv6"],
    )?;
    let mut n = Network::default();
    let mut name = None;
    for (k, v) in entries {
        let p = join(&path, &k.text);
        match k.text.as_str() {
            "name" => name = opt_string(v, &p)?,
            "external" => n.external = external(v, &p, &mut name)?,
            "internal" => n.internal = boolean(v, &p)?,
            "attachable" => {
                boolean(v, &p)?;
            }
            "enable_ipv4" => {
                let enabled = boolean(v, &p)?;
                if !enabled {
                    return Err(Error::Unsupported {
                        loc: k.loc.clone(),
                        path: p,
                        detail: ": networks without IPv4".to_string(),
                    });
                }
            }
            "driver" => {
                let d = string(v, &p)?;
                if d != "bridge" {
                    return Err(invalid(
                        v,
                        &p,
                        format!("driver {d:?} is not supported by pier compose (only bridge)"),
                    ));
                }
                n.driver = Some(d);
            }
            "labels" => n.labels = kv_strings(v, &p)?,
            "ipam" => {
                check_keys(map(v, &p)?, &p, &["driver", "config"], &["options"])?;
                if let Some(d) = v.get("driver") {
                    let d = string(d, &join(&p, "driver"))?;
                    if d != "default" {
                        return Err(invalid(
                            v,
                            &join(&p, "driver"),
                            format!("ipam driver {d:?} is not supported (only default)"),
                        ));
                    }
                }
                if let Some(c) = v.get("config") {
                    let cp = join(&p, "config");
                    let items = seq(c, &cp)?;
                    if items.len() > 1 {
                        return Err(invalid(
                            c,
                            &cp,
                            "only one ipam config entry is supported by pier compose",
                        ));
                    }
                    if let Some(item) = items.first() {
                        let ip = idx(&cp, 0);
                        check_keys(
                            map(item, &ip)?,
                            &ip,
                            &["subnet", "gateway"],
                            &["ip_range", "aux_addresses"],
                        )?;
                        if let Some(s) = item.get("subnet") {
                            n.subnet = opt_string(s, &join(&ip, "subnet"))?;
                        }
                        if let Some(g) = item.get("gateway") {
                            n.gateway = opt_string(g, &join(&ip, "gateway"))?;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if n.external {
        if let Some((k, _)) = entries.iter().find(|(k, _)| {
            !matches!(k.text.as_str(), "name" | "external") && !k.text.starts_with("x-")
        }) {
            return Err(invalid_at(
                &k.loc,
                &join(&path, &k.text),
                "an external network takes no other settings than name",
            ));
        }
    }
    n.name = resource_name(name, n.external, project, &key.text);
    Ok(n)
}

/// `external: true` or the legacy `external: {name: NAME}`.
fn external(node: &Node, path: &str, name: &mut Option<String>) -> Result<bool> {
    match &node.kind {
        Kind::Map(entries) => {
            check_keys(entries, path, &["name"], &[])?;
            if let Some(n) = node.get("name") {
                *name = opt_string(n, &join(path, "name"))?;
            }
            Ok(true)
        }
        _ => boolean(node, path),
    }
}

fn resource_name(name: Option<String>, external: bool, project: &str, key: &str) -> String {
    match name {
        Some(n) if !n.is_empty() => n,
        _ if external => key.to_string(),
        _ => format!("{project}_{key}"),
    }
}

pub fn volume(key: &Key, node: &Node, project: &str) -> Result<Volume> {
    let path = format!("volumes.{}", key.text);
    let entries = map(node, &path)?;
    check_keys(
        entries,
        &path,
        &["name", "external", "driver", "labels"],
        &["driver_opts"],
    )?;
    let mut v = Volume::default();
    let mut name = None;
    for (k, val) in entries {
        let p = join(&path, &k.text);
        match k.text.as_str() {
            "name" => name = opt_string(val, &p)?,
            "external" => v.external = external(val, &p, &mut name)?,
            "driver" => {
                let d = string(val, &p)?;
                if d != "local" {
                    return Err(invalid(
                        val,
                        &p,
                        format!("driver {d:?} is not supported by pier compose (only local)"),
                    ));
                }
                v.driver = Some(d);
            }
            "labels" => v.labels = kv_strings(val, &p)?,
            _ => {}
        }
    }
    if v.external {
        if let Some((k, _)) = entries.iter().find(|(k, _)| {
            !matches!(k.text.as_str(), "name" | "external") && !k.text.starts_with("x-")
        }) {
            return Err(invalid_at(
                &k.loc,
                &join(&path, &k.text),
                "an external volume takes no other settings than name",
            ));
        }
    }
    v.name = resource_name(name, v.external, project, &key.text);
    Ok(v)
}

/// Names of the services that `depends_on` leads back to themselves.
pub fn dependency_cycle(services: &BTreeMap<String, Service>) -> Option<Vec<String>> {
    fn visit(
        name: &str,
        services: &BTreeMap<String, Service>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|s| s == name) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(name.to_string());
            return Some(cycle);
        }
        if done.contains(name) {
            return None;
        }
        stack.push(name.to_string());
        if let Some(s) = services.get(name) {
            let mut deps: Vec<&str> = s.depends_on.keys().map(String::as_str).collect();
            if let Some(t) = s
                .network_mode
                .as_deref()
                .and_then(|m| m.strip_prefix("service:"))
            {
                deps.push(t);
            }
            for d in deps {
                if let Some(c) = visit(d, services, done, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        done.insert(name.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for name in services.keys() {
        if let Some(c) = visit(name, services, &mut done, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}
