//! The command line, shaped like runc's: global flags before (or after)
//! the subcommand, `--flag value` and `--flag=value`, single-dash long
//! flags (`-root DIR`, `-no-subreaper`), booleans with optional `=true`.

use clap::{ArgAction, Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  berth spec --bundle ./bundle              write a default config.json
  berth run -b ./bundle demo                run a container in the foreground
  berth create -b ./bundle --pid-file p c1  create, then `berth start c1`
  berth list --format json                  show containers as JSON
  berth delete --force c1                   kill and remove a container";

/// berth: an OCI container runtime, a drop-in replacement for runc.
#[derive(Debug, Parser)]
#[command(name = "berth", version = None, disable_version_flag = true, after_help = EXAMPLES)]
pub struct Cli {
    /// Root directory for container state (default /run/berth, or $XDG_RUNTIME_DIR/berth when not root)
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<String>,
    /// Log file (default: stderr)
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<String>,
    /// Log format: text or json
    #[arg(
        long = "log-format",
        global = true,
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub log_format: String,
    /// Enable debug logging
    #[arg(long, global = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub debug: bool,
    /// Use the systemd cgroup driver (cgroupsPath as slice:prefix:name)
    #[arg(long = "systemd-cgroup", global = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_value = "auto", default_missing_value = "true")]
    pub rootless: String,
    /// Print the version
    #[arg(short = 'v', long, global = true, action = ArgAction::SetTrue)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `update`'s flags (runc's); `--resources` replaces all of them.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// LinuxResources JSON file, or - for stdin (other flags are ignored)
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<String>,
    /// Block IO weight (10-1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period (microseconds)
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota (microseconds, -1 for none)
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS burst (microseconds)
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period (microseconds)
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime (microseconds)
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to run on (e.g. 0-1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use (e.g. 0)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// SCHED_IDLE for the cgroup (0 or 1)
    #[arg(long = "cpu-idle")]
    pub cpu_idle: Option<i64>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 for none)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 for unlimited swap)
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of processes (0 or -1 for none)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Container id
    pub id: String,
}

/// Flags shared by `create` and `run`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Bundle directory (default: current directory)
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: String,
    /// Unix socket path to send the pty master to (with process.terminal)
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<String>,
    /// Write init's pid to this file
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<String>,
    /// Use MS_MOVE and chroot instead of pivot_root (for ramdisk roots)
    #[arg(long = "no-pivot", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long = "no-new-keyring", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3 .. 3+N-1) to the container
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Container id
    pub id: String,
}

/// The subcommands; parsed once per process, so variant sizes do not matter.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Write a default config.json (runc's template) into a bundle
    Spec {
        /// Bundle directory
        #[arg(short = 'b', long, default_value = ".")]
        bundle: String,
        // `--rootless` is the global flag: `berth spec --rootless` sets it.
    },
    /// Create a container; its process waits for `start`
    Create(CreateArgs),
    /// Run the user process of a created container
    Start {
        /// Container id
        id: String,
    },
    /// Create and start a container; wait for it unless --detach
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container has started
        #[arg(short = 'd', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
        detach: bool,
        /// Keep the container after it exits (no delete)
        #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
        keep: bool,
        /// Do not become a child subreaper
        #[arg(long = "no-subreaper", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
        no_subreaper: bool,
    },
    /// Run a new process inside a running container
    #[command(
        after_help = "Examples:\n  berth exec c1 ps\n  berth exec -t c1 sh\n  berth exec -d --pid-file p --process process.json c1"
    )]
    Exec {
        /// Unix socket path to send the pty master to (with --tty)
        #[arg(long = "console-socket", value_name = "PATH")]
        console_socket: Option<String>,
        /// Working directory inside the container
        #[arg(long)]
        cwd: Option<String>,
        /// Set an environment variable (repeatable)
        #[arg(short = 'e', long)]
        env: Vec<String>,
        /// Allocate a pseudo-TTY
        #[arg(short = 't', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
        tty: bool,
        /// uid[:gid] to run as
        #[arg(short = 'u', long)]
        user: Option<String>,
        /// Additional gids (repeatable)
        #[arg(short = 'g', long = "additional-gids")]
        additional_gids: Vec<u32>,
        /// Path to a process.json; other process flags are ignored
        #[arg(short = 'p', long)]
        process: Option<String>,
        /// Return once the process has started
        #[arg(short = 'd', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
        detach: bool,
        /// Write the process's pid to this file
        #[arg(long = "pid-file", value_name = "FILE")]
        pid_file: Option<String>,
        /// SELinux label for the process
        #[arg(long = "process-label")]
        process_label: Option<String>,
        /// AppArmor profile for the process
        #[arg(long)]
        apparmor: Option<String>,
        /// Set no_new_privs for the process
        #[arg(long = "no-new-privs", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
        no_new_privs: bool,
        /// Add a capability (repeatable)
        #[arg(short = 'c', long = "cap")]
        cap: Vec<String>,
        /// Pass N extra fds (3 .. 3+N-1)
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: u32,
        /// Run in this sub-cgroup of the container's cgroup
        #[arg(long)]
        cgroup: Vec<String>,
        /// Allow exec in a paused container
        #[arg(long = "ignore-paused", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
        ignore_paused: bool,
        /// Container id
        id: String,
        /// Command and arguments
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Print the OCI features document (what this runtime supports)
    Features,
    /// List the processes of a container
    Ps {
        /// Output format: table (runs ps) or json (a list of pids)
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        /// Container id
        id: String,
        /// Arguments for ps (default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Suspend every process of a container (cgroup freezer)
    Pause {
        /// Container id
        id: String,
    },
    /// Resume a paused container
    Resume {
        /// Container id
        id: String,
    },
    /// Change the cgroup limits of a running container
    #[command(
        after_help = "Examples:\n  berth update --memory 256m --pids-limit 100 c1\n  echo '{\"pids\":{\"limit\":50}}' | berth update -r - c1"
    )]
    Update(UpdateArgs),
    /// Print container statistics and OOM events as JSON lines
    Events {
        /// Print one stats event and exit
        #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
        stats: bool,
        /// Time between stats events (Go duration: 5s, 500ms, 1m)
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Container id
        id: String,
    },
    /// Print the state of a container as JSON
    State {
        /// Container id
        id: String,
    },
    /// Send a signal (default SIGTERM) to a container's init
    Kill {
        /// Signal every process in the container's cgroup
        #[arg(short = 'a', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
        all: bool,
        /// Container id
        id: String,
        /// Signal: a number, KILL or SIGKILL
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped (or, with --force, any) container
    Delete {
        /// Kill the container first if it is running
        #[arg(short = 'f', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
        force: bool,
        /// Container id
        id: String,
    },
    /// List containers
    #[command(visible_alias = "ls")]
    List {
        /// Output format: table or json
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        /// Print only container ids
        #[arg(short = 'q', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
        quiet: bool,
    },
}

/// Long flag names that may be written with a single dash, as urfave/cli
/// (runc's parser) accepts them.
const LONG_FLAGS: &[&str] = &[
    "root",
    "log",
    "log-format",
    "debug",
    "systemd-cgroup",
    "rootless",
    "version",
    "help",
    "bundle",
    "console-socket",
    "pid-file",
    "no-pivot",
    "no-new-keyring",
    "preserve-fds",
    "detach",
    "keep",
    "no-subreaper",
    "all",
    "force",
    "format",
    "quiet",
    "cwd",
    "env",
    "tty",
    "user",
    "additional-gids",
    "process",
    "process-label",
    "apparmor",
    "no-new-privs",
    "cap",
    "cgroup",
    "ignore-paused",
];

/// Whether a flag takes a separate value argument in `command`.
fn takes_value(command: Option<&str>, flag: &str) -> bool {
    match flag {
        "--root" | "--log" | "--log-format" | "--bundle" | "--console-socket" | "--pid-file"
        | "--preserve-fds" | "--format" | "--cwd" | "--env" | "--user" | "--additional-gids"
        | "--process" | "--process-label" | "--apparmor" | "--cap" | "--cgroup" | "-b" | "-e"
        | "-u" | "-g" | "-p" | "-c" => true,
        "-f" => command != Some("delete"),
        _ => false,
    }
}

/// Commands whose flags end at their first positional argument.
const STOP_AT_FIRST_ARG: &[&str] = &["kill", "exec", "ps"];

/// Rewrites argv into what clap parses: `-long` → `--long`, and for
/// kill/exec/ps, everything after the id is positional (`--` inserted).
pub fn normalize(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut command: Option<String> = None;
    let mut positional_seen = false;
    let mut done = false;
    let mut expect_value = false;
    for (i, a) in args.into_iter().enumerate() {
        if i == 0 || done {
            out.push(a);
            continue;
        }
        if a == "--" {
            done = true;
            out.push(a);
            continue;
        }
        if expect_value {
            expect_value = false;
            out.push(a);
            continue;
        }
        let mut arg = a;
        if arg.starts_with('-') && !arg.starts_with("--") && arg.len() > 2 {
            let name = arg[1..].split('=').next().unwrap_or("");
            if LONG_FLAGS.contains(&name) {
                arg = format!("-{arg}");
            }
        }
        if arg.starts_with('-') && arg.len() > 1 {
            expect_value = !arg.contains('=') && takes_value(command.as_deref(), &arg);
            out.push(arg);
            continue;
        }
        match &command {
            None => command = Some(arg.clone()),
            Some(c) if STOP_AT_FIRST_ARG.contains(&c.as_str()) && !positional_seen => {
                positional_seen = true;
                out.push(arg);
                out.push("--".into());
                done = true;
                continue;
            }
            Some(_) => positional_seen = true,
        }
        out.push(arg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: &[&str]) -> Vec<String> {
        normalize(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn single_dash_long_flags() {
        assert_eq!(
            n(&["berth", "-root", "/r", "list"]),
            ["berth", "--root", "/r", "list"]
        );
        assert_eq!(
            n(&["berth", "run", "-no-subreaper", "x"]),
            ["berth", "run", "--no-subreaper", "x"]
        );
        assert_eq!(
            n(&["berth", "-log-format=json", "list"]),
            ["berth", "--log-format=json", "list"]
        );
    }

    #[test]
    fn kill_stops_at_id() {
        assert_eq!(
            n(&["berth", "kill", "--all", "c1", "9"]),
            ["berth", "kill", "--all", "c1", "--", "9"]
        );
    }

    #[test]
    fn exec_stops_at_id() {
        assert_eq!(
            n(&["berth", "exec", "-e", "A=1", "--cwd", "/x", "c1", "sh", "-c", "ls -l"]),
            ["berth", "exec", "-e", "A=1", "--cwd", "/x", "c1", "--", "sh", "-c", "ls -l"]
        );
        let c = Cli::try_parse_from(n(&[
            "berth",
            "exec",
            "-t",
            "-u",
            "1000:1000",
            "c1",
            "ls",
            "-la",
        ]))
        .unwrap();
        assert!(
            matches!(c.command, Some(Command::Exec { tty: true, ref command, .. }) if command == &["ls", "-la"])
        );
    }

    #[test]
    fn values_are_not_rewritten() {
        assert_eq!(
            n(&["berth", "--root", "-weird", "state", "x"]),
            ["berth", "--root", "-weird", "state", "x"]
        );
    }

    #[test]
    fn parses_runc_shapes() {
        let c = Cli::try_parse_from(n(&[
            "berth",
            "--root",
            "/r",
            "--log",
            "l",
            "--log-format",
            "json",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "b",
            "--pid-file",
            "p",
            "c1",
        ]))
        .unwrap();
        assert!(c.systemd_cgroup);
        assert!(
            matches!(c.command, Some(Command::Create(ref a)) if a.id == "c1" && a.bundle == "b")
        );
        let c = Cli::try_parse_from(n(&["berth", "--rootless=false", "delete", "--force", "c1"]))
            .unwrap();
        assert_eq!(c.rootless, "false");
        assert!(matches!(
            c.command,
            Some(Command::Delete { force: true, .. })
        ));
        let c = Cli::try_parse_from(n(&["berth", "list", "--format=json", "-q"])).unwrap();
        assert!(
            matches!(c.command, Some(Command::List { ref format, quiet: true }) if format == "json")
        );
        let c = Cli::try_parse_from(n(&["berth", "--debug=true", "kill", "c", "KILL"])).unwrap();
        assert!(c.debug);
        assert!(matches!(c.command, Some(Command::Kill { ref signal, .. }) if signal == "KILL"));
    }
}
