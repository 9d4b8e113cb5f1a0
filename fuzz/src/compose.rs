//! `pier_compose::load` on a `compose.yaml` (and optionally a `.env`) in a
//! private project directory, with a small fixed process environment.
//!
//! An input that is UTF-8 is the text of the files: `compose.yaml`, then,
//! after a line `# .env` (a YAML comment, so a seed stays a compose file),
//! the `.env`. Any other input is the choices of a generated one (see
//! [`generate`]): the loader refuses a compose file that is not UTF-8
//! before it looks at it, so such bytes are worth more as choices.
//!
//! Invariants: no panic (deep nesting and alias bombs included: they must
//! fail cleanly or stay bounded); an error names the file it is about (its
//! message starts with `compose.yaml`, `.env` or the file it read); an `Ok`
//! project prints as YAML (`pier compose config`) and loads the same twice,
//! with the same `config_hash` for every service.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pier_compose::{config_hash, load, Error, NameOrigin, Options, Project};

use crate::gen::Rng;

/// The line that separates `compose.yaml` from `.env` in an input.
pub const ENV_SEPARATOR: &str = "\n# .env\n";

thread_local! {
    /// One project directory per thread, reused: `<tmp>/proj`, so that the
    /// project name (its base name) does not change between inputs.
    static PROJECT: RefCell<Option<(tempfile::TempDir, PathBuf)>> = const { RefCell::new(None) };
}

fn with_project(f: impl FnOnce(&Path)) {
    PROJECT.with(|cell| {
        let mut slot = cell.borrow_mut();
        let (_, dir) = slot.get_or_insert_with(|| {
            let tmp = tempfile::Builder::new()
                .prefix("pier-fuzz-compose-")
                .tempdir()
                .expect("create the fuzz project dir");
            let dir = tmp.path().join("proj");
            std::fs::create_dir(&dir).expect("create proj");
            // Something for env_file and extends.file to find.
            std::fs::write(dir.join("common.env"), "COMMON=1\nexport X=\"y z\"\n")
                .expect("write common.env");
            std::fs::write(
                dir.join("base.yaml"),
                "services:\n  base:\n    image: busybox\n    environment: [B=1]\n    volumes: [./data:/data]\n",
            )
            .expect("write base.yaml");
            (tmp, dir)
        });
        f(dir);
    });
}

fn environ() -> BTreeMap<String, String> {
    [
        ("HOME", "/home/fuzz"),
        ("USER", "fuzz"),
        ("TAG", "1.25"),
        ("EMPTY", ""),
        ("PORT", "8080"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Checks one input (see the module documentation for its form).
pub fn check(data: &[u8]) {
    match std::str::from_utf8(data) {
        Ok(text) => check_text(text),
        Err(_) => {
            let generated = generate(&mut Rng::from_bytes(data));
            check_text(&String::from_utf8_lossy(&generated));
        }
    }
}

/// Whether `text` could make the loader read a device or a kernel file
/// (`extends: {file: /dev/zero}`, `env_file: ../../../proc/kmsg`): that
/// never ends, a hazard of any compose file (docker compose reads them
/// too), not a bug this target looks for. A path built by interpolation
/// from pieces (`de${V}/zero`) is not caught; the generator writes none.
fn reads_devices(text: &str) -> bool {
    ["dev/", "proc/", "sys/"].iter().any(|d| text.contains(d))
}

/// Loads `text` (compose.yaml, optionally `# .env` and the .env).
pub fn check_text(text: &str) {
    if reads_devices(text) {
        return;
    }
    let (compose, env) = match text.split_once(ENV_SEPARATOR) {
        Some((c, e)) => (c, Some(e)),
        None => (text, None),
    };
    with_project(|dir| {
        std::fs::write(dir.join("compose.yaml"), compose).expect("write compose.yaml");
        let env_path = dir.join(".env");
        match env {
            Some(e) => std::fs::write(&env_path, e).expect("write .env"),
            None => {
                let _ = std::fs::remove_file(&env_path);
            }
        }
        let opts = Options {
            cwd: dir.to_path_buf(),
            environ: environ(),
            ..Options::default()
        };
        let first = load(&opts);
        let again = load(&opts);
        match (first, again) {
            (Ok(p), Ok(q)) => check_project(&p, &q),
            (Err(e), Err(f)) => {
                let msg = e.to_string();
                assert_eq!(msg, f.to_string(), "load is not deterministic");
                check_error(&e, &msg);
            }
            (Ok(_), Err(e)) | (Err(e), Ok(_)) => {
                panic!("load is not deterministic: once Ok, once {e}")
            }
        }
    });
}

fn check_project(p: &Project, q: &Project) {
    let yaml = p.to_yaml();
    assert!(
        !yaml.starts_with("# failed to serialize"),
        "to_yaml failed: {yaml}"
    );
    assert_eq!(yaml, q.to_yaml(), "load is not deterministic");
    for (name, svc) in p.services.iter().chain(p.disabled.iter()) {
        let h = config_hash(svc);
        assert_eq!(h.len(), 64, "config_hash of {name} is {h:?}");
        assert_eq!(
            h,
            config_hash(svc),
            "config_hash of {name} is not deterministic"
        );
        let other = q
            .services
            .get(name)
            .or_else(|| q.disabled.get(name))
            .expect("the same services twice");
        assert_eq!(
            h,
            config_hash(other),
            "config_hash of {name} differs between loads"
        );
    }
}

/// The error names a file: the one its location is in (compose.yaml, .env,
/// a file named by `extends` or `env_file`), or the file it failed to read.
fn check_error(e: &Error, msg: &str) {
    let file: &str = match e {
        Error::Syntax { loc, .. }
        | Error::UnknownKey { loc, .. }
        | Error::Unsupported { loc, .. }
        | Error::Invalid { loc, .. } => &loc.file,
        Error::Read { path, .. } => {
            assert!(
                msg.contains(&*path.to_string_lossy()),
                "a read error without its path: {msg}"
            );
            return;
        }
        Error::ProjectName { origin, .. } => match origin {
            NameOrigin::Key(loc) => &loc.file,
            NameOrigin::EnvFile(file) => file,
            NameOrigin::Flag | NameOrigin::Environment | NameOrigin::Directory(_) => {
                panic!("impossible project name origin (no -p or environment, in proj/): {msg}")
            }
        },
        Error::NotFound { .. } | Error::Stdin => {
            panic!("impossible error with compose.yaml in place: {msg}")
        }
    };
    assert!(!file.is_empty(), "an error without a file: {msg}");
    assert!(
        msg.starts_with(file),
        "an error that does not start with its file {file:?}: {msg}"
    );
}

const SERVICE_NAMES: &[&str] = &[
    "web", "db", "cache", "worker", "a-b", "x_1", "base", "Web", "",
];
const IMAGES: &[&str] = &[
    "nginx",
    "nginx:${TAG}",
    "redis:7-alpine",
    "registry.example.com:5000/team/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "${IMAGE:-busybox}",
    "${IMAGE:?image is required}",
    "UPPER/case",
    "",
];
const SCALARS: &[&str] = &[
    "",
    "~",
    "null",
    "true",
    "no",
    "yes",
    "0",
    "-1",
    "0x1f",
    "1e3",
    "1.5",
    ".inf",
    "99999999999999999999",
    "\"quoted\"",
    "'single'",
    "${A:-b}",
    "${A-b}",
    "${A:+alt}",
    "${A+alt}",
    "${A:?err}",
    "${A?err}",
    "$$literal",
    "$",
    "${",
    "${A:-${B:-${C}}}",
    "${HOME}",
    "$USER",
    "${EMPTY:-x}",
    "${}",
    "${1}",
    "a: b",
    "- x",
    "[1, 2]",
    "{k: v}",
    "|\n  block\n",
    ">-\n  folded\n",
    "!!str 1",
    "!!binary aGk=",
    "&a x",
    "*a",
    "é",
    "\u{202e}",
    "\\",
    "#",
];
const DURATIONS: &[&str] = &[
    "1s",
    "1m30s",
    "500ms",
    "1h",
    "10",
    "-1s",
    "1.5s",
    "s",
    "99999999999h",
    "1us",
];
const PORTS: &[&str] = &[
    "80",
    "8080:80",
    "127.0.0.1:8080:80",
    "[::1]:8080:80/udp",
    "3000-3005",
    "3000-3005:4000-4005",
    "9090-9091:8080-8081",
    "${PORT}:80",
    "0:0",
    "65536:1",
    "80/sctp",
    "1-0",
    "::80",
    "a:b",
    "127.0.0.1::8081",
    "5000-4000:80",
];
const VOLUMES: &[&str] = &[
    "./data:/data",
    ".:/code:ro",
    "db-data:/var/lib/mysql",
    "/abs:/abs:rw,z",
    "~/x:/x",
    "/only",
    "named:/n:nocopy",
    "../up:/up",
    "a:b:c:d",
    ":",
    "./data:relative",
    "tmp:/tmp:bogus",
];
const NETWORKS: &[&str] = &["default", "front", "back", "host", "none"];

const PLAIN: &[&str] = &[
    "x",
    "1",
    "0",
    "true",
    "false",
    "web",
    "\"8080:80\"",
    "\"${TAG}\"",
    "\"${A:-b}\"",
    "'1.5'",
    "512m",
    "10s",
    "[]",
    "{}",
    "[a, b]",
    "{k: v}",
    "~",
];

/// A random scalar: usually one that parses where it lands, often one
/// with YAML or interpolation syntax in it.
fn scalar(rng: &mut Rng) -> String {
    match rng.below(8) {
        0..=3 => (*rng.pick(PLAIN)).to_string(),
        4 => (*rng.pick(SCALARS)).to_string(),
        5 => format!("{:?}", rng.interesting_string().replace(['\n', '\0'], " ")),
        _ => format!(
            "\"{}\"",
            rng.pick(SCALARS).replace('\\', "\\\\").replace('"', "\\\"")
        ),
    }
}

fn line(out: &mut String, indent: usize, text: &str) {
    out.push_str(&" ".repeat(indent));
    out.push_str(text);
    out.push('\n');
}

fn list(rng: &mut Rng, out: &mut String, indent: usize, key: &str, items: &[&str]) {
    if rng.one_in(3) {
        let picked: Vec<String> = (0..rng.below(4))
            .map(|_| format!("{:?}", rng.pick(items)))
            .collect();
        line(out, indent, &format!("{key}: [{}]", picked.join(", ")));
    } else {
        line(out, indent, &format!("{key}:"));
        for _ in 0..1 + rng.below(3) {
            line(out, indent + 2, &format!("- \"{}\"", rng.pick(items)));
        }
    }
}

fn service(rng: &mut Rng, out: &mut String, name: &str, others: &[&str]) {
    let i = 4;
    if rng.one_in(12) {
        line(out, 2, &format!("{name}: {}", scalar(rng)));
        return;
    }
    line(out, 2, &format!("{name}:"));
    if rng.one_in(6) {
        line(out, i, "<<: *defaults");
    }
    if !rng.one_in(6) {
        // The odd ones (unset required variable, empty) now and then only.
        let images = if rng.one_in(4) { IMAGES } else { &IMAGES[..4] };
        line(out, i, &format!("image: \"{}\"", rng.pick(images)));
    }
    let mut used = std::collections::BTreeSet::new();
    for _ in 0..rng.below(6) {
        // Each kind of key once, or most services are duplicate-key errors.
        let kind = rng.below(16);
        if !used.insert(kind) {
            continue;
        }
        match kind {
            0 => line(
                out,
                i,
                &format!(
                    "command: {}",
                    rng.pick(&[
                        "[\"sh\", \"-c\", \"echo $$HOME\"]",
                        "echo hello 'world",
                        "echo \"${TAG}\"",
                        "[]",
                        "",
                        "{}",
                    ])
                ),
            ),
            1 => list(rng, out, i, "ports", PORTS),
            2 => {
                if rng.one_in(2) {
                    list(rng, out, i, "volumes", VOLUMES);
                } else {
                    line(out, i, "volumes:");
                    line(
                        out,
                        i + 2,
                        &format!(
                            "- type: {}",
                            rng.pick(&["bind", "volume", "tmpfs", "npipe", "cluster"])
                        ),
                    );
                    line(
                        out,
                        i + 4,
                        &format!("source: {}", rng.pick(&["./data", "db-data", "", "/x"])),
                    );
                    line(out, i + 4, "target: /data");
                    if rng.one_in(2) {
                        line(out, i + 4, &format!("read_only: {}", scalar(rng)));
                    }
                    if rng.one_in(3) {
                        line(
                            out,
                            i + 4,
                            &format!(
                                "tmpfs: {{size: {}}}",
                                rng.pick(&["1m", "100", "-1", "1e9g", "x"])
                            ),
                        );
                    }
                }
            }
            3 => {
                if rng.one_in(2) {
                    line(out, i, "environment:");
                    for _ in 0..1 + rng.below(3) {
                        line(
                            out,
                            i + 2,
                            &format!(
                                "{}: {}",
                                rng.pick(&["A", "B", "PATH", "X Y", "=", "K"]),
                                scalar(rng)
                            ),
                        );
                    }
                } else {
                    list(
                        rng,
                        out,
                        i,
                        "environment",
                        &["A=1", "B", "C=${TAG:-x}", "=x", "D=", "E=a=b"],
                    );
                }
            }
            4 => {
                if rng.one_in(2) {
                    let picked: Vec<&str> = (0..rng.below(3)).map(|_| *rng.pick(others)).collect();
                    line(out, i, &format!("depends_on: [{}]", picked.join(", ")));
                } else {
                    line(out, i, "depends_on:");
                    line(out, i + 2, &format!("{}:", rng.pick(others)));
                    line(
                        out,
                        i + 4,
                        &format!(
                            "condition: {}",
                            rng.pick(&[
                                "service_started",
                                "service_healthy",
                                "service_completed_successfully",
                                "bogus",
                            ])
                        ),
                    );
                    if rng.one_in(2) {
                        line(out, i + 4, &format!("restart: {}", scalar(rng)));
                    }
                }
            }
            5 => {
                line(out, i, "healthcheck:");
                line(
                    out,
                    i + 2,
                    &format!(
                        "test: {}",
                        rng.pick(&[
                            "[\"CMD\", \"true\"]",
                            "[\"CMD-SHELL\", \"curl -f localhost\"]",
                            "[\"NONE\"]",
                            "curl x",
                            "[]",
                            "[\"BOGUS\"]",
                        ])
                    ),
                );
                line(out, i + 2, &format!("interval: {}", rng.pick(DURATIONS)));
                if rng.one_in(2) {
                    line(out, i + 2, &format!("retries: {}", scalar(rng)));
                }
                if rng.one_in(4) {
                    line(out, i + 2, "disable: true");
                }
            }
            6 => {
                if rng.one_in(2) {
                    list(rng, out, i, "networks", NETWORKS);
                } else {
                    line(out, i, "networks:");
                    line(out, i + 2, &format!("{}:", rng.pick(NETWORKS)));
                    line(out, i + 4, &format!("aliases: [{}]", scalar(rng)));
                    if rng.one_in(2) {
                        line(
                            out,
                            i + 4,
                            &format!(
                                "ipv4_address: {}",
                                rng.pick(&["10.0.0.2", "300.1.1.1", "x"])
                            ),
                        );
                    }
                }
            }
            7 => {
                line(out, i, "deploy:");
                line(
                    out,
                    i + 2,
                    &format!(
                        "replicas: {}",
                        rng.pick(&["0", "2", "-1", "99999999999", "x"])
                    ),
                );
                line(out, i + 2, "resources:");
                line(out, i + 4, "limits:");
                line(
                    out,
                    i + 6,
                    &format!("cpus: {}", rng.pick(&["'0.5'", "2", "-1", "1e400", "x"])),
                );
                line(
                    out,
                    i + 6,
                    &format!(
                        "memory: {}",
                        rng.pick(&["512m", "1g", "0", "-1b", "99999999999999g", "1.5g"])
                    ),
                );
                if rng.one_in(3) {
                    line(
                        out,
                        i + 2,
                        &format!("restart_policy: {{condition: {}}}", scalar(rng)),
                    );
                }
            }
            8 => list(
                rng,
                out,
                i,
                "profiles",
                &["debug", "", "*", "a b", "${P:-x}"],
            ),
            9 => {
                if rng.one_in(2) {
                    line(out, i, &format!("extends: {}", rng.pick(others)));
                } else {
                    line(out, i, "extends:");
                    line(
                        out,
                        i + 2,
                        &format!("service: {}", rng.pick(&["base", "web", "nope"])),
                    );
                    line(
                        out,
                        i + 2,
                        &format!(
                            "file: {}",
                            rng.pick(&[
                                "base.yaml",
                                "compose.yaml",
                                "./base.yaml",
                                "missing.yaml",
                                ".env",
                                "common.env",
                                "",
                                "../proj/base.yaml",
                            ])
                        ),
                    );
                }
            }
            10 => line(
                out,
                i,
                &format!(
                    "env_file: {}",
                    rng.pick(&[
                        "common.env",
                        ".env",
                        "missing.env",
                        "[common.env, .env]",
                        "{path: missing.env, required: false}",
                        "{path: common.env, format: raw}",
                        "{path: common.env, format: bogus}",
                        "compose.yaml",
                        "''",
                    ])
                ),
            ),
            11 => line(
                out,
                i,
                &format!("stop_grace_period: {}", rng.pick(DURATIONS)),
            ),
            12 => line(
                out,
                i,
                &format!(
                    "{}: {}",
                    rng.pick(&[
                        "mem_limit",
                        "memswap_limit",
                        "mem_reservation",
                        "cpus",
                        "pids_limit",
                        "scale",
                        "restart",
                        "user",
                        "working_dir",
                        "read_only",
                        "privileged",
                        "init",
                        "tty",
                        "stop_signal",
                        "container_name",
                        "hostname",
                        "network_mode",
                        "expose",
                        "tmpfs",
                        "cap_add",
                        "security_opt",
                        "labels",
                        "sysctls",
                        "ulimits",
                        "build",
                        "secrets",
                        "x-ext",
                        "bogus_key",
                        "platform",
                        "entrypoint",
                    ]),
                    scalar(rng)
                ),
            ),
            13 => line(
                out,
                i,
                &format!(
                    "ulimits: {{nofile: {{soft: {}, hard: {}}}, nproc: {}}}",
                    scalar(rng),
                    scalar(rng),
                    scalar(rng)
                ),
            ),
            14 => line(
                out,
                i,
                &format!(
                    "labels: {{{}: {}}}",
                    rng.pick(&["a", "com.example", "\"\""]),
                    scalar(rng)
                ),
            ),
            _ => line(
                out,
                i,
                &format!(
                    "{}: {}",
                    rng.pick(&["ports", "environment", "networks", "volumes"]),
                    scalar(rng)
                ),
            ),
        }
    }
}

/// What no generator of real files writes: deep nesting, alias bombs,
/// long keys, several documents.
fn hazard(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => {
            let depth = 1 + rng.below(3000);
            format!(
                "services:\n  web:\n    image: x\n    labels: {}{}\n",
                "[".repeat(depth),
                "]".repeat(depth)
            )
        }
        1 => {
            let depth = 1 + rng.below(1000);
            format!(
                "x-deep: {}1{}\nservices: {{}}\n",
                "{a: ".repeat(depth),
                "}".repeat(depth)
            )
        }
        2 => {
            // Billion laughs, kept small enough to finish here (at most
            // 5^6 nodes): `levels` of `width` aliases each. The loader has
            // no limit: a wider or deeper one runs out of memory.
            let width = 2 + rng.below(4);
            let levels = 1 + rng.below(6);
            let mut s = String::from("x-l0: &l0 [lol]\n");
            for l in 1..=levels {
                let refs = vec![format!("*l{}", l - 1); width].join(", ");
                s.push_str(&format!("x-l{l}: &l{l} [{refs}]\n"));
            }
            s.push_str(&format!(
                "services:\n  web:\n    image: x\n    x-bomb: *l{levels}\n"
            ));
            s
        }
        3 => "services:\n  web:\n    image: x\n---\nservices: {}\n".to_string(),
        _ => format!("{}: 1\nservices: {{}}\n", "k".repeat(rng.below(5000))),
    }
}

/// A compose file (and sometimes a `.env`) built from compose keys, with
/// anchors and merge keys, interpolation in every form, random scalars,
/// then sometimes damaged line by line.
pub fn generate(rng: &mut Rng) -> Vec<u8> {
    if rng.one_in(16) {
        return hazard(rng).into_bytes();
    }
    let mut out = String::new();
    if rng.one_in(4) {
        line(
            &mut out,
            0,
            &format!(
                "name: {}",
                rng.pick(&["myapp", "My App", "---", "_x", "${TAG}", "''", "app-1"])
            ),
        );
    }
    if rng.one_in(6) {
        line(&mut out, 0, "version: '3.8'");
    }
    let anchors = rng.one_in(3);
    if anchors {
        line(&mut out, 0, "x-defaults: &defaults");
        line(
            &mut out,
            2,
            &format!(
                "restart: {}",
                rng.pick(&["unless-stopped", "always", "no", "bogus"])
            ),
        );
        line(&mut out, 2, "environment: [SHARED=1]");
    }
    let n = rng.below(5);
    let mut names: Vec<&str> = (0..n).map(|_| *rng.pick(SERVICE_NAMES)).collect();
    names.sort_unstable();
    names.dedup();
    line(&mut out, 0, "services:");
    for name in &names {
        service(rng, &mut out, name, &names);
    }
    if !anchors && !rng.one_in(4) {
        out = out.replace("<<: *defaults", "<<: {}");
    }
    if rng.one_in(3) {
        line(&mut out, 0, "networks:");
        let mut nets: Vec<&str> = (0..1 + rng.below(3)).map(|_| *rng.pick(NETWORKS)).collect();
        nets.sort_unstable();
        nets.dedup();
        for net in nets {
            line(&mut out, 2, &format!("{net}:"));
            if rng.one_in(2) {
                line(
                    &mut out,
                    4,
                    &format!(
                        "{}: {}",
                        rng.pick(&[
                            "driver",
                            "external",
                            "internal",
                            "name",
                            "ipam",
                            "attachable",
                            "bogus"
                        ]),
                        scalar(rng)
                    ),
                );
            }
        }
    }
    if rng.one_in(3) {
        line(&mut out, 0, "volumes:");
        let mut vols: Vec<&str> = (0..1 + rng.below(3))
            .map(|_| *rng.pick(&["db-data", "named", "tmp", "x"]))
            .collect();
        vols.sort_unstable();
        vols.dedup();
        for vol in vols {
            line(&mut out, 2, &format!("{vol}:"));
            if rng.one_in(2) {
                line(
                    &mut out,
                    4,
                    &format!(
                        "{}: {}",
                        rng.pick(&["driver", "external", "name", "labels", "driver_opts"]),
                        scalar(rng)
                    ),
                );
            }
        }
    }
    if rng.one_in(10) {
        line(
            &mut out,
            0,
            *rng.pick(&[
                "configs: {}",
                "secrets: {}",
                "include: []",
                "bogus: 1",
                "x-ext: [1]",
            ]),
        );
    }
    if rng.one_in(4) {
        let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
        for _ in 0..1 + rng.below(3) {
            if lines.is_empty() {
                break;
            }
            let at = rng.below(lines.len());
            match rng.below(4) {
                0 => {
                    lines.remove(at);
                }
                1 => {
                    let copy = lines[at].clone();
                    lines.insert(at, copy);
                }
                2 => lines[at] = format!(" {}", lines[at]),
                _ => lines[at] = lines[at].replace(": ", &format!(": {} ", scalar(rng))),
            }
        }
        out = lines.join("\n");
        out.push('\n');
    }
    if rng.one_in(4) {
        out.push_str(ENV_SEPARATOR.trim_start_matches('\n'));
        for _ in 0..rng.below(4) {
            line(
                &mut out,
                0,
                *rng.pick(&[
                    "TAG=2.0",
                    "export A=from-env",
                    "B='single ${TAG}'",
                    "C=\"double ${TAG}\"",
                    "IMAGE=alpine",
                    "COMPOSE_PROFILES=debug",
                    "COMPOSE_PROJECT_NAME=other",
                    "COMPOSE_PROJECT_NAME=!!",
                    "bad line",
                    "D=${UNSET:?needed}",
                    "E=\"unterminated",
                    "# comment",
                    "F",
                    "=x",
                ]),
            );
        }
    }
    out.into_bytes()
}
