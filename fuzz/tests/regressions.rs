//! Every kept input passes: the seeds, and the inputs that once failed
//! (`regressions/<target>/`, one file per fixed bug, named after it). A short
//! seeded run of each generator follows, so that `cargo test` alone catches
//! the obvious; `hack/fuzz.sh` runs the long ones.
//!
//! Run with `cargo test --manifest-path fuzz/Cargo.toml --no-default-features`.

use std::path::{Path, PathBuf};

use berth_fuzz::gen::Rng;
use berth_fuzz::TARGETS;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.retain(|p| p.is_file() && !p.ends_with(".keep"));
    out.sort();
    out
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn kept_inputs_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    let mut count = 0;
    for target in TARGETS {
        for kind in ["seeds", "regressions"] {
            for file in files(&root.join(kind).join(target.name)) {
                let input = std::fs::read(&file).expect("read kept input");
                count += 1;
                if let Err(e) = std::panic::catch_unwind(|| (target.check)(&input)) {
                    failures.push(format!("{}: {}", file.display(), panic_text(e)));
                }
            }
        }
    }
    assert!(count > 0, "no seeds found under {}", root.display());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn short_seeded_run() {
    for (n, target) in TARGETS.iter().enumerate() {
        let mut rng = Rng::new(n as u64);
        for i in 0..300 {
            let input = (target.generate)(&mut rng);
            let result = std::panic::catch_unwind(|| (target.check)(&input));
            if let Err(e) = result {
                panic!(
                    "{} input #{i} (seed {n}) failed: {}\n{}",
                    target.name,
                    panic_text(e),
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }
}

#[test]
fn byte_streams_reach_the_generators() {
    // libFuzzer's inputs are byte strings; the empty one and a few others
    // must run through every target without trouble.
    for target in TARGETS {
        for input in [&b""[..], b"\x00", b"\xff\xff\xff\xff", b"{", b"\n\n\n"] {
            (target.check)(input);
        }
    }
}
