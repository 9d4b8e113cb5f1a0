//! Debug records for `--debug`: the binary installs a sink, libberth
//! reports phases of its work with the time since the first record, so a
//! `berth --debug run` shows where the time goes.

use std::sync::OnceLock;
use std::time::Instant;

type Sink = Box<dyn Fn(&str) + Send + Sync>;

static SINK: OnceLock<(Instant, Sink)> = OnceLock::new();

/// Installs the sink; later calls are ignored.
pub fn set_sink(f: impl Fn(&str) + Send + Sync + 'static) {
    let _ = SINK.set((Instant::now(), Box::new(f)));
}

/// Whether a sink is installed (so callers can skip formatting).
pub fn enabled() -> bool {
    SINK.get().is_some()
}

/// Reports a phase with the elapsed time.
pub fn phase(what: &str) {
    if let Some((start, sink)) = SINK.get() {
        sink(&format!("{what} (+{} us)", start.elapsed().as_micros()));
    }
}
