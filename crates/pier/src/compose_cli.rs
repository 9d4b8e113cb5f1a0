//! `pier compose`: argument parsing; the model is pier-compose's, the
//! engine is `pier::compose`.

use anyhow::{anyhow, Result};
use clap::{Args, Subcommand};
use pier::commands::ExecOptions;
use pier::compose::{Engine, LogOptions, RunOptions, UpOptions};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Flags of every `pier compose` command.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  pier compose up -d                 start the project in ./compose.yaml
  pier compose -f a.yaml -f b.yaml config
  pier compose --profile debug up -d web
  pier compose logs -f web
  pier compose exec web sh
  pier compose down -v               remove containers, networks and volumes")]
pub struct ComposeArgs {
    /// Compose file (repeatable; later files override earlier ones).
    #[arg(short = 'f', long = "file")]
    file: Vec<PathBuf>,
    /// Project name (default: the directory name).
    #[arg(short = 'p', long = "project-name")]
    project_name: Option<String>,
    /// Directory relative paths resolve against (default: the first file's).
    #[arg(long = "project-directory")]
    project_directory: Option<PathBuf>,
    /// Variables for interpolation (default: .env in the project directory).
    #[arg(long = "env-file")]
    env_file: Vec<PathBuf>,
    /// Enable services of this profile (repeatable; `*` for all).
    #[arg(long)]
    profile: Vec<String>,
    /// OCI runtime for the containers: berth (default), runc, crun, youki or a path.
    #[arg(long)]
    runtime: Option<String>,
    #[command(subcommand)]
    command: ComposeCommand,
}

#[derive(Subcommand, Debug)]
enum ComposeCommand {
    /// Create and start the services' containers, networks and volumes.
    Up {
        /// Run in the background.
        #[arg(short = 'd', long)]
        detach: bool,
        /// With -d: wait until services run and are healthy.
        #[arg(long)]
        wait: bool,
        /// Recreate containers even if their configuration is unchanged.
        #[arg(long = "force-recreate")]
        force_recreate: bool,
        /// Do not start the services' dependencies.
        #[arg(long = "no-deps")]
        no_deps: bool,
        /// Remove containers of services no longer in the file.
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
        /// Services (default: all).
        services: Vec<String>,
    },
    /// Stop and remove the containers and networks (and volumes with -v).
    Down {
        /// Also remove named volumes declared in the file and anonymous volumes.
        #[arg(short = 'v', long)]
        volumes: bool,
        /// Remove containers of services no longer in the file.
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
        /// Seconds to wait for each container to stop.
        #[arg(short = 't', long)]
        timeout: Option<u64>,
    },
    /// List the project's containers.
    Ps {
        /// Also stopped containers.
        #[arg(short = 'a', long)]
        all: bool,
        /// Only ids.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// `table` or `json`.
        #[arg(long, default_value = "table")]
        format: String,
        /// Only the service names.
        #[arg(long)]
        services: bool,
        /// Services (default: all).
        service: Vec<String>,
    },
    /// Show the services' output, prefixed by container.
    Logs {
        /// Follow.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Lines from the end per container, or "all".
        #[arg(short = 'n', long, default_value = "all")]
        tail: String,
        /// Show timestamps.
        #[arg(short = 't', long)]
        timestamps: bool,
        /// Monochrome output.
        #[arg(long = "no-color")]
        no_color: bool,
        /// No container name prefix.
        #[arg(long = "no-log-prefix")]
        no_log_prefix: bool,
        /// Services (default: all).
        services: Vec<String>,
    },
    /// Run a command in a running service container.
    Exec {
        /// Run in the background.
        #[arg(short = 'd', long)]
        detach: bool,
        /// No terminal (the default when stdin is not one).
        #[arg(short = 'T', long = "no-TTY")]
        no_tty: bool,
        /// Set environment variables.
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// User.
        #[arg(short = 'u', long)]
        user: Option<String>,
        /// Working directory.
        #[arg(short = 'w', long)]
        workdir: Option<String>,
        /// Replica number.
        #[arg(long, default_value_t = 1)]
        index: u32,
        /// Extended privileges.
        #[arg(long)]
        privileged: bool,
        /// Service.
        service: String,
        /// Command and arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Run a one-off command in a new container of a service.
    Run {
        /// Run in the background and print the container name.
        #[arg(short = 'd', long)]
        detach: bool,
        /// Remove the container when it exits.
        #[arg(long)]
        rm: bool,
        /// Container name.
        #[arg(long)]
        name: Option<String>,
        /// Set environment variables.
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// User.
        #[arg(short = 'u', long)]
        user: Option<String>,
        /// Working directory.
        #[arg(short = 'w', long)]
        workdir: Option<String>,
        /// Override the entrypoint.
        #[arg(long)]
        entrypoint: Option<String>,
        /// Bind mount or volume.
        #[arg(short = 'v', long = "volume")]
        volume: Vec<String>,
        /// Publish a port.
        #[arg(short = 'p', long = "publish")]
        publish: Vec<String>,
        /// Publish the service's ports too.
        #[arg(long = "service-ports")]
        service_ports: bool,
        /// Do not start dependencies.
        #[arg(long = "no-deps")]
        no_deps: bool,
        /// No terminal.
        #[arg(short = 'T', long = "no-TTY")]
        no_tty: bool,
        /// Service.
        service: String,
        /// Command and arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Start existing containers.
    Start { services: Vec<String> },
    /// Stop running containers.
    Stop {
        /// Seconds to wait before SIGKILL.
        #[arg(short = 't', long)]
        timeout: Option<u64>,
        services: Vec<String>,
    },
    /// Restart containers.
    Restart {
        /// Seconds to wait before SIGKILL.
        #[arg(short = 't', long)]
        timeout: Option<u64>,
        services: Vec<String>,
    },
    /// Send a signal to running containers.
    Kill {
        /// Signal.
        #[arg(short = 's', long, default_value = "SIGKILL")]
        signal: String,
        services: Vec<String>,
    },
    /// Remove stopped containers.
    Rm {
        /// Do not ask.
        #[arg(short = 'f', long)]
        force: bool,
        /// Stop the containers first.
        #[arg(short = 's', long)]
        stop: bool,
        /// Remove anonymous volumes too.
        #[arg(short = 'v', long)]
        volumes: bool,
        services: Vec<String>,
    },
    /// Pull the services' images.
    Pull { services: Vec<String> },
    /// Print the resolved compose model.
    Config {
        /// Only check the files.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Only the service names.
        #[arg(long)]
        services: bool,
        /// Only the volume names.
        #[arg(long)]
        volumes: bool,
        /// Only the network names.
        #[arg(long)]
        networks: bool,
        /// Print the config hash of these services (`*` for all).
        #[arg(long)]
        hash: Option<String>,
        /// `yaml` or `json`.
        #[arg(long, default_value = "yaml")]
        format: String,
    },
    /// Show the processes of running containers.
    Top { services: Vec<String> },
    /// List the images the containers use.
    Images { services: Vec<String> },
}

fn load(a: &ComposeArgs) -> Result<pier_compose::Project> {
    let opts = pier_compose::Options {
        files: a.file.clone(),
        project_name: a.project_name.clone(),
        project_directory: a.project_directory.clone(),
        env_files: a.env_file.clone(),
        profiles: a.profile.clone(),
        environ: std::env::vars().collect(),
        cwd: std::env::current_dir()?,
    };
    Ok(pier_compose::load(&opts)?)
}

fn tail(s: &str) -> Result<Option<usize>> {
    match s {
        "all" | "-1" => Ok(None),
        n => n
            .parse()
            .map(Some)
            .map_err(|_| anyhow!("invalid --tail {n:?}: want a number or \"all\"")),
    }
}

/// Runs `pier compose …`.
pub fn run(root: &Path, a: &ComposeArgs, pull: &dyn Fn(&str) -> Result<()>) -> Result<i32> {
    use ComposeCommand as C;
    let project = load(a)?;
    if let C::Config {
        quiet,
        services,
        volumes,
        networks,
        hash,
        format,
    } = &a.command
    {
        if *quiet {
            return Ok(0);
        }
        if *services {
            project.services.keys().for_each(|s| println!("{s}"));
        } else if *volumes {
            project.volumes.keys().for_each(|s| println!("{s}"));
        } else if *networks {
            project.networks.keys().for_each(|s| println!("{s}"));
        } else if let Some(h) = hash {
            for (name, s) in &project.services {
                if h == "*" || h.split(',').any(|x| x == name) {
                    println!("{name} {}", pier_compose::config_hash(s));
                }
            }
        } else {
            match format.as_str() {
                "yaml" => print!("{}", project.to_yaml()),
                "json" => println!("{}", serde_json::to_string_pretty(&project)?),
                other => anyhow::bail!("invalid --format {other:?}: want yaml or json"),
            }
        }
        return Ok(0);
    }
    let mut e = Engine {
        root: root.to_owned(),
        project,
        runtime: a.runtime.clone(),
        pull,
    };
    match &a.command {
        C::Config { .. } => {}
        C::Up {
            detach,
            wait,
            force_recreate,
            no_deps,
            remove_orphans,
            services,
        } => {
            if *wait && !*detach {
                anyhow::bail!("--wait needs -d/--detach");
            }
            return e.up(&UpOptions {
                detach: *detach,
                wait: *wait,
                force_recreate: *force_recreate,
                no_deps: *no_deps,
                remove_orphans: *remove_orphans,
                services: services.clone(),
            });
        }
        C::Down {
            volumes,
            remove_orphans,
            timeout,
        } => e.down(*volumes, *remove_orphans, *timeout)?,
        C::Ps {
            all,
            quiet,
            format,
            services,
            service,
        } => {
            if *services {
                e.project.services.keys().for_each(|s| println!("{s}"));
            } else {
                e.ps(service, *all, *quiet, format)?;
            }
        }
        C::Logs {
            follow,
            tail: t,
            timestamps,
            no_color,
            no_log_prefix,
            services,
        } => e.logs(&LogOptions {
            follow: *follow,
            tail: tail(t)?,
            timestamps: *timestamps,
            no_color: *no_color,
            no_prefix: *no_log_prefix,
            services: services.clone(),
        })?,
        C::Exec {
            detach,
            no_tty,
            env,
            user,
            workdir,
            index,
            privileged,
            service,
            command,
        } => {
            let tty = !*no_tty && !*detach && std::io::stdin().is_terminal();
            return e.exec(
                service,
                *index,
                command,
                &ExecOptions {
                    interactive: !*detach,
                    tty,
                    detach: *detach,
                    env: env.clone(),
                    user: user.clone(),
                    workdir: workdir.clone(),
                    privileged: *privileged,
                },
            );
        }
        C::Run {
            detach,
            rm,
            name,
            env,
            user,
            workdir,
            entrypoint,
            volume,
            publish,
            service_ports,
            no_deps,
            no_tty,
            service,
            command,
        } => {
            return e.run(&RunOptions {
                service: service.clone(),
                command: command.clone(),
                detach: *detach,
                rm: *rm,
                name: name.clone(),
                env: env.clone(),
                user: user.clone(),
                workdir: workdir.clone(),
                entrypoint: entrypoint.clone(),
                volumes: volume.clone(),
                publish: publish.clone(),
                service_ports: *service_ports,
                no_deps: *no_deps,
                no_tty: *no_tty,
            })
        }
        C::Start { services } => e.start(services)?,
        C::Stop { timeout, services } => e.stop(services, *timeout)?,
        C::Restart { timeout, services } => e.restart(services, *timeout)?,
        C::Kill { signal, services } => e.kill(services, signal)?,
        C::Rm {
            force,
            stop,
            volumes,
            services,
        } => e.rm(services, *force, *stop, *volumes)?,
        C::Pull { services } => e.pull_images(services)?,
        C::Top { services } => e.top(services)?,
        C::Images { services } => e.images(services)?,
    }
    Ok(0)
}
