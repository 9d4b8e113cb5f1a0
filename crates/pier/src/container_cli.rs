//! The container and volume commands of the `pier` binary: argument
//! parsing only; the work is in the pier library.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use pier::commands::{self, CreateOptions, ExecOptions};
use pier::container::Containers;
use pier::volume::Volumes;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Flags shared by `create` and `run`.
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Print help (`-h` is --hostname, as in Docker).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Assign a name to the container.
    #[arg(long)]
    name: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to pass pier's own).
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long = "env-file")]
    env_file: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// User name or uid, with an optional group: name|uid[:group|gid].
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Overwrite the image's entrypoint ("" clears it).
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container hostname (default: the short id).
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Bind mount or volume: [SOURCE:]TARGET[:ro|rw|rshared|…].
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    /// Mount: type=bind|volume|tmpfs,source=…,target=…[,readonly].
    #[arg(long)]
    mount: Vec<String>,
    /// tmpfs mount: PATH[:OPTIONS].
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Publish a port: [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp].
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Network: none, host, bridge (default) or a network name.
    #[arg(long = "network", alias = "net")]
    network: Option<String>,
    /// Extra name for the container on its network.
    #[arg(long = "network-alias")]
    network_alias: Vec<String>,
    /// Mount the root filesystem read-only.
    #[arg(long = "read-only")]
    read_only: bool,
    /// Add a Linux capability (or ALL).
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop a Linux capability (or ALL).
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// Give the container every capability, no seccomp, all devices.
    #[arg(long)]
    privileged: bool,
    /// seccomp=PROFILE.json|unconfined, no-new-privileges.
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// Memory limit (e.g. 512m, 1g).
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long = "memory-swap")]
    memory_swap: Option<String>,
    /// Memory soft limit (e.g. 256m).
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    /// Number of CPUs (e.g. 1.5).
    #[arg(long)]
    cpus: Option<String>,
    /// Maximum number of processes.
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Resource limit: NAME=SOFT[:HARD].
    #[arg(long)]
    ulimit: Vec<String>,
    /// Restart policy: no, always, unless-stopped, on-failure[:N].
    #[arg(long)]
    restart: Option<String>,
    /// Command to check health (run with /bin/sh -c).
    #[arg(long = "health-cmd")]
    health_cmd: Option<String>,
    /// Time between health checks (e.g. 30s).
    #[arg(long = "health-interval")]
    health_interval: Option<String>,
    /// Maximum time for one check.
    #[arg(long = "health-timeout")]
    health_timeout: Option<String>,
    /// Failures in a row before unhealthy.
    #[arg(long = "health-retries")]
    health_retries: Option<u32>,
    /// Grace period before failures count.
    #[arg(long = "health-start-period")]
    health_start_period: Option<String>,
    /// Disable the image's HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
    /// Run an init (tini) as pid 1 that reaps zombies and forwards signals.
    #[arg(long)]
    init: bool,
    /// OCI runtime: berth (default), runc, crun, youki, or a path.
    #[arg(long)]
    runtime: Option<String>,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Allocate a terminal.
    #[arg(short = 't', long)]
    tty: bool,
    /// Keep stdin open.
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Set a label KEY=VALUE.
    #[arg(short = 'l', long = "label")]
    label: Vec<String>,
    /// Namespaced kernel parameter KEY=VALUE.
    #[arg(long)]
    sysctl: Vec<String>,
    /// Signal that stops the container (default SIGTERM or the image's).
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Seconds to wait for a stop before SIGKILL (default 10).
    #[arg(long = "stop-timeout")]
    stop_timeout: Option<u64>,
    /// Image.
    image: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

impl CreateArgs {
    fn options(&self) -> CreateOptions {
        CreateOptions {
            image: self.image.clone(),
            cmd: self.command.clone(),
            name: self.name.clone(),
            env: self.env.clone(),
            env_file: self.env_file.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            entrypoint: self.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    Vec::new()
                } else {
                    vec![e.clone()]
                }
            }),
            hostname: self.hostname.clone(),
            volumes: self.volume.clone(),
            mounts: self.mount.clone(),
            tmpfs: self.tmpfs.clone(),
            publish: self.publish.clone(),
            network: self.network.clone(),
            network_alias: self.network_alias.clone(),
            extra_networks: Vec::new(),
            read_only: self.read_only,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            security_opt: self.security_opt.clone(),
            memory: self.memory.clone(),
            memory_swap: self.memory_swap.clone(),
            memory_reservation: self.memory_reservation.clone(),
            cpus: self.cpus.clone(),
            pids_limit: self.pids_limit,
            ulimit: self.ulimit.clone(),
            restart: self.restart.clone(),
            health_cmd: self.health_cmd.clone(),
            health_test: None,
            health_interval: self.health_interval.clone(),
            health_timeout: self.health_timeout.clone(),
            health_retries: self.health_retries,
            health_start_period: self.health_start_period.clone(),
            no_healthcheck: self.no_healthcheck,
            init: self.init,
            runtime: self.runtime.clone(),
            rm: self.rm,
            tty: self.tty,
            interactive: self.interactive,
            labels: self.label.clone(),
            sysctls: self.sysctl.clone(),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
        }
    }
}

/// Container commands, also reachable as `pier container <cmd>`.
#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Create and start a container.
    ///
    /// Examples:
    ///   pier run --rm busybox echo hello
    ///   pier run -d --name web -p 8080:80 busybox httpd -f
    ///   pier run -it busybox sh
    #[command(disable_help_flag = true)]
    Run {
        /// Run in the background and print the container id.
        #[arg(short = 'd', long)]
        detach: bool,
        #[command(flatten)]
        args: Box<CreateArgs>,
    },
    /// Create a container without starting it.
    #[command(disable_help_flag = true)]
    Create {
        #[command(flatten)]
        args: Box<CreateArgs>,
    },
    /// Start stopped containers.
    Start {
        /// Attach to the output (and exit with the container's code).
        #[arg(short = 'a', long)]
        attach: bool,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop running containers (stop signal, then SIGKILL after a timeout).
    Stop {
        /// Seconds to wait before SIGKILL.
        #[arg(short = 't', long = "time", alias = "timeout")]
        time: Option<u64>,
        /// Signal to send first.
        #[arg(short = 's', long)]
        signal: Option<String>,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Restart containers.
    Restart {
        /// Seconds to wait before SIGKILL.
        #[arg(short = 't', long = "time", alias = "timeout")]
        time: Option<u64>,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to running containers.
    Kill {
        /// Signal (name or number).
        #[arg(short = 's', long, default_value = "KILL")]
        signal: String,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        /// Kill a running container first.
        #[arg(short = 'f', long)]
        force: bool,
        /// Also remove its anonymous volumes.
        #[arg(short = 'v', long)]
        volumes: bool,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// List containers.
    Ps {
        /// Show all containers, not only running ones.
        #[arg(short = 'a', long)]
        all: bool,
        /// Only ids.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// table (default) or json (one object per line).
        #[arg(long, default_value = "table")]
        format: String,
        /// Do not truncate ids and commands.
        #[arg(long = "no-trunc")]
        no_trunc: bool,
    },
    /// Show a container's output.
    Logs {
        /// Keep following new output.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only the last N lines ("all" for everything).
        #[arg(short = 'n', long, default_value = "all")]
        tail: String,
        /// Prefix each line with its time.
        #[arg(short = 't', long)]
        timestamps: bool,
        /// Container.
        container: String,
    },
    /// Run a command in a running container.
    ///
    /// Examples:
    ///   pier exec web ls /
    ///   pier exec -it web sh
    Exec {
        /// Keep stdin open.
        #[arg(short = 'i', long)]
        interactive: bool,
        /// Allocate a terminal.
        #[arg(short = 't', long)]
        tty: bool,
        /// Run in the background.
        #[arg(short = 'd', long)]
        detach: bool,
        /// Environment variables.
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// User: name|uid[:group|gid].
        #[arg(short = 'u', long)]
        user: Option<String>,
        /// Working directory.
        #[arg(short = 'w', long)]
        workdir: Option<String>,
        /// Every capability.
        #[arg(long)]
        privileged: bool,
        /// Container.
        container: String,
        /// Command and arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Wait for containers to stop and print their exit codes.
    Wait {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Attach to a running container's input and output.
    Attach {
        /// Container.
        container: String,
    },
    /// Show the processes of a container.
    Top {
        /// Container.
        container: String,
    },
    /// Show resource usage.
    Stats {
        /// Print one sample and exit (default: refresh every second until ^C).
        #[arg(long = "no-stream")]
        no_stream: bool,
        /// Containers (default: all running).
        containers: Vec<String>,
    },
    /// Pause all processes of containers.
    Pause {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Resume paused containers.
    Unpause {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
}

/// `pier container …`.
#[derive(Subcommand, Debug)]
pub enum ContainerGroup {
    /// List containers.
    #[command(alias = "list")]
    Ls {
        /// Show all containers.
        #[arg(short = 'a', long)]
        all: bool,
        /// Only ids.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Remove all stopped containers.
    Prune {
        /// Do not ask for confirmation (pier never asks).
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Show containers' details as JSON.
    Inspect {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    #[command(flatten)]
    Common(ContainerCommand),
}

/// `pier volume …`.
#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume.
    Create {
        /// Name (random when omitted).
        name: Option<String>,
        /// Labels KEY=VALUE.
        #[arg(short = 'l', long = "label")]
        label: Vec<String>,
    },
    /// List volumes.
    #[command(alias = "list")]
    Ls {
        /// Only names.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Remove volumes.
    Rm {
        /// Volumes.
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Show volumes' details as JSON.
    Inspect {
        /// Volumes.
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove volumes no container uses.
    Prune {
        /// Do not ask for confirmation (pier never asks).
        #[arg(short = 'f', long)]
        force: bool,
        /// Named volumes too, not only anonymous ones.
        #[arg(short = 'a', long)]
        all: bool,
    },
}

/// Runs a container command; returns pier's exit code.
pub fn run(root: &Path, cmd: &ContainerCommand, pull: &dyn Fn(&str) -> Result<()>) -> Result<i32> {
    use ContainerCommand as C;
    let each = |names: &[String], f: &dyn Fn(&str) -> Result<()>| -> i32 {
        let mut code = 0;
        for n in names {
            match f(n) {
                Ok(()) => println!("{n}"),
                Err(e) => {
                    eprintln!("Error response from daemon: {}", pier::report(&e));
                    code = 1;
                }
            }
        }
        code
    };
    Ok(match cmd {
        C::Run { detach, args } => {
            let rec = match commands::create(root, &args.options(), pull) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("pier: {}", pier::report(&e));
                    return Ok(125);
                }
            };
            if *detach {
                match commands::start(root, &rec, false) {
                    Ok(_) => {
                        println!("{}", rec.id);
                        0
                    }
                    Err(e) => {
                        eprintln!("pier: {}", pier::report(&e));
                        let code = Containers::open(root)
                            .and_then(|c| c.state(&rec.id))
                            .map(|s| s.exit_code)
                            .unwrap_or(125);
                        if code == 0 {
                            125
                        } else {
                            code
                        }
                    }
                }
            } else {
                commands::start(root, &rec, true)?
            }
        }
        C::Create { args } => {
            let rec = commands::create(root, &args.options(), pull)?;
            println!("{}", rec.id);
            0
        }
        C::Start { attach, containers } => {
            let cs = Containers::open(root)?;
            if *attach {
                if containers.len() != 1 {
                    bail!("you cannot start and attach multiple containers at once");
                }
                let rec = cs.find(&containers[0])?;
                return commands::start(root, &rec, true);
            }
            each(containers, &|n| {
                let rec = cs.find(n)?;
                commands::start(root, &rec, false).map(drop)
            })
        }
        C::Stop {
            time,
            signal,
            containers,
        } => each(containers, &|n| {
            commands::stop(root, n, *time, signal.as_deref())
        }),
        C::Restart { time, containers } => {
            let cs = Containers::open(root)?;
            each(containers, &|n| {
                commands::stop(root, n, *time, None)?;
                let rec = cs.find(n)?;
                commands::start(root, &rec, false).map(drop)
            })
        }
        C::Kill { signal, containers } => each(containers, &|n| commands::kill(root, n, signal)),
        C::Rm {
            force,
            volumes,
            containers,
        } => each(containers, &|n| commands::rm(root, n, *force, *volumes)),
        C::Ps {
            all,
            quiet,
            format,
            no_trunc,
        } => {
            commands::ps(root, *all, *quiet, format, *no_trunc)?;
            0
        }
        C::Logs {
            follow,
            tail,
            timestamps,
            container,
        } => {
            let tail = match tail.as_str() {
                "all" | "-1" => None,
                n => Some(n.parse().map_err(|_| {
                    anyhow::anyhow!("invalid --tail {n:?}: want a number or \"all\"")
                })?),
            };
            commands::logs(root, container, *follow, tail, *timestamps)?;
            0
        }
        C::Exec {
            interactive,
            tty,
            detach,
            env,
            user,
            workdir,
            privileged,
            container,
            command,
        } => commands::exec(
            root,
            container,
            command,
            &ExecOptions {
                interactive: *interactive,
                tty: *tty,
                detach: *detach,
                env: env.clone(),
                user: user.clone(),
                workdir: workdir.clone(),
                privileged: *privileged,
            },
        )?,
        C::Wait { containers } => {
            let mut code = 0;
            for c in containers {
                match commands::wait(root, c) {
                    Ok(n) => println!("{n}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {}", pier::report(&e));
                        code = 1;
                    }
                }
            }
            code
        }
        C::Attach { container } => {
            let rec = Containers::open(root)?.find(container)?;
            commands::attach_to(root, &rec)?
        }
        C::Top { container } => {
            commands::top(root, container)?;
            0
        }
        C::Stats {
            containers,
            no_stream,
        } => {
            if *no_stream {
                commands::stats(root, containers)?;
            } else {
                loop {
                    // Clear the screen and home the cursor, as docker stats does.
                    print!("\x1b[2J\x1b[H");
                    commands::stats(root, containers)?;
                    std::thread::sleep(std::time::Duration::from_millis(800));
                }
            }
            0
        }
        C::Pause { containers } | C::Unpause { containers } => {
            let pause = matches!(cmd, C::Pause { .. });
            let cs = Containers::open(root)?;
            each(containers, &|n| {
                let rec = cs.find(n)?;
                let st = cs.observed(&rec.id)?;
                let want = if pause { "running" } else { "paused" };
                if st.status != want {
                    bail!("Container {} is not {want}", rec.id);
                }
                pier::runtime::Runtime::new(Path::new(&rec.runtime), &cs.run_root())
                    .pause(&rec.id, pause)?;
                cs.update(&rec.id, |s| {
                    s.status = if pause { "paused" } else { "running" }.into()
                })?;
                Ok(())
            })
        }
    })
}

/// `pier container …`.
pub fn run_group(
    root: &Path,
    cmd: &ContainerGroup,
    pull: &dyn Fn(&str) -> Result<()>,
) -> Result<i32> {
    match cmd {
        ContainerGroup::Ls { all, quiet, format } => {
            commands::ps(root, *all, *quiet, format, false)?;
            Ok(0)
        }
        ContainerGroup::Prune { .. } => {
            let removed = commands::prune(root)?;
            if !removed.is_empty() {
                println!("Deleted Containers:");
                for id in &removed {
                    println!("{id}");
                }
            }
            println!("Total reclaimed containers: {}", removed.len());
            Ok(0)
        }
        ContainerGroup::Inspect { containers } => {
            let cs = Containers::open(root)?;
            let mut out = Vec::new();
            for c in containers {
                out.push(commands::inspect(root, &cs.find(c)?)?);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(0)
        }
        ContainerGroup::Common(c) => run(root, c, pull),
    }
}

/// `pier volume …`.
pub fn run_volume(root: &Path, cmd: &VolumeCommand) -> Result<i32> {
    let vols = Volumes::open(root)?;
    match cmd {
        VolumeCommand::Create { name, label } => {
            let labels: BTreeMap<String, String> = label
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            let (v, _) = vols.create(name.as_deref(), labels)?;
            println!("{}", v.name);
        }
        VolumeCommand::Ls { quiet, format } => {
            let list = vols.list()?;
            if *quiet {
                for v in &list {
                    println!("{}", v.name);
                }
            } else if format == "json" {
                for v in &list {
                    println!("{}", serde_json::to_string(v)?);
                }
            } else {
                let mut rows = vec![["DRIVER".to_string(), "VOLUME NAME".into()]];
                rows.extend(list.iter().map(|v| [v.driver.clone(), v.name.clone()]));
                commands::print_table(&mut std::io::stdout().lock(), &rows)?;
            }
        }
        VolumeCommand::Rm { volumes } => {
            let mut code = 0;
            for v in volumes {
                let users = commands::volume_users(root, v)?;
                match vols.remove(v, &users) {
                    Ok(()) => println!("{v}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        VolumeCommand::Inspect { volumes } => {
            let mut out = Vec::new();
            for v in volumes {
                out.push(vols.get(v)?);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        VolumeCommand::Prune { all, .. } => {
            let cs = Containers::open(root)?;
            let used: Vec<String> = cs.records()?.into_iter().flat_map(|r| r.volumes).collect();
            let anonymous = |n: &str| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit());
            println!("Deleted Volumes:");
            for v in vols.list()? {
                if !used.contains(&v.name) && (*all || anonymous(&v.name)) {
                    vols.remove(&v.name, &[])?;
                    println!("{}", v.name);
                }
            }
        }
    }
    Ok(0)
}

/// `pier network …`.
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a bridge network.
    ///
    /// Example: pier network create --subnet 10.50.0.0/24 backend
    Create {
        /// Driver (only bridge).
        #[arg(short = 'd', long)]
        driver: Option<String>,
        /// Subnet in CIDR form (default: the first free /16).
        #[arg(long)]
        subnet: Option<String>,
        /// Gateway address (default: the subnet's first).
        #[arg(long)]
        gateway: Option<String>,
        /// No outbound access.
        #[arg(long)]
        internal: bool,
        /// Labels KEY=VALUE.
        #[arg(short = 'l', long = "label")]
        label: Vec<String>,
        /// Name.
        name: String,
    },
    /// List networks.
    #[command(alias = "list")]
    Ls {
        /// Only ids.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Remove networks.
    Rm {
        /// Networks.
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Show networks' details as JSON.
    Inspect {
        /// Networks.
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove networks no container uses.
    Prune {
        /// Do not ask for confirmation (pier never asks).
        #[arg(short = 'f', long)]
        force: bool,
    },
}

/// `pier network …`.
pub fn run_network(root: &Path, cmd: &NetworkCommand) -> Result<i32> {
    let nets = pier_net::Networks::open(root)?;
    match cmd {
        NetworkCommand::Create {
            driver,
            subnet,
            gateway,
            internal,
            label,
            name,
        } => {
            let labels = label
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            let n = nets.create(
                name,
                pier_net::NetworkOptions {
                    driver: driver.clone(),
                    subnet: subnet.clone(),
                    gateway: gateway.clone(),
                    internal: *internal,
                    labels,
                },
            )?;
            println!("{}", n.id);
        }
        NetworkCommand::Ls { quiet, format } => {
            let list = nets.list()?;
            if *quiet {
                for n in &list {
                    println!("{}", &n.id[..12]);
                }
            } else if format == "json" {
                for n in &list {
                    println!(
                        "{}",
                        serde_json::json!({"ID": &n.id[..12], "Name": n.name, "Driver": n.driver,
                                           "Scope": "local", "Internal": n.internal,
                                           "CreatedAt": n.created})
                    );
                }
            } else {
                let mut rows = vec![[
                    "NETWORK ID".to_string(),
                    "NAME".into(),
                    "DRIVER".into(),
                    "SCOPE".into(),
                ]];
                rows.extend(list.iter().map(|n| {
                    [
                        n.id[..12].to_string(),
                        n.name.clone(),
                        n.driver.clone(),
                        "local".into(),
                    ]
                }));
                commands::print_table(&mut std::io::stdout().lock(), &rows)?;
            }
        }
        NetworkCommand::Rm { networks } => {
            let mut code = 0;
            for n in networks {
                match nets.remove(n) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        NetworkCommand::Inspect { networks } => {
            let mut out = Vec::new();
            for n in networks {
                out.push(nets.inspect(n)?);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        NetworkCommand::Prune { .. } => {
            let removed = nets.prune()?;
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for n in removed {
                    println!("{n}");
                }
            }
        }
    }
    Ok(0)
}
