//! pier: the daemonless Docker-like tool. Thin: parses arguments and calls
//! pier-image.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use pier_image::{images, pull, push, AuthFile, Client, Credentials, Platform, Reference, Store};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

mod compose_cli;
mod container_cli;
mod image_cmd;

#[derive(Parser)]
#[command(
    name = "pier",
    version,
    about = "Daemonless containers: images, registries, runs"
)]
struct Cli {
    /// Root of pier's store.
    #[arg(
        long,
        global = true,
        env = "PIER_ROOT",
        default_value = "/var/lib/pier"
    )]
    root: PathBuf,
    /// A registry that may be reached over plain HTTP (repeatable);
    /// localhost and 127.0.0.0/8 always may.
    #[arg(long = "insecure-registry", global = true, value_name = "HOST[:PORT]")]
    insecure_registry: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pull an image from a registry.
    Pull {
        /// Image reference.
        image: String,
        /// os/arch[/variant]; default the host's.
        #[arg(long)]
        platform: Option<String>,
        /// Allow plain HTTP to this image's registry.
        #[arg(long)]
        insecure: bool,
        /// Print only the image name.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Push a local image to a registry.
    Push {
        /// Local image.
        image: String,
        /// Destination (default: the image's own name).
        destination: Option<String>,
        /// Allow plain HTTP to the destination registry.
        #[arg(long)]
        insecure: bool,
        /// No progress lines.
        #[arg(short, long)]
        quiet: bool,
        /// Upload blobs larger than this many bytes in chunks of this size.
        #[arg(long, value_name = "BYTES", default_value_t = pier_image::registry::CHUNK_SIZE)]
        chunk_size: u64,
    },
    /// Give a local image another name.
    Tag {
        /// Name or id of the image.
        source: String,
        /// New name.
        target: String,
    },
    /// Write images to a tar archive.
    Save {
        /// Names or ids.
        #[arg(required = true)]
        images: Vec<String>,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// `docker-archive` (as `docker save`) or `oci-archive`.
        #[arg(long, default_value = "docker-archive")]
        format: String,
        /// For a multi-platform image in a docker-archive: os/arch[/variant];
        /// default the host's.
        #[arg(long)]
        platform: Option<String>,
    },
    /// Load images from a docker-archive or oci-archive tarball.
    Load {
        /// Read from this file instead of standard input.
        #[arg(short, long)]
        input: Option<PathBuf>,
        /// Print only the names loaded.
        #[arg(short, long)]
        quiet: bool,
    },
    /// List local images.
    #[command(alias = "ls")]
    Images {
        /// `table` (default) or `json` (one object per line).
        #[arg(long, default_value = "table")]
        format: String,
        /// Only image ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove local images by name or id, and unreferenced blobs.
    Rmi {
        /// Names or ids.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Image subcommands.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Log in to a registry (stores credentials in the Docker config).
    Login {
        /// Registry (`docker.io` when omitted).
        server: Option<String>,
        /// User name.
        #[arg(short, long)]
        username: Option<String>,
        /// Password (prefer --password-stdin).
        #[arg(short, long)]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Allow plain HTTP to this registry.
        #[arg(long)]
        insecure: bool,
    },
    /// Remove a registry's stored credentials.
    Logout {
        /// Registry (`docker.io` when omitted).
        server: Option<String>,
    },
    #[command(flatten)]
    Containers(container_cli::ContainerCommand),
    /// Container subcommands (ls, inspect, prune, and every container command).
    Container {
        #[command(subcommand)]
        command: container_cli::ContainerGroup,
    },
    /// Named volumes.
    Volume {
        #[command(subcommand)]
        command: container_cli::VolumeCommand,
    },
    /// Bridge networks.
    Network {
        #[command(subcommand)]
        command: container_cli::NetworkCommand,
    },
    /// Multi-container applications from a compose file.
    Compose(Box<compose_cli::ComposeArgs>),
    /// Show details of containers or images as JSON.
    Inspect {
        /// Print each object through a template, e.g. '{{.State.Status}}'
        /// or '{{json .Config}}', instead of the JSON array.
        #[arg(short = 'f', long)]
        format: Option<String>,
        /// Container or image names or ids.
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// The container monitor (started by pier itself).
    #[command(name = "__monitor", hide = true)]
    Monitor {
        /// Container id.
        id: String,
        /// Start only once a client has attached.
        #[arg(long)]
        wait_attach: bool,
    },
}

#[derive(Subcommand)]
enum ImageCommand {
    /// List local images.
    Ls {
        /// `table` or `json`.
        #[arg(long, default_value = "table")]
        format: String,
        /// Only image ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove blobs no image references.
    Prune,
    /// Remove local images.
    Rm {
        /// Names or ids.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Show local images as JSON.
    Inspect {
        /// Names or ids.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Give a local image another name.
    Tag {
        /// Name or id of the image.
        source: String,
        /// New name.
        target: String,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Containers(c) => {
            container_cli::run(&cli.root, c, &|image| pull_quiet(&cli, image))
        }
        Command::Container { command } => {
            container_cli::run_group(&cli.root, command, &|image| pull_quiet(&cli, image))
        }
        Command::Volume { command } => container_cli::run_volume(&cli.root, command),
        Command::Network { command } => container_cli::run_network(&cli.root, command),
        Command::Compose(args) => {
            compose_cli::run(&cli.root, args, &|image| pull_quiet(&cli, image))
        }
        Command::Inspect { format, targets } => inspect(&cli, targets, format.as_deref()),
        Command::Monitor { id, wait_attach } => {
            let net = pier::net::Net {
                root: cli.root.clone(),
            };
            Ok(pier::monitor::run(&cli.root, id, *wait_attach, &net))
        }
        _ => run(cli).map(|()| 0),
    };
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            eprintln!("pier: {}", pier::report(&e));
            std::process::exit(1);
        }
    }
}

/// Pulls a missing image for `run`/`create`, with progress on stderr.
fn pull_quiet(cli: &Cli, image: &str) -> Result<()> {
    let r = Reference::parse(image)?;
    let client = client(cli, None)?;
    let store = Store::open(&cli.root)?;
    let print = |line: &str| eprintln!("{line}");
    pull::pull(&client, &store, &r, &Platform::host(), &print)?;
    Ok(())
}

/// `pier inspect`: containers first, then images, as Docker resolves names.
fn inspect(cli: &Cli, targets: &[String], format: Option<&str>) -> Result<i32> {
    let cs = pier::container::Containers::open(&cli.root)?;
    let mut out = Vec::new();
    let mut code = 0;
    for t in targets {
        match cs.find(t) {
            Ok(rec) => out.push(pier::commands::inspect(&cli.root, &rec)?),
            Err(_) => {
                let store = Store::open(&cli.root)?;
                match images::inspect(&store, t) {
                    Ok(v) => out.push(v),
                    Err(images::Error::NoSuchImage(_)) => {
                        eprintln!("Error: No such object: {t}");
                        code = 1;
                    }
                    Err(e) => return Err(e).with_context(|| format!("inspect {t}")),
                }
            }
        }
    }
    match format {
        Some(t) => {
            for v in &out {
                println!("{}", pier::format::render(t, v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    Ok(code)
}

fn client(cli: &Cli, extra: Option<&str>) -> Result<Client> {
    let mut insecure = cli.insecure_registry.clone();
    insecure.extend(extra.map(str::to_string));
    let auth = AuthFile::from_env().ok();
    Ok(Client::new(auth, &insecure))
}

/// A registry name as the user typed it for login/logout: `host[:port]`,
/// URL forms accepted, Docker Hub by default.
fn registry_arg(server: Option<&str>) -> Result<Reference> {
    let s = server.unwrap_or("docker.io");
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        h => h,
    };
    // Any repository will do: only the registry is used.
    Reference::parse(&format!("{host}/library/x")).with_context(|| format!("invalid registry {s}"))
}

fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Pull {
            image,
            platform,
            insecure,
            quiet,
        } => {
            let r = Reference::parse(image)?;
            let client = client(&cli, insecure.then_some(r.registry.as_str()))?;
            let store = Store::open(&cli.root)?;
            let platform = match platform {
                Some(p) => Platform::parse(p)?,
                None => Platform::host(),
            };
            image_cmd::pull(&client, &store, &r, &platform, *quiet)?;
        }
        Command::Push {
            image,
            destination,
            insecure,
            quiet,
            chunk_size,
        } => {
            let local = Reference::parse(image)?;
            let dest = match destination {
                Some(d) => Reference::parse(d)?,
                None => local.clone(),
            };
            let mut client = client(&cli, insecure.then_some(dest.registry.as_str()))?;
            client.set_chunk_size(*chunk_size);
            let store = Store::open(&cli.root)?;
            let quiet = *quiet;
            let print = move |line: &str| {
                if !quiet {
                    println!("{line}");
                }
            };
            push::push(&client, &store, &local.to_string(), &dest, &print)?;
        }
        Command::Images { format, quiet }
        | Command::Image {
            command: ImageCommand::Ls { format, quiet },
        } => list(&cli, format, *quiet)?,
        Command::Rmi { images }
        | Command::Image {
            command: ImageCommand::Rm { images },
        } => {
            let store = Store::open(&cli.root)?;
            let mut failed = false;
            for what in images {
                if let Ok(img) = pier_image::snapshot::Image::resolve(&store, what) {
                    let users = pier::commands::image_users(&cli.root, &img.id)?;
                    if let Some(u) = users.first() {
                        eprintln!(
                            "Error response from daemon: conflict: unable to remove repository reference \"{what}\" - container {} is using its referenced image {}",
                            &u[..12],
                            &img.id["sha256:".len()..][..12]
                        );
                        failed = true;
                        continue;
                    }
                }
                let removed = images::remove(&store, what)?;
                if removed.is_empty() {
                    eprintln!("pier: no such image: {what}");
                    failed = true;
                }
                for n in removed {
                    println!("Untagged: {n}");
                }
            }
            let stats = images::prune(&store)?;
            pier_image::snapshot::gc(&store)?;
            if stats.blobs > 0 {
                println!("Deleted {} blobs ({} bytes)", stats.blobs, stats.bytes);
            }
            if failed {
                std::process::exit(1);
            }
        }
        Command::Image {
            command: ImageCommand::Prune,
        } => {
            let store = Store::open(&cli.root)?;
            let stats = images::prune(&store)?;
            pier_image::snapshot::gc(&store)?;
            println!(
                "Total reclaimed space: {} ({} blobs)",
                human(stats.bytes),
                stats.blobs
            );
        }
        Command::Image {
            command: ImageCommand::Inspect { names },
        } => {
            let store = Store::open(&cli.root)?;
            if !image_cmd::inspect(&store, names)? {
                std::process::exit(1);
            }
        }
        Command::Tag { source, target }
        | Command::Image {
            command: ImageCommand::Tag { source, target },
        } => image_cmd::tag(&Store::open(&cli.root)?, source, target)?,
        Command::Save {
            images,
            output,
            format,
            platform,
        } => {
            let platform = match platform {
                Some(p) => Platform::parse(p)?,
                None => Platform::host(),
            };
            let store = Store::open(&cli.root)?;
            image_cmd::save(&store, images, output.as_deref(), format, &platform)?;
        }
        Command::Load { input, quiet } => {
            image_cmd::load(&Store::open(&cli.root)?, input.as_deref(), *quiet)?
        }
        Command::Login {
            server,
            username,
            password,
            password_stdin,
            insecure,
        } => {
            let r = registry_arg(server.as_deref())?;
            let username = match username {
                Some(u) => u.clone(),
                None => prompt("Username: ")?,
            };
            let password = match (password, password_stdin) {
                (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
                (Some(p), false) => p.clone(),
                (None, true) => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\n', '\r']).to_string()
                }
                (None, false) => prompt("Password: ")?,
            };
            let creds = Credentials { username, password };
            let client = client(&cli, insecure.then_some(r.registry.as_str()))?;
            client.login(&r, &creds)?;
            let file = AuthFile::from_env()?;
            file.set(&r.registry, &creds)?;
            println!("Login Succeeded");
        }
        Command::Logout { server } => {
            let r = registry_arg(server.as_deref())?;
            let file = AuthFile::from_env()?;
            if file.remove(&r.registry)? {
                println!("Removing login credentials for {}", r.registry);
            } else {
                println!("Not logged in to {}", r.registry);
            }
        }
        // Dispatched in main.
        Command::Containers(_)
        | Command::Container { .. }
        | Command::Volume { .. }
        | Command::Network { .. }
        | Command::Compose(_)
        | Command::Inspect { .. }
        | Command::Monitor { .. } => {}
    }
    Ok(())
}

fn prompt(what: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "cannot prompt for {}: standard input is not a terminal",
            what.trim_end_matches([':', ' '])
        );
    }
    print!("{what}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn list(cli: &Cli, format: &str, quiet: bool) -> Result<()> {
    let store = Store::open(&cli.root)?;
    let list = images::list(&store)?;
    if quiet {
        for i in &list {
            println!("{}", pull::short(&i.id));
        }
        return Ok(());
    }
    match format {
        "json" => {
            for i in &list {
                println!("{}", serde_json::to_string(i)?);
            }
        }
        "table" => {
            let rows: Vec<[String; 5]> = list
                .iter()
                .map(|i| {
                    [
                        i.repository.clone(),
                        i.tag.clone(),
                        pull::short(&i.id).to_string(),
                        i.created_at.clone(),
                        human(i.size),
                    ]
                })
                .collect();
            let head = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"].map(String::from);
            let mut w = [0; 5];
            for r in std::iter::once(&head).chain(&rows) {
                for (k, c) in r.iter().enumerate() {
                    w[k] = w[k].max(c.len());
                }
            }
            for r in std::iter::once(&head).chain(&rows) {
                let line: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(k, c)| format!("{c:<width$}", width = w[k]))
                    .collect();
                println!("{}", line.join("   ").trim_end());
            }
        }
        f => bail!("unknown format {f:?}: use table or json"),
    }
    Ok(())
}

/// Docker's sizes: decimal units, three significant digits.
fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        let s = format!("{v:.2}");
        format!(
            "{}{}",
            s.trim_end_matches('0').trim_end_matches('.'),
            units[u]
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
