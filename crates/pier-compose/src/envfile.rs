//! `.env` / `--env-file` / `env_file:` parsing: `KEY=VAL`, `export KEY=VAL`,
//! single quotes (literal), double quotes (escapes, may span lines),
//! `#` comments, blank lines; unquoted and double-quoted values interpolate
//! `${VAR}` from the environment given, then from earlier lines.

use crate::interpolate::{interpolate, Vars};
use std::collections::BTreeMap;

/// One parse error: 1-based line and message.
#[derive(Debug, PartialEq, Eq)]
pub struct EnvError {
    pub line: usize,
    pub msg: String,
}

struct Lookup<'a> {
    environ: &'a BTreeMap<String, String>,
    earlier: &'a [(String, Option<String>)],
}

impl Vars for Lookup<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.environ.get(name).map(String::as_str).or_else(|| {
            self.earlier
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.as_deref())
        })
    }
    fn unset(&self, _name: &str) {}
}

/// Parses an env file; a bare `KEY` gives `(KEY, None)`.
pub fn parse(
    text: &str,
    environ: &BTreeMap<String, String>,
) -> Result<Vec<(String, Option<String>)>, EnvError> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut n = 0;
    while n < lines.len() {
        let lineno = n + 1;
        let line = lines[n].trim();
        n += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let err = |msg: String| EnvError { line: lineno, msg };
        let Some((key, raw)) = line.split_once('=') else {
            if !valid_key(line) {
                return Err(err(format!("invalid variable name {line:?}")));
            }
            out.push((line.to_string(), None));
            continue;
        };
        let key = key.trim();
        if !valid_key(key) {
            return Err(err(format!("invalid variable name {key:?}")));
        }
        let raw = raw.trim_start();
        let value = if let Some(body) = raw.strip_prefix('\'') {
            match body.find('\'') {
                Some(end) => body[..end].to_string(),
                None => {
                    return Err(err(format!(
                        "unterminated single quote in the value of {key}"
                    )))
                }
            }
        } else if let Some(body) = raw.strip_prefix('"') {
            // A double-quoted value may span lines.
            let mut acc = body.to_string();
            let value = loop {
                if let Some(v) = unescape_double(&acc) {
                    break v;
                }
                match lines.get(n) {
                    Some(next) => {
                        acc.push('\n');
                        acc.push_str(next);
                        n += 1;
                    }
                    None => {
                        return Err(err(format!(
                            "unterminated double quote in the value of {key}"
                        )))
                    }
                }
            };
            expand(&value, environ, &out).map_err(err)?
        } else {
            // An unquoted value ends at a ` #` comment.
            let v = match raw.find(" #") {
                Some(i) => &raw[..i],
                None => raw,
            };
            expand(v.trim_end(), environ, &out).map_err(err)?
        };
        out.push((key.to_string(), Some(value)));
    }
    Ok(out)
}

fn expand(
    value: &str,
    environ: &BTreeMap<String, String>,
    earlier: &[(String, Option<String>)],
) -> Result<String, String> {
    interpolate(value, &Lookup { environ, earlier })
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

/// The content of a double-quoted value up to its closing quote, escapes
/// applied; `None` when the closing quote is not in `s`.
fn unescape_double(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                // `\$` stays escaped for interpolation.
                Some('$') => out.push_str("$$"),
                Some(o) => out.push(o),
                None => return None,
            },
            '$' => out.push('$'),
            o => out.push(o),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vec<(String, Option<String>)>, EnvError> {
        let mut environ = BTreeMap::new();
        environ.insert("HOSTVAR".to_string(), "h".to_string());
        parse(text, &environ)
    }

    fn kv(k: &str, v: &str) -> (String, Option<String>) {
        (k.to_string(), Some(v.to_string()))
    }

    #[test]
    fn forms() {
        let got = p("# comment\n\nA=1\nexport B = two words \nC='lit $X #x'\nD=\"q \\\"x\\\" \\n $A\"\nE=v # comment\nF=a#b\nG\nH=${HOSTVAR}-${A}\nI=\"multi\nline\"\nJ=\n")
            .unwrap();
        assert_eq!(
            got,
            vec![
                kv("A", "1"),
                kv("B", "two words"),
                kv("C", "lit $X #x"),
                kv("D", "q \"x\" \n 1"),
                kv("E", "v"),
                kv("F", "a#b"),
                ("G".to_string(), None),
                kv("H", "h-1"),
                kv("I", "multi\nline"),
                kv("J", ""),
            ]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(p("A=1\nB='x\n").unwrap_err().line, 2);
        assert_eq!(p("A=\"x\n").unwrap_err().line, 1);
        assert_eq!(p("1A=x\n").unwrap_err().line, 1);
        assert!(p("A=${B\n").unwrap_err().msg.contains("unterminated"));
    }
}
