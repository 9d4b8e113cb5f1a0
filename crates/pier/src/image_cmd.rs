//! The bodies of the image commands that need more than a line: `pull`
//! (progress), `inspect`, `tag`, `save` and `load`. Thin: the work is in
//! pier-image.

use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pier_image::archive::{self, Format};
use pier_image::pull::{self, Event};
use pier_image::{images, Client, Platform, Reference, Store};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

/// `pier pull`: a bar per layer on a terminal, a line per step otherwise,
/// only the name with `--quiet`.
pub fn pull(
    client: &Client,
    store: &Store,
    r: &Reference,
    platform: &Platform,
    quiet: bool,
) -> Result<()> {
    let pulled = if quiet {
        pull::pull(client, store, r, platform, &|_| {})?
    } else if std::io::stdout().is_terminal() {
        pull_bars(client, store, r, platform)?
    } else {
        pull::pull(client, store, r, platform, &|line| println!("{line}"))?
    };
    println!("{}", pulled.name);
    Ok(())
}

fn pull_bars(
    client: &Client,
    store: &Store,
    r: &Reference,
    platform: &Platform,
) -> Result<pull::Pulled> {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
    let style = ProgressStyle::with_template(
        "{prefix}: {msg:<16} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
    )
    .context("progress bar template")?
    .progress_chars("=> ");
    let done_style =
        ProgressStyle::with_template("{prefix}: {msg}").context("progress bar template")?;
    let bars: Mutex<HashMap<String, ProgressBar>> = Mutex::new(HashMap::new());
    let bar = |digest: &str| {
        bars.lock()
            .ok()
            .and_then(|b| b.get(digest).cloned())
            .unwrap_or_else(ProgressBar::hidden)
    };
    let res = pull::pull_with(client, store, r, platform, &|e| match e {
        Event::Selected { digest, platform } => {
            let _ = multi.println(format!("{r}: selected {digest} for {platform}"));
        }
        Event::Layer {
            digest,
            size,
            present,
        } => {
            let b = multi.add(ProgressBar::new(size));
            b.set_prefix(pull::short(digest).to_string());
            if present {
                b.set_style(done_style.clone());
                b.finish_with_message("already exists");
            } else {
                b.set_style(style.clone());
                b.set_message("downloading");
            }
            if let Ok(mut m) = bars.lock() {
                m.insert(digest.to_string(), b);
            }
        }
        Event::Progress { digest, done, .. } => bar(digest).set_position(done),
        Event::Done { digest } => {
            let b = bar(digest);
            b.set_style(done_style.clone());
            b.finish_with_message("pull complete");
        }
        Event::Stored { digest } => {
            let _ = multi.println(format!("Digest: {digest}"));
        }
    });
    if res.is_err() {
        for b in bars
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_else(|_| Vec::new())
        {
            b.abandon();
        }
    }
    Ok(res?)
}

/// `pier inspect IMAGE...`: a JSON array, as `docker inspect`; names not
/// found are reported on stderr and make the exit status 1.
pub fn inspect(store: &Store, names: &[String]) -> Result<bool> {
    let mut out = Vec::new();
    let mut ok = true;
    for n in names {
        match images::inspect(store, n) {
            Ok(v) => out.push(v),
            Err(images::Error::NoSuchImage(_)) => {
                eprintln!("pier: no such object: {n}");
                ok = false;
            }
            Err(e) => return Err(e).with_context(|| format!("inspect {n}")),
        }
    }
    // write! rather than println!: a closed pipe (`| head`) is an error,
    // not a panic.
    writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(&out)?
    )?;
    Ok(ok)
}

/// `pier tag SOURCE TARGET`.
pub fn tag(store: &Store, source: &str, target: &str) -> Result<()> {
    images::tag(store, source, target)?;
    Ok(())
}

/// `pier save [-o FILE] IMAGE...`: to FILE (written under a temp name and
/// renamed when complete) or to standard output, never to a terminal.
pub fn save(
    store: &Store,
    names: &[String],
    output: Option<&Path>,
    format: &str,
    platform: &Platform,
) -> Result<()> {
    let format: Format = format.parse()?;
    match output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::Builder::new()
                .prefix(".pier-save-")
                .tempfile_in(dir)
                .with_context(|| format!("failed to create a file in {}", dir.display()))?;
            archive::save(
                store,
                names,
                format,
                platform,
                std::io::BufWriter::new(tmp.as_file_mut()),
            )?;
            tmp.as_file().sync_all()?;
            tmp.persist(path)
                .with_context(|| format!("failed to write {}", path.display()))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("refusing to write an archive to a terminal: use -o FILE or redirect");
            }
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            archive::save(store, names, format, platform, &mut w)?;
            w.flush()?;
        }
    }
    Ok(())
}

/// `pier load [-i FILE]`: from FILE or standard input.
pub fn load(store: &Store, input: Option<&Path>, quiet: bool) -> Result<()> {
    let names = match input {
        Some(path) => {
            let f = std::fs::File::open(path)
                .with_context(|| format!("failed to open {}", path.display()))?;
            archive::load(store, f, &path.display().to_string())?
        }
        None => {
            if std::io::stdin().is_terminal() {
                bail!("no archive on standard input: use -i FILE or redirect");
            }
            archive::load(store, std::io::stdin().lock(), "standard input")?
        }
    };
    let mut out = std::io::stdout().lock();
    for n in names {
        if quiet {
            writeln!(out, "{n}")?;
        } else {
            writeln!(out, "Loaded image: {n}")?;
        }
    }
    Ok(())
}
