//! Compose files modelled on public example projects: `to_yaml()` must say
//! what `docker compose config` says about them (in the model's long
//! syntax). Compared as YAML values, not text; the fixture's directory
//! appears as `/PROJECT` in expected.yaml.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use pier_compose::{load, Options};
use std::collections::BTreeMap;
use std::path::Path;

fn check(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let mut environ = BTreeMap::new();
    environ.insert("HOME".to_string(), "/home/u".to_string());
    let project = load(&Options {
        cwd: dir.clone(),
        environ,
        ..Options::default()
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let got_text = project
        .to_yaml()
        .replace(&*dir.to_string_lossy(), "/PROJECT");
    let got: serde_norway::Value = serde_norway::from_str(&got_text).unwrap();
    let want_text = std::fs::read_to_string(dir.join("expected.yaml")).unwrap();
    let want: serde_norway::Value = serde_norway::from_str(&want_text).unwrap();
    assert_eq!(got, want, "{name}: got\n{got_text}");
    if std::env::var_os("SHOW").is_some() {
        println!("{got_text}");
    }
}

#[test]
fn nginx_flask_mysql() {
    check("nginx-flask-mysql");
}

#[test]
fn wordpress_mysql() {
    check("wordpress-mysql");
}

#[test]
fn prometheus_grafana() {
    check("prometheus-grafana");
}

#[test]
fn redis_counter() {
    check("redis-counter");
}
