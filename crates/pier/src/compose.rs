//! The compose engine: runs a [`pier_compose::Project`] with pier's own
//! containers, networks and volumes. Everything it makes carries docker
//! compose's labels (`com.docker.compose.project`, `.service`,
//! `.container-number`, `.config-hash`, `.oneoff`), so the project's state
//! is read back from the containers themselves: no daemon, no extra file.
//!
//! `up` converges each service in dependency order: containers whose
//! config hash changed (or all, with `--force-recreate`) are recreated, the
//! missing replicas are created, extra ones removed, stopped ones started;
//! a service waits for its `depends_on` conditions (started, healthy,
//! completed successfully) first.

use crate::commands::{self, CreateOptions, ExecOptions};
use crate::container::{Containers, Record, State};
use crate::volume::Volumes;
use anyhow::{anyhow, bail, Context, Result};
use pier_compose::{config_hash, Project, Service};
use pier_net::{NetworkOptions, Networks};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The project a container, network or volume belongs to.
pub const LABEL_PROJECT: &str = "com.docker.compose.project";
/// The service a container runs.
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
/// The replica number, from 1.
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
/// [`pier_compose::config_hash`] of the service the container was made from.
pub const LABEL_HASH: &str = "com.docker.compose.config-hash";
/// `True` for `compose run` containers.
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
/// The network's key in the compose file.
pub const LABEL_NETWORK: &str = "com.docker.compose.network";
/// The volume's key in the compose file.
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";

/// A container of the project.
#[derive(Debug, Clone)]
pub struct Member {
    pub rec: Record,
    pub state: State,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
}

impl Member {
    fn running(&self) -> bool {
        matches!(
            self.state.status.as_str(),
            "running" | "restarting" | "paused" | "starting"
        )
    }

    /// The name docker compose prints in log prefixes: the container name
    /// without the project's prefix.
    fn short_name(&self, project: &str) -> String {
        self.rec
            .name
            .strip_prefix(&format!("{project}-"))
            .unwrap_or(&self.rec.name)
            .to_string()
    }
}

/// `up` options.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub detach: bool,
    pub wait: bool,
    pub force_recreate: bool,
    pub no_deps: bool,
    pub remove_orphans: bool,
    /// Services named on the command line (empty: all).
    pub services: Vec<String>,
}

/// `run` options.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub service: String,
    pub command: Vec<String>,
    pub detach: bool,
    pub rm: bool,
    pub name: Option<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub entrypoint: Option<String>,
    pub volumes: Vec<String>,
    pub publish: Vec<String>,
    pub service_ports: bool,
    pub no_deps: bool,
    /// `-T`: no terminal even when stdin is one.
    pub no_tty: bool,
}

/// `logs` options.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub tail: Option<usize>,
    pub timestamps: bool,
    pub no_color: bool,
    pub no_prefix: bool,
    pub services: Vec<String>,
}

/// A loaded project and where to run it.
pub struct Engine<'a> {
    /// pier's root.
    pub root: PathBuf,
    pub project: Project,
    /// OCI runtime for new containers (`None`: pier's default).
    pub runtime: Option<String>,
    /// Fetches an image missing from the store.
    pub pull: &'a dyn Fn(&str) -> Result<()>,
}

fn say(what: &str, name: &str, verb: &str) {
    eprintln!(" {what} {name}  {verb}");
}

impl Engine<'_> {
    fn containers(&self) -> Result<Containers> {
        Ok(Containers::open(&self.root)?)
    }

    /// The project's containers, by service and number.
    pub fn members(&self) -> Result<Vec<Member>> {
        let cs = self.containers()?;
        let mut out = Vec::new();
        for rec in cs.records()? {
            if rec.labels.get(LABEL_PROJECT) != Some(&self.project.name) {
                continue;
            }
            let Ok(state) = cs.observed(&rec.id) else {
                continue;
            };
            let service = rec.labels.get(LABEL_SERVICE).cloned().unwrap_or_default();
            let number = rec
                .labels
                .get(LABEL_NUMBER)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let oneoff = rec.labels.get(LABEL_ONEOFF).map(String::as_str) == Some("True");
            out.push(Member {
                rec,
                state,
                service,
                number,
                oneoff,
            });
        }
        out.sort_by(|a, b| {
            (&a.service, a.oneoff, a.number, &a.rec.name).cmp(&(
                &b.service,
                b.oneoff,
                b.number,
                &b.rec.name,
            ))
        });
        Ok(out)
    }

    fn service_members(&self, service: &str) -> Result<Vec<Member>> {
        Ok(self
            .members()?
            .into_iter()
            .filter(|m| m.service == service && !m.oneoff)
            .collect())
    }

    fn service(&self, name: &str) -> Result<&Service> {
        self.project
            .services
            .get(name)
            .ok_or_else(|| anyhow!("no such service: {name}"))
    }

    /// The services named (all when none are), with their dependencies
    /// unless `no_deps`, in start order. A service named on the command
    /// line is run even when its profile is not active, as docker compose
    /// does.
    pub fn select(&mut self, names: &[String], no_deps: bool) -> Result<Vec<String>> {
        for n in names {
            if !self.project.services.contains_key(n) {
                match self.project.disabled.remove(n) {
                    Some(s) => {
                        self.project.services.insert(n.clone(), s);
                    }
                    None => bail!("no such service: {n}"),
                }
            }
        }
        let mut want: BTreeSet<String> = if names.is_empty() {
            self.project.services.keys().cloned().collect()
        } else {
            names.iter().cloned().collect()
        };
        if !no_deps {
            let mut todo: Vec<String> = want.iter().cloned().collect();
            while let Some(s) = todo.pop() {
                for (dep, d) in self.dependencies(self.service(&s)?) {
                    if !self.project.services.contains_key(&dep) {
                        if d.required {
                            bail!("service {s:?} depends on undefined service {dep:?}");
                        }
                        continue;
                    }
                    if want.insert(dep.clone()) {
                        todo.push(dep);
                    }
                }
            }
        }
        self.order(&want)
    }

    /// What `svc` depends on: its `depends_on`, and the service whose
    /// network it shares (`network_mode: service:NAME`), which must be
    /// started first.
    fn dependencies(&self, svc: &Service) -> Vec<(String, pier_compose::DependsOn)> {
        let mut out: Vec<(String, pier_compose::DependsOn)> = svc
            .depends_on
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(other) = svc
            .network_mode
            .as_deref()
            .and_then(|m| m.strip_prefix("service:"))
        {
            if !svc.depends_on.contains_key(other) {
                out.push((
                    other.to_string(),
                    pier_compose::DependsOn {
                        condition: "service_started".into(),
                        restart: false,
                        required: true,
                    },
                ));
            }
        }
        out
    }

    /// Dependency order of `set` (dependencies first, then by name).
    fn order(&self, set: &BTreeSet<String>) -> Result<Vec<String>> {
        let mut done: Vec<String> = Vec::new();
        let mut left: BTreeSet<String> = set.clone();
        while !left.is_empty() {
            let ready: Vec<String> = left
                .iter()
                .filter(|s| {
                    self.dependencies(&self.project.services[*s])
                        .iter()
                        .all(|(d, _)| !left.contains(d))
                })
                .cloned()
                .collect();
            if ready.is_empty() {
                let names: Vec<&str> = left.iter().map(String::as_str).collect();
                bail!("dependency cycle between services: {}", names.join(", "));
            }
            for r in ready {
                left.remove(&r);
                done.push(r);
            }
        }
        Ok(done)
    }

    fn network_labels(&self, key: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_PROJECT.to_string(), self.project.name.clone()),
            (LABEL_NETWORK.to_string(), key.to_string()),
        ])
    }

    /// Makes the networks and volumes the services use; external ones must
    /// exist already.
    fn ensure_resources(&self, services: &[String]) -> Result<()> {
        let nets = Networks::open(&self.root)?;
        let mut keys = BTreeSet::new();
        for s in services {
            keys.extend(self.service(s)?.networks.keys().cloned());
        }
        for key in keys {
            let n = self
                .project
                .networks
                .get(&key)
                .ok_or_else(|| anyhow!("service network {key:?} is not declared"))?;
            let existing = nets.inspect(&n.name).ok();
            if n.external {
                if existing.is_none() {
                    bail!(
                        "network {} declared as external, but could not be found",
                        n.name
                    );
                }
                continue;
            }
            if existing.is_some() {
                continue;
            }
            let mut labels = n.labels.clone();
            labels.extend(self.network_labels(&key));
            nets.create(
                &n.name,
                NetworkOptions {
                    driver: n.driver.clone(),
                    subnet: n.subnet.clone(),
                    gateway: n.gateway.clone(),
                    internal: n.internal,
                    labels,
                },
            )
            .with_context(|| format!("failed to create network {}", n.name))?;
            say("Network", &n.name, "Created");
        }
        let vols = Volumes::open(&self.root)?;
        let mut keys = BTreeSet::new();
        for s in services {
            for v in &self.service(s)?.volumes {
                if v.kind == "volume" && !v.source.is_empty() {
                    keys.insert(v.source.clone());
                }
            }
        }
        for key in keys {
            let v = self
                .project
                .volumes
                .get(&key)
                .ok_or_else(|| anyhow!("service volume {key:?} is not declared"))?;
            if v.external {
                vols.get(&v.name)
                    .map_err(|_| anyhow!("external volume \"{}\" not found", v.name))?;
                continue;
            }
            let mut labels = v.labels.clone();
            labels.insert(LABEL_PROJECT.into(), self.project.name.clone());
            labels.insert(LABEL_VOLUME.into(), key.clone());
            let (_, new) = vols.create(Some(&v.name), labels)?;
            if new {
                say("Volume", &v.name, "Created");
            }
        }
        Ok(())
    }

    /// The running container that `network_mode: service:NAME` joins.
    fn container_of(&self, service: &str) -> Result<String> {
        self.service_members(service)?
            .into_iter()
            .find(Member::running)
            .map(|m| m.rec.name)
            .ok_or_else(|| {
                anyhow!("service {service:?} has no running container to share the network of")
            })
    }

    /// The `pier create` options that make replica `number` of `svc`.
    fn options(
        &self,
        svc: &Service,
        name: String,
        labels: BTreeMap<String, String>,
    ) -> Result<CreateOptions> {
        let p = &self.project;
        let mut o = CreateOptions {
            image: svc.image.clone(),
            cmd: svc.command.clone().unwrap_or_default(),
            entrypoint: svc.entrypoint.clone(),
            name: Some(name),
            workdir: svc.working_dir.clone(),
            user: svc.user.clone(),
            hostname: svc.hostname.clone(),
            read_only: svc.read_only,
            privileged: svc.privileged,
            cap_add: svc.cap_add.clone(),
            cap_drop: svc.cap_drop.clone(),
            security_opt: svc.security_opt.clone(),
            init: svc.init,
            tty: svc.tty,
            interactive: svc.stdin_open,
            restart: svc.restart.clone(),
            stop_signal: svc.stop_signal.clone(),
            stop_timeout: svc.stop_grace_period,
            runtime: self.runtime.clone(),
            tmpfs: svc.tmpfs.clone(),
            ..Default::default()
        };
        for (k, v) in &svc.environment {
            match v {
                Some(v) => o.env.push(format!("{k}={v}")),
                // A bare KEY takes pier's own value, and is dropped when unset.
                None => {
                    if let Ok(v) = std::env::var(k) {
                        o.env.push(format!("{k}={v}"));
                    }
                }
            }
        }
        for v in &svc.volumes {
            let mut m = format!("type={},target={}", v.kind, v.target);
            match v.kind.as_str() {
                "volume" if !v.source.is_empty() => {
                    let vol = p
                        .volumes
                        .get(&v.source)
                        .ok_or_else(|| anyhow!("service volume {:?} is not declared", v.source))?;
                    m.push_str(&format!(",source={}", vol.name));
                }
                "bind" => {
                    let src = PathBuf::from(&v.source);
                    if v.create_host_path && !src.exists() {
                        std::fs::create_dir_all(&src).with_context(|| {
                            format!("failed to create bind source {}", src.display())
                        })?;
                    }
                    m.push_str(&format!(",source={}", v.source));
                    if let Some(prop) = &v.propagation {
                        m.push_str(&format!(",bind-propagation={prop}"));
                    }
                }
                _ => {}
            }
            if v.read_only {
                m.push_str(",readonly");
            }
            if v.nocopy {
                m.push_str(",volume-nocopy");
            }
            if let Some(size) = v.tmpfs_size {
                m.push_str(&format!(",tmpfs-size={size}"));
            }
            o.mounts.push(m);
        }
        for port in &svc.ports {
            let ip = port.host_ip.as_deref().map(|ip| format!("{ip}:"));
            o.publish.push(match (&ip, &port.published) {
                (None, None) => format!("{}/{}", port.target, port.protocol),
                (ip, published) => format!(
                    "{}{}:{}/{}",
                    ip.as_deref().unwrap_or(""),
                    published.as_deref().unwrap_or(""),
                    port.target,
                    port.protocol
                ),
            });
        }
        match svc.network_mode.as_deref() {
            Some(mode) => {
                o.network = Some(match mode.strip_prefix("service:") {
                    Some(other) => format!("container:{}", self.container_of(other)?),
                    None => mode.to_string(),
                });
            }
            None => {
                let mut names = Vec::new();
                for (key, sn) in &svc.networks {
                    let n = p
                        .networks
                        .get(key)
                        .ok_or_else(|| anyhow!("service network {key:?} is not declared"))?;
                    names.push(n.name.clone());
                    for a in &sn.aliases {
                        if !o.network_alias.contains(a) {
                            o.network_alias.push(a.clone());
                        }
                    }
                    if sn.ipv4_address.is_some() {
                        bail!("service {:?}: networks.{key}.ipv4_address is not supported by pier yet", svc.name);
                    }
                }
                // Peers find a service by its name, as in docker compose.
                o.network_alias.insert(0, svc.name.clone());
                let mut names = names.into_iter();
                o.network = names.next();
                o.extra_networks = names.collect();
            }
        }
        if let Some(h) = &svc.healthcheck {
            if h.disable {
                o.no_healthcheck = true;
            } else {
                if !h.test.is_empty() {
                    o.health_test = Some(h.test.clone());
                }
                let ms = |v: Option<u64>| v.map(|n| format!("{n}ms"));
                o.health_interval = ms(h.interval_ms);
                o.health_timeout = ms(h.timeout_ms);
                o.health_start_period = ms(h.start_period_ms);
                o.health_retries = h.retries;
            }
        }
        let l = &svc.limits;
        o.memory = l.memory.map(|m| m.to_string());
        o.memory_swap = l.memswap.map(|m| m.to_string());
        o.cpus = l.cpus.map(|c| c.to_string());
        o.pids_limit = l.pids;
        let r = &svc.reservations;
        if r.cpus.is_some() || r.pids.is_some() || r.memswap.is_some() {
            bail!(
                "service {:?}: only memory reservations are supported by pier (cpus and pids reservations are not)",
                svc.name
            );
        }
        o.memory_reservation = r.memory.map(|m| m.to_string());
        for (name, u) in &svc.ulimits {
            o.ulimit.push(format!("{name}={}:{}", u.soft, u.hard));
        }
        o.sysctls = svc
            .sysctls
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        o.labels = svc
            .labels
            .iter()
            .chain(labels.iter())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        Ok(o)
    }

    fn labels(&self, svc: &Service, number: u32, oneoff: bool) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_PROJECT.to_string(), self.project.name.clone()),
            (LABEL_SERVICE.to_string(), svc.name.clone()),
            (LABEL_NUMBER.to_string(), number.to_string()),
            (LABEL_HASH.to_string(), config_hash(svc)),
            (
                LABEL_ONEOFF.to_string(),
                if oneoff { "True" } else { "False" }.to_string(),
            ),
        ])
    }

    fn container_name(&self, svc: &Service, number: u32) -> String {
        match &svc.container_name {
            Some(n) => n.clone(),
            None => format!("{}-{}-{number}", self.project.name, svc.name),
        }
    }

    fn create(&self, svc: &Service, number: u32) -> Result<Record> {
        let name = self.container_name(svc, number);
        let o = self.options(svc, name.clone(), self.labels(svc, number, false))?;
        let rec = commands::create(&self.root, &o, self.pull)
            .with_context(|| format!("failed to create container {name}"))?;
        say("Container", &name, "Created");
        Ok(rec)
    }

    fn start_one(&self, rec: &Record) -> Result<()> {
        commands::start(&self.root, rec, false)
            .with_context(|| format!("failed to start container {}", rec.name))?;
        say("Container", &rec.name, "Started");
        Ok(())
    }

    fn remove(&self, m: &Member, volumes: bool) -> Result<()> {
        let timeout = self
            .project
            .services
            .get(&m.service)
            .and_then(|s| s.stop_grace_period);
        if m.running() {
            say("Container", &m.rec.name, "Stopping");
            commands::stop(&self.root, &m.rec.id, timeout, None)?;
            say("Container", &m.rec.name, "Stopped");
        }
        commands::rm(&self.root, &m.rec.id, true, volumes)?;
        say("Container", &m.rec.name, "Removed");
        Ok(())
    }

    /// Brings `service`'s containers to its config: recreates changed ones,
    /// adds missing replicas, removes extra ones, starts stopped ones.
    /// `restart_running` restarts the containers it keeps running (a
    /// dependency with `restart: true` changed). Says whether any container
    /// was made, recreated or restarted.
    fn converge(&self, service: &str, force_recreate: bool, restart_running: bool) -> Result<bool> {
        let svc = self.service(service)?;
        let hash = config_hash(svc);
        let mut have = BTreeSet::new();
        let mut changed = false;
        for m in self.service_members(service)? {
            if m.number == 0 || m.number > svc.replicas || !have.insert(m.number) {
                self.remove(&m, false)?;
                continue;
            }
            if force_recreate || m.rec.labels.get(LABEL_HASH) != Some(&hash) {
                self.remove(&m, false)?;
                let rec = self.create(svc, m.number)?;
                self.start_one(&rec)?;
                changed = true;
            } else if m.running() && restart_running {
                self.restart_one(&m)?;
                changed = true;
            } else if m.running() {
                say("Container", &m.rec.name, "Running");
            } else {
                self.start_one(&m.rec)?;
                changed = true;
            }
        }
        for n in 1..=svc.replicas {
            if !have.contains(&n) {
                let rec = self.create(svc, n)?;
                self.start_one(&rec)?;
                changed = true;
            }
        }
        Ok(changed)
    }

    fn restart_one(&self, m: &Member) -> Result<()> {
        let timeout = self.service(&m.service)?.stop_grace_period;
        say("Container", &m.rec.name, "Restarting");
        commands::stop(&self.root, &m.rec.id, timeout, None)?;
        commands::start(&self.root, &m.rec, false)
            .with_context(|| format!("failed to start container {}", m.rec.name))?;
        say("Container", &m.rec.name, "Started");
        Ok(())
    }

    /// Whether `service` has a `restart: true` dependency among `changed`.
    fn follows_restart(&self, service: &str, changed: &BTreeSet<String>) -> Result<bool> {
        Ok(self
            .service(service)?
            .depends_on
            .iter()
            .any(|(dep, d)| d.restart && changed.contains(dep)))
    }

    /// Waits until the `depends_on` conditions of `service` hold for the
    /// dependencies in `started`.
    fn wait_dependencies(&self, service: &str, started: &BTreeSet<String>) -> Result<()> {
        let svc = self.service(service)?;
        for (dep, d) in &svc.depends_on {
            if !started.contains(dep) {
                continue;
            }
            let members = self.service_members(dep)?;
            if members.is_empty() {
                if d.required {
                    bail!("dependency {dep:?} of service {service:?} has no container");
                }
                continue;
            }
            for m in members {
                self.wait_condition(&m, &d.condition)?;
            }
        }
        Ok(())
    }

    fn wait_condition(&self, m: &Member, condition: &str) -> Result<()> {
        let cs = self.containers()?;
        let name = &m.rec.name;
        match condition {
            "service_started" => return Ok(()),
            "service_healthy" if m.rec.health.is_none() => {
                bail!("dependency failed to start: container {name} has no healthcheck configured")
            }
            "service_healthy" | "service_completed_successfully" => {}
            other => bail!("unknown depends_on condition {other:?}"),
        }
        say("Container", name, "Waiting");
        loop {
            let st = cs.observed(&m.rec.id)?;
            let exited = matches!(st.status.as_str(), "exited" | "dead");
            if condition == "service_healthy" {
                match st.health.as_ref().map(|h| h.status.as_str()) {
                    Some("healthy") => {
                        say("Container", name, "Healthy");
                        return Ok(());
                    }
                    Some("unhealthy") => {
                        bail!("dependency failed to start: container {name} is unhealthy")
                    }
                    _ if exited => bail!(
                        "dependency failed to start: container {name} exited ({})",
                        st.exit_code
                    ),
                    _ => {}
                }
            } else if exited && !crate::container::process_alive(st.monitor_pid, st.monitor_start) {
                if st.exit_code != 0 {
                    bail!(
                        "service {:?} didn't complete successfully: exit {}",
                        m.service,
                        st.exit_code
                    );
                }
                say("Container", name, "Exited");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn orphans(&self) -> Result<Vec<Member>> {
        Ok(self
            .members()?
            .into_iter()
            .filter(|m| {
                !self.project.services.contains_key(&m.service)
                    && !self.project.disabled.contains_key(&m.service)
            })
            .collect())
    }

    fn handle_orphans(&self, remove: bool) -> Result<()> {
        let orphans = self.orphans()?;
        if orphans.is_empty() {
            return Ok(());
        }
        if remove {
            for m in &orphans {
                self.remove(m, false)?;
            }
        } else {
            let names: Vec<&str> = orphans.iter().map(|m| m.rec.name.as_str()).collect();
            eprintln!(
                "WARN: Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            );
        }
        Ok(())
    }

    /// Starts the services (and what they depend on) in order.
    fn bring_up(&mut self, services: &[String], no_deps: bool, force: bool) -> Result<Vec<String>> {
        let order = self.select(services, no_deps)?;
        self.ensure_resources(&order)?;
        let mut started = BTreeSet::new();
        let mut changed = BTreeSet::new();
        for s in &order {
            self.wait_dependencies(s, &started)?;
            let follow = self.follows_restart(s, &changed)?;
            if self.converge(s, force, follow)? {
                changed.insert(s.clone());
            }
            started.insert(s.clone());
        }
        Ok(order)
    }

    /// `pier compose up`.
    pub fn up(&mut self, o: &UpOptions) -> Result<i32> {
        if !o.detach {
            // Before any thread exists, so Ctrl-C reaches our loop below.
            crate::client::block_signals();
        }
        let order = self.bring_up(&o.services, o.no_deps, o.force_recreate)?;
        self.handle_orphans(o.remove_orphans)?;
        if o.detach {
            if o.wait {
                self.wait_ready(&order)?;
            }
            return Ok(0);
        }
        let members: Vec<Member> = self
            .members()?
            .into_iter()
            .filter(|m| !m.oneoff && order.contains(&m.service))
            .collect();
        let printer = Arc::new(Printer::new(
            &self.project.name,
            &members,
            false,
            false,
            false,
        ));
        let cs = self.containers()?;
        let threads: Vec<_> = members
            .iter()
            .map(|m| {
                let (cs, m, printer) = (cs.clone(), m.clone(), printer.clone());
                std::thread::spawn(move || {
                    let _ = commands::stream_logs(&cs, &m.rec, true, None, &mut |e| {
                        printer.print(&m, e);
                        Ok(())
                    });
                    printer.exited(&m, &cs);
                })
            })
            .collect();
        let mut interrupted = None;
        while threads.iter().any(|t| !t.is_finished()) {
            if let Some(sig) = wait_signal(Duration::from_millis(200)) {
                interrupted = Some(sig);
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                let mut rev = order.clone();
                rev.reverse();
                let mut running = Vec::new();
                for s in &rev {
                    running.extend(self.service_members(s)?.into_iter().filter(Member::running));
                }
                let plan = self.stop_plan(&running, None);
                let root = &self.root;
                std::thread::scope(|sc| -> Result<()> {
                    let stopping = sc.spawn(|| stop_groups(root, &plan));
                    while !stopping.is_finished() {
                        if wait_signal(Duration::from_millis(200)).is_some() {
                            for m in &running {
                                let _ = commands::kill(root, &m.rec.id, "SIGKILL");
                            }
                        }
                    }
                    stopping
                        .join()
                        .map_err(|_| anyhow!("stopping the containers panicked"))?
                })?;
                break;
            }
        }
        for t in threads {
            let _ = t.join();
        }
        Ok(match interrupted {
            Some(sig) => 128 + sig,
            None => 0,
        })
    }

    /// `--wait`: until every container runs, and is healthy if it has a
    /// health check.
    fn wait_ready(&self, services: &[String]) -> Result<()> {
        for s in services {
            for m in self.service_members(s)? {
                let cond = if m.rec.health.is_some() {
                    "service_healthy"
                } else {
                    "service_started"
                };
                self.wait_condition(&m, cond)?;
                let st = self.containers()?.observed(&m.rec.id)?;
                if matches!(st.status.as_str(), "exited" | "dead") {
                    bail!("container {} exited ({})", m.rec.name, st.exit_code);
                }
            }
        }
        Ok(())
    }

    /// `pier compose down`.
    pub fn down(&self, volumes: bool, remove_orphans: bool, timeout: Option<u64>) -> Result<()> {
        let members = self.members()?;
        let known = |s: &str| {
            self.project.services.contains_key(s) || self.project.disabled.contains_key(s)
        };
        // Dependents first: services of inactive profiles (they may depend
        // on enabled ones, never the reverse), then the reverse start order.
        let mut order: Vec<String> = self.project.disabled.keys().cloned().collect();
        let mut enabled = self.order(&self.project.services.keys().cloned().collect())?;
        enabled.reverse();
        order.extend(enabled);
        let mut doomed: Vec<&Member> = Vec::new();
        for s in &order {
            doomed.extend(members.iter().filter(|m| &m.service == s));
        }
        if remove_orphans {
            doomed.extend(members.iter().filter(|m| !known(&m.service)));
        }
        let doomed: Vec<Member> = doomed.into_iter().cloned().collect();
        self.stop_in_order(&doomed, timeout)?;
        // Stopped containers hold nothing of each other: remove them at once.
        let root = &self.root;
        std::thread::scope(|sc| -> Result<()> {
            let handles: Vec<_> = doomed
                .iter()
                .map(|m| {
                    sc.spawn(move || -> Result<()> {
                        commands::rm(root, &m.rec.id, true, volumes)?;
                        say("Container", &m.rec.name, "Removed");
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| anyhow!("removing a container panicked"))??;
            }
            Ok(())
        })?;
        if !remove_orphans {
            self.handle_orphans(false)?;
        }
        let nets = Networks::open(&self.root)?;
        for (key, n) in &self.project.networks {
            if n.external {
                continue;
            }
            let Ok(existing) = nets.inspect(&n.name) else {
                continue;
            };
            if existing.labels.get(LABEL_PROJECT) != Some(&self.project.name) {
                eprintln!(
                    "WARN: network {} ({key}) was not created by this project: left in place",
                    n.name
                );
                continue;
            }
            say("Network", &n.name, "Removing");
            match nets.remove(&n.name) {
                Ok(()) => say("Network", &n.name, "Removed"),
                Err(e) => eprintln!("WARN: network {}: {e}", n.name),
            }
        }
        if volumes {
            let vols = Volumes::open(&self.root)?;
            for v in self.project.volumes.values() {
                if v.external || vols.get(&v.name).is_err() {
                    continue;
                }
                let users = commands::volume_users(&self.root, &v.name)?;
                vols.remove(&v.name, &users)
                    .with_context(|| format!("failed to remove volume {}", v.name))?;
                say("Volume", &v.name, "Removed");
            }
        }
        Ok(())
    }

    fn selected_members(&self, services: &[String], all: bool) -> Result<Vec<Member>> {
        for s in services {
            if !self.project.services.contains_key(s) && !self.project.disabled.contains_key(s) {
                bail!("no such service: {s}");
            }
        }
        Ok(self
            .members()?
            .into_iter()
            .filter(|m| services.is_empty() || services.contains(&m.service))
            .filter(|m| all || !m.oneoff)
            .collect())
    }

    /// `pier compose ps`.
    pub fn ps(&self, services: &[String], all: bool, quiet: bool, format: &str) -> Result<()> {
        let members: Vec<Member> = self
            .selected_members(services, true)?
            .into_iter()
            .filter(|m| all || m.running())
            .collect();
        let mut out = std::io::stdout().lock();
        if quiet {
            for m in &members {
                writeln!(out, "{}", m.rec.id)?;
            }
            return Ok(());
        }
        let now = SystemTime::now();
        let command = |m: &Member| {
            let mut args = m.rec.run.entrypoint.clone().unwrap_or_default();
            args.extend(m.rec.run.cmd.iter().cloned());
            format!("\"{}\"", args.join(" "))
        };
        let created = |m: &Member| {
            crate::time::parse(&m.rec.created)
                .and_then(|t| now.duration_since(t).ok())
                .map(|d| format!("{} ago", crate::time::human(d)))
                .unwrap_or_default()
        };
        match format {
            "json" => {
                for m in &members {
                    let v = serde_json::json!({
                        "ID": m.rec.id,
                        "Name": m.rec.name,
                        "Image": m.rec.image,
                        "Command": command(m),
                        "Project": self.project.name,
                        "Service": m.service,
                        "Created": m.rec.created,
                        "State": m.state.status,
                        "Status": commands::status_text(&m.state, now),
                        "Health": m.state.health.as_ref().map(|h| h.status.clone()).unwrap_or_default(),
                        "ExitCode": m.state.exit_code,
                        "Publishers": m.state.ports,
                        "Labels": m.rec.labels,
                    });
                    writeln!(out, "{v}")?;
                }
            }
            "table" | "" => {
                let mut rows = vec![[
                    "NAME".to_string(),
                    "IMAGE".into(),
                    "COMMAND".into(),
                    "SERVICE".into(),
                    "CREATED".into(),
                    "STATUS".into(),
                    "PORTS".into(),
                ]];
                for m in &members {
                    rows.push([
                        m.rec.name.clone(),
                        m.rec.image.clone(),
                        command(m),
                        m.service.clone(),
                        created(m),
                        commands::status_text(&m.state, now),
                        m.state.ports.join(", "),
                    ]);
                }
                commands::print_table(&mut out, &rows)?;
            }
            other => bail!("invalid --format {other:?}: want table or json"),
        }
        Ok(())
    }

    /// `pier compose logs`.
    pub fn logs(&self, o: &LogOptions) -> Result<()> {
        let members = self.selected_members(&o.services, true)?;
        let printer = Arc::new(Printer::new(
            &self.project.name,
            &members,
            o.no_color,
            o.no_prefix,
            o.timestamps,
        ));
        let cs = self.containers()?;
        if !o.follow {
            for m in &members {
                commands::stream_logs(&cs, &m.rec, false, o.tail, &mut |e| {
                    printer.print(m, e);
                    Ok(())
                })?;
            }
            return Ok(());
        }
        let threads: Vec<_> = members
            .into_iter()
            .map(|m| {
                let (cs, printer, tail) = (cs.clone(), printer.clone(), o.tail);
                std::thread::spawn(move || {
                    commands::stream_logs(&cs, &m.rec, true, tail, &mut |e| {
                        printer.print(&m, e);
                        Ok(())
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().map_err(|_| anyhow!("a log reader panicked"))??;
        }
        Ok(())
    }

    /// The container of `service` numbered `index`.
    fn replica(&self, service: &str, index: u32) -> Result<Member> {
        self.service(service)?;
        self.service_members(service)?
            .into_iter()
            .find(|m| m.number == index)
            .ok_or_else(|| anyhow!("service {service:?} has no container number {index}"))
    }

    /// `pier compose exec`.
    pub fn exec(&self, service: &str, index: u32, cmd: &[String], o: &ExecOptions) -> Result<i32> {
        let m = self.replica(service, index)?;
        if !m.running() {
            bail!("service {service:?} is not running");
        }
        commands::exec(&self.root, &m.rec.id, cmd, o)
    }

    /// `pier compose run`: a one-off container of a service, after its
    /// dependencies are up.
    pub fn run(&mut self, o: &RunOptions) -> Result<i32> {
        self.select(std::slice::from_ref(&o.service), true)?;
        let deps: Vec<String> = self
            .service(&o.service)?
            .depends_on
            .keys()
            .cloned()
            .collect();
        let deps: Vec<String> = deps
            .into_iter()
            .filter(|d| self.project.services.contains_key(d))
            .collect();
        if !o.no_deps && !deps.is_empty() {
            let order = self.bring_up(&deps, false, false)?;
            let started: BTreeSet<String> = order.into_iter().collect();
            self.wait_dependencies(&o.service, &started)?;
        }
        self.ensure_resources(std::slice::from_ref(&o.service))?;
        let mut svc = self.service(&o.service)?.clone();
        if !o.command.is_empty() {
            svc.command = Some(o.command.clone());
        }
        if let Some(e) = &o.entrypoint {
            svc.entrypoint = Some(if e.is_empty() {
                vec![]
            } else {
                vec![e.clone()]
            });
        }
        if let Some(u) = &o.user {
            svc.user = Some(u.clone());
        }
        if let Some(w) = &o.workdir {
            svc.working_dir = Some(w.clone());
        }
        if !o.service_ports {
            svc.ports.clear();
        }
        // A one-off is never restarted and never shares the service's name.
        svc.restart = None;
        svc.container_name = None;
        let tty = !o.no_tty && std::io::stdin().is_terminal();
        svc.tty = tty;
        svc.stdin_open = !o.detach;
        let name = match &o.name {
            Some(n) => n.clone(),
            None => format!(
                "{}-{}-run-{}",
                self.project.name,
                svc.name,
                &crate::names::new_id()?[..12]
            ),
        };
        let mut opts = self.options(&svc, name.clone(), self.labels(&svc, 1, true))?;
        opts.env.extend(o.env.iter().cloned());
        opts.volumes.extend(o.volumes.iter().cloned());
        opts.publish.extend(o.publish.iter().cloned());
        opts.rm = o.rm;
        let rec = commands::create(&self.root, &opts, self.pull)?;
        if o.detach {
            commands::start(&self.root, &rec, false)?;
            println!("{name}");
            return Ok(0);
        }
        commands::start(&self.root, &rec, true)
    }

    fn members_in_order(&self, services: &[String], reverse: bool) -> Result<Vec<Member>> {
        let set: BTreeSet<String> = if services.is_empty() {
            self.project.services.keys().cloned().collect()
        } else {
            for s in services {
                self.service(s)?;
            }
            services.iter().cloned().collect()
        };
        let mut order = self.order(&set)?;
        if reverse {
            order.reverse();
        }
        let mut out = Vec::new();
        for s in &order {
            out.extend(self.service_members(s)?);
        }
        Ok(out)
    }

    /// `pier compose start`: starts existing containers.
    pub fn start(&self, services: &[String]) -> Result<()> {
        let members = self.members_in_order(services, false)?;
        if members.is_empty() {
            bail!("no containers to start");
        }
        let mut started = BTreeSet::new();
        for m in members {
            self.wait_dependencies(&m.service, &started)?;
            if !m.running() {
                self.start_one(&m.rec)?;
            }
            started.insert(m.service.clone());
        }
        Ok(())
    }

    /// `pier compose stop`.
    pub fn stop(&self, services: &[String], timeout: Option<u64>) -> Result<()> {
        self.stop_in_order(&self.members_in_order(services, true)?, timeout)
    }

    /// Stops `members` (in reverse dependency order, grouped by service):
    /// see [`stop_groups`]. `timeout` overrides `stop_grace_period`.
    fn stop_in_order(&self, members: &[Member], timeout: Option<u64>) -> Result<()> {
        stop_groups(&self.root, &self.stop_plan(members, timeout))
    }

    fn stop_plan(&self, members: &[Member], timeout: Option<u64>) -> Vec<(Member, Option<u64>)> {
        members
            .iter()
            .map(|m| {
                let t = timeout.or_else(|| {
                    self.project
                        .services
                        .get(&m.service)
                        .and_then(|s| s.stop_grace_period)
                });
                (m.clone(), t)
            })
            .collect()
    }

    /// `pier compose restart`.
    /// Services that depend on a restarted one with `restart: true` are
    /// restarted after it, as docker compose does.
    pub fn restart(&self, services: &[String], timeout: Option<u64>) -> Result<()> {
        let mut set: BTreeSet<String> = if services.is_empty() {
            self.project.services.keys().cloned().collect()
        } else {
            services.iter().cloned().collect()
        };
        loop {
            let more: Vec<String> = self
                .project
                .services
                .iter()
                .filter(|(name, s)| {
                    !set.contains(*name)
                        && s.depends_on
                            .iter()
                            .any(|(d, dep)| dep.restart && set.contains(d))
                })
                .map(|(name, _)| name.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            set.extend(more);
        }
        let all: Vec<String> = set.into_iter().collect();
        self.stop(&all, timeout)?;
        let mut started = BTreeSet::new();
        for m in self.members_in_order(&all, false)? {
            self.wait_dependencies(&m.service, &started)?;
            self.start_one(&m.rec)?;
            started.insert(m.service.clone());
        }
        Ok(())
    }

    /// `pier compose kill`.
    pub fn kill(&self, services: &[String], signal: &str) -> Result<()> {
        for m in self.members_in_order(services, true)? {
            if m.running() {
                commands::kill(&self.root, &m.rec.id, signal)?;
                say("Container", &m.rec.name, "Killed");
            }
        }
        Ok(())
    }

    /// `pier compose rm`: removes stopped containers (all, with `stop`).
    pub fn rm(&self, services: &[String], force: bool, stop: bool, volumes: bool) -> Result<()> {
        if stop {
            self.stop(services, None)?;
        }
        let doomed: Vec<Member> = self
            .selected_members(services, true)?
            .into_iter()
            .filter(|m| !m.running())
            .collect();
        if doomed.is_empty() {
            eprintln!("No stopped containers");
            return Ok(());
        }
        let names: Vec<&str> = doomed.iter().map(|m| m.rec.name.as_str()).collect();
        if !force {
            if !std::io::stdin().is_terminal() {
                bail!(
                    "would remove {}: pass -f to remove without a terminal to confirm",
                    names.join(", ")
                );
            }
            eprint!(
                "Going to remove {}\n? Are you sure you want to remove? (y/N) ",
                names.join(", ")
            );
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                return Ok(());
            }
        }
        for m in doomed {
            commands::rm(&self.root, &m.rec.id, true, volumes)?;
            say("Container", &m.rec.name, "Removed");
        }
        Ok(())
    }

    /// `pier compose top`.
    pub fn top(&self, services: &[String]) -> Result<()> {
        for m in self.selected_members(services, false)? {
            if m.running() {
                println!("{}", m.rec.name);
                commands::top(&self.root, &m.rec.id)?;
                println!();
            }
        }
        Ok(())
    }

    /// `pier compose images`.
    pub fn images(&self, services: &[String]) -> Result<()> {
        let mut rows = vec![[
            "CONTAINER".to_string(),
            "REPOSITORY".into(),
            "TAG".into(),
            "IMAGE ID".into(),
        ]];
        for m in self.selected_members(services, false)? {
            let name = &m.rec.image_name;
            let (repo, tag) = match name.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                _ => (name.clone(), "<none>".into()),
            };
            let id = m.rec.image_id.trim_start_matches("sha256:");
            rows.push([
                m.rec.name.clone(),
                repo,
                tag,
                id[..12.min(id.len())].to_string(),
            ]);
        }
        commands::print_table(&mut std::io::stdout().lock(), &rows)
    }

    /// `pier compose pull`.
    pub fn pull_images(&mut self, services: &[String]) -> Result<()> {
        let order = self.select(services, true)?;
        let mut done = BTreeSet::new();
        for s in order {
            let image = self.service(&s)?.image.clone();
            if done.insert(image.clone()) {
                (self.pull)(&image)
                    .with_context(|| format!("failed to pull {image} for service {s}"))?;
            }
        }
        Ok(())
    }
}

/// Stops the running containers of `plan` with their timeouts: those of
/// one service at once, one service after another, as docker compose does.
fn stop_groups(root: &std::path::Path, plan: &[(Member, Option<u64>)]) -> Result<()> {
    for group in plan.chunk_by(|a, b| a.0.service == b.0.service) {
        std::thread::scope(|sc| -> Result<()> {
            let handles: Vec<_> = group
                .iter()
                .filter(|(m, _)| m.running())
                .map(|(m, t)| {
                    say("Container", &m.rec.name, "Stopping");
                    sc.spawn(move || -> Result<()> {
                        commands::stop(root, &m.rec.id, *t, None)?;
                        say("Container", &m.rec.name, "Stopped");
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| anyhow!("stopping a container panicked"))??;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Waits up to `timeout` for SIGINT or SIGTERM (blocked by
/// [`crate::client::block_signals`]); returns its number.
fn wait_signal(timeout: Duration) -> Option<i32> {
    // SAFETY: sigset operations on a set we own; sigtimedwait reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        let sig = libc::sigtimedwait(&set, std::ptr::null_mut(), &ts);
        (sig > 0).then_some(sig)
    }
}

/// Prints log lines prefixed by the container, coloured per container on a
/// terminal, as docker compose does.
struct Printer {
    project: String,
    width: usize,
    colors: BTreeMap<String, &'static str>,
    prefix: bool,
    timestamps: bool,
    out: Mutex<()>,
}

const COLORS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

impl Printer {
    fn new(
        project: &str,
        members: &[Member],
        no_color: bool,
        no_prefix: bool,
        timestamps: bool,
    ) -> Printer {
        let color = !no_color && std::io::stdout().is_terminal();
        let mut colors = BTreeMap::new();
        for (i, m) in members.iter().enumerate() {
            if color {
                colors.insert(m.rec.id.clone(), COLORS[i % COLORS.len()]);
            }
        }
        Printer {
            project: project.to_string(),
            width: members
                .iter()
                .map(|m| m.short_name(project).len())
                .max()
                .unwrap_or(0),
            colors,
            prefix: !no_prefix,
            timestamps,
            out: Mutex::new(()),
        }
    }

    fn prefix(&self, m: &Member) -> String {
        if !self.prefix {
            return String::new();
        }
        let p = format!("{:<w$}  | ", m.short_name(&self.project), w = self.width);
        match self.colors.get(&m.rec.id) {
            Some(c) => format!("\x1b[{c}m{p}\x1b[0m"),
            None => p,
        }
    }

    fn print(&self, m: &Member, e: &crate::logs::Entry) {
        let mut text = e.log.clone();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let ts = if self.timestamps {
            format!("{} ", e.time)
        } else {
            String::new()
        };
        let line = format!("{}{ts}{text}", self.prefix(m));
        let _g = self.out.lock();
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }

    fn exited(&self, m: &Member, cs: &Containers) {
        let code = cs.observed(&m.rec.id).map(|s| s.exit_code).unwrap_or(-1);
        let _g = self.out.lock();
        println!("{}exited with code {code}", self.prefix(m));
    }
}
