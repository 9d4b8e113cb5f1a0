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
