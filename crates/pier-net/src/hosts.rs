//! `/etc/hosts` files of containers, the way containers on a user network
//! find each other by name (nerdctl's model; Docker answers the same names
//! from its embedded DNS server).
//!
//! The file is bind-mounted into the container, so it is rewritten in place
//! (a rename would leave the container on the old inode): the new content is
//! written from offset 0 and the file is then cut to its length.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// What Docker puts in every container's hosts file.
const HEADER: &str = "127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
";

/// One line of a hosts file: an address and its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub ip: Ipv4Addr,
    pub names: Vec<String>,
}

/// The content of a container's hosts file: the localhost lines, the
/// container's own address and hostname, then its peers.
pub fn render(own: Option<&HostEntry>, peers: &[HostEntry]) -> String {
    let mut out = String::from(HEADER);
    for e in own.into_iter().chain(peers) {
        if e.names.is_empty() {
            continue;
        }
        out.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
    }
    out
}

/// Writes `content` into `path` in place (creating it if missing).
pub fn write_in_place(path: &Path, content: &str) -> Result<()> {
    let what = || format!("write hosts file {}", path.display());
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(path)
        .map_err(Error::io(what()))?;
    f.write_all(content.as_bytes()).map_err(Error::io(what()))?;
    f.set_len(content.len() as u64).map_err(Error::io(what()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_own_then_peers() {
        let own = HostEntry {
            ip: Ipv4Addr::new(10, 0, 0, 2),
            names: vec!["web".into()],
        };
        let peer = HostEntry {
            ip: Ipv4Addr::new(10, 0, 0, 3),
            names: vec!["db".into(), "database".into()],
        };
        let s = render(Some(&own), &[peer]);
        assert!(s.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(s.ends_with("10.0.0.2\tweb\n10.0.0.3\tdb database\n"), "{s}");
    }

    #[test]
    fn rewrites_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        write_in_place(&p, "a long first version\n").unwrap();
        let ino = std::fs::metadata(&p).unwrap();
        write_in_place(&p, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "short\n");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino.ino());
    }
}
