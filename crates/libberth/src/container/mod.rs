//! The container verbs, one file each, named after runc's commands.

mod create;
mod delete;
mod events;
mod exec;
mod kill;
mod pause;
mod run;
mod start;
mod status;
mod update;

pub use create::{create, CreateOptions, Created};
pub use delete::delete;
pub use events::events;
pub use exec::{exec, ExecOptions};
pub use kill::{kill, parse_signal};
pub use pause::{pause, resume};
pub use run::{run, RunOptions};
pub use start::start;
pub use status::{list, pids, state, status_of};
pub use update::update;
