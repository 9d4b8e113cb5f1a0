//! `load`: discovery, env files, project name, and the pipeline
//! parse → interpolate → extends → merge → profiles → typing.

use crate::envfile;
use crate::interpolate::{interpolate, Vars};
use crate::merge;
use crate::model::{Network, Project, Service};
use crate::typing::{self, clean};
use crate::yaml::{self, Key, Kind, Loc, Node};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

/// What `pier compose` passes to [`load`]: the global flags and the process
/// environment.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-f` files in order; empty: discover in `cwd` (then its parents):
    /// compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml
    /// (first found), plus its override file when present. `-` is not
    /// supported.
    pub files: Vec<PathBuf>,
    /// `-p`
    pub project_name: Option<String>,
    /// `--project-directory`; default: directory of the first file.
    pub project_directory: Option<PathBuf>,
    /// `--env-file` (several allowed, later wins); default: `.env` in the
    /// project directory if it exists.
    pub env_files: Vec<PathBuf>,
    /// `--profile` (plus the COMPOSE_PROFILES variable, comma-separated);
    /// `*` enables all.
    pub profiles: Vec<String>,
    /// The process environment. It wins over `.env` for interpolation, as in
    /// docker compose.
    pub environ: BTreeMap<String, String>,
    /// Current directory for discovery and relative `-f` paths.
    pub cwd: PathBuf,
}

/// Errors of [`load`]; each names the file, line (and column) and key path
/// it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// no compose file found
    #[error("no configuration file provided: none of compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml found in {} or its parents", dir.display())]
    NotFound { dir: PathBuf },
    /// `-f -`
    #[error("reading a compose file from stdin (-f -) is not supported by pier compose")]
    Stdin,
    /// a file could not be read
    #[error("failed to read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// YAML syntax, structure, interpolation or env file error at a place
    #[error("{loc}: {msg}")]
    Syntax { loc: Loc, msg: String },
    /// a key that the Compose Specification does not know
    #[error("{loc}: {path}: unknown key")]
    UnknownKey { loc: Loc, path: String },
    /// a compose key that pier compose does not implement
    #[error("{loc}: {path}: not supported by pier compose yet{detail}")]
    Unsupported {
        loc: Loc,
        path: String,
        detail: String,
    },
    /// a value of the wrong type or form, or an inconsistent project
    #[error("{loc}: {path}: {msg}")]
    Invalid { loc: Loc, path: String, msg: String },
    /// the project name is invalid
    #[error("{origin}: invalid project name {name:?}: it must contain only lower-case letters, digits, dashes and underscores, and start with a letter or a digit")]
    ProjectName { name: String, origin: NameOrigin },
}

/// Where the project name came from, in docker compose's order of
/// precedence; shown in [`Error::ProjectName`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameOrigin {
    /// `-p`
    Flag,
    /// COMPOSE_PROJECT_NAME in the process environment
    Environment,
    /// COMPOSE_PROJECT_NAME in an env file (`.env` or `--env-file`)
    EnvFile(Arc<str>),
    /// the top-level `name` key, at its value
    Key(Loc),
    /// the base name of the project directory
    Directory(PathBuf),
}

impl fmt::Display for NameOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameOrigin::Flag => write!(f, "-p"),
            NameOrigin::Environment => write!(f, "COMPOSE_PROJECT_NAME (environment)"),
            NameOrigin::EnvFile(file) => write!(f, "{file}: COMPOSE_PROJECT_NAME"),
            NameOrigin::Key(loc) => write!(f, "{loc}: name"),
            NameOrigin::Directory(dir) => write!(f, "project directory {}", dir.display()),
        }
    }
}

/// Interpolation variables, and the env file each one that is not from the
/// process environment came from.
struct Variables {
    values: BTreeMap<String, String>,
    files: BTreeMap<String, Arc<str>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Loads the project described by `opts`.
pub fn load(opts: &Options) -> Result<Project> {
    let files = compose_files(opts)?;
    let first = files.first().ok_or_else(|| Error::NotFound {
        dir: opts.cwd.clone(),
    })?;
    let project_dir = match &opts.project_directory {
        Some(d) => clean(&opts.cwd.join(d)),
        None => first
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| opts.cwd.clone()),
    };
    let vars = variables(opts, &project_dir)?;
    let interp = Interp {
        vars: &vars.values,
        warned: RefCell::new(BTreeSet::new()),
    };
    let mut loader = Loader {
        cwd: &opts.cwd,
        interp: &interp,
        cache: BTreeMap::new(),
    };
    let mut merged: Option<Node> = None;
    for file in &files {
        let doc = loader.file(file)?;
        let resolved = resolve_extends(&doc, &mut loader)?;
        merged = Some(match merged {
            None => resolved,
            Some(base) => merge::merge_project(base, resolved),
        });
    }
    let root = merged.ok_or_else(|| Error::NotFound {
        dir: opts.cwd.clone(),
    })?;
    project(&root, opts, &vars, &project_dir)
}

/// The files to load: `-f`, `COMPOSE_FILE`, or discovery.
fn compose_files(opts: &Options) -> Result<Vec<PathBuf>> {
    let mut given = opts.files.clone();
    if given.is_empty() {
        if let Some(list) = opts.environ.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
            let sep = opts
                .environ
                .get("COMPOSE_PATH_SEPARATOR")
                .and_then(|s| s.chars().next())
                .unwrap_or(':');
            given = list
                .split(sep)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect();
        }
    }
    if !given.is_empty() {
        if given.iter().any(|f| f.as_os_str() == "-") {
            return Err(Error::Stdin);
        }
        return Ok(given.iter().map(|f| clean(&opts.cwd.join(f))).collect());
    }
    discover(&opts.cwd)
}

/// docker compose's file names, in its order of preference.
const FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
const OVERRIDE_NAMES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// The first compose file in `cwd` or its parents, plus its override file.
fn discover(cwd: &Path) -> Result<Vec<PathBuf>> {
    let start = clean(cwd);
    let mut dir = Some(start.as_path());
    while let Some(d) = dir {
        let found: Vec<PathBuf> = FILE_NAMES
            .iter()
            .map(|n| d.join(n))
            .filter(|p| p.is_file())
            .collect();
        if let Some(winner) = found.first() {
            if found.len() > 1 {
                eprintln!(
                    "WARN: found multiple config files with supported names: {}; using {}",
                    found
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    winner.display()
                );
            }
            let mut files = vec![winner.clone()];
            if let Some(o) = OVERRIDE_NAMES
                .iter()
                .map(|n| d.join(n))
                .find(|p| p.is_file())
            {
                files.push(o);
            }
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(Error::NotFound { dir: start })
}

/// Interpolation variables: the env files, overridden by the process
/// environment.
fn variables(opts: &Options, project_dir: &Path) -> Result<Variables> {
    let files: Vec<PathBuf> = if opts.env_files.is_empty() {
        let default = project_dir.join(".env");
        if default.is_file() {
            vec![default]
        } else {
            Vec::new()
        }
    } else {
        opts.env_files
            .iter()
            .map(|f| clean(&opts.cwd.join(f)))
            .collect()
    };
    let mut values = BTreeMap::new();
    let mut origins = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| Error::Read {
            path: f.clone(),
            source,
        })?;
        let file = display_name(&f, &opts.cwd);
        let parsed = envfile::parse(&text, &opts.environ).map_err(|e| Error::Syntax {
            loc: Loc {
                file: file.clone(),
                line: e.line,
                col: 0,
            },
            msg: e.msg,
        })?;
        for (k, v) in parsed {
            if let Some(v) = v.or_else(|| opts.environ.get(&k).cloned()) {
                origins.insert(k.clone(), file.clone());
                values.insert(k, v);
            }
        }
    }
    for (k, v) in &opts.environ {
        origins.remove(k);
        values.insert(k.clone(), v.clone());
    }
    Ok(Variables {
        values,
        files: origins,
    })
}

/// How a file is named in messages: relative to the current directory
/// when it is below it.
fn display_name(path: &Path, cwd: &Path) -> Arc<str> {
    let shown = path.strip_prefix(clean(cwd)).unwrap_or(path);
    Arc::from(shown.to_string_lossy().as_ref())
}

struct Interp<'a> {
    vars: &'a BTreeMap<String, String>,
    warned: RefCell<BTreeSet<String>>,
}

impl Vars for Interp<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
    fn unset(&self, name: &str) {
        if self.warned.borrow_mut().insert(name.to_string()) {
            eprintln!("WARN: The {name:?} variable is not set. Defaulting to a blank string.");
        }
    }
}

impl Interp<'_> {
    /// Interpolates every scalar value (not keys) of the tree.
    fn node(&self, node: &mut Node) -> Result<()> {
        match &mut node.kind {
            Kind::Scalar(s, _) => {
                *s = interpolate(s, self).map_err(|msg| Error::Syntax {
                    loc: node.loc.clone(),
                    msg,
                })?;
            }
            Kind::Seq(items) => {
                for i in items {
                    self.node(i)?;
                }
            }
            Kind::Map(entries) => {
                for (_, v) in entries {
                    self.node(v)?;
                }
            }
            Kind::Null => {}
        }
        Ok(())
    }
}

/// A parsed, interpolated compose file.
struct Doc {
    path: PathBuf,
    root: Node,
}

impl Doc {
    fn services(&self) -> Result<&[(Key, Node)]> {
        match self.root.get("services") {
            Some(s) => typing::map(s, "services"),
            None => Ok(&[]),
        }
    }
}

struct Loader<'a> {
    cwd: &'a Path,
    interp: &'a Interp<'a>,
    cache: BTreeMap<PathBuf, Rc<Doc>>,
}

impl Loader<'_> {
    fn file(&mut self, path: &Path) -> Result<Rc<Doc>> {
        if let Some(d) = self.cache.get(path) {
            return Ok(d.clone());
        }
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = display_name(path, self.cwd);
        let mut root = yaml::parse(&name, &text)
            .map_err(|e| Error::Syntax {
                loc: e.loc,
                msg: e.msg,
            })?
            .ok_or_else(|| Error::Syntax {
                loc: Loc::file(&name),
                msg: "empty compose file".to_string(),
            })?;
        if !matches!(root.kind, Kind::Map(_)) {
            return Err(Error::Syntax {
                loc: root.loc.clone(),
                msg: format!(
                    "a compose file must be a mapping, found {}",
                    root.kind_name()
                ),
            });
        }
        self.interp.node(&mut root)?;
        let doc = Rc::new(Doc {
            path: path.to_path_buf(),
            root,
        });
        self.cache.insert(path.to_path_buf(), doc.clone());
        Ok(doc)
    }
}

/// The file's tree with every service's `extends` resolved.
fn resolve_extends(doc: &Rc<Doc>, loader: &mut Loader) -> Result<Node> {
    let mut root = doc.root.clone();
    let mut resolved = Vec::new();
    for (k, _) in doc.services()? {
        let svc = resolve_service(doc, &k.text, &k.loc, &mut Vec::new(), loader)?;
        resolved.push((k.clone(), svc));
    }
    if let Kind::Map(entries) = &mut root.kind {
        for (k, v) in entries.iter_mut() {
            if k.text == "services" && matches!(v.kind, Kind::Map(_)) {
                v.kind = Kind::Map(resolved);
                break;
            }
        }
    }
    Ok(root)
}

fn resolve_service(
    doc: &Rc<Doc>,
    name: &str,
    at: &Loc,
    stack: &mut Vec<(PathBuf, String)>,
    loader: &mut Loader,
) -> Result<Node> {
    let path = format!("services.{name}");
    let node = doc
        .services()?
        .iter()
        .find(|(k, _)| k.text == name)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| Error::Invalid {
            loc: at.clone(),
            path: "extends".to_string(),
            msg: format!("no service {name:?} in {}", doc.path.display()),
        })?;
    let Some(ext) = node.get("extends").cloned() else {
        return Ok(node);
    };
    let ext_path = format!("{path}.extends");
    let (base_name, base_file) = match &ext.kind {
        Kind::Scalar(s, _) => (s.clone(), None),
        Kind::Map(entries) => {
            for (k, _) in entries {
                if k.text != "service" && k.text != "file" {
                    return Err(Error::UnknownKey {
                        loc: k.loc.clone(),
                        path: format!("{ext_path}.{}", k.text),
                    });
                }
            }
            let s = ext
                .get("service")
                .ok_or_else(|| typing::invalid(&ext, &ext_path, "missing service"))?;
            let file = match ext.get("file") {
                Some(f) => Some(typing::string(f, &format!("{ext_path}.file"))?),
                None => None,
            };
            (typing::string(s, &format!("{ext_path}.service"))?, file)
        }
        _ => {
            return Err(typing::invalid(
                &ext,
                &ext_path,
                "expected a service name or a mapping",
            ))
        }
    };
    let key = (doc.path.clone(), name.to_string());
    if stack.contains(&key) {
        let chain: Vec<&str> = stack.iter().map(|(_, s)| s.as_str()).collect();
        return Err(typing::invalid(
            &ext,
            &ext_path,
            format!("circular extends: {} -> {name}", chain.join(" -> ")),
        ));
    }
    stack.push(key);
    let (base_doc, other) = match &base_file {
        Some(f) => {
            let dir = doc.path.parent().unwrap_or(Path::new("/"));
            let p = clean(&dir.join(f));
            let d = loader.file(&p)?;
            let other = p != doc.path;
            (d, other)
        }
        None => (doc.clone(), false),
    };
    if stack.contains(&(base_doc.path.clone(), base_name.clone())) {
        let chain: Vec<&str> = stack.iter().map(|(_, s)| s.as_str()).collect();
        return Err(typing::invalid(
            &ext,
            &ext_path,
            format!("circular extends: {} -> {base_name}", chain.join(" -> ")),
        ));
    }
    let mut base = resolve_service(&base_doc, &base_name, &ext.loc, stack, loader)?;
    stack.pop();
    if other {
        // Relative paths of a service from another file are relative to
        // that file.
        rebase(&mut base, base_doc.path.parent().unwrap_or(Path::new("/")));
    }
    let mut over = node;
    if let Kind::Map(entries) = &mut over.kind {
        entries.retain(|(k, _)| k.text != "extends");
    }
    Ok(merge::merge_service(base, over))
}

/// Makes the relative bind sources and env_file paths of a service node
/// absolute against `dir`.
fn rebase(service: &mut Node, dir: &Path) {
    let fix = |s: &mut String| {
        if s.starts_with('.') {
            *s = clean(&dir.join(&*s)).to_string_lossy().into_owned();
        }
    };
    let Kind::Map(entries) = &mut service.kind else {
        return;
    };
    for (k, v) in entries.iter_mut() {
        match (k.text.as_str(), &mut v.kind) {
            ("volumes", Kind::Seq(items)) => {
                for item in items {
                    let is_bind = item
                        .get("type")
                        .is_some_and(|t| matches!(&t.kind, Kind::Scalar(s, _) if s == "bind"));
                    match &mut item.kind {
                        Kind::Scalar(s, _) if s.starts_with('.') => fix(s),
                        Kind::Map(fields) if is_bind => {
                            for (fk, fv) in fields.iter_mut() {
                                if let (true, Kind::Scalar(s, _)) =
                                    (fk.text == "source", &mut fv.kind)
                                {
                                    if !s.starts_with('/') && !s.starts_with('~') {
                                        *s = clean(&dir.join(&*s)).to_string_lossy().into_owned();
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            ("env_file", kind) => {
                let items: Vec<&mut Node> = match kind {
                    Kind::Seq(items) => items.iter_mut().collect(),
                    _ => vec![v],
                };
                for item in items {
                    match &mut item.kind {
                        Kind::Scalar(s, _) => {
                            *s = clean(&dir.join(&*s)).to_string_lossy().into_owned()
                        }
                        Kind::Map(fields) => {
                            for (fk, fv) in fields.iter_mut() {
                                if let (true, Kind::Scalar(s, _)) =
                                    (fk.text == "path", &mut fv.kind)
                                {
                                    *s = clean(&dir.join(&*s)).to_string_lossy().into_owned();
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// docker compose's normalisation: lower case, only `[a-z0-9_-]`.
fn normalize_name(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect()
}

fn project_name(
    root: &Node,
    opts: &Options,
    vars: &Variables,
    project_dir: &Path,
) -> Result<String> {
    const VAR: &str = "COMPOSE_PROJECT_NAME";
    let explicit = match &opts.project_name {
        Some(n) => Some((n.clone(), NameOrigin::Flag)),
        None => match vars.values.get(VAR).filter(|s| !s.is_empty()) {
            Some(n) => {
                let origin = match vars.files.get(VAR) {
                    Some(file) => NameOrigin::EnvFile(file.clone()),
                    None => NameOrigin::Environment,
                };
                Some((n.clone(), origin))
            }
            None => match root.get("name") {
                Some(n) => Some((typing::string(n, "name")?, NameOrigin::Key(n.loc.clone()))),
                None => None,
            },
        },
    };
    match explicit {
        Some((n, origin)) => {
            let norm = normalize_name(&n);
            if norm.is_empty() || !norm.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                return Err(Error::ProjectName { name: n, origin });
            }
            Ok(norm)
        }
        None => {
            let base = project_dir
                .file_name()
                .map(|b| b.to_string_lossy().into_owned())
                .unwrap_or_default();
            let norm = normalize_name(&base)
                .trim_start_matches(['_', '-'])
                .to_string();
            if norm.is_empty() {
                return Err(Error::ProjectName {
                    name: base,
                    origin: NameOrigin::Directory(project_dir.to_path_buf()),
                });
            }
            Ok(norm)
        }
    }
}

/// Types the merged tree.
fn project(root: &Node, opts: &Options, vars: &Variables, project_dir: &Path) -> Result<Project> {
    let entries = typing::map(root, "")?;
    for (k, _) in entries {
        match k.text.as_str() {
            "services" | "networks" | "volumes" | "name" => {}
            "version" => eprintln!(
                "WARN: {}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion",
                k.loc.file
            ),
            "configs" | "secrets" | "include" | "models" => {
                return Err(Error::Unsupported {
                    loc: k.loc.clone(),
                    path: k.text.clone(),
                    detail: String::new(),
                })
            }
            x if x.starts_with("x-") => {}
            _ => {
                return Err(Error::UnknownKey {
                    loc: k.loc.clone(),
                    path: k.text.clone(),
                })
            }
        }
    }
    let name = project_name(root, opts, vars, project_dir)?;

    let mut networks = BTreeMap::new();
    if let Some(n) = root.get("networks") {
        for (k, v) in typing::map(n, "networks")? {
            networks.insert(k.text.clone(), typing::network(k, v, &name)?);
        }
    }
    let mut volumes = BTreeMap::new();
    if let Some(n) = root.get("volumes") {
        for (k, v) in typing::map(n, "volumes")? {
            volumes.insert(k.text.clone(), typing::volume(k, v, &name)?);
        }
    }

    let mut active: BTreeSet<String> = opts.profiles.iter().map(|p| p.trim().to_string()).collect();
    if let Some(p) = vars.values.get("COMPOSE_PROFILES") {
        active.extend(p.split(',').map(|s| s.trim().to_string()));
    }
    active.retain(|p| !p.is_empty());
    let all = active.contains("*");
    let service_nodes: &[(Key, Node)] = match root.get("services") {
        Some(s) => typing::map(s, "services")?,
        None => &[],
    };
    let mut enabled = BTreeMap::new();
    for (k, v) in service_nodes {
        let profiles = typing::service_profiles(v, &format!("services.{}", k.text))?;
        let on = profiles.is_empty() || all || profiles.iter().any(|p| active.contains(p));
        enabled.insert(k.text.clone(), on);
    }
    let ctx = typing::Ctx {
        project_dir,
        home: vars.values.get("HOME").map(String::as_str),
        services: &enabled,
        networks: &networks,
        volumes: &volumes,
        vars: &vars.values,
    };
    let mut project = Project {
        name: name.clone(),
        working_dir: project_dir.to_path_buf(),
        ..Project::default()
    };
    for (k, v) in service_nodes {
        let on = enabled.get(&k.text).copied().unwrap_or(true);
        let svc = typing::service(&k.text, v, on, &ctx)?;
        if on {
            project.services.insert(k.text.clone(), svc);
        } else {
            project.disabled.insert(k.text.clone(), svc);
        }
    }
    if let Some(cycle) = typing::dependency_cycle(&project.services) {
        let first = &cycle[0];
        let loc = service_nodes
            .iter()
            .find(|(k, _)| &k.text == first)
            .map(|(k, _)| k.loc.clone())
            .unwrap_or_else(|| root.loc.clone());
        return Err(Error::Invalid {
            loc,
            path: format!("services.{first}.depends_on"),
            msg: format!("dependency cycle: {}", cycle.join(" -> ")),
        });
    }

    // Only the networks and volumes that services use; `default` is
    // implicit. Those of services disabled by profiles are kept: naming such
    // a service on the command line runs it, and `down` removes them.
    let used_networks: BTreeSet<&String> = project
        .services
        .values()
        .chain(project.disabled.values())
        .flat_map(|s| s.networks.keys())
        .collect();
    networks.retain(|k, _| used_networks.contains(k));
    if used_networks.contains(&"default".to_string()) && !networks.contains_key("default") {
        networks.insert(
            "default".to_string(),
            Network {
                name: format!("{name}_default"),
                ..Network::default()
            },
        );
    }
    let used_volumes: BTreeSet<&String> = project
        .services
        .values()
        .chain(project.disabled.values())
        .flat_map(|s| s.volumes.iter())
        .filter(|v| v.kind == "volume" && !v.source.is_empty())
        .map(|v| &v.source)
        .collect();
    volumes.retain(|k, _| used_volumes.contains(k));
    project.networks = networks;
    project.volumes = volumes;
    Ok(project)
}

impl Project {
    /// The resolved project as YAML, what `pier compose config` prints.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).unwrap_or_else(|e| format!("# failed to serialize: {e}\n"))
    }
}

/// Hex sha256 of a canonical JSON of `service`, stable across runs; the
/// engine recreates a container when it changes. `replicas` is left out:
/// scaling does not recreate.
pub fn config_hash(service: &Service) -> String {
    let mut value = serde_json::to_value(service).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = value.as_object_mut() {
        obj.remove("replicas");
    }
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "it must contain only lower-case letters, digits, dashes and underscores, and start with a letter or a digit";

    /// The error of loading `files` from a fresh project directory named
    /// `dir_name` (the current directory), after `f` on the options.
    fn load_err(dir_name: &str, files: &[(&str, &str)], f: impl FnOnce(&mut Options)) -> Error {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(dir_name);
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let mut opts = Options {
            cwd: dir,
            ..Options::default()
        };
        f(&mut opts);
        load(&opts).unwrap_err()
    }

    #[test]
    fn project_name_error_names_the_key() {
        let e = load_err(
            "p",
            &[("compose.yaml", "name: \"!!\"\nservices: {}\n")],
            |_| {},
        );
        assert_eq!(
            e.to_string(),
            format!("compose.yaml:1:7: name: invalid project name \"!!\": {RULE}")
        );
    }

    #[test]
    fn project_name_error_names_the_env_file() {
        let compose = ("compose.yaml", "name: ok\nservices: {}\n");
        let e = load_err(
            "p",
            &[compose, (".env", "A=1\nCOMPOSE_PROJECT_NAME=_x\n")],
            |_| {},
        );
        assert_eq!(
            e.to_string(),
            format!(".env: COMPOSE_PROJECT_NAME: invalid project name \"_x\": {RULE}")
        );
        // --env-file: the last file that sets it.
        let e = load_err(
            "p",
            &[
                compose,
                ("a.env", "COMPOSE_PROJECT_NAME=fine\n"),
                ("envs/b.env", "COMPOSE_PROJECT_NAME=-b\n"),
            ],
            |o| o.env_files = vec!["a.env".into(), "envs/b.env".into()],
        );
        assert!(
            e.to_string()
                .starts_with("envs/b.env: COMPOSE_PROJECT_NAME: invalid project name \"-b\""),
            "{e}"
        );
    }

    #[test]
    fn project_name_error_names_the_environment() {
        // The process environment wins over .env, and is what is named.
        let e = load_err(
            "p",
            &[
                ("compose.yaml", "services: {}\n"),
                (".env", "COMPOSE_PROJECT_NAME=fine\n"),
            ],
            |o| {
                o.environ
                    .insert("COMPOSE_PROJECT_NAME".into(), "_env".into());
            },
        );
        assert_eq!(
            e.to_string(),
            format!("COMPOSE_PROJECT_NAME (environment): invalid project name \"_env\": {RULE}")
        );
    }

    #[test]
    fn project_name_error_names_the_flag() {
        let e = load_err("p", &[("compose.yaml", "name: ok\nservices: {}\n")], |o| {
            o.project_name = Some("_bad".into());
        });
        assert_eq!(
            e.to_string(),
            format!("-p: invalid project name \"_bad\": {RULE}")
        );
        assert!(
            matches!(e, Error::ProjectName { ref origin, .. } if *origin == NameOrigin::Flag),
            "{e:?}"
        );
    }

    #[test]
    fn project_name_error_names_the_directory() {
        let e = load_err("__", &[("compose.yaml", "services: {}\n")], |_| {});
        let Error::ProjectName {
            origin: NameOrigin::Directory(dir),
            ..
        } = &e
        else {
            panic!("{e:?}");
        };
        assert!(dir.ends_with("__"), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("project directory {}: ", dir.display())),
            "{e}"
        );
    }
}
