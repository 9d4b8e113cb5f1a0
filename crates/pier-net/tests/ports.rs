//! Published ports: DNAT from the host's addresses (locally and from
//! another machine), the userspace proxy for 127.0.0.1, hairpin, conflicts
//! and cleanup (root; private host namespace per test).

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use common::*;
use pier_net::{netns, ports, proxy, NetworkOptions};

const BODY: &str = "hello through a published port";

#[test]
fn published_port_answers_through_dnat_and_the_proxy() {
    on_private_host(|env| {
        let net = env.nets.create("n", NetworkOptions::default()).unwrap();
        let web = env.container("web");
        let client = env.container("client");
        let ew = env.connect("n", &web, &[]);
        env.connect("n", &client, &[]);
        let _httpd = httpd(env, &web, BODY);

        let bindings = ports::resolve_all(&["8080:80"]).unwrap();
        env.nets.publish("n", &web.id, &bindings).unwrap();
        let rules = ruleset();
        assert!(rules.contains(&format!("dnat to {}:80", ew.ip)), "{rules}");
        assert!(rules.contains(&web.id), "{rules}");
        assert_eq!(
            env.nets.inspect("n").unwrap().endpoints[&web.id].ports,
            bindings
        );

        // From the host to one of its own addresses: the output chain.
        let gw = SocketAddr::V4(SocketAddrV4::new(net.gateway, 8080));
        assert!(http_get(gw).unwrap().contains(BODY));

        // From another machine: the prerouting chain, then forwarding.
        let outside = Outside::new(env);
        let o = in_ns(
            &outside.0,
            &[
                "busybox",
                "wget",
                "-q",
                "-O",
                "-",
                "http://198.51.100.1:8080/",
            ],
        );
        assert!(stdout(&o).contains(BODY), "{o:?}");

        // Hairpin: containers reach the published port through the host's
        // address, the publishing container itself included.
        for c in [&client, &web] {
            let o = in_ns(
                c,
                &[
                    "busybox",
                    "wget",
                    "-q",
                    "-O",
                    "-",
                    "http://198.51.100.1:8080/",
                ],
            );
            assert!(stdout(&o).contains(BODY), "hairpin from {}: {o:?}", c.name);
        }

        // 127.0.0.1 is not DNATed; the proxy serves it.
        let lo = SocketAddr::from((Ipv4Addr::LOCALHOST, 8080));
        assert!(
            http_get(lo).is_err(),
            "nothing should answer on 127.0.0.1 without the proxy"
        );
        let p = proxy::spawn_binding(&bindings[0], ew.ip).unwrap();
        assert_eq!(p.local_addr().port(), 8080);
        assert!(http_get(lo).unwrap().contains(BODY));
        p.stop();
        assert!(http_get(lo).is_err(), "the proxy still answers after stop");
        std::net::TcpListener::bind(lo).expect("the host port is free again");

        // Disconnecting removes the rules of the container.
        env.nets.disconnect("n", &web.id).unwrap();
        let rules = ruleset();
        assert!(
            !rules.contains(&web.id) && !rules.contains("dnat to"),
            "{rules}"
        );
        assert!(http_get(gw).is_err());
        env.nets.disconnect("n", &client.id).unwrap();
    });
}

#[test]
fn ephemeral_and_host_ip_bindings_conflicts_and_unpublish() {
    on_private_host(|env| {
        env.nets.create("n", NetworkOptions::default()).unwrap();
        let a = env.container("a");
        let b = env.container("b");
        let ea = env.connect("n", &a, &[]);
        env.connect("n", &b, &[]);
        let _httpd = httpd(env, &a, BODY);

        let bind = ports::resolve_all(&["80", "127.0.0.1:9090:80/udp"]).unwrap();
        assert_ne!(bind[0].host_port, 0);
        env.nets.publish("n", &a.id, &bind).unwrap();
        let rules = ruleset();
        assert!(
            rules.contains(&format!(
                "tcp dport {} dnat to {}:80",
                bind[0].host_port, ea.ip
            )),
            "{rules}"
        );
        assert!(
            rules.contains("ip daddr 127.0.0.1 udp dport 9090"),
            "{rules}"
        );
        let gw = env.nets.inspect("n").unwrap().gateway;
        let addr = SocketAddr::from((gw, bind[0].host_port));
        assert!(http_get(addr).unwrap().contains(BODY));

        // The same host port for b is refused, naming the port and the
        // container that holds it; a different address of the same port
        // conflicts with 0.0.0.0 too.
        let same = ports::resolve_all(&[format!("{}:80", bind[0].host_port)]).unwrap();
        let e = env.nets.publish("n", &b.id, &same).unwrap_err().to_string();
        assert!(
            e.contains(&format!("0.0.0.0:{}/tcp", bind[0].host_port)) && e.contains(&a.id),
            "{e}"
        );
        let udp = ports::resolve_all(&["9090:80/udp"]).unwrap();
        assert!(env.nets.publish("n", &b.id, &udp).is_err());
        // Publishing for a container not on the network.
        let free = ports::resolve_all(&["7070:80"]).unwrap();
        let e = env
            .nets
            .publish("n", "nobody", &free)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nobody"), "{e}");

        env.nets.unpublish(&a.id).unwrap();
        assert!(!ruleset().contains("dnat to"), "{}", ruleset());
        assert!(env.nets.inspect("n").unwrap().endpoints[&a.id]
            .ports
            .is_empty());
        env.nets.publish("n", &b.id, &same).unwrap();
        env.nets.disconnect_all(&a.id).unwrap();
        env.nets.disconnect_all(&b.id).unwrap();
        assert!(!ruleset().contains("dnat to"));
    });
}

/// Another machine: a namespace linked to the private host by a veth,
/// host side 198.51.100.1/24, its side 198.51.100.2/24 (TEST-NET-2).
struct Outside(Ctr);

impl Outside {
    fn new(env: &Env) -> Outside {
        let ns = env.dir.path().join("outside-ns");
        netns::create(&ns).expect("create the outside netns");
        let c = Ctr {
            id: "outside".into(),
            name: "outside".into(),
            ns: ns.clone(),
            hosts: env.dir.path().join("outside.hosts"),
        };
        let nsarg = ns.display().to_string();
        for args in [
            &[
                "ip", "link", "add", "vout", "type", "veth", "peer", "name", "eth0", "netns",
                &nsarg,
            ][..],
            &["ip", "addr", "add", "198.51.100.1/24", "dev", "vout"],
            &["ip", "link", "set", "vout", "up"],
        ] {
            assert!(run(args).status.success(), "{args:?}: {:?}", run(args));
        }
        for args in [
            &["ip", "addr", "add", "198.51.100.2/24", "dev", "eth0"][..],
            &["ip", "link", "set", "eth0", "up"],
            &["ip", "link", "set", "lo", "up"],
        ] {
            let o = in_ns(&c, args);
            assert!(o.status.success(), "{args:?}: {o:?}");
        }
        Outside(c)
    }
}
