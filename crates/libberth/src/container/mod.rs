//! The container verbs, one file each, named after runc's commands.

mod create;
mod delete;
mod kill;
mod run;
mod start;
mod status;

pub use create::{create, CreateOptions, Created};
pub use delete::delete;
pub use kill::{kill, parse_signal};
pub use run::{run, RunOptions};
pub use start::start;
pub use status::{list, state, status_of};
