//! Fuzz checks for berth's and pier's input parsers, shared by the libFuzzer targets
//! (`fuzz_targets/*.rs`, run with `cargo fuzz`), the seeded stable-toolchain
//! driver (`src/bin/stable.rs`) and the regression tests
//! (`tests/regressions.rs`).
//!
//! Each target has a `check` that takes arbitrary bytes and panics only when
//! berth misbehaves (a panic inside berth, or a broken invariant), and a
//! `generate` that turns a random stream into a well-formed-looking input, so
//! that the stable driver reaches deep into the validators instead of
//! stopping at the JSON parser.

pub mod compose;
pub mod config;
pub mod gen;
pub mod layer;
pub mod manifest;
pub mod mount_options;
pub mod reference;
pub mod seccomp;

/// One fuzz target: its name (also its directory under `corpus/` and
/// `regressions/`), the check, and a generator of structured inputs.
pub struct Target {
    pub name: &'static str,
    pub check: fn(&[u8]),
    pub generate: fn(&mut gen::Rng) -> Vec<u8>,
}

/// Every target, in the order `hack/fuzz.sh` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "config",
        check: config::check,
        generate: config::generate,
    },
    Target {
        name: "seccomp",
        check: seccomp::check,
        generate: seccomp::generate,
    },
    Target {
        name: "mount_options",
        check: mount_options::check,
        generate: mount_options::generate,
    },
    Target {
        name: "reference",
        check: reference::check,
        generate: reference::generate,
    },
    Target {
        name: "layer",
        check: layer::check,
        generate: layer::generate,
    },
    Target {
        name: "manifest",
        check: manifest::check,
        generate: manifest::generate,
    },
    Target {
        name: "compose",
        check: compose::check,
        generate: compose::generate,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
