//! A fuzz driver for the stable toolchain: no libFuzzer, no coverage
//! feedback, a seeded PRNG instead. It feeds each target a mix of generated
//! inputs, byte-level mutations of the corpus and structural (JSON)
//! mutations, and stops a target at its first failure, saving the input
//! under `artifacts/<target>/`.
//!
//! Usage: stable [--seconds N] [--seed N] [--target NAME]... [--dir FUZZ_DIR]
//!        stable --replay NAME FILE...
//!
//! The inputs start from `seeds/<target>/`, `regressions/<target>/` and
//! `corpus/<target>/` under FUZZ_DIR (default: this crate), each run once
//! as it is first.
//!
//! The same seed and the same corpus give the same inputs, so a failure
//! seen in CI reproduces with the seed it prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use berth_fuzz::gen::{self, Rng};
use berth_fuzz::{Target, TARGETS};

struct Args {
    seconds: u64,
    seed: u64,
    targets: Vec<&'static Target>,
    dir: PathBuf,
    replay: Option<(&'static Target, Vec<PathBuf>)>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: stable [--seconds N] [--seed N] [--target NAME]... [--dir FUZZ_DIR]\n       \
         stable --replay NAME FILE...\ntargets: {}",
        TARGETS.iter().map(|t| t.name).collect::<Vec<_>>().join(" ")
    );
    ExitCode::from(2)
}

fn parse_args() -> Option<Args> {
    let mut args = Args {
        seconds: 30,
        seed: 0,
        targets: Vec::new(),
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        replay: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => args.seconds = it.next()?.parse().ok()?,
            "--seed" => args.seed = it.next()?.parse().ok()?,
            "--target" => args.targets.push(berth_fuzz::target(&it.next()?)?),
            "--dir" => args.dir = PathBuf::from(it.next()?),
            "--replay" => {
                let target = berth_fuzz::target(&it.next()?)?;
                args.replay = Some((target, it.by_ref().map(PathBuf::from).collect()));
            }
            _ => return None,
        }
    }
    if args.targets.is_empty() {
        args.targets = TARGETS.iter().collect();
    }
    Some(args)
}

/// The files of `dir`, sorted (an absent directory is an empty corpus).
fn corpus(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    paths
        .iter()
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

/// A libFuzzer-style byte mutation: flip, insert, delete, duplicate, splice.
fn mutate_bytes(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                // JSON and YAML syntax (anchors, aliases, merge keys, block
                // scalars, interpolation).
                let b = *rng.pick(b"{}[]\",:0123456789-etfn\\/ .\n\x00\xff&*<|>#'$");
                input.insert(i, b);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                input.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let chunk = input[i..i + n].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, chunk);
            }
            4 if !other.is_empty() => {
                let i = rng.below(other.len());
                let n = 1 + rng.below((other.len() - i).min(64));
                let at = rng.below(len + 1);
                input.splice(at..at, other[i..i + n].iter().copied());
            }
            _ => {
                let i = rng.below(len + 1);
                input.truncate(i);
            }
        }
    }
}

/// One input for `target`.
fn next_input(rng: &mut Rng, target: &Target, seeds: &[Vec<u8>]) -> Vec<u8> {
    if seeds.is_empty() || rng.one_in(2) {
        return (target.generate)(rng);
    }
    let mut input = rng.pick(seeds).clone();
    let other = rng.pick(seeds).clone();
    if rng.one_in(2) {
        if let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(&input) {
            for _ in 0..1 + rng.below(3) {
                gen::mutate(rng, &mut doc);
            }
            return serde_json::to_vec(&doc).unwrap_or(input);
        }
    }
    mutate_bytes(rng, &mut input, &other);
    input
}

/// FNV-1a of `data`, to name a saved input.
fn hex_hash(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Runs `check` on `input`; returns the panic message if it panicked.
fn run_one(target: &Target, input: &[u8]) -> Option<String> {
    let result = std::panic::catch_unwind(|| (target.check)(input));
    let payload = result.err()?;
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "non-string panic".to_owned()),
    )
}

fn fuzz(args: &Args) -> ExitCode {
    let per_target = Duration::from_secs(args.seconds) / args.targets.len().max(1) as u32;
    let mut failed = false;
    // Failures are reported once, below, with the input saved.
    std::panic::set_hook(Box::new(|_| {}));
    for (n, target) in args.targets.iter().enumerate() {
        // The kept seeds and regressions, and libFuzzer's grown corpus.
        let seeds: Vec<Vec<u8>> = ["seeds", "regressions", "corpus"]
            .iter()
            .flat_map(|d| corpus(&args.dir.join(d).join(target.name)))
            .collect();
        let seed = args.seed.wrapping_add(n as u64);
        let mut rng = Rng::new(seed);
        let start = Instant::now();
        let mut execs: u64 = 0;
        let mut crash = None;
        // The corpus first, unmutated: every seed must pass as it is.
        for input in &seeds {
            execs += 1;
            if let Some(msg) = run_one(target, input) {
                crash = Some((input.clone(), msg));
                break;
            }
        }
        while crash.is_none() && start.elapsed() < per_target {
            let input = next_input(&mut rng, target, &seeds);
            execs += 1;
            if let Some(msg) = run_one(target, &input) {
                crash = Some((input, msg));
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{}: {execs} inputs in {secs:.1} s ({:.0}/s), seed {seed}, {} corpus files",
            target.name,
            execs as f64 / secs.max(0.001),
            seeds.len()
        );
        if let Some((input, msg)) = crash {
            failed = true;
            let dir = args.dir.join("artifacts").join(target.name);
            let path = dir.join(format!("crash-{}", hex_hash(&input)));
            let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &input));
            println!("{}: FAILED after {execs} inputs: {msg}", target.name);
            match saved {
                Ok(()) => println!(
                    "{}: input saved to {}\n  reproduce: cargo run --no-default-features \
                     --bin stable -- --replay {} {}",
                    target.name,
                    path.display(),
                    target.name,
                    path.display()
                ),
                Err(e) => println!("{}: cannot save the input: {e}", target.name),
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn replay(target: &Target, files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        let input = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                failed = true;
                continue;
            }
        };
        match run_one(target, &input) {
            None => println!("{}: ok", file.display()),
            Some(msg) => {
                println!("{}: FAILED: {msg}", file.display());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        return usage();
    };
    match &args.replay {
        Some((target, files)) => replay(target, files),
        None => fuzz(&args),
    }
}
