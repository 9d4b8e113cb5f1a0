//! The userspace port proxy (Docker's `docker-proxy`): listens on a
//! published host address and relays each TCP connection or UDP flow to the
//! container.
//!
//! DNAT rules carry traffic that arrives from outside or that the host sends
//! to one of its own non-loopback addresses; traffic to 127.0.0.1 cannot be
//! DNATed to a bridge (the kernel drops packets with a loopback source on
//! any other interface unless `route_localnet` is set), so the proxy serves
//! it. Like docker-proxy it listens on the binding's address as given
//! (0.0.0.0 by default), which also holds the host port so nothing else can
//! take it while the container runs, and serves containers that reach a
//! published port through the host's address.
//!
//! Each proxy runs on one thread of its own with a current-thread tokio
//! runtime. Dropping the [`ProxyHandle`] (or [`ProxyHandle::stop`]) closes
//! the listener and every relayed connection.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::ports::{PortBinding, Protocol};

/// How long a UDP flow without replies keeps its upstream socket, as
/// docker-proxy.
const UDP_IDLE: Duration = Duration::from_secs(90);

/// A running proxy. Dropping it stops the proxy.
#[derive(Debug)]
pub struct ProxyHandle {
    local: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ProxyHandle {
    /// The address the proxy listens on (useful when it was given port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stops the proxy and waits for its thread: when this returns the host
    /// port is free again.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Waits until the proxy ends, which is never unless its runtime fails:
    /// for a monitor that has nothing else to do on this thread.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts a proxy from `listen` to `target`. Binding happens before this
/// returns, so `EADDRINUSE` and friends are reported here.
pub fn spawn(
    protocol: Protocol,
    listen: SocketAddr,
    target: SocketAddr,
) -> io::Result<ProxyHandle> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let (stop_tx, stop_rx) = oneshot::channel();
    let (local, thread) = match protocol {
        Protocol::Tcp => {
            let l = std::net::TcpListener::bind(listen)?;
            l.set_nonblocking(true)?;
            let local = l.local_addr()?;
            let l = {
                let _g = rt.enter();
                tokio::net::TcpListener::from_std(l)?
            };
            let t = std::thread::Builder::new()
                .name(format!("pier-proxy-tcp-{}", local.port()))
                .spawn(move || rt.block_on(tcp(l, target, stop_rx)))?;
            (local, t)
        }
        Protocol::Udp => {
            let s = std::net::UdpSocket::bind(listen)?;
            s.set_nonblocking(true)?;
            let local = s.local_addr()?;
            let s = {
                let _g = rt.enter();
                tokio::net::UdpSocket::from_std(s)?
            };
            let t = std::thread::Builder::new()
                .name(format!("pier-proxy-udp-{}", local.port()))
                .spawn(move || rt.block_on(udp(s, target, stop_rx)))?;
            (local, t)
        }
    };
    Ok(ProxyHandle {
        local,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

/// Starts the proxy of one published port of a container at `container_ip`.
pub fn spawn_binding(binding: &PortBinding, container_ip: Ipv4Addr) -> io::Result<ProxyHandle> {
    spawn(
        binding.protocol,
        SocketAddr::V4(binding.listen_addr()),
        SocketAddr::V4(SocketAddrV4::new(container_ip, binding.container_port)),
    )
}

async fn tcp(l: tokio::net::TcpListener, target: SocketAddr, mut stop: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = l.accept() => {
                let Ok((mut client, _)) = accepted else { continue };
                tokio::spawn(async move {
                    // A container that does not listen resets the
                    // connection; the client then sees the same.
                    if let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        }
    }
}

async fn udp(l: tokio::net::UdpSocket, target: SocketAddr, mut stop: oneshot::Receiver<()>) {
    let l = Arc::new(l);
    let flows: Arc<Mutex<HashMap<SocketAddr, Arc<tokio::net::UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, client) = tokio::select! {
            _ = &mut stop => return,
            r = l.recv_from(&mut buf) => match r {
                Ok(v) => v,
                Err(_) => continue,
            },
        };
        let existing = flows.lock().ok().and_then(|f| f.get(&client).cloned());
        let upstream = match existing {
            Some(u) => u,
            None => {
                let Ok(u) = tokio::net::UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0))).await
                else {
                    continue;
                };
                if u.connect(target).await.is_err() {
                    continue;
                }
                let u = Arc::new(u);
                if let Ok(mut f) = flows.lock() {
                    f.insert(client, u.clone());
                }
                tokio::spawn(udp_replies(u.clone(), l.clone(), client, flows.clone()));
                u
            }
        };
        let _ = upstream.send(&buf[..n]).await;
    }
}

async fn udp_replies(
    upstream: Arc<tokio::net::UdpSocket>,
    listener: Arc<tokio::net::UdpSocket>,
    client: SocketAddr,
    flows: Arc<Mutex<HashMap<SocketAddr, Arc<tokio::net::UdpSocket>>>>,
) {
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, upstream.recv(&mut buf)).await {
        let _ = listener.send_to(&buf[..n], client).await;
    }
    if let Ok(mut f) = flows.lock() {
        f.remove(&client);
    }
}
