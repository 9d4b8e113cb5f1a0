//! The resolved compose model: what `load` produces after discovery,
//! interpolation, merging, `extends` and profile selection, with every
//! short syntax expanded to its long form. `pier compose config` prints it;
//! the engine in the `pier` crate runs it.
//!
//! Field names and defaults follow the Compose Specification
//! (<https://github.com/compose-spec/compose-spec/blob/main/spec.md>).

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A loaded project.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Project {
    /// Project name: `-p`, `COMPOSE_PROJECT_NAME`, the top-level `name`, or
    /// the directory of the first file; lower-case `[a-z0-9_-]`.
    pub name: String,
    /// Services enabled by the active profiles.
    pub services: BTreeMap<String, Service>,
    /// Networks, including the implicit `default` when a service uses it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    /// Named volumes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    /// Directory that relative paths resolve against (the first file's).
    #[serde(skip)]
    pub working_dir: PathBuf,
    /// Services left out by profiles (for `--remove-orphans` and messages).
    #[serde(skip)]
    pub disabled: BTreeMap<String, Service>,
}

/// One service, long syntax throughout.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Service {
    #[serde(skip)]
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Image reference (required: pier compose does not build).
    pub image: String,
    /// Overrides the image's Cmd; `Some(vec![])` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Overrides the image's Entrypoint; `Some(vec![])` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `environment` and `env_file` merged (env_file first, then
    /// `environment`); `None` means "take it from pier's own environment"
    /// (a bare `KEY`), dropped when unset there.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Exposed ports (documentation only, as in Docker), e.g. `"80/tcp"`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolume>,
    /// `tmpfs:` entries, `PATH[:OPTIONS]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    /// Networks the service joins; empty with no `network_mode` means
    /// `default`, which `load` fills in.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, ServiceNetwork>,
    /// `none`, `host`, `service:NAME` or `container:NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// `no`, `always`, `on-failure[:N]`, `unless-stopped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub init: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Resource limits, from `deploy.resources.limits` or the service-level
    /// `mem_limit`/`cpus`/`pids_limit`/`memswap_limit` (both given and
    /// different is an error, as in docker compose).
    #[serde(skip_serializing_if = "Resources::is_empty")]
    pub limits: Resources,
    /// `deploy.resources.reservations` / `mem_reservation`.
    #[serde(skip_serializing_if = "Resources::is_empty")]
    pub reservations: Resources,
    /// `deploy.replicas` or `scale` (default 1; both given and different is
    /// an error).
    #[serde(skip_serializing_if = "is_one")]
    pub replicas: u32,
    /// `x-*` keys of the service, kept for `config`.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// A published port, long syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Port {
    /// Container port.
    pub target: u16,
    /// Host port or range (`"8080"`, `"8000-8010"`); `None`: an ephemeral
    /// port, as `-p TARGET` does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// `tcp` (default) or `udp`.
    pub protocol: String,
}

/// A service mount, long syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceVolume {
    /// `volume`, `bind` or `tmpfs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Volume name (a key of `Project::volumes`, or empty for an anonymous
    /// volume) or absolute host path for a bind (relative paths resolved
    /// against the project directory by `load`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub target: String,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// bind: create the host path when missing (true for the short syntax).
    #[serde(skip_serializing_if = "is_false")]
    pub create_host_path: bool,
    /// bind: propagation (`rprivate`, `rshared`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    /// volume: do not copy the image's content into a new volume.
    #[serde(skip_serializing_if = "is_false")]
    pub nocopy: bool,
    /// tmpfs: size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_size: Option<u64>,
}

/// A service's attachment to one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceNetwork {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
}

/// One `depends_on` entry, long syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependsOn {
    /// `service_started` (the short syntax), `service_healthy` or
    /// `service_completed_successfully`.
    pub condition: String,
    /// Restart this service when the dependency is restarted by compose.
    pub restart: bool,
    /// A missing optional dependency is a warning, not an error.
    pub required: bool,
}

/// `healthcheck`, with durations in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", "…"]` (a string test becomes this) or
    /// `["NONE"]`; empty keeps the image's test.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period_ms: Option<u64>,
    /// `start_interval`: probe interval during the start period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval_ms: Option<u64>,
    /// `disable: true` (same as test `["NONE"]`).
    #[serde(skip_serializing_if = "is_false")]
    pub disable: bool,
}

/// An rlimit; the single-number form sets both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

/// Resource figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Memory plus swap, bytes (-1: unlimited); limits only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memswap: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }
}

/// A top-level network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Network {
    /// Name on the host: `PROJECT_KEY` unless `name:` or `external`.
    pub name: String,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// `ipam.config[].subnet` (at most one used by pier).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A top-level volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Volume {
    /// Name on the host: `PROJECT_KEY` unless `name:` or `external`.
    pub name: String,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}
