//! `pier_image::Reference::parse` on arbitrary strings.
//!
//! Invariants: no panic; what parses prints as a reference that parses back
//! to the same value (pier writes the printed form into index.json and
//! reads it back on every command).

use pier_image::Reference;

use crate::gen::Rng;

pub fn check(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = Reference::parse(s) else {
        return;
    };
    let printed = r.to_string();
    let again = Reference::parse(&printed)
        .unwrap_or_else(|e| panic!("{s:?} printed as {printed:?}, which does not parse: {e}"));
    assert_eq!(again, r, "{s:?} -> {printed:?} -> a different reference");
}

const PARTS: &[&str] = &[
    "busybox", "library", "docker.io", "index.docker.io", "localhost", "127.0.0.1:5000",
    "[::1]:5000", "registry.example.com", "a", "A", "a_b", "a__b", "a.b", "a-b", "..", ".",
    "_", "-", "sha256", "latest", "v1.2.3", "é", "%", " ", "",
];

pub fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..1 + rng.below(4) {
        if i > 0 {
            s.push('/');
        }
        if rng.one_in(16) {
            s.push_str(&"x".repeat(100 + rng.below(200)));
        } else {
            s.push_str(*rng.pick(PARTS));
        }
    }
    if rng.one_in(2) {
        s.push(':');
        s.push_str(*rng.pick(PARTS));
    }
    if rng.one_in(3) {
        s.push_str("@sha256:");
        let n = if rng.one_in(4) { rng.below(70) } else { 64 };
        for _ in 0..n {
            s.push(*rng.pick(&['0', '9', 'a', 'f', 'A', 'g']));
        }
    }
    if rng.one_in(8) {
        s = rng.interesting_string();
    }
    s.into_bytes()
}
