//! Prints how long connect and disconnect take (root). Runs in a private
//! network namespace of its own, so it touches nothing on the host.
//!
//! cargo run --release -p pier-net --example connect_bench [N]

use std::time::{Duration, Instant};

use pier_net::{netns, ConnectRequest, NetworkOptions, Networks};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
    let dir = tempfile::tempdir()?;
    let nets = Networks::open(dir.path())?;
    nets.create("bench", NetworkOptions::default())?;
    let (mut conn, mut disc) = (Vec::new(), Vec::new());
    for i in 0..n {
        let id = format!("bench{i}");
        let ns = dir.path().join(&id);
        netns::create(&ns)?;
        let req = ConnectRequest {
            container_id: id.clone(),
            container_name: id.clone(),
            netns_path: ns.clone(),
            hosts_file: Some(dir.path().join(format!("{id}.hosts"))),
            ..Default::default()
        };
        let t = Instant::now();
        nets.connect("bench", &req)?;
        conn.push(t.elapsed());
        let t = Instant::now();
        nets.disconnect("bench", &id)?;
        disc.push(t.elapsed());
        netns::remove(&ns)?;
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!("connect    median {:?} over {n}", median(&mut conn));
    println!("disconnect median {:?} over {n}", median(&mut disc));
    Ok(())
}
