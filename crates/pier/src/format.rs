//! `--format` templates: the subset of Go templates that scripts use with
//! `docker inspect -f` — literal text, `{{.Field.Sub}}`, `{{.}}`,
//! `{{json .Field}}`. Anything else (range, if, index, pipes) is an error
//! that says so, never silently wrong output.

use serde_json::Value;

/// A template that cannot be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// `{{` without `}}`
    #[error("template {0:?}: unclosed action")]
    Unclosed(String),
    /// an action pier does not implement
    #[error("template action {{{{{0}}}}} is not supported by pier (supported: {{{{.Field.Sub}}}}, {{{{json .Field}}}}, {{{{.}}}})")]
    Unsupported(String),
}

/// Renders `template` against `v`.
pub fn render(template: &str, v: &Value) -> Result<String, Error> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| Error::Unclosed(template.to_string()))?;
        let action = after[..end]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let (json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        let value = lookup(v, path).ok_or_else(|| Error::Unsupported(action.to_string()))?;
        if json {
            out.push_str(&value.to_string());
        } else {
            out.push_str(&plain(value));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `.A.B` in `v`; a missing field is `null` (Go prints `<no value>`).
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if path == "." {
        return Some(v);
    }
    let fields = path.strip_prefix('.')?;
    let mut cur = v;
    for f in fields.split('.') {
        if f.is_empty() || !f.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
        cur = cur.get(f).unwrap_or(&Value::Null);
    }
    Some(cur)
}

/// How Go's template prints a value without `json`.
fn plain(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", plain(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_the_docker_inspect_subset() {
        let v = json!({"State": {"Status": "running", "Pid": 42, "Running": true},
                       "Name": "/web", "Args": ["a", "b"], "Labels": {"k": "v"}});
        assert_eq!(render("{{.State.Status}}", &v).unwrap(), "running");
        assert_eq!(
            render("{{ .State.Pid }} {{.State.Running}}", &v).unwrap(),
            "42 true"
        );
        assert_eq!(render("name={{.Name}}\n", &v).unwrap(), "name=/web\n");
        assert_eq!(render("{{json .Args}}", &v).unwrap(), "[\"a\",\"b\"]");
        assert_eq!(
            render("{{.Args}} {{.Labels}}", &v).unwrap(),
            "[a b] map[k:v]"
        );
        assert_eq!(render("{{.Nope}}", &v).unwrap(), "<no value>");
        assert!(matches!(
            render("{{range .Args}}", &v),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(render("{{.State", &v), Err(Error::Unclosed(_))));
        assert_eq!(render("{{json .}}", &json!(1)).unwrap(), "1");
    }
}
