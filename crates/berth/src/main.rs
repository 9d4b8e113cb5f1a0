//! berth: a runc-compatible OCI runtime. This binary only parses the
//! command line and calls libberth.

#[cfg(any(target_env = "musl", test))]
mod alloc;
mod cli;
mod log;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::Parser;
use cli::{Cli, Command, CreateArgs};
use libberth::container::{self, CreateOptions, ExecOptions, RunOptions};
use libberth::state::Root;

/// The static musl build's allocator: see alloc.rs.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: alloc::SpinDlmalloc = alloc::SpinDlmalloc::new();

fn main() {
    let args = cli::normalize(std::env::args());
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            // --help and usage errors print as clap formats them.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let logger = match log::Logger::new(cli.log.as_deref(), &cli.log_format, cli.debug) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let logger = std::sync::Arc::new(logger);
    if cli.debug {
        let sink = logger.clone();
        libberth::trace::set_sink(move |m| sink.debug(m));
        libberth::trace::phase(&format!("berth {}", args[1..].join(" ")));
    }
    match dispatch(&cli, &logger) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            logger.error(&message(&e));
            let code = e.downcast_ref::<Exit>().map_or(1, |x| x.0);
            std::process::exit(code);
        }
    }
}

/// An error that exits with a specific code (exec: 255).
#[derive(Debug)]
struct Exit(i32, anyhow::Error);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.1)
    }
}

impl std::error::Error for Exit {}

/// `ps --format table`: the host's `ps` output filtered to the container's
/// pids (runc's behaviour, PID column found from the header).
fn ps_table(pids: &[i32], args: &[String]) -> anyhow::Result<String> {
    let args: Vec<String> = if args.is_empty() {
        vec!["-ef".into()]
    } else {
        args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("failed to run ps")?;
    if !out.status.success() {
        anyhow::bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| anyhow!("ps output has no PID column: {header}"))?;
    let mut table = format!("{header}\n");
    for l in lines {
        if l.split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
            .is_some_and(|p| pids.contains(&p))
        {
            table.push_str(l);
            table.push('\n');
        }
    }
    Ok(table)
}

/// A Go duration as runc's `--interval` takes it: `5s`, `500ms`, `1m`, `1h`.
fn parse_duration(s: &str) -> anyhow::Result<std::time::Duration> {
    let bad = || anyhow!("invalid duration {s:?} for --interval: expected e.g. 5s, 500ms, 1m");
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if secs <= 0.0 {
        return Err(anyhow!("--interval must be positive, got {s:?}"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A byte size as runc's update flags take it: digits with an optional
/// k/m/g/t suffix (binary units), or -1.
fn parse_bytes(flag: &str, s: &str) -> anyhow::Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.to_ascii_lowercase();
    let t = lower.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| anyhow!("invalid value {s:?} for {flag}: expected bytes, e.g. 512m"))?;
    n.checked_mul(mult)
        .ok_or_else(|| anyhow!("value {s:?} for {flag} is too large"))
}

/// The LinuxResources of `update`: from `--resources` (a file or stdin),
/// else from the individual flags.
fn update_resources(u: &cli::UpdateArgs) -> anyhow::Result<oci_spec::runtime::LinuxResources> {
    if let Some(src) = &u.resources {
        let (name, bytes) = if src == "-" {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
                .context("failed to read resources from stdin")?;
            ("<stdin>".to_owned(), b)
        } else {
            (
                src.clone(),
                std::fs::read(src).with_context(|| format!("failed to read {src}"))?,
            )
        };
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        return serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            anyhow!("{name}: {field}: {}", e.into_inner())
        });
    }
    let mut r = serde_json::Map::new();
    let mut cpu = serde_json::Map::new();
    let mut memory = serde_json::Map::new();
    let put = |m: &mut serde_json::Map<String, serde_json::Value>,
               k: &str,
               v: Option<serde_json::Value>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    put(&mut cpu, "period", u.cpu_period.map(Into::into));
    put(&mut cpu, "quota", u.cpu_quota.map(Into::into));
    put(&mut cpu, "burst", u.cpu_burst.map(Into::into));
    put(&mut cpu, "shares", u.cpu_share.map(Into::into));
    put(&mut cpu, "realtimePeriod", u.cpu_rt_period.map(Into::into));
    put(
        &mut cpu,
        "realtimeRuntime",
        u.cpu_rt_runtime.map(Into::into),
    );
    put(&mut cpu, "cpus", u.cpuset_cpus.clone().map(Into::into));
    put(&mut cpu, "mems", u.cpuset_mems.clone().map(Into::into));
    put(&mut cpu, "idle", u.cpu_idle.map(Into::into));
    put(
        &mut memory,
        "limit",
        u.memory
            .as_deref()
            .map(|v| parse_bytes("--memory", v))
            .transpose()?
            .map(Into::into),
    );
    put(
        &mut memory,
        "reservation",
        u.memory_reservation
            .as_deref()
            .map(|v| parse_bytes("--memory-reservation", v))
            .transpose()?
            .map(Into::into),
    );
    put(
        &mut memory,
        "swap",
        u.memory_swap
            .as_deref()
            .map(|v| parse_bytes("--memory-swap", v))
            .transpose()?
            .map(Into::into),
    );
    if !cpu.is_empty() {
        r.insert("cpu".into(), cpu.into());
    }
    if !memory.is_empty() {
        r.insert("memory".into(), memory.into());
    }
    if let Some(w) = u.blkio_weight {
        r.insert("blockIO".into(), serde_json::json!({ "weight": w }));
    }
    if let Some(p) = u.pids_limit {
        r.insert("pids".into(), serde_json::json!({ "limit": p }));
    }
    if r.is_empty() {
        anyhow::bail!("update: nothing to change (give --resources or at least one limit flag)");
    }
    Ok(serde_json::from_value(serde_json::Value::Object(r))?)
}

/// The error and its causes, each cause once: libberth's messages
/// already embed their source, anyhow's context does not.
fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg = format!("{msg}: {c}");
        }
    }
    msg
}

fn version() -> String {
    format!(
        "berth version {}\ncommit: {}\nspec: {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("BERTH_COMMIT"),
        libberth::OCI_VERSION
    )
}

/// `--root`, or runc's default: /run/berth for root, else
/// $XDG_RUNTIME_DIR/berth.
fn state_root(cli: &Cli) -> anyhow::Result<(PathBuf, bool)> {
    if let Some(r) = &cli.root {
        let p = std::path::absolute(r).with_context(|| format!("invalid --root {r:?}"))?;
        if p == Path::new("/") {
            anyhow::bail!("--root must not be /");
        }
        return Ok((p, true));
    }
    if !nix::unistd::geteuid().is_root() {
        if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
            return Ok((PathBuf::from(x).join("berth"), false));
        }
    }
    Ok((PathBuf::from("/run/berth"), false))
}

fn rootless(cli: &Cli) -> anyhow::Result<bool> {
    match cli.rootless.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        "auto" => Ok(!nix::unistd::geteuid().is_root()),
        other => Err(anyhow!(
            "invalid --rootless value {other:?}: expected true, false or auto"
        )),
    }
}

fn create_options(cli: &Cli, a: &CreateArgs) -> anyhow::Result<CreateOptions> {
    Ok(CreateOptions {
        id: a.id.clone(),
        bundle: PathBuf::from(&a.bundle),
        pid_file: a.pid_file.as_ref().map(PathBuf::from),
        console_socket: a.console_socket.as_ref().map(PathBuf::from),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        systemd_cgroup: cli.systemd_cgroup,
        rootless: rootless(cli)?,
        attach_tty: false,
    })
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("failed to write to stdout")
}

fn dispatch(cli: &Cli, log: &log::Logger) -> anyhow::Result<i32> {
    if cli.version {
        print(&version())?;
        return Ok(0);
    }
    let Some(command) = &cli.command else {
        use clap::CommandFactory;
        Cli::command().print_help()?;
        return Ok(0);
    };
    let (root_path, explicit_root) = state_root(cli)?;
    let root = Root {
        path: root_path.clone(),
    };
    match command {
        Command::Spec { bundle } => {
            let rootless = cli.rootless == "true";
            let path = Path::new(bundle).join("config.json");
            if path.exists() {
                anyhow::bail!("File {} exists. Remove it first", path.display());
            }
            let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
            let text = libberth::spec_template::render(libberth::OCI_VERSION, rootless, v2);
            std::fs::write(&path, text)
                .with_context(|| format!("failed to write {}", path.display()))?;
        }
        Command::Create(a) => {
            let opts = create_options(cli, a)?;
            let root = Root::new(&root_path)?;
            container::create(&root, &opts)?;
        }
        Command::Start { id } => container::start(&root, id)?,
        Command::Run {
            create,
            detach,
            keep,
            no_subreaper,
        } => {
            let opts = RunOptions {
                create: create_options(cli, create)?,
                detach: *detach,
                keep: *keep,
                no_subreaper: *no_subreaper,
            };
            let root = Root::new(&root_path)?;
            let (code, warnings) = container::run(&root, &opts)?;
            for w in warnings {
                log.warn(&w);
            }
            return Ok(code);
        }
        Command::Exec {
            console_socket,
            cwd,
            env,
            tty,
            user,
            additional_gids,
            process,
            detach,
            pid_file,
            process_label,
            apparmor,
            no_new_privs,
            cap,
            preserve_fds,
            cgroup,
            ignore_paused,
            id,
            command,
        } => {
            let opts = ExecOptions {
                id: id.clone(),
                process: process.as_ref().map(PathBuf::from),
                args: command.clone(),
                tty: *tty,
                console_socket: console_socket.as_ref().map(PathBuf::from),
                detach: *detach,
                pid_file: pid_file.as_ref().map(PathBuf::from),
                cwd: cwd.clone(),
                env: env.clone(),
                user: user.clone(),
                additional_gids: additional_gids.clone(),
                caps: cap.clone(),
                no_new_privs: *no_new_privs,
                apparmor: apparmor.clone(),
                process_label: process_label.clone(),
                preserve_fds: *preserve_fds,
                cgroup: cgroup.clone(),
                ignore_paused: *ignore_paused,
            };
            // runc: a failed exec exits 255, else the process's status.
            return container::exec(&root, &opts)
                .map_err(|e| Exit(255, anyhow!("exec failed: {e}")).into());
        }
        Command::Features => {
            let mut out = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            serde::Serialize::serialize(&libberth::features::features(), &mut ser)?;
            out.push(b'\n');
            print(&String::from_utf8_lossy(&out))?;
        }
        Command::Ps {
            format,
            id,
            ps_args,
        } => {
            let pids = container::pids(&root, id)?;
            match format.as_str() {
                "json" => print(&format!("{}\n", serde_json::to_string(&pids)?))?,
                "table" => print(&ps_table(&pids, ps_args)?)?,
                other => anyhow::bail!("invalid format option {other:?}: expected table or json"),
            }
        }
        Command::Pause { id } => container::pause(&root, id)?,
        Command::Resume { id } => container::resume(&root, id)?,
        Command::Update(u) => {
            let resources = update_resources(u)?;
            container::update(&root, &u.id, &resources)?;
        }
        Command::Events {
            stats,
            interval,
            id,
        } => {
            let every = parse_duration(interval)?;
            container::events(&root, id, *stats, every, |event| {
                let line = format!("{event}\n");
                print(&line).map_err(|e| libberth::Error::Init(e.to_string()))
            })?;
        }
        Command::State { id } => {
            let v = container::state(&root, id)?;
            print(&serde_json::to_string_pretty(&v)?)?;
        }
        Command::Kill { all, id, signal } => {
            let sig = container::parse_signal(signal)?;
            container::kill(&root, id, sig, *all)?;
        }
        Command::Delete { force, id } => {
            for w in container::delete(&root, id, *force)? {
                log.warn(&w);
            }
        }
        Command::List { format, quiet } => {
            if !root_path.exists() {
                if explicit_root {
                    anyhow::bail!("state root {} does not exist", root_path.display());
                }
                if format == "json" && !quiet {
                    print("null\n")?;
                }
                return Ok(0);
            }
            let items = container::list(&root)?;
            if *quiet {
                let ids: String = items
                    .iter()
                    .map(|v| format!("{}\n", v["id"].as_str().unwrap_or("")))
                    .collect();
                print(&ids)?;
            } else if format == "json" {
                let text = if items.is_empty() {
                    "null".to_owned()
                } else {
                    serde_json::to_string(&items)?
                };
                print(&format!("{text}\n"))?;
            } else if format == "table" {
                print(&table(&items))?;
            } else {
                anyhow::bail!("invalid format option {format:?}: expected table or json");
            }
        }
    }
    Ok(0)
}

/// runc's `list` table: Go's tabwriter with minwidth 12 and padding 3.
fn table(items: &[serde_json::Value]) -> String {
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        .map(str::to_owned)
        .to_vec()];
    for v in items {
        let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
        rows.push(vec![
            s("id"),
            v["pid"].to_string(),
            s("status"),
            s("bundle"),
            s("created"),
            s("owner"),
        ]);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0).max(9) + 3)
        .collect();
    let mut out = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        out.push('\n');
    }
    out
}
