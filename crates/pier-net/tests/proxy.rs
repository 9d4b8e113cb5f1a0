//! The userspace proxy on loopback (no root needed).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use pier_net::{proxy, Protocol};

/// A bound guard against hanging forever if something is broken; not a
/// timing assertion.
const HANG: Option<Duration> = Some(Duration::from_secs(20));

fn lo0() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[test]
fn tcp_proxy_relays_concurrent_connections_until_stopped() {
    let echo = TcpListener::bind(lo0()).unwrap();
    let target = echo.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in echo.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let p = proxy::spawn(Protocol::Tcp, lo0(), target).unwrap();
    let addr = p.local_addr();
    let mut conns: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.set_read_timeout(HANG).unwrap();
        let msg = format!("message {i}");
        c.write_all(msg.as_bytes()).unwrap();
        let mut buf = vec![0u8; msg.len()];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(buf, msg.as_bytes());
    }
    p.stop();
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after stop"
    );
    // Relayed connections end with the proxy.
    let mut buf = [0u8; 8];
    assert!(matches!(conns[0].read(&mut buf), Ok(0) | Err(_)));
}

#[test]
fn udp_proxy_keeps_one_flow_per_client() {
    let echo = UdpSocket::bind(lo0()).unwrap();
    let target = echo.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = echo.recv_from(&mut buf) {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = echo.send_to(&reply, from);
        }
    });
    let p = proxy::spawn(Protocol::Udp, lo0(), target).unwrap();
    let clients: Vec<UdpSocket> = (0..3).map(|_| UdpSocket::bind(lo0()).unwrap()).collect();
    for round in 0..2 {
        for (i, c) in clients.iter().enumerate() {
            c.set_read_timeout(HANG).unwrap();
            let msg = format!("{round}-{i}");
            c.send_to(msg.as_bytes(), p.local_addr()).unwrap();
            let mut buf = [0u8; 1500];
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!(from, p.local_addr());
            assert_eq!(&buf[..n], format!("echo:{msg}").as_bytes());
        }
    }
    let addr = p.local_addr();
    drop(p);
    UdpSocket::bind(addr).expect("the port is free after drop");
}

#[test]
fn proxy_reports_a_port_in_use() {
    let held = TcpListener::bind(lo0()).unwrap();
    let e = proxy::spawn(Protocol::Tcp, held.local_addr().unwrap(), lo0()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn proxy_handles_can_be_kept_by_the_monitor() {
    // pier's monitor keeps them as `Box<dyn Any + Send>` for the
    // container's lifetime.
    fn keepable<T: Send + 'static>() {}
    keepable::<proxy::ProxyHandle>();
}
