//! Variable interpolation in compose values, as the Compose Specification
//! describes it (`interpolation.md`): `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
//! `${VAR+alt}`, `$$` for a literal `$`, defaults that nest.

/// Looks variables up and reports the ones that are unset with no default.
pub trait Vars {
    fn get(&self, name: &str) -> Option<&str>;
    /// Called for `$X` / `${X}` when X is unset: it becomes "".
    fn unset(&self, name: &str);
}

/// Interpolates `s`; the error is a message without position.
pub fn interpolate(s: &str, vars: &dyn Vars) -> Result<String, String> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let start = i + 2;
                let end = closing_brace(&chars, start)
                    .ok_or_else(|| format!("invalid interpolation format in {s:?}: unterminated \"${{\""))?;
                let inner: String = chars[start..end].iter().collect();
                out.push_str(&braced(&inner, s, vars)?);
                i = end + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(&lookup(&name, vars));
                i = j;
            }
            _ => {
                return Err(format!(
                    "invalid interpolation format in {s:?}: a \"$\" must start a variable (write \"$$\" for a literal \"$\")"
                ))
            }
        }
    }
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Index of the `}` closing a `${` whose content starts at `start`.
fn closing_brace(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '$' if chars.get(i + 1) == Some(&'$') => i += 1,
            '$' if chars.get(i + 1) == Some(&'{') => {
                depth += 1;
                i += 1;
            }
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn lookup(name: &str, vars: &dyn Vars) -> String {
    match vars.get(name) {
        Some(v) => v.to_string(),
        None => {
            vars.unset(name);
            String::new()
        }
    }
}

fn braced(inner: &str, whole: &str, vars: &dyn Vars) -> Result<String, String> {
    let name_len = inner.chars().take_while(|&c| is_name_char(c)).count();
    let name = &inner[..name_len];
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(format!(
            "invalid interpolation format in {whole:?}: \"${{{inner}}}\" does not start with a variable name"
        ));
    }
    let rest = &inner[name_len..];
    if rest.is_empty() {
        return Ok(lookup(name, vars));
    }
    let (op, word) = if let Some(w) = rest.strip_prefix(":-") {
        (":-", w)
    } else if let Some(w) = rest.strip_prefix(":?") {
        (":?", w)
    } else if let Some(w) = rest.strip_prefix(":+") {
        (":+", w)
    } else if let Some(w) = rest.strip_prefix('-') {
        ("-", w)
    } else if let Some(w) = rest.strip_prefix('?') {
        ("?", w)
    } else if let Some(w) = rest.strip_prefix('+') {
        ("+", w)
    } else {
        return Err(format!(
            "invalid interpolation format in {whole:?}: unexpected {rest:?} after variable {name}"
        ));
    };
    let value = vars.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    match op {
        ":-" if non_empty => Ok(value.unwrap_or_default().to_string()),
        "-" if set => Ok(value.unwrap_or_default().to_string()),
        ":-" | "-" => interpolate(word, vars),
        ":+" if non_empty => interpolate(word, vars),
        "+" if set => interpolate(word, vars),
        ":+" | "+" => Ok(String::new()),
        ":?" if non_empty => Ok(value.unwrap_or_default().to_string()),
        "?" if set => Ok(value.unwrap_or_default().to_string()),
        _ => {
            let msg = interpolate(word, vars)?;
            let what = if op == ":?" {
                "missing a value"
            } else {
                "not set"
            };
            Err(format!("required variable {name} is {what}: {msg}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    struct Env(BTreeMap<String, String>, RefCell<Vec<String>>);

    impl Vars for Env {
        fn get(&self, name: &str) -> Option<&str> {
            self.0.get(name).map(String::as_str)
        }
        fn unset(&self, name: &str) {
            self.1.borrow_mut().push(name.to_string());
        }
    }

    fn env() -> Env {
        let mut m = BTreeMap::new();
        m.insert("A".to_string(), "a".to_string());
        m.insert("EMPTY".to_string(), String::new());
        m.insert("B_2".to_string(), "b2".to_string());
        Env(m, RefCell::new(Vec::new()))
    }

    fn i(s: &str) -> Result<String, String> {
        interpolate(s, &env())
    }

    #[test]
    fn forms() {
        assert_eq!(i("x $A y").unwrap(), "x a y");
        assert_eq!(i("${A}b").unwrap(), "ab");
        assert_eq!(i("$B_2.").unwrap(), "b2.");
        assert_eq!(i("${NOPE:-d}").unwrap(), "d");
        assert_eq!(i("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(i("${EMPTY-d}").unwrap(), "");
        assert_eq!(i("${NOPE-d}").unwrap(), "d");
        assert_eq!(i("${A:-d}").unwrap(), "a");
        assert_eq!(i("${A:+alt}").unwrap(), "alt");
        assert_eq!(i("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(i("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(i("${NOPE+alt}").unwrap(), "");
        assert_eq!(i("${A:?boom}").unwrap(), "a");
        assert_eq!(i("${EMPTY?boom}").unwrap(), "");
        assert_eq!(i("$$A $${A}").unwrap(), "$A ${A}");
        assert_eq!(i("${NOPE:-${A}}").unwrap(), "a");
        assert_eq!(i("${NOPE:-${NOPE2:-x-$A}}").unwrap(), "x-a");
        assert_eq!(i("${NOPE:-a:b}").unwrap(), "a:b");
        assert_eq!(i("${NOPE:-}").unwrap(), "");
        assert_eq!(i("no dollar").unwrap(), "no dollar");
    }

    #[test]
    fn unset_is_reported() {
        let e = env();
        assert_eq!(
            interpolate("[$NOPE][${NOPE2}][${NOPE3:-x}]", &e).unwrap(),
            "[][][x]"
        );
        assert_eq!(*e.1.borrow(), vec!["NOPE".to_string(), "NOPE2".to_string()]);
    }

    #[test]
    fn errors() {
        let e = i("${NOPE:?need it}").unwrap_err();
        assert_eq!(e, "required variable NOPE is missing a value: need it");
        assert!(i("${EMPTY:?need it}").unwrap_err().contains("EMPTY"));
        assert!(i("${NOPE?x}").unwrap_err().contains("not set: x"));
        assert!(i("${A").unwrap_err().contains("unterminated"));
        assert!(i("${}").is_err());
        assert!(i("${A B}").is_err());
        assert!(i("cost $5").is_err());
        assert!(i("end $").is_err());
    }
}
