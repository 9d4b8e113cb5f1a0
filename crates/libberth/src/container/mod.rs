//! The container verbs, one file each, named after runc's commands.

mod create;
mod delete;
mod exec;
mod kill;
mod run;
mod start;
mod status;

pub use create::{create, CreateOptions, Created};
pub use delete::delete;
pub use exec::{exec, ExecOptions};
pub use kill::{kill, parse_signal};
pub use run::{run, RunOptions};
pub use start::start;
pub use status::{list, pids, state, status_of};
