//! `pier_image::unpack::apply_layer` on generated and arbitrary tar streams.
//!
//! Each input is applied to an empty `root` inside a private directory that
//! also holds an `outside` directory with one file. Invariants: no panic,
//! and whatever the layer did (absolute names, `..`, symlinks and hardlinks
//! pointing out, entries written through a symlink planted earlier,
//! whiteouts of `..`), `outside` is exactly as it was.

use std::path::Path;

use crate::gen::Rng;

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).ok();
            let data = if meta.as_ref().is_some_and(|m| m.is_file()) {
                std::fs::read(&p).unwrap_or_default()
            } else {
                Vec::new()
            };
            out.push((p.display().to_string(), data));
            if meta.is_some_and(|m| m.is_dir()) {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn check(data: &[u8]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&root).expect("mkdir root");
    std::fs::create_dir_all(&outside).expect("mkdir outside");
    std::fs::write(outside.join("secret"), b"keep").expect("write secret");
    let before = snapshot(&outside);
    let _ = pier_image::unpack::apply_layer(&root, data, None);
    let after = snapshot(&outside);
    assert_eq!(before, after, "the layer changed a directory outside the root");
}

const NAMES: &[&str] = &[
    "a", "a/b", "dir/", "/abs", "../x", "a/../../x", "./a", "link", "link/x", "link/../x",
    ".wh.a", "a/.wh..wh..opq", ".wh...", ".wh.", "hard", "dev", "fifo",
];
const TARGETS: &[&str] = &[
    "/", "..", "../outside", "../outside/secret", "/etc", "a", "link", "../../..", "",
];

pub fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for _ in 0..1 + rng.below(8) {
        let name = *rng.pick(NAMES);
        let mut h = tar::Header::new_gnu();
        // Raw names: tar::Builder's checked setters refuse `..`.
        let n = name.len().min(99);
        h.as_old_mut().name[..n].copy_from_slice(&name.as_bytes()[..n]);
        let kind = *rng.pick(&[
            tar::EntryType::Regular,
            tar::EntryType::Directory,
            tar::EntryType::Symlink,
            tar::EntryType::Link,
            tar::EntryType::Fifo,
            tar::EntryType::Char,
        ]);
        h.set_entry_type(kind);
        if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            let t = *rng.pick(TARGETS);
            h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        let body: &[u8] = if kind == tar::EntryType::Regular { b"pwned" } else { b"" };
        h.set_size(body.len() as u64);
        h.set_mode(*rng.pick(&[0o644, 0o755, 0o4755, 0o000]));
        h.set_cksum();
        let _ = b.append(&h, body);
    }
    let mut out = b.into_inner().unwrap_or_default();
    if rng.one_in(6) && !out.is_empty() {
        let cut = rng.below(out.len());
        out.truncate(cut);
    }
    out
}
