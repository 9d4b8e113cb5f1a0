//! `load` end to end on files in a temporary directory.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use pier_compose::{config_hash, load, Error, Options, Project};
use std::collections::BTreeMap;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn opts(dir: &Path) -> Options {
    let mut environ = BTreeMap::new();
    environ.insert("HOME".to_string(), "/home/u".to_string());
    Options {
        cwd: dir.to_path_buf(),
        environ,
        ..Options::default()
    }
}

fn project(files: &[(&str, &str)]) -> Result<(tempfile::TempDir, Project), Error> {
    project_with(files, |_| {})
}

fn project_with(
    files: &[(&str, &str)],
    f: impl FnOnce(&mut Options),
) -> Result<(tempfile::TempDir, Project), Error> {
    let dir = tempfile::Builder::new().prefix("proj").tempdir().unwrap();
    for (n, t) in files {
        write(dir.path(), n, t);
    }
    let mut o = opts(dir.path());
    f(&mut o);
    load(&o).map(|p| (dir, p))
}

fn err(files: &[(&str, &str)]) -> String {
    match project(files) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn interpolation_from_env_file_and_environ() {
    let (_d, p) = project_with(
        &[
            (".env", "TAG=1.0\nPORT=8080\nexport OVER=fromfile\n"),
            (
                "compose.yaml",
                "services:\n  web:\n    image: \"nginx:${TAG}\"\n    ports: [\"${PORT}:80\"]\n    environment:\n      O: $OVER\n      D: ${NOPE:-dflt}\n      L: $$HOME\n      E: ${UNSET_X}\n",
            ),
        ],
        |o| {
            o.environ.insert("OVER".into(), "fromenv".into());
        },
    )
    .unwrap();
    let web = &p.services["web"];
    assert_eq!(web.image, "nginx:1.0");
    assert_eq!(web.ports[0].published.as_deref(), Some("8080"));
    assert_eq!(web.environment["O"].as_deref(), Some("fromenv"));
    assert_eq!(web.environment["D"].as_deref(), Some("dflt"));
    assert_eq!(web.environment["L"].as_deref(), Some("$HOME"));
    assert_eq!(web.environment["E"].as_deref(), Some(""));
}

#[test]
fn interpolation_errors_name_file_and_line() {
    let e = err(&[(
        "compose.yaml",
        "services:\n  web:\n    image: ${IMG:?set IMG please}\n",
    )]);
    assert!(e.starts_with("compose.yaml:3:12: "), "{e}");
    assert!(
        e.contains("required variable IMG is missing a value: set IMG please"),
        "{e}"
    );
    let e = err(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    command: echo ${A\n",
    )]);
    assert!(e.starts_with("compose.yaml:4:"), "{e}");
    assert!(e.contains("unterminated"), "{e}");
}

#[test]
fn explicit_env_files_later_wins() {
    let (_d, p) = project_with(
        &[
            ("a.env", "IMG=a\nX=1\n"),
            ("b.env", "IMG=b\n"),
            ("compose.yaml", "services:\n  s:\n    image: $IMG$X\n"),
        ],
        |o| o.env_files = vec!["a.env".into(), "b.env".into()],
    )
    .unwrap();
    assert_eq!(p.services["s"].image, "b1");
}

#[test]
fn unknown_key_and_wrong_type() {
    let e = err(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    portz: []\n",
    )]);
    assert_eq!(e, "compose.yaml:4:5: services.web.portz: unknown key");
    let e = err(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    ports:\n      - 80\n      - \"80:x\"\n",
    )]);
    assert!(
        e.starts_with("compose.yaml:6:9: services.web.ports[1]: invalid port \"80:x\""),
        "{e}"
    );
    let e = err(&[("compose.yaml", "services:\n  web:\n    image: {a: 1}\n")]);
    assert!(
        e.starts_with("compose.yaml:3:12: services.web.image: expected a string"),
        "{e}"
    );
    let e = err(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    read_only: maybe\n",
    )]);
    assert!(
        e.contains("services.web.read_only: expected a boolean"),
        "{e}"
    );
    let e = err(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    healthcheck:\n      interval: 10\n",
    )]);
    assert!(
        e.contains("services.web.healthcheck.interval: invalid duration"),
        "{e}"
    );
    let e = err(&[("compose.yaml", "bogus: 1\nservices: {}\n")]);
    assert_eq!(e, "compose.yaml:1:1: bogus: unknown key");
}

#[test]
fn unsupported_keys() {
    let e = err(&[("compose.yaml", "services:\n  web:\n    build: .\n")]);
    assert!(
        e.contains("services.web.build: not supported by pier compose yet: build images"),
        "{e}"
    );
    let e = err(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    logging: {driver: none}\n",
    )]);
    assert!(
        e.ends_with("services.web.logging: not supported by pier compose yet"),
        "{e}"
    );
    let e = err(&[("compose.yaml", "services: {}\nsecrets: {}\n")]);
    assert!(e.contains("secrets: not supported by pier compose"), "{e}");
    let e = err(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    deploy:\n      placement: {}\n",
    )]);
    assert!(
        e.contains("services.web.deploy.placement: not supported"),
        "{e}"
    );
    let e = err(&[(
        "compose.yaml",
        "services:\n  web: {image: x}\nnetworks:\n  n: {driver: overlay}\n",
    )]);
    assert!(e.contains("networks.n.driver"), "{e}");
    let e = err(&[("compose.yaml", "services:\n  web: {}\n")]);
    assert!(e.contains("services.web: no image"), "{e}");
}

#[test]
fn yaml_structure_errors() {
    let e = err(&[(
        "compose.yaml",
        "services:\n  web: {image: x}\n  web: {image: y}\n",
    )]);
    assert!(
        e.starts_with("compose.yaml:3:3: duplicate key \"web\""),
        "{e}"
    );
    let e = err(&[("compose.yaml", "services: {}\n---\nservices: {}\n")]);
    assert!(e.contains("multiple YAML documents"), "{e}");
    let e = err(&[("compose.yaml", "")]);
    assert!(e.contains("empty compose file"), "{e}");
}

#[test]
fn anchors_and_merge_keys() {
    let (_d, p) = project(&[(
        "compose.yaml",
        "x-common: &common\n  image: busybox\n  restart: always\n  environment: &env\n    A: 1\nservices:\n  a:\n    <<: *common\n  b:\n    <<: *common\n    restart: \"no\"\n    environment:\n      <<: *env\n      B: 2\n",
    )])
    .unwrap();
    assert_eq!(p.services["a"].restart.as_deref(), Some("always"));
    assert_eq!(p.services["b"].restart.as_deref(), Some("no"));
    assert_eq!(p.services["b"].image, "busybox");
    assert_eq!(p.services["b"].environment.len(), 2);
}

#[test]
fn merge_two_files() {
    let (d, p) = project_with(
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    image: a\n    command: [one]\n    ports: ['80:80']\n    environment: [A=1, B=2]\n    volumes: ['./data:/data', 'v:/v']\n    labels: {x: '1'}\nvolumes:\n  v: {}\n",
            ),
            (
                "sub/extra.yaml",
                "services:\n  web:\n    image: b\n    command: two words\n    ports: ['443:443']\n    environment: {B: 3}\n    volumes: ['./other:/data']\n    labels: [y=2]\n",
            ),
        ],
        |o| o.files = vec!["compose.yaml".into(), "sub/extra.yaml".into()],
    )
    .unwrap();
    let web = &p.services["web"];
    assert_eq!(web.image, "b");
    assert_eq!(
        web.command,
        Some(vec!["two".to_string(), "words".to_string()])
    );
    assert_eq!(web.ports.len(), 2);
    assert_eq!(web.environment["A"].as_deref(), Some("1"));
    assert_eq!(web.environment["B"].as_deref(), Some("3"));
    // Relative paths of later files resolve against the project directory.
    let dir = d.path().canonicalize().unwrap();
    let data = web.volumes.iter().find(|v| v.target == "/data").unwrap();
    assert_eq!(Path::new(&data.source), dir.join("other"));
    assert_eq!(web.volumes.len(), 2);
    assert_eq!(web.labels.len(), 2);
}

#[test]
fn discovery_with_override_and_parents() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("myapp");
    write(&root, "compose.yaml", "services:\n  web:\n    image: a\n");
    write(
        &root,
        "compose.override.yaml",
        "services:\n  web:\n    image: b\n",
    );
    std::fs::create_dir_all(root.join("deep/er")).unwrap();
    let p = load(&opts(&root.join("deep/er"))).unwrap();
    assert_eq!(p.name, "myapp");
    assert_eq!(p.services["web"].image, "b");
    assert_eq!(p.working_dir, root);
    let e = load(&opts(dir.path())).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let mut o = opts(&root);
    o.files = vec!["-".into()];
    assert!(matches!(load(&o), Err(Error::Stdin)));
}

#[test]
fn extends_same_file_other_file_and_cycle() {
    let (d, p) = project(&[
        (
            "compose.yaml",
            "services:\n  base:\n    image: busybox\n    environment: {A: 1}\n    ports: ['80']\n  web:\n    extends: base\n    environment: {B: 2}\n  remote:\n    extends: {file: lib/common.yaml, service: worker}\n    command: run\n",
        ),
        (
            "lib/common.yaml",
            "services:\n  root:\n    image: alpine\n    volumes: ['./conf:/conf']\n  worker:\n    extends: root\n    command: [a, b]\n    env_file: w.env\n",
        ),
        ("lib/w.env", "W=1\n"),
    ])
    .unwrap();
    let web = &p.services["web"];
    assert_eq!(web.image, "busybox");
    assert_eq!(web.environment.len(), 2);
    assert_eq!(web.ports[0].target, 80);
    let remote = &p.services["remote"];
    assert_eq!(remote.image, "alpine");
    assert_eq!(remote.command, Some(vec!["run".to_string()]));
    assert_eq!(remote.environment["W"].as_deref(), Some("1"));
    let dir = d.path().canonicalize().unwrap();
    assert_eq!(Path::new(&remote.volumes[0].source), dir.join("lib/conf"));

    let e = err(&[(
        "compose.yaml",
        "services:\n  a:\n    image: x\n    extends: b\n  b:\n    extends: {service: a}\n",
    )]);
    assert!(e.contains("circular extends"), "{e}");
    let e = err(&[("compose.yaml", "services:\n  a:\n    extends: nope\n")]);
    assert!(e.contains("no service \"nope\""), "{e}");
}

const PROFILES: &str = "services:\n  web:\n    image: w\n  debug:\n    image: d\n    profiles: [debug]\n  tools:\n    image: t\n    profiles: [tools, ops]\n";

#[test]
fn profiles() {
    let (_d, p) = project(&[("compose.yaml", PROFILES)]).unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), ["web"]);
    assert_eq!(p.disabled.keys().collect::<Vec<_>>(), ["debug", "tools"]);
    let (_d, p) = project_with(&[("compose.yaml", PROFILES)], |o| {
        o.profiles = vec!["ops".into()]
    })
    .unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), ["tools", "web"]);
    let (_d, p) = project_with(&[("compose.yaml", PROFILES)], |o| {
        o.environ
            .insert("COMPOSE_PROFILES".into(), "debug, ops".into());
    })
    .unwrap();
    assert_eq!(p.services.len(), 3);
    let (_d, p) = project_with(&[("compose.yaml", PROFILES)], |o| {
        o.profiles = vec!["*".into()]
    })
    .unwrap();
    assert_eq!(p.services.len(), 3);
    assert!(p.disabled.is_empty());

    let dep = "services:\n  web:\n    image: w\n    depends_on: [debug]\n  debug:\n    image: d\n    profiles: [debug]\n";
    let e = err(&[("compose.yaml", dep)]);
    assert!(
        e.contains(
            "services.web.depends_on[0]: service \"debug\" is disabled by the active profiles"
        ),
        "{e}"
    );
    let optional = "services:\n  web:\n    image: w\n    depends_on:\n      debug: {condition: service_started, required: false}\n  debug:\n    image: d\n    profiles: [debug]\n";
    let (_d, p) = project(&[("compose.yaml", optional)]).unwrap();
    assert!(p.services["web"].depends_on.is_empty());
    let e = err(&[(
        "compose.yaml",
        "services:\n  web:\n    image: w\n    depends_on: [db]\n",
    )]);
    assert!(e.contains("undefined service \"db\""), "{e}");
}

#[test]
fn dependency_cycle() {
    let e = err(&[(
        "compose.yaml",
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
    )]);
    assert!(e.contains("dependency cycle: a -> b -> a"), "{e}");
}

#[test]
fn project_name_rules() {
    let svc = "services:\n  s: {image: x}\n";
    let (_d, p) = project_with(&[("compose.yaml", svc)], |o| {
        o.project_name = Some("My.App".into())
    })
    .unwrap();
    assert_eq!(p.name, "myapp");
    let (_d, p) = project_with(
        &[(
            "compose.yaml",
            "name: fromfile\nservices:\n  s: {image: x}\n",
        )],
        |o| {
            o.environ
                .insert("COMPOSE_PROJECT_NAME".into(), "fromenv".into());
        },
    )
    .unwrap();
    assert_eq!(p.name, "fromenv");
    let (_d, p) = project(&[(
        "compose.yaml",
        "name: FromFile\nservices:\n  s: {image: x}\n",
    )])
    .unwrap();
    assert_eq!(p.name, "fromfile");
    let (d, p) = project(&[("compose.yaml", svc)]).unwrap();
    let base = d
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase();
    assert_eq!(
        p.name,
        base.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-',
            ""
        )
    );
    let e = project_with(&[("compose.yaml", svc)], |o| {
        o.project_name = Some("_bad".into())
    })
    .unwrap_err();
    assert!(matches!(e, Error::ProjectName { .. }), "{e}");
    assert_eq!(p.networks["default"].name, format!("{}_default", p.name));
}

#[test]
fn short_syntax_conversions() {
    let (d, p) = project_with(
        &[
            ("web.env", "FROM_FILE=1\nA=file\n"),
            (
                "compose.yaml",
                r#"services:
  web:
    image: busybox
    command: sh -c 'echo "hi there"'
    entrypoint: ["/bin/tini", "--"]
    env_file: [web.env, {path: missing.env, required: false}]
    environment:
      - A=env
      - BARE
      - N=1
    ports:
      - "80"
      - "8080:80"
      - "127.0.0.1:8081:81"
      - "127.0.0.1::82"
      - "8000-8001:90-91"
      - "53:53/udp"
      - "[::1]:9000:9000"
      - target: 443
        published: 8443
        host_ip: 0.0.0.0
        protocol: tcp
        mode: host
    expose: [3000, "4000/udp"]
    volumes:
      - ./data:/data:ro
      - ~/cache:/cache
      - named:/named:nocopy
      - /anon
      - type: bind
        source: /etc
        target: /host-etc
        read_only: true
        bind: {propagation: rslave, create_host_path: false}
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 64m}
    tmpfs: /run
    healthcheck:
      test: curl -f http://localhost
      interval: 1m30s
      timeout: 10s
      retries: 3
      start_period: 500ms
    restart: on-failure:3
    stop_grace_period: 1500ms
    ulimits:
      nproc: 65535
      nofile: {soft: 20000, hard: 40000}
    sysctls: [net.core.somaxconn=1024]
    labels: {com.example: "yes"}
    mem_limit: 1.5GB
    cpus: "0.5"
    pids_limit: 100
    mem_reservation: 512m
    x-custom: {a: 1}
  db:
    image: postgres
    network_mode: service:web
    deploy:
      replicas: 2
      resources:
        limits: {cpus: 1, memory: 1g, pids: 50}
        reservations: {memory: 100m}
      restart_policy: {condition: on-failure, max_attempts: 5}
    healthcheck:
      test: ["CMD", "pg_isready"]
  other:
    image: x
    networks:
      front:
        aliases: [o1]
        ipv4_address: 172.20.0.5
      back:
    depends_on:
      web: {condition: service_healthy, restart: true}
volumes:
  named:
networks:
  front:
    ipam: {config: [{subnet: 172.20.0.0/16, gateway: 172.20.0.1}]}
  back: {external: true}
"#,
            ),
        ],
        |o| o.project_name = Some("t".into()),
    )
    .unwrap();
    let dir = d.path().canonicalize().unwrap();
    let web = &p.services["web"];
    assert_eq!(
        web.command.as_deref().unwrap(),
        ["sh", "-c", "echo \"hi there\""]
    );
    assert_eq!(web.entrypoint.as_deref().unwrap(), ["/bin/tini", "--"]);
    assert_eq!(web.environment["A"].as_deref(), Some("env"));
    assert_eq!(web.environment["FROM_FILE"].as_deref(), Some("1"));
    assert_eq!(web.environment["BARE"], None);
    assert_eq!(web.environment["N"].as_deref(), Some("1"));
    let ports: Vec<String> = web
        .ports
        .iter()
        .map(|p| {
            format!(
                "{}|{}|{}|{}",
                p.host_ip.as_deref().unwrap_or(""),
                p.published.as_deref().unwrap_or(""),
                p.target,
                p.protocol
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            "||80|tcp",
            "|8080|80|tcp",
            "127.0.0.1|8081|81|tcp",
            "127.0.0.1||82|tcp",
            "|8000|90|tcp",
            "|8001|91|tcp",
            "|53|53|udp",
            "::1|9000|9000|tcp",
            "0.0.0.0|8443|443|tcp",
        ]
    );
    assert_eq!(web.expose, ["3000/tcp", "4000/udp"]);
    let v = &web.volumes;
    assert_eq!(
        (v[0].kind.as_str(), v[0].read_only, v[0].create_host_path),
        ("bind", true, true)
    );
    assert_eq!(Path::new(&v[0].source), dir.join("data"));
    assert_eq!(v[1].source, "/home/u/cache");
    assert_eq!(
        (v[2].kind.as_str(), v[2].source.as_str(), v[2].nocopy),
        ("volume", "named", true)
    );
    assert_eq!(
        (
            v[3].kind.as_str(),
            v[3].source.as_str(),
            v[3].target.as_str()
        ),
        ("volume", "", "/anon")
    );
    assert_eq!(v[4].propagation.as_deref(), Some("rslave"));
    assert!(!v[4].create_host_path && v[4].read_only);
    assert_eq!(v[5].tmpfs_size, Some(64 << 20));
    assert_eq!(web.tmpfs, ["/run"]);
    let h = web.healthcheck.as_ref().unwrap();
    assert_eq!(h.test, ["CMD-SHELL", "curl -f http://localhost"]);
    assert_eq!(
        (h.interval_ms, h.timeout_ms, h.retries, h.start_period_ms),
        (Some(90_000), Some(10_000), Some(3), Some(500))
    );
    assert_eq!(web.restart.as_deref(), Some("on-failure:3"));
    assert_eq!(web.stop_grace_period, Some(2));
    assert_eq!(
        (web.ulimits["nproc"].soft, web.ulimits["nproc"].hard),
        (65535, 65535)
    );
    assert_eq!(
        (web.ulimits["nofile"].soft, web.ulimits["nofile"].hard),
        (20000, 40000)
    );
    assert_eq!(web.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(web.labels["com.example"], "yes");
    assert_eq!(web.limits.memory, Some(3 << 29));
    assert_eq!(web.limits.cpus, Some(0.5));
    assert_eq!(web.limits.pids, Some(100));
    assert_eq!(web.reservations.memory, Some(512 << 20));
    assert_eq!(web.extensions["x-custom"], serde_json::json!({"a": 1}));
    assert_eq!(web.networks.keys().collect::<Vec<_>>(), ["default"]);

    let db = &p.services["db"];
    assert_eq!(db.replicas, 2);
    assert!(db.networks.is_empty());
    assert_eq!(db.restart.as_deref(), Some("on-failure:5"));
    assert_eq!(
        (db.limits.cpus, db.limits.memory, db.limits.pids),
        (Some(1.0), Some(1 << 30), Some(50))
    );
    assert_eq!(db.reservations.memory, Some(100 << 20));
    assert_eq!(db.healthcheck.as_ref().unwrap().test, ["CMD", "pg_isready"]);

    let other = &p.services["other"];
    assert_eq!(other.networks["front"].aliases, ["o1"]);
    assert_eq!(
        other.networks["front"].ipv4_address.as_deref(),
        Some("172.20.0.5")
    );
    assert!(other.networks.contains_key("back"));
    let dep = &other.depends_on["web"];
    assert_eq!(
        (dep.condition.as_str(), dep.restart, dep.required),
        ("service_healthy", true, true)
    );

    assert_eq!(p.networks["front"].name, "t_front");
    assert_eq!(p.networks["front"].subnet.as_deref(), Some("172.20.0.0/16"));
    assert_eq!(p.networks["back"].name, "back");
    assert!(p.networks["back"].external);
    assert_eq!(p.networks["default"].name, "t_default");
    assert_eq!(p.volumes["named"].name, "t_named");
}

#[test]
fn validation_errors() {
    let cases: &[(&str, &str)] = &[
        ("services:\n  s:\n    image: x\n    volumes: ['data:/d']\n", "undefined volume \"data\""),
        ("services:\n  s:\n    image: x\n    networks: [n]\n", "undefined network \"n\""),
        ("services:\n  s:\n    image: x\n    network_mode: host\n    networks: [default]\n", "networks and network_mode"),
        ("services:\n  s:\n    image: x\n    network_mode: bogus\n", "invalid network_mode"),
        ("services:\n  s:\n    image: x\n    restart: sometimes\n", "invalid restart policy"),
        ("services:\n  s:\n    image: x\n    container_name: c\n    scale: 2\n", "container_name cannot be used with 2 replicas"),
        ("services:\n  s:\n    image: x\n    scale: 2\n    deploy: {replicas: 3}\n", "scale (2) and deploy.replicas (3) differ"),
        ("services:\n  s:\n    image: x\n    mem_limit: 1g\n    deploy: {resources: {limits: {memory: 2g}}}\n", "differ"),
        ("services:\n  s:\n    image: x\n    ports: ['8000-8002:80-81']\n", "different lengths"),
        ("services:\n  s:\n    image: x\n    ports: ['70000:80']\n", "not a port number"),
        ("services:\n  s:\n    image: x\n    volumes: ['./a:rel']\n", "not absolute"),
        ("services:\n  s:\n    image: x\n    ulimits: {nofile: {soft: 2, hard: 1}}\n", "greater than hard"),
        ("services:\n  s:\n    image: x\n    command: \"echo 'x\"\n", "unterminated single quote"),
        ("services:\n  s:\n    image: x\n    deploy: {restart_policy: {delay: 5s}}\n", "deploy.restart_policy.delay: not supported"),
        ("services:\n  s:\n    image: x\n    env_file: nope.env\n", "failed to read env file"),
    ];
    for (yaml, want) in cases {
        let e = err(&[("compose.yaml", yaml)]);
        assert!(e.contains(want), "{yaml}\n=> {e}\nwanted {want}");
        assert!(e.starts_with("compose.yaml:"), "{e}");
    }
}

#[test]
fn config_hash_ignores_replicas_only() {
    let (_d, p) = project(&[(
        "compose.yaml",
        "services:\n  a: {image: x}\n  b: {image: x}\n  c: {image: y}\n",
    )])
    .unwrap();
    let (a, b, c) = (&p.services["a"], &p.services["b"], &p.services["c"]);
    assert_eq!(config_hash(a), config_hash(b));
    assert_ne!(config_hash(a), config_hash(c));
    assert_eq!(config_hash(a).len(), 64);
    let mut scaled = a.clone();
    scaled.replicas = 5;
    assert_eq!(config_hash(a), config_hash(&scaled));
    let mut changed = a.clone();
    changed.environment.insert("K".into(), Some("v".into()));
    assert_ne!(config_hash(a), config_hash(&changed));
}

#[test]
fn version_is_accepted_and_unused_resources_dropped() {
    let (_d, p) = project(&[(
        "compose.yaml",
        "version: '3.8'\nservices:\n  s:\n    image: x\n    network_mode: none\nnetworks:\n  unused: {}\nvolumes:\n  unused: {}\n",
    )])
    .unwrap();
    assert!(p.networks.is_empty());
    assert!(p.volumes.is_empty());
}

#[test]
fn resources_of_services_disabled_by_profiles_are_kept() {
    let (_d, p) = project(&[(
        "compose.yaml",
        "services:\n  s:\n    image: x\n  dbg:\n    image: x\n    profiles: [debug]\n    networks: [dbgnet]\n    volumes: [dbgvol:/x]\nnetworks:\n  dbgnet: {}\nvolumes:\n  dbgvol: {}\n",
    )])
    .unwrap();
    assert!(p.services.contains_key("s") && p.disabled.contains_key("dbg"));
    assert_eq!(p.networks["dbgnet"].name, format!("{}_dbgnet", p.name));
    assert_eq!(p.volumes["dbgvol"].name, format!("{}_dbgvol", p.name));
}

#[test]
fn a_bare_environment_key_takes_the_environment_value() {
    let (_d, p) = project_with(
        &[
            (".env", "FROM_DOTENV=d\n"),
            (
                "compose.yaml",
                "services:\n  s:\n    image: x\n    environment: [FROM_ENV, FROM_DOTENV, NOT_SET]\n",
            ),
        ],
        |o| {
            o.environ.insert("FROM_ENV".into(), "e".into());
        },
    )
    .unwrap();
    let env = &p.services["s"].environment;
    assert_eq!(env["FROM_ENV"].as_deref(), Some("e"));
    assert_eq!(env["FROM_DOTENV"].as_deref(), Some("d"));
    assert_eq!(env["NOT_SET"], None);
}
