//! Container logs in Docker's `json-file` format: one JSON object per
//! line, `{"log":"text\n","stream":"stdout","time":"RFC 3339"}`, in
//! `container.log`, rotated to `container.log.1`, `.2`, … when it passes
//! the size limit.

use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// One log entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// The text, with its newline if it had one.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// When the monitor read it.
    pub time: String,
}

/// Writes a container's log with size rotation.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
    partial: [Vec<u8>; 2],
}

/// Default `max-size`: 10 MiB per file, as many deployments set for Docker.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
/// Default `max-file`.
pub const DEFAULT_MAX_FILES: u32 = 3;

impl Writer {
    /// Appends to `path`.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> io::Result<Writer> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Writer {
            path: path.to_owned(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Logs `data` read from `stream` (`stdout` or `stderr`): one entry per
    /// line; a trailing partial line waits for its end (up to 16 KiB, as
    /// Docker splits long lines).
    pub fn write(&mut self, stream: &str, data: &[u8]) -> io::Result<()> {
        let idx = usize::from(stream == "stderr");
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            self.entry(stream, &buf[start..start + nl + 1])?;
            start += nl + 1;
        }
        while buf.len() - start >= 16 << 10 {
            self.entry(stream, &buf[start..start + (16 << 10)])?;
            start += 16 << 10;
        }
        self.partial[idx] = buf[start..].to_vec();
        Ok(())
    }

    /// Writes out partial lines (at the end of the container's output).
    pub fn flush(&mut self) -> io::Result<()> {
        for (idx, stream) in ["stdout", "stderr"].iter().enumerate() {
            let rest = std::mem::take(&mut self.partial[idx]);
            if !rest.is_empty() {
                self.entry(stream, &rest)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, stream: &str, text: &[u8]) -> io::Result<()> {
        let e = Entry {
            log: String::from_utf8_lossy(text).into_owned(),
            stream: stream.into(),
            time: crate::time::now(),
        };
        let mut line = serde_json::to_vec(&e).map_err(io::Error::other)?;
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.max_files <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for i in (1..self.max_files - 1).rev() {
            let from = rotated(&self.path, i);
            if from.exists() {
                fs::rename(&from, rotated(&self.path, i + 1))?;
            }
        }
        fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn rotated(path: &Path, i: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

/// The log files of `path`, oldest first.
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = (1..100)
        .map(|i| rotated(path, i))
        .take_while(|p| p.exists())
        .collect();
    out.reverse();
    out.push(path.to_owned());
    out
}

/// Every entry of the log at `path` (all rotated files), oldest first.
pub fn read_all(path: &Path) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for f in files(path) {
        let Ok(file) = File::open(&f) else { continue };
        for line in BufReader::new(file).lines() {
            if let Ok(e) = serde_json::from_str::<Entry>(&line?) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_partials_and_rotation() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("container.log");
        let mut w = Writer::open(&p, 300, 3).unwrap();
        w.write("stdout", b"one\ntw").unwrap();
        w.write("stderr", b"err\n").unwrap();
        w.write("stdout", b"o\n").unwrap();
        w.write("stdout", b"tail").unwrap();
        w.flush().unwrap();
        let got: Vec<(String, String)> = read_all(&p)
            .unwrap()
            .into_iter()
            .map(|e| (e.stream, e.log))
            .collect();
        assert_eq!(
            got,
            [
                ("stdout".into(), "one\n".into()),
                ("stderr".into(), "err\n".into()),
                ("stdout".into(), "two\n".into()),
                ("stdout".into(), "tail".into())
            ]
        );
        for i in 0..20 {
            w.write("stdout", format!("line {i}\n").as_bytes()).unwrap();
        }
        let files = files(&p);
        assert_eq!(files.len(), 3, "{files:?}");
        let all = read_all(&p).unwrap();
        assert_eq!(all.last().unwrap().log, "line 19\n");
        assert!(all.len() < 24, "old entries dropped by rotation");
    }
}
