//! The Compose Specification model for `pier compose`: finds and reads the
//! compose files, interpolates variables, merges several files, resolves
//! `extends` and profiles, validates every key (errors name the file, line
//! and key) and produces a [`Project`] in long syntax. Running it is the
//! engine's job, in the `pier` crate.

mod envfile;
mod interpolate;
pub mod load;
mod merge;
mod shell;
mod typing;
mod units;
mod yaml;

pub mod model;

pub use load::{config_hash, load, Error, NameOrigin, Options};
pub use model::*;
pub use yaml::Loc;
