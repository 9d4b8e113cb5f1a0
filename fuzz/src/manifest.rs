//! pier's parsers of registry JSON: `pier_image::pull::manifest_blobs` on an
//! image manifest, and `pier_image::images::image_manifest`, which picks the
//! entry of an OCI index (or Docker manifest list) for a platform, reads it
//! from the content store and parses it. The input is one document (a
//! manifest or an index); a private store holds it next to a few fixed
//! child manifests that generated indexes point to.
//!
//! Invariants: no panic; deterministic; an `Ok` has only `sha256:` digests
//! of 64 lower-case hex digits (the store turns a digest into a file name
//! under `blobs/sha256/`: `sha256:../../x` must never come out), and the
//! digests, sizes and media types as the document gives them; a chosen
//! child is one the index lists, and its bytes are what its digest names.

use std::cell::RefCell;
use std::path::Path;

use oci_spec::image::{Descriptor, Digest, MediaType};
use pier_image::images::image_manifest;
use pier_image::platform::Platform;
use pier_image::pull::{manifest_blobs, Blob};
use pier_image::store::{ImageRef, Store};
use serde_json::{json, Value};

use crate::gen::{self, Rng};

const REFERENCE: &str = "registry.example.com/fuzz/app:latest";

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.in-toto+json",
    "",
];

/// The platforms each index is asked for.
const PLATFORMS: &[&str] = &["linux/amd64", "linux/arm64/v8", "linux/arm/v7"];

/// `sha256:` and 64 lower-case hex digits, checked here rather than with
/// pier's own `digest::sha256_hex`, which is what is under test.
fn is_store_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn hex_of(n: u64) -> String {
    format!("sha256:{:064x}", n)
}

/// The fixed child manifests of the store, as documents (generated indexes
/// and the index seeds point to them).
pub fn children() -> Vec<Vec<u8>> {
    let manifest = |media: &str, config: &str, layers: usize| {
        let layers: Vec<Value> = (0..layers)
            .map(|i| {
                json!({
                    "mediaType": LAYER_TYPES[i % 4],
                    "digest": hex_of(0x1000 + i as u64),
                    "size": 1000 + i,
                })
            })
            .collect();
        json!({
            "schemaVersion": 2,
            "mediaType": media,
            "config": {"mediaType": config, "digest": hex_of(0xc0ff_ee), "size": 1469},
            "layers": layers,
        })
    };
    let docs = [
        manifest(OCI_MANIFEST, OCI_CONFIG, 1),
        manifest(DOCKER_MANIFEST, DOCKER_CONFIG, 3),
        manifest(OCI_MANIFEST, OCI_CONFIG, 0),
        // What a hostile registry could serve as a child: digests that
        // would name files outside blobs/sha256 if they got through.
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": "sha256:../../../etc/passwd", "size": 1},
            "layers": [],
        }),
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": hex_of(1), "size": 1},
            "layers": [{"digest": format!("sha256:{}/../x", "a".repeat(64)), "size": 2}],
        }),
        // A nested index, which pier does not follow.
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": hex_of(2), "size": 3,
                "platform": {"os": "linux", "architecture": "amd64"}}],
        }),
    ];
    let mut out: Vec<Vec<u8>> = docs
        .iter()
        .map(|d| serde_json::to_vec(d).unwrap_or_default())
        .collect();
    out.push(b"not json".to_vec());
    out
}

thread_local! {
    /// One store per thread, reused: it holds the children; each input's
    /// document is added and removed.
    static STORE: RefCell<Option<(tempfile::TempDir, Store, Vec<String>)>> =
        const { RefCell::new(None) };
}

fn with_store(f: impl FnOnce(&Store, &[String])) {
    STORE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let (_, store, kids) = slot.get_or_insert_with(|| {
            let dir = tempfile::Builder::new()
                .prefix("pier-fuzz-store-")
                .tempdir()
                .expect("create the fuzz store dir");
            let store = Store::open(dir.path().join("store")).expect("open the fuzz store");
            let kids = children()
                .iter()
                .map(|c| put(&store, c))
                .collect::<Vec<_>>();
            (dir, store, kids)
        });
        f(store, kids);
    });
}

/// Writes `data` as a blob (directly: the store's own `put_bytes` syncs
/// each blob to disk, too slow for a fuzzer); returns its digest.
fn put(store: &Store, data: &[u8]) -> String {
    let digest = pier_image::digest::sha256(data);
    let path = blob_file(store.root(), &digest);
    std::fs::write(&path, data).expect("write a blob");
    digest
}

fn blob_file(root: &Path, digest: &str) -> std::path::PathBuf {
    root.join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap_or(digest))
}

/// Checks one input: a document if it starts with `{`, else the choices of
/// a generated one (see [`generate`]).
pub fn check(data: &[u8]) {
    if data.first() == Some(&b'{') {
        check_document(data);
    } else {
        check_document(&generate(&mut Rng::from_bytes(data)));
    }
}

/// Runs both parsers on `doc`.
pub fn check_document(doc: &[u8]) {
    let blobs = check_blobs(doc);
    with_store(|store, kids| {
        let digest = put(store, doc);
        check_store(store, &digest, doc, blobs.as_ref());
        // The children stay; everything else goes, so the store stays small.
        if !kids.contains(&digest) {
            let _ = std::fs::remove_file(blob_file(store.root(), &digest));
        }
    });
}

fn show(r: &pier_image::pull::Result<(Blob, Vec<Blob>)>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({e})"),
    }
}

/// `manifest_blobs` on `doc`; returns its result when it is `Ok`.
fn check_blobs(doc: &[u8]) -> Option<(Blob, Vec<Blob>)> {
    let first = manifest_blobs(doc, REFERENCE);
    let again = manifest_blobs(doc, REFERENCE);
    assert_eq!(
        show(&first),
        show(&again),
        "manifest_blobs is not deterministic"
    );
    let (config, layers) = match first {
        Ok(v) => v,
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(REFERENCE),
                "error does not name the image: {msg}"
            );
            return None;
        }
    };
    let v: Value =
        serde_json::from_slice(doc).expect("manifest_blobs accepted a non-JSON document");
    let listed = v["layers"]
        .as_array()
        .expect("manifest_blobs accepted a manifest without layers");
    assert_eq!(layers.len(), listed.len(), "layers lost or invented");
    for (blob, desc) in std::iter::once((&config, &v["config"])).chain(layers.iter().zip(listed)) {
        same_blob(blob, desc);
    }
    Some((config, layers))
}

/// `blob` is the descriptor `desc` and has a digest the store can use.
fn same_blob(blob: &Blob, desc: &Value) {
    assert!(
        is_store_digest(&blob.digest),
        "digest {:?} came out of a manifest",
        blob.digest
    );
    assert_eq!(
        Some(blob.digest.as_str()),
        desc["digest"].as_str(),
        "digest changed"
    );
    assert_eq!(Some(blob.size), desc["size"].as_u64(), "size changed");
    assert_eq!(
        blob.media_type,
        desc["mediaType"].as_str().unwrap_or(""),
        "media type changed"
    );
}

fn show_image(r: &pier_image::images::Result<(String, Vec<u8>, Blob, Vec<Blob>)>) -> String {
    match r {
        Ok((d, b, c, l)) => format!("Ok({d}, {} bytes, {c:?}, {l:?})", b.len()),
        Err(e) => format!("Err({e})"),
    }
}

/// `image_manifest` on `doc` (stored as `digest`) as an index of each kind
/// for each platform, and as a manifest.
fn check_store(store: &Store, digest: &str, doc: &[u8], blobs: Option<&(Blob, Vec<Blob>)>) {
    let parsed: Option<Value> = serde_json::from_slice(doc).ok();
    let image = |media: &str| ImageRef {
        name: REFERENCE.to_string(),
        descriptor: Descriptor::new(
            MediaType::from(media),
            doc.len() as u64,
            Digest::try_from(digest).expect("sha256 gives a digest oci-spec takes"),
        ),
    };
    // As a manifest: the same answer as manifest_blobs.
    let host = Platform::host();
    match image_manifest(store, &image(OCI_MANIFEST), &host) {
        Ok((d, bytes, config, layers)) => {
            assert_eq!(d, digest);
            assert_eq!(bytes, doc);
            let (c, l) = blobs.expect("image_manifest accepted what manifest_blobs refused");
            assert_eq!(format!("{:?}", (c, l)), format!("{:?}", (&config, &layers)));
        }
        Err(_) => assert!(
            blobs.is_none(),
            "image_manifest refused what manifest_blobs accepted"
        ),
    }
    for media in [OCI_INDEX, DOCKER_LIST] {
        let image = image(media);
        for p in PLATFORMS {
            let platform = Platform::parse(p).expect("a valid platform");
            let first = image_manifest(store, &image, &platform);
            let again = image_manifest(store, &image, &platform);
            assert_eq!(
                show_image(&first),
                show_image(&again),
                "image_manifest is not deterministic"
            );
            let Ok((child, bytes, config, layers)) = first else {
                continue;
            };
            assert!(
                is_store_digest(&child),
                "child digest {child:?} came out of an index"
            );
            assert_eq!(
                pier_image::digest::sha256(&bytes),
                child,
                "child bytes are not what its digest names"
            );
            let listed = parsed
                .as_ref()
                .and_then(|v| v["manifests"].as_array())
                .is_some_and(|m| {
                    m.iter()
                        .any(|e| e["digest"].as_str() == Some(child.as_str()))
                });
            assert!(listed, "child {child} is not in the index");
            let v: Value =
                serde_json::from_slice(&bytes).expect("a child that is not JSON was accepted");
            let listed = v["layers"]
                .as_array()
                .expect("a child without layers was accepted");
            assert_eq!(layers.len(), listed.len());
            for (blob, desc) in
                std::iter::once((&config, &v["config"])).chain(layers.iter().zip(listed))
            {
                same_blob(blob, desc);
            }
        }
    }
}

/// Digests good and bad, for where a descriptor has one.
fn digest(rng: &mut Rng, kids: &[String], clean: bool) -> Value {
    match rng.below(if clean { 13 } else { 20 }) {
        0..=9 if !kids.is_empty() => json!(rng.pick(kids)),
        0..=12 => json!(hex_of(rng.next_u64())),
        13 => json!(format!("sha256:{}", "A".repeat(64))),
        14 => json!(format!("sha256:{}", "a".repeat(63 + 2 * rng.below(2)))),
        15 => json!(*rng.pick(&[
            "sha256:../../../etc/passwd",
            "sha256:..",
            "sha256:",
            "sha256",
            "../blobs/sha256/x",
            "sha512:00",
            "sha256:/",
            "",
        ])),
        16 => json!(format!("sha256:{}/../../x", "0".repeat(64))),
        17 => json!(format!("sha256:{}\n", "0".repeat(64))),
        18 => json!(format!("sha256:{}", "０".repeat(64))),
        _ => rng.value(1),
    }
}

fn size(rng: &mut Rng, clean: bool) -> Value {
    match rng.below(if clean { 8 } else { 12 }) {
        0..=7 => json!(rng.below(100_000)),
        8 => json!(rng.interesting_u64()),
        9 => json!(-1 - rng.below(10) as i64),
        10 => json!(1.5),
        _ => rng.value(1),
    }
}

fn descriptor(rng: &mut Rng, kids: &[String], media: &[&str], clean: bool) -> Value {
    let mut d = json!({
        "mediaType": rng.pick(media),
        "digest": digest(rng, kids, clean),
        "size": size(rng, clean),
    });
    if rng.one_in(8) {
        d["annotations"] = json!({"org.opencontainers.image.title": rng.interesting_string()});
    }
    if rng.one_in(10) {
        d["urls"] = json!(["https://example.com/x"]);
    }
    d
}

const OSES: &[&str] = &[
    "linux", "linux", "windows", "unknown", "Linux", "", "freebsd",
];
const ARCHES: &[&str] = &[
    "amd64", "amd64", "arm64", "arm", "x86_64", "aarch64", "armhf", "armel", "386", "unknown",
    "AMD64", "s390x", "",
];
const VARIANTS: &[&str] = &["v6", "v7", "v8", "V7", "v1", ""];

fn platform(rng: &mut Rng) -> Value {
    let mut p = json!({"os": rng.pick(OSES), "architecture": rng.pick(ARCHES)});
    if rng.one_in(3) {
        p["variant"] = json!(rng.pick(VARIANTS));
    }
    if rng.one_in(8) {
        p["os.version"] = json!("10.0.17763.1234");
    }
    if rng.one_in(12) {
        p["os"] = rng.value(1);
    }
    p
}

/// A manifest or an index as registries serve them, with random damage:
/// missing fields, wrong types, huge numbers, digests that are not sha256
/// or that climb out of the store, many platforms.
pub fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut kids = Vec::new();
    with_store(|_, k| kids = k.to_vec());
    // Half the documents have only well-formed descriptors, so that the
    // parsers get past them to what follows.
    let clean = rng.one_in(2);
    let mut doc = if rng.one_in(2) {
        let media = *rng.pick(&[OCI_MANIFEST, DOCKER_MANIFEST, "", OCI_INDEX]);
        let layers: Vec<Value> = (0..rng.below(6))
            .map(|_| descriptor(rng, &[], LAYER_TYPES, clean))
            .collect();
        json!({
            "schemaVersion": 2,
            "mediaType": media,
            "config": descriptor(rng, &[], &[OCI_CONFIG, DOCKER_CONFIG, ""], clean),
            "layers": layers,
        })
    } else {
        let media = *rng.pick(&[OCI_INDEX, DOCKER_LIST, ""]);
        let n = if rng.one_in(10) {
            50 + rng.below(200)
        } else {
            rng.below(6)
        };
        let manifests: Vec<Value> = (0..n)
            .map(|_| {
                let mut e = descriptor(
                    rng,
                    &kids,
                    &[
                        OCI_MANIFEST,
                        OCI_MANIFEST,
                        DOCKER_MANIFEST,
                        OCI_INDEX,
                        "application/json",
                        "",
                    ],
                    clean,
                );
                if !rng.one_in(6) {
                    e["platform"] = platform(rng);
                }
                if rng.one_in(6) {
                    e["annotations"] = json!({
                        "vnd.docker.reference.type": "attestation-manifest",
                        "vnd.docker.reference.digest": hex_of(rng.next_u64()),
                    });
                }
                e
            })
            .collect();
        json!({"schemaVersion": 2, "mediaType": media, "manifests": manifests})
    };
    for _ in 0..rng.below(if clean { 2 } else { 4 }) {
        gen::mutate(rng, &mut doc);
    }
    let mut text = serde_json::to_vec(&doc).unwrap_or_default();
    if rng.one_in(8) {
        // What serde_json never writes: numbers past u64, duplicate keys,
        // truncation.
        let snippet: &[u8] = *rng.pick(&[
            &b"\"size\":18446744073709551616,"[..],
            b"\"size\":1e400,",
            b"\"size\":-0,",
            b"\"layers\":{},",
            b"\"config\":null,",
            b"\"digest\":\"sha256:..\",",
        ]);
        if let Some(at) = text.iter().position(|&b| b == b'{') {
            text.splice(at + 1..at + 1, snippet.iter().copied());
        }
    }
    if rng.one_in(10) && !text.is_empty() {
        let cut = rng.below(text.len());
        text.truncate(cut);
    }
    text
}
