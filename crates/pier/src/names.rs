//! Container ids and generated names, as Docker makes them.

use std::io::Read;

/// A new 64-hex-digit id from the kernel's random pool.
pub fn new_id() -> std::io::Result<String> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// A random `adjective_surname` name.
pub fn random_name() -> std::io::Result<String> {
    let mut b = [0u8; 2];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    let l = LEFT[b[0] as usize % LEFT.len()];
    let r = RIGHT[b[1] as usize % RIGHT.len()];
    Ok(format!("{l}_{r}"))
}

/// Whether `name` is a valid container name (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

const LEFT: &[&str] = &[
    "admiring",
    "brave",
    "busy",
    "calm",
    "clever",
    "cool",
    "dazzling",
    "eager",
    "elastic",
    "epic",
    "festive",
    "focused",
    "gifted",
    "happy",
    "jolly",
    "keen",
    "laughing",
    "lucid",
    "modest",
    "nifty",
    "optimistic",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
];

const RIGHT: &[&str] = &[
    "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "fermi", "galileo",
    "gauss", "hopper", "hypatia", "kepler", "knuth", "lamarr", "lovelace", "meitner", "newton",
    "noether", "pascal", "ritchie", "shannon", "tesla", "thompson", "torvalds", "turing",
    "wozniak", "yalow",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        let id = new_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(valid_name(&random_name().unwrap()));
        assert!(valid_name("web-1") && valid_name("a.b_c"));
        assert!(!valid_name("-x") && !valid_name("a") && !valid_name("a/b") && !valid_name("é1"));
    }
}
