//! A seeded PRNG and the JSON building blocks the generators share.
//!
//! No `rand` dependency: splitmix64 is enough for fuzzing, and a seed fully
//! determines a run, so `stable --seed N` reproduces a failure exactly.

use serde_json::{json, Value};

/// The source of every random choice: splitmix64 (Steele, Lea, Flood: "Fast
/// splittable pseudorandom number generators", OOPSLA 2014) for the stable
/// driver, or the fuzz input itself for libFuzzer, read as a stream of
/// choices (as the `arbitrary` crate does), so that a small change of the
/// input is a small change of the generated case and coverage feedback
/// works. An exhausted input reads as zeros, and zero always picks the
/// first, smallest alternative, so every input ends in a finite case.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
    bytes: Option<(Vec<u8>, usize)>,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng {
            state: seed,
            bytes: None,
        }
    }

    /// Choices read from `data`.
    pub fn from_bytes(data: &[u8]) -> Self {
        Rng {
            state: 0,
            bytes: Some((data.to_vec(), 0)),
        }
    }

    fn take(&mut self, n: usize) -> u64 {
        let Some((data, pos)) = &mut self.bytes else {
            return self.splitmix();
        };
        let mut v: u64 = 0;
        for i in 0..n {
            let b = data.get(*pos).copied().unwrap_or(0);
            *pos += 1;
            v |= u64::from(b) << (8 * i);
        }
        v
    }

    fn splitmix(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.take(8)
    }

    /// Uniform in `0..n` (`n > 0`; returns 0 for `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let width = if n <= 0x100 {
            1
        } else if n <= 0x1_0000 {
            2
        } else {
            8
        };
        (self.take(width) % n as u64) as usize
    }

    /// True with probability `1/n` (false on an exhausted input).
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == n.saturating_sub(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A number that is often a boundary value.
    pub fn interesting_u64(&mut self) -> u64 {
        const EDGES: &[u64] = &[
            0,
            1,
            2,
            0x7f,
            0xff,
            0xffff,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0x1_0000_0000,
            0x7fff_ffff_ffff_ffff,
            0x8000_0000_0000_0000,
            u64::MAX,
        ];
        match self.below(4) {
            0 | 1 => *self.pick(EDGES),
            2 => self.next_u64() & 0xffff,
            _ => self.next_u64(),
        }
    }

    /// A string that is often a path or an edge case.
    pub fn interesting_string(&mut self) -> String {
        const STRINGS: &[&str] = &[
            "",
            "/",
            ".",
            "..",
            "../..",
            "/..",
            "rootfs",
            "/proc",
            "/dev/null",
            "/tmp",
            "relative/path",
            "/a/../../b",
            "\u{0}",
            "a\u{0}b",
            "é",
            "\u{202e}",
            " ",
            "=",
            ",",
            "-1",
            "99999999999999999999",
            "true",
        ];
        match self.below(6) {
            4 => {
                let len = self.below(40);
                (0..len)
                    .map(|_| char::from(32 + self.below(95) as u8))
                    .collect()
            }
            5 => "x".repeat(self.below(5000)),
            _ => (*self.pick(STRINGS)).to_owned(),
        }
    }

    /// Any JSON value, small, often of the wrong type for where it lands.
    pub fn value(&mut self, depth: usize) -> Value {
        match self.below(if depth > 2 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => json!(self.one_in(2)),
            2 => json!(self.interesting_u64()),
            3 => json!(-(self.below(1 << 20) as i64) - 1),
            4 => json!(self.interesting_string()),
            5 => json!(f64::from_bits(self.next_u64() & 0x7fef_ffff_ffff_ffff)),
            6 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let mut m = serde_json::Map::new();
                for _ in 0..self.below(4) {
                    m.insert(self.interesting_string(), self.value(depth + 1));
                }
                Value::Object(m)
            }
        }
    }
}

/// Every JSON pointer into `v` (the root included, as "").
pub fn pointers(v: &Value) -> Vec<String> {
    fn walk(v: &Value, here: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    walk(child, format!("{here}/{key}"), out);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(child, format!("{here}/{i}"), out);
                }
            }
            _ => {}
        }
        out.push(here);
    }
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

/// Applies one random structural mutation to `doc`: replace a node with a
/// random value, remove it, or duplicate an array element.
pub fn mutate(rng: &mut Rng, doc: &mut Value) {
    let all = pointers(doc);
    let target = rng.pick(&all).clone();
    let (parent_ptr, key) = match target.rsplit_once('/') {
        Some((p, k)) => (p.to_owned(), k.replace("~1", "/").replace("~0", "~")),
        None => {
            *doc = rng.value(0);
            return;
        }
    };
    let op = rng.below(4);
    let new = rng.value(1);
    let Some(parent) = doc.pointer_mut(&parent_ptr) else {
        return;
    };
    match parent {
        Value::Object(m) => match op {
            0 => {
                m.remove(&key);
            }
            _ => {
                m.insert(key, new);
            }
        },
        Value::Array(a) => {
            let Ok(i) = key.parse::<usize>() else { return };
            if i >= a.len() {
                return;
            }
            match op {
                0 => {
                    a.remove(i);
                }
                1 => {
                    let copy = a[i].clone();
                    a.insert(i, copy);
                }
                _ => a[i] = new,
            }
        }
        _ => {}
    }
}

/// Sets `doc[pointer] = value`, creating the objects on the way.
pub fn set(doc: &mut Value, pointer: &str, value: Value) {
    let mut here = doc;
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, part) in parts.iter().enumerate() {
        if !here.is_object() {
            *here = json!({});
        }
        let Value::Object(m) = here else { return };
        if i + 1 == parts.len() {
            m.insert((*part).to_owned(), value);
            return;
        }
        here = m.entry((*part).to_owned()).or_insert_with(|| json!({}));
    }
}
