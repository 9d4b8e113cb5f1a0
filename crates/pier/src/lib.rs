//! pier's containers: the record each container keeps on disk, the runtime
//! it drives through the runc command line, the monitor process that holds
//! a running container's stdio, logs and exit status, and the commands
//! built on them. The `pier` binary only parses arguments and calls these.

pub mod attach;
pub mod client;
pub mod commands;
pub mod compose;
pub mod container;
pub mod format;
pub mod logs;
pub mod monitor;
pub mod names;
pub mod net;
pub mod runtime;
pub mod time;
pub mod volume;

/// An error and its causes on one line, `a: b: c`, as `{:#}` prints them,
/// but with a cause left out when the message before already says it:
/// many library errors repeat their source in their own text, which made
/// a refused connection read "…: io: Connection refused: io: Connection
/// refused".
pub fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod report_tests {
    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let e = anyhow::Error::new(io).context("failed to GET http://x/v2/: Connection refused");
        assert_eq!(
            super::report(&e),
            "failed to GET http://x/v2/: Connection refused"
        );
        let e = anyhow::anyhow!("disk full").context("failed to write blob");
        assert_eq!(super::report(&e), "failed to write blob: disk full");
    }
}
