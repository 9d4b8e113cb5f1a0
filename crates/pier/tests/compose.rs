//! `pier compose` end to end: real multi-service projects on the busybox
//! image, with the runtime under test (berth by default,
//! `PIER_TEST_RUNTIME=runc` for the control run). Each test has its own
//! pier root and project directory, gives its networks their own subnet
//! (10.232.N.0/24), and checks that `down` leaves nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::containers::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// A project directory holding `compose.yaml`.
struct Project<'a> {
    pier: &'a Pier,
    dir: tempfile::TempDir,
    name: String,
}

impl<'a> Project<'a> {
    fn new(pier: &'a Pier, name: &str, yaml: &str) -> Project<'a> {
        let dir = tempfile::Builder::new()
            .prefix("pier-compose-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
        Project {
            pier,
            dir,
            name: name.to_string(),
        }
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text).unwrap();
    }

    fn out_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let rt = runtime();
        let mut c = self
            .pier
            .cmd(&["compose", "--runtime", &rt, "-p", &self.name]);
        c.args(args).current_dir(self.dir.path());
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn out(&self, args: &[&str]) -> Output {
        self.out_env(args, &[])
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.out(args);
        assert!(
            out.status.success(),
            "pier compose {args:?} failed: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn ps(&self) -> Vec<Value> {
        self.ok(&["ps", "-a", "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn id(&self, name: &str) -> String {
        self.ps()
            .into_iter()
            .find(|c| c["Name"] == name)
            .unwrap_or_else(|| panic!("no container {name}: {:#?}", self.ps()))["ID"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The ids of every container of the project.
    fn ids(&self) -> Vec<String> {
        self.ps()
            .iter()
            .map(|c| c["ID"].as_str().unwrap().to_string())
            .collect()
    }

    /// `down -v`, then nothing of the project may be left: containers,
    /// their mounts, cgroups and monitors, networks, bridges, volumes.
    fn down_leaves_nothing(&self, ids: &[String], bridges: &[String]) {
        self.ok(&["down", "-v"]);
        assert!(self.ps().is_empty(), "{:#?}", self.ps());
        for id in ids {
            let left = self.pier.leftovers(id);
            assert!(left.is_empty(), "{id}: {left:#?}");
        }
        let nets = self.pier.ok(&["network", "ls"]);
        assert!(!nets.contains(&self.name), "{nets}");
        let links = text(
            &std::process::Command::new("ip")
                .args(["-o", "link"])
                .output()
                .unwrap()
                .stdout,
        );
        for b in bridges {
            assert!(
                !links.contains(&format!(" {b}:")),
                "bridge {b} left: {links}"
            );
        }
        let vols = self.pier.ok(&["volume", "ls", "-q"]);
        assert!(vols.trim().is_empty(), "volumes left: {vols}");
    }
}

fn bridge_of(p: &Pier, network: &str) -> String {
    let v: Value = serde_json::from_str(&p.ok(&["network", "inspect", network])).unwrap();
    v[0]["bridge"].as_str().unwrap().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_web_server_and_a_client_by_service_name_after_its_health_check() {
    let p = Pier::new();
    let port = free_port();
    // `$` is compose's interpolation character.
    let httpd = HTTPD.replace('$', "$$");
    let yaml = format!(
        r#"
services:
  web:
    image: {IMAGE}
    init: true
    command: ["sh", "-c", "sleep 1; {httpd}"]
    hostname: websrv
    ports:
      - "127.0.0.1:${{WEB_PORT}}:80"
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://127.0.0.1/"]
      interval: 200ms
      retries: 50
  client:
    image: {IMAGE}
    init: true
    command: sh -c 'wget -qO- http://web/ && sleep 600'
    depends_on:
      web:
        condition: service_healthy
networks:
  default:
    ipam:
      config:
        - subnet: 10.232.1.0/24
"#
    );
    let proj = Project::new(&p, "webapp", &yaml);
    proj.write(".env", &format!("WEB_PORT={port}\n"));
    let out = proj.out(&["up", "-d"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Ordering: the client was created only once web was healthy.
    let healthy = err.find("webapp-web-1  Healthy").expect(&err);
    let client = err.find("webapp-client-1  Created").expect(&err);
    assert!(healthy < client, "{err}");

    let ps = proj.ps();
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert!(ps.iter().all(|c| c["State"] == "running"), "{ps:#?}");
    // The client reached web by its service name.
    wait_until("the client's output", Duration::from_secs(20), || {
        proj.ok(&["logs", "client"]).contains("served-by-websrv")
    });
    let logs = proj.ok(&["logs", "--no-color", "client"]);
    assert!(logs.contains("client-1  | served-by-websrv"), "{logs}");
    // The published port answers on the host.
    let body = http_get(&format!("127.0.0.1:{port}"));
    assert!(body.contains("served-by-websrv"), "{body}");
    // exec into a service's container.
    let out = proj.out(&["exec", "-T", "web", "hostname"]);
    assert_eq!(text(&out.stdout).trim(), "websrv", "{out:?}");

    let bridge = bridge_of(&p, "webapp_default");
    let ids: Vec<String> = ps
        .iter()
        .map(|c| c["ID"].as_str().unwrap().into())
        .collect();
    proj.down_leaves_nothing(&ids, &[bridge]);
}

#[test]
fn replicas_a_shared_volume_and_recreate_only_what_changed() {
    let p = Pier::new();
    let yaml = |greeting: &str| {
        format!(
            r#"
services:
  writer:
    image: {IMAGE}
    init: true
    command: sh -c 'echo $$GREETING > /data/$$(hostname) && sleep 600'
    environment:
      GREETING: {greeting}
    volumes:
      - shared:/data
    deploy:
      replicas: 2
  reader:
    image: {IMAGE}
    init: true
    command: ["sleep", "600"]
    volumes:
      - type: volume
        source: shared
        target: /data
        read_only: true
volumes:
  shared:
networks:
  default:
    ipam:
      config:
        - subnet: 10.232.2.0/24
"#
        )
    };
    let proj = Project::new(&p, "shared", &yaml("hello"));
    proj.ok(&["up", "-d"]);
    let ps = proj.ps();
    let names: Vec<&str> = ps.iter().map(|c| c["Name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["shared-reader-1", "shared-writer-1", "shared-writer-2"],
        "{ps:#?}"
    );
    // Both writers' files are seen by the reader through the named volume.
    wait_until("two files in the volume", Duration::from_secs(20), || {
        let out = proj.out(&["exec", "-T", "reader", "sh", "-c", "cat /data/*"]);
        text(&out.stdout).matches("hello").count() == 2
    });
    // The reader's mount is read-only.
    let out = proj.out(&["exec", "-T", "reader", "touch", "/data/x"]);
    assert!(!out.status.success(), "{out:?}");
    let vols = p.ok(&["volume", "ls", "-q"]);
    assert_eq!(vols.trim(), "shared_shared");

    // Unchanged: nothing is recreated.
    let before = proj.id("shared-writer-1");
    let reader = proj.id("shared-reader-1");
    let err = text(&proj.out(&["up", "-d"]).stderr);
    assert!(err.contains("shared-writer-1  Running"), "{err}");
    assert_eq!(proj.id("shared-writer-1"), before);

    // A changed service is recreated, the other one is not.
    proj.write("compose.yaml", &yaml("bonjour"));
    proj.ok(&["up", "-d"]);
    assert_ne!(proj.id("shared-writer-1"), before);
    assert_eq!(proj.id("shared-reader-1"), reader);
    wait_until("the new greeting", Duration::from_secs(20), || {
        let out = proj.out(&["exec", "-T", "reader", "sh", "-c", "cat /data/*"]);
        text(&out.stdout).matches("bonjour").count() == 2
    });

    // Scaling down removes the extra replica.
    proj.write(
        "compose.yaml",
        &yaml("bonjour").replace("replicas: 2", "replicas: 1"),
    );
    let old2 = proj.id("shared-writer-2");
    proj.ok(&["up", "-d"]);
    let names: Vec<String> = proj
        .ps()
        .iter()
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["shared-reader-1", "shared-writer-1"]);
    // (Mounts of the other containers are under the same root.)
    let left: Vec<String> = p
        .leftovers(&old2)
        .into_iter()
        .filter(|l| !l.starts_with("mount:") || l.contains(&old2[..12]))
        .collect();
    assert!(left.is_empty(), "{left:#?}");

    let ids = proj.ids();
    let bridge = bridge_of(&p, "shared_default");
    proj.down_leaves_nothing(&ids, &[bridge]);
}

#[test]
fn completed_and_failed_dependencies() {
    let p = Pier::new();
    let yaml = format!(
        r#"
services:
  migrate:
    image: {IMAGE}
    init: true
    command: sh -c 'sleep 1; echo migrated > /state/done'
    volumes: [state:/state]
  app:
    image: {IMAGE}
    init: true
    command: sh -c 'cat /state/done; sleep 600'
    volumes: [state:/state]
    depends_on:
      migrate:
        condition: service_completed_successfully
  sick:
    image: {IMAGE}
    init: true
    command: ["sleep", "600"]
    profiles: [broken]
    healthcheck:
      test: ["CMD-SHELL", "exit 1"]
      interval: 100ms
      retries: 2
  needs-sick:
    image: {IMAGE}
    init: true
    command: ["true"]
    profiles: [broken]
    depends_on:
      sick:
        condition: service_healthy
volumes:
  state:
networks:
  default:
    ipam:
      config:
        - subnet: 10.232.3.0/24
"#
    );
    let proj = Project::new(&p, "deps", &yaml);
    proj.ok(&["up", "-d", "app"]);
    wait_until("app's output", Duration::from_secs(20), || {
        proj.ok(&["logs", "app"]).contains("migrated")
    });
    let ps = proj.ps();
    let migrate = ps.iter().find(|c| c["Service"] == "migrate").unwrap();
    assert_eq!(migrate["State"], "exited", "{ps:#?}");
    assert_eq!(migrate["ExitCode"], 0, "{ps:#?}");
    // Profiles: the broken services were not started.
    assert!(ps.iter().all(|c| c["Service"] != "sick"), "{ps:#?}");

    // A dependency that turns unhealthy fails `up`, naming it.
    let out = proj.out(&["--profile", "broken", "up", "-d"]);
    assert!(!out.status.success(), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("dependency failed to start: container deps-sick-1 is unhealthy"),
        "{err}"
    );
    assert!(proj.ps().iter().all(|c| c["Service"] != "needs-sick"));

    let ids = proj.ids();
    let bridge = bridge_of(&p, "deps_default");
    // `down` removes containers of services in inactive profiles too.
    proj.down_leaves_nothing(&ids, &[bridge]);
}

#[test]
fn foreground_up_prefixes_logs_and_run_makes_one_off_containers() {
    let p = Pier::new();
    let yaml = format!(
        r#"
name: fg
services:
  a:
    image: {IMAGE}
    init: true
    command: echo "hello from a, ${{WHO:-nobody}}"
    network_mode: none
  b:
    image: {IMAGE}
    init: true
    entrypoint: ["sh", "-c"]
    command: ["echo $$0 $$HOME", "hello from b"]
    network_mode: none
    depends_on: [a]
"#
    );
    let proj = Project::new(&p, "fg", &yaml);
    let out = proj.out_env(&["up"], &[("WHO", "tests")]);
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("a-1  | hello from a, tests"), "{stdout}");
    assert!(stdout.contains("b-1  | hello from b /root"), "{stdout}");
    assert!(stdout.contains("a-1  | exited with code 0"), "{stdout}");

    // A one-off: its own container, its exit code, removed with --rm.
    let out = proj.out(&["run", "--rm", "-T", "a", "sh", "-c", "echo one-off; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(text(&out.stdout).contains("one-off"), "{out:?}");
    assert_eq!(proj.ps().len(), 2, "{:#?}", proj.ps());

    let ids = proj.ids();
    proj.down_leaves_nothing(&ids, &[]);
}

#[test]
fn bad_compose_files_fail_with_file_line_and_key() {
    let p = Pier::new();
    let proj = Project::new(
        &p,
        "bad",
        &format!("services:\n  web:\n    image: {IMAGE}\n    portz: [\"80\"]\n"),
    );
    let out = proj.out(&["up", "-d"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("compose.yaml:4"), "{err}");
    assert!(err.contains("services.web.portz"), "{err}");
    // Nothing was made.
    assert!(p.ok(&["ps", "-aq"]).trim().is_empty());
    assert!(!p.ok(&["network", "ls"]).contains("bad_default"));
    // A required variable that is not set.
    proj.write(
        "compose.yaml",
        &format!("services:\n  web:\n    image: {IMAGE}\n    command: echo ${{NEEDED:?set NEEDED first}}\n"),
    );
    let out = proj.out(&["config"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("set NEEDED first"), "{out:?}");
}

#[test]
fn networks_with_aliases_wait_and_restart_following_a_dependency() {
    let p = Pier::new();
    let yaml = format!(
        r#"
x-base: &base
  image: {IMAGE}
  init: true
  command: ["sleep", "600"]
services:
  db:
    <<: *base
    networks:
      back:
        aliases: [database]
    healthcheck:
      test: ["CMD", "true"]
      interval: 100ms
  api:
    <<: *base
    networks: [front, back]
    depends_on:
      db:
        condition: service_healthy
        restart: true
  ui:
    <<: *base
    networks: [front]
networks:
  front:
    ipam:
      config:
        - subnet: 10.232.4.0/24
  back:
    ipam:
      config:
        - subnet: 10.232.5.0/24
"#
    );
    let proj = Project::new(&p, "tiers", &yaml);
    proj.ok(&["up", "-d", "--wait"]);
    let ps = proj.ps();
    let db = ps.iter().find(|c| c["Service"] == "db").unwrap();
    assert_eq!(db["Health"], "healthy", "{ps:#?}");

    // api is on both networks; ui only on front, so it cannot see the db.
    let nets = p.inspect("tiers-api-1")["NetworkSettings"]["Networks"].clone();
    assert!(
        nets["tiers_front"]["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("10.232.4."),
        "{nets:#}"
    );
    assert!(
        nets["tiers_back"]["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("10.232.5."),
        "{nets:#}"
    );
    for (from, to, reachable) in [
        ("api", "database", true),
        ("api", "db", true),
        ("api", "ui", true),
        ("ui", "api", true),
        ("ui", "database", false),
    ] {
        let out = proj.out(&["exec", "-T", from, "ping", "-c1", "-W2", to]);
        assert_eq!(out.status.success(), reachable, "{from} -> {to}: {out:?}");
    }

    // Restarting db restarts api (restart: true), not ui.
    let started = |c: &str| {
        p.inspect(c)["State"]["StartedAt"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (api0, ui0) = (started("tiers-api-1"), started("tiers-ui-1"));
    std::thread::sleep(Duration::from_millis(1100));
    proj.ok(&["restart", "db"]);
    assert_ne!(started("tiers-api-1"), api0);
    assert_eq!(started("tiers-ui-1"), ui0);

    let ids = proj.ids();
    let bridges = [bridge_of(&p, "tiers_front"), bridge_of(&p, "tiers_back")];
    proj.down_leaves_nothing(&ids, &bridges);
}

#[test]
fn a_sidecar_shares_the_network_of_the_service_it_names() {
    let p = Pier::new();
    let httpd = HTTPD.replace('$', "$$");
    let yaml = format!(
        r#"
services:
  web:
    image: {IMAGE}
    init: true
    hostname: shared
    command: ["sh", "-c", "{httpd}"]
  sidecar:
    image: {IMAGE}
    init: true
    network_mode: "service:web"
    command: sh -c 'for i in $$(seq 100); do wget -qO- http://127.0.0.1/ && break; sleep 0.1; done; sleep 600'
networks:
  default:
    ipam:
      config:
        - subnet: 10.232.6.0/24
"#
    );
    let proj = Project::new(&p, "sidecar", &yaml);
    // Naming only the sidecar starts web first: it needs web's namespace.
    let out = proj.out(&["up", "-d", "sidecar"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let web = err.find("sidecar-web-1  Started").expect(&err);
    let side = err.find("sidecar-sidecar-1  Created").expect(&err);
    assert!(web < side, "{err}");
    wait_until("the sidecar's output", Duration::from_secs(20), || {
        proj.ok(&["logs", "sidecar"]).contains("served-by-shared")
    });
    let ids = proj.ids();
    let bridge = bridge_of(&p, "sidecar_default");
    proj.down_leaves_nothing(&ids, &[bridge]);
}

#[test]
fn images_missing_from_the_store_are_pulled_from_a_registry() {
    let p = Pier::new();
    let reg = common::Registry::start(common::Auth::None);
    let remote = format!("{}/compose/busybox:1", reg.host());
    common::run(
        common::skopeo()
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:latest", image_dir().join("oci").display()))
            .arg(format!("docker://{remote}")),
    );
    let yaml = format!(
        r#"
services:
  app:
    image: {remote}
    init: true
    command: ["sleep", "600"]
    network_mode: none
  job:
    image: {remote}
    command: ["true"]
    network_mode: none
"#
    );
    let proj = Project::new(&p, "pulled", &yaml);
    // `pull` fetches the image once for both services.
    let out = proj.out(&["pull"]);
    assert!(out.status.success(), "{out:?}");
    assert!(p.ok(&["images"]).contains("compose/busybox"));
    p.ok(&["rmi", &remote]);
    // `up` pulls what is missing by itself.
    proj.ok(&["up", "-d"]);
    let images = proj.ok(&["images"]);
    assert!(images.contains("pulled-app-1"), "{images}");
    assert!(
        images.contains(&format!("{}/compose/busybox", reg.host())) && images.contains(" 1 "),
        "{images}"
    );
    let ids = proj.ids();
    proj.down_leaves_nothing(&ids, &[]);
}

#[test]
fn limits_tmpfs_and_external_resources() {
    let p = Pier::new();
    p.ok(&["network", "create", "--subnet", "10.232.7.0/24", "extnet"]);
    p.ok(&["volume", "create", "extvol"]);
    let yaml = format!(
        r#"
services:
  limited:
    image: {IMAGE}
    init: true
    command: ["sleep", "600"]
    mem_limit: 64m
    cpus: 0.5
    pids_limit: 50
    read_only: true
    tmpfs: ["/scratch:size=1m"]
    ulimits:
      nofile: {{soft: 1000, hard: 2000}}
    sysctls:
      net.ipv4.ip_unprivileged_port_start: "99"
    cap_drop: [NET_RAW]
    labels:
      tier: backend
    networks: [extnet]
    volumes: ["extvol:/data"]
networks:
  extnet:
    external: true
volumes:
  extvol:
    external: true
"#
    );
    let proj = Project::new(&p, "limits", &yaml);
    proj.ok(&["up", "-d"]);
    let script = "if [ -e /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then \
                    cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max; \
                  else cat /sys/fs/cgroup/memory.max; cut -d' ' -f1 /sys/fs/cgroup/cpu.max; cat /sys/fs/cgroup/pids.max; fi; \
                  ulimit -Sn; ulimit -Hn; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; \
                  touch /rootfs-write 2>/dev/null && echo rw || echo ro; \
                  touch /scratch/x && echo scratch-ok; echo data > /data/f && echo data-ok; \
                  ping -c1 -W1 127.0.0.1 >/dev/null 2>&1 && echo ping || echo no-ping";
    let out = proj.out(&["exec", "-T", "limited", "sh", "-c", script]);
    let stdout = text(&out.stdout);
    let mut lines: Vec<&str> = stdout.lines().collect();
    // runc 1.1.5 (the control) sets an exec's rlimits with prlimit while
    // the child's Go runtime raises the nofile soft limit to the hard one:
    // a race it sometimes loses (as in the berth-e2e exec test).
    if !runtime().ends_with("berth") && lines.get(3) == Some(&"2000") {
        lines[3] = "1000";
    }
    assert_eq!(
        lines,
        [
            "67108864",
            "50000",
            "50",
            "1000",
            "2000",
            "99",
            "ro",
            "scratch-ok",
            "data-ok",
            "no-ping"
        ],
        "{out:?}"
    );
    let v = p.inspect("limits-limited-1");
    assert_eq!(v["Config"]["Labels"]["tier"], "backend", "{v:#}");
    assert_eq!(
        v["Config"]["Labels"]["com.docker.compose.project"],
        "limits"
    );
    assert!(v["NetworkSettings"]["Networks"]["extnet"]["IPAddress"]
        .as_str()
        .unwrap()
        .starts_with("10.232.7."));
    let id = proj.id("limits-limited-1");
    proj.ok(&["down", "-v"]);
    assert!(p.leftovers(&id).is_empty(), "{:#?}", p.leftovers(&id));
    // External resources are the user's: down leaves them, data and all.
    assert!(p.ok(&["network", "ls"]).contains("extnet"));
    let vol: Value = serde_json::from_str(&p.ok(&["volume", "inspect", "extvol"])).unwrap();
    let data = Path::new(vol[0]["Mountpoint"].as_str().unwrap()).join("f");
    assert_eq!(std::fs::read_to_string(data).unwrap(), "data\n");
    p.ok(&["network", "rm", "extnet"]);
    p.ok(&["volume", "rm", "extvol"]);
}

#[test]
fn ctrl_c_on_a_foreground_up_stops_the_project() {
    let p = Pier::new();
    let yaml = format!(
        r#"
services:
  a:
    image: {IMAGE}
    init: true
    command: sh -c 'echo a-up; exec sleep 600'
    network_mode: none
  b:
    image: {IMAGE}
    init: true
    command: sh -c 'echo b-up; exec sleep 600'
    network_mode: none
    depends_on: [a]
"#
    );
    let proj = Project::new(&p, "intr", &yaml);
    let rt = runtime();
    let child = p
        .cmd(&["compose", "--runtime", &rt, "-p", "intr", "up"])
        .current_dir(proj.dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("both services running", Duration::from_secs(30), || {
        let ps = proj.ps();
        ps.len() == 2 && ps.iter().all(|c| c["State"] == "running")
    });
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("a-1  | a-up") && stdout.contains("b-1  | b-up"),
        "{stdout}"
    );
    let ps = proj.ps();
    assert!(ps.iter().all(|c| c["State"] == "exited"), "{ps:#?}");
    let ids: Vec<String> = ps
        .iter()
        .map(|c| c["ID"].as_str().unwrap().into())
        .collect();
    proj.down_leaves_nothing(&ids, &[]);
}
