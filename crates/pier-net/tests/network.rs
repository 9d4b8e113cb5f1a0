//! Networks, endpoints, leases and name resolution on real bridges and veths
//! (root; each test on a private host namespace, see common/mod.rs).

mod common;

use common::*;
use pier_net::{NetworkOptions, Networks};

#[test]
fn containers_on_a_user_network_reach_each_other_by_ip_and_name() {
    on_private_host(|env| {
        let net = env.nets.create("app", NetworkOptions::default()).unwrap();
        let web = env.container("web");
        let client = env.container("client");
        let ew = env.connect("app", &web, &["www"]);
        let ec = env.connect("app", &client, &[]);
        assert_ne!(ew.ip, ec.ip);
        assert!(net.subnet.contains(ew.ip) && net.subnet.contains(ec.ip));
        assert_eq!((ew.ifname.as_str(), ew.gateway), ("eth0", net.gateway));

        // Addresses and routes inside the namespace.
        let addr = stdout(&in_ns(&web, &["ip", "-4", "-o", "addr", "show", "eth0"]));
        assert!(
            addr.contains(&format!("{}/{}", ew.ip, ew.prefix_len)),
            "{addr}"
        );
        let route = stdout(&in_ns(&web, &["ip", "route"]));
        assert!(
            route.contains(&format!("default via {}", net.gateway)),
            "{route}"
        );
        let link = stdout(&in_ns(&web, &["ip", "link", "show", "eth0"]));
        assert!(link.contains(&ew.mac), "{link}");

        // Each hosts file lists the peer with its name and aliases.
        let hc = std::fs::read_to_string(&client.hosts).unwrap();
        assert!(hc.contains(&format!("{}\tclient\n", ec.ip)), "{hc}");
        assert!(hc.contains(&format!("{}\tweb www\n", ew.ip)), "{hc}");
        let hw = std::fs::read_to_string(&web.hosts).unwrap();
        assert!(hw.contains(&format!("{}\tclient\n", ec.ip)), "{hw}");

        let ip = ew.ip.to_string();
        let ping = in_ns(&client, &["busybox", "ping", "-c", "1", "-W", "5", &ip]);
        assert!(ping.status.success(), "{ping:?}");
        let gw = net.gateway.to_string();
        let ping = in_ns(&client, &["busybox", "ping", "-c", "1", "-W", "5", &gw]);
        assert!(
            ping.status.success(),
            "container cannot reach its gateway: {ping:?}"
        );

        let _httpd = httpd(env, &web, "hello from web");
        for name in [ip.as_str(), "web", "www"] {
            let o = in_ctr(&client, &format!("busybox wget -q -O - http://{name}/"));
            assert!(stdout(&o).contains("hello from web"), "wget {name}: {o:?}");
        }

        // A disconnect removes the peer from the remaining hosts files.
        env.nets.disconnect("app", &web.id).unwrap();
        let hc = std::fs::read_to_string(&client.hosts).unwrap();
        assert!(!hc.contains("web"), "{hc}");
        env.nets.disconnect("app", &client.id).unwrap();
    });
}

#[test]
fn default_bridge_network_connects_but_resolves_no_names() {
    on_private_host(|env| {
        let a = env.container("a");
        let b = env.container("b");
        let ea = env.connect("bridge", &a, &[]);
        let eb = env.connect("bridge", &b, &[]);
        let net = env.nets.inspect("bridge").unwrap();
        assert_eq!(net.bridge, "pier0");
        // Nothing routes in this private host namespace, so the default
        // network gets Docker's default subnet.
        assert_eq!(net.subnet.to_string(), "172.17.0.0/16");
        assert!(links().contains(&"pier0".to_string()));
        let hb = std::fs::read_to_string(&b.hosts).unwrap();
        assert!(hb.contains(&format!("{}\tb\n", eb.ip)), "{hb}");
        assert!(!hb.contains(&ea.ip.to_string()), "{hb}");
        let ping = in_ns(
            &b,
            &["busybox", "ping", "-c", "1", "-W", "5", &ea.ip.to_string()],
        );
        assert!(ping.status.success(), "{ping:?}");
        env.nets.disconnect("bridge", &a.id).unwrap();
        env.nets.disconnect("bridge", &b.id).unwrap();
    });
}

#[test]
fn user_networks_avoid_host_routes_and_each_other() {
    on_private_host(|env| {
        // A host route over the first subnet of the pool.
        // (No dummy driver on every kernel: a veth does as well.)
        for args in [
            &[
                "ip", "link", "add", "hr0", "type", "veth", "peer", "name", "hr1",
            ][..],
            &["ip", "addr", "add", "172.18.5.1/24", "dev", "hr0"],
            &["ip", "link", "set", "hr0", "up"],
        ] {
            assert!(run(args).status.success(), "{args:?}");
        }
        let a = env.nets.create("a", NetworkOptions::default()).unwrap();
        let b = env.nets.create("b", NetworkOptions::default()).unwrap();
        assert_eq!(a.subnet.to_string(), "172.19.0.0/16");
        assert_eq!(b.subnet.to_string(), "172.20.0.0/16");
        assert!(
            a.bridge.starts_with("pier-") && a.bridge.len() == 15,
            "{}",
            a.bridge
        );
        let c = env
            .nets
            .create(
                "c",
                NetworkOptions {
                    subnet: Some("10.77.0.0/24".into()),
                    gateway: Some("10.77.0.254".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(c.gateway.to_string(), "10.77.0.254");
        let names: Vec<String> = env
            .nets
            .list()
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(names, ["a", "b", "bridge", "c"]);
        assert_eq!(env.nets.inspect(&c.id[..8]).unwrap().name, "c");
    });
}

#[test]
fn leases_survive_reopening_and_are_freed_on_disconnect() {
    on_private_host(|env| {
        env.nets.create("n", NetworkOptions::default()).unwrap();
        let a = env.container("a");
        let b = env.container("b");
        let ea = env.connect("n", &a, &[]);
        let eb = env.connect("n", &b, &[]);

        let reopened = Networks::open(env.root()).unwrap();
        let net = reopened.inspect("n").unwrap();
        assert_eq!(net.endpoints[&a.id], ea);
        assert_eq!(net.endpoints[&b.id], eb);

        reopened.disconnect("n", &a.id).unwrap();
        assert!(!links().contains(&ea.host_veth));
        // Disconnecting again is fine.
        reopened.disconnect("n", &a.id).unwrap();
        let c = env.container("c");
        let ec = env.connect("n", &c, &[]);
        assert_eq!(ec.ip, ea.ip, "the freed address is handed out again");

        // The namespace is gone before the disconnect (a container that
        // died): it still succeeds and leaves no veth.
        pier_net::netns::remove(&b.ns).unwrap();
        pier_net::netns::remove(&b.ns).unwrap();
        env.nets.disconnect("n", &b.id).unwrap();
        assert!(!links().contains(&eb.host_veth));
        let net = env.nets.inspect("n").unwrap();
        assert_eq!(net.endpoints.keys().collect::<Vec<_>>(), [&c.id]);
        env.nets.disconnect_all(&c.id).unwrap();
        assert!(env.nets.inspect("n").unwrap().endpoints.is_empty());
        assert!(
            !links().iter().any(|l| l.starts_with("veth")),
            "{:?}",
            links()
        );
    });
}

#[test]
fn concurrent_connects_get_distinct_addresses() {
    on_private_host(|env| {
        env.nets
            .create(
                "busy",
                NetworkOptions {
                    subnet: Some("10.66.0.0/24".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        let ctrs: Vec<Ctr> = (0..8).map(|i| env.container(&format!("c{i}"))).collect();
        // Threads inherit this thread's (private) network namespace; each
        // opens the store itself as separate pier processes would.
        let ips: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = ctrs
                .iter()
                .map(|c| {
                    let req = env.request(c, &[]);
                    let root = env.root().to_path_buf();
                    s.spawn(move || {
                        Networks::open(&root)
                            .unwrap()
                            .connect("busy", &req)
                            .unwrap()
                            .ip
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = ips.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 8, "{ips:?}");
        assert_eq!(env.nets.inspect("busy").unwrap().endpoints.len(), 8);
        for c in &ctrs {
            env.nets.disconnect("busy", &c.id).unwrap();
        }
    });
}

#[test]
fn failed_connect_leaves_nothing_behind() {
    on_private_host(|env| {
        env.nets.create("n", NetworkOptions::default()).unwrap();
        let a = env.container("a");

        // No such namespace.
        let mut req = env.request(&a, &[]);
        req.netns_path = env.root().join("no-such-netns");
        let e = env.nets.connect("n", &req).unwrap_err().to_string();
        assert!(e.contains("no-such-netns"), "{e}");

        // Fails after the veth is made: the hosts file cannot be written.
        let mut req = env.request(&a, &[]);
        req.hosts_file = Some(env.root().join("missing-dir/hosts"));
        let e = env.nets.connect("n", &req).unwrap_err().to_string();
        assert!(e.contains("missing-dir/hosts"), "{e}");

        assert!(
            !links().iter().any(|l| l.starts_with("veth")),
            "{:?}",
            links()
        );
        assert!(env.nets.inspect("n").unwrap().endpoints.is_empty());
        assert!(!ruleset().contains(&a.id));
        let inside = stdout(&in_ns(&a, &["ip", "-o", "link"]));
        assert!(!inside.contains("eth0"), "{inside}");

        // And a good connect works afterwards.
        env.connect("n", &a, &[]);
        env.nets.disconnect("n", &a.id).unwrap();
    });
}

#[test]
fn remove_and_prune_networks() {
    on_private_host(|env| {
        let used = env.nets.create("used", NetworkOptions::default()).unwrap();
        env.nets.create("idle", NetworkOptions::default()).unwrap();
        let a = env.container("a");
        env.connect("used", &a, &[]);
        assert!(links().contains(&used.bridge));
        assert!(ruleset().contains(&used.id[..12]));

        let e = env.nets.remove("used").unwrap_err().to_string();
        assert!(e.contains("used") && e.contains("a"), "{e}");
        assert_eq!(env.nets.prune().unwrap(), ["idle"]);

        env.nets.disconnect("used", &a.id).unwrap();
        env.nets.remove("used").unwrap();
        assert!(!links().contains(&used.bridge));
        assert!(!ruleset().contains(&used.id[..12]), "{}", ruleset());
        let e = env.nets.inspect("used").unwrap_err().to_string();
        assert_eq!(e, "network used not found");
    });
}

#[test]
fn bad_input_gives_errors_naming_the_value() {
    on_private_host(|env| {
        let err = |r: pier_net::Result<pier_net::Network>| r.unwrap_err().to_string();
        let opts = |subnet: &str, gw: Option<&str>| NetworkOptions {
            subnet: Some(subnet.into()),
            gateway: gw.map(Into::into),
            ..Default::default()
        };
        let e = err(env.nets.create("x", opts("10.1.0.0/33", None)));
        assert!(e.contains("10.1.0.0/33"), "{e}");
        let e = err(env.nets.create("x", opts("10.1.0.1/24", None)));
        assert!(
            e.contains("10.1.0.1/24") && e.contains("10.1.0.0/24"),
            "{e}"
        );
        let e = err(env.nets.create("x", opts("10.1.0.0/24", Some("10.2.0.1"))));
        assert!(e.contains("10.2.0.1") && e.contains("10.1.0.0/24"), "{e}");
        let e = err(env.nets.create("bad name", NetworkOptions::default()));
        assert!(e.contains("\"bad name\""), "{e}");
        let e = err(env.nets.create(
            "x",
            NetworkOptions {
                driver: Some("overlay".into()),
                ..Default::default()
            },
        ));
        assert!(e.contains("overlay"), "{e}");

        env.nets.create("one", opts("10.1.0.0/16", None)).unwrap();
        let e = err(env.nets.create("one", NetworkOptions::default()));
        assert_eq!(e, "network with name one already exists");
        let e = err(env.nets.create("two", opts("10.1.2.0/24", None)));
        assert!(e.contains("10.1.2.0/24") && e.contains("one"), "{e}");

        let a = env.container("a");
        let e = env.nets.connect("nope", &env.request(&a, &[])).unwrap_err();
        assert_eq!(e.to_string(), "network nope not found");
        let e = env.nets.disconnect("nope", &a.id).unwrap_err();
        assert_eq!(e.to_string(), "network nope not found");
        env.connect("one", &a, &[]);
        let e = env
            .nets
            .connect("one", &env.request(&a, &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&a.id) && e.contains("one"), "{e}");
        let e = env.nets.remove("one").unwrap_err().to_string();
        assert_eq!(e, "network one has active endpoints (a)");
        let e = env.nets.remove("bridge").unwrap_err().to_string();
        assert_eq!(e, "bridge is a pre-defined network and cannot be removed");
        let e = pier_net::ports::resolve_all(&["80:80/sctp"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("80:80/sctp"), "{e}");
        let e = pier_net::NetworkMode::parse("-bad")
            .unwrap_err()
            .to_string();
        assert!(e.contains("-bad"), "{e}");
        env.nets.disconnect("one", &a.id).unwrap();
    });
}

#[test]
fn internal_networks_have_no_way_out() {
    on_private_host(|env| {
        let net = env
            .nets
            .create(
                "private",
                NetworkOptions {
                    internal: true,
                    ..Default::default()
                },
            )
            .unwrap();
        let a = env.container("a");
        let b = env.container("b");
        env.connect("private", &a, &[]);
        let eb = env.connect("private", &b, &[]);
        let route = stdout(&in_ns(&a, &["ip", "route"]));
        assert!(!route.contains("default"), "{route}");
        let rules = ruleset();
        let nat = format!("oifname != \"{}\" masquerade", net.bridge);
        assert!(!rules.contains(&nat), "{rules}");
        assert!(
            rules.contains(&format!(
                "iifname \"{}\" oifname != \"{}\" drop",
                net.bridge, net.bridge
            )),
            "{rules}"
        );
        // Peers on the network still reach each other.
        let ping = in_ns(
            &a,
            &["busybox", "ping", "-c", "1", "-W", "5", &eb.ip.to_string()],
        );
        assert!(ping.status.success(), "{ping:?}");
        env.nets.disconnect_all(&a.id).unwrap();
        env.nets.disconnect_all(&b.id).unwrap();
    });
}
