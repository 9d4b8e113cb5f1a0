//! A YAML node tree with positions, built from yaml-rust2's event parser:
//! anchors and aliases are resolved, merge keys (`<<`) applied, duplicate
//! keys and multi-document files rejected. Scalars keep their text and
//! whether they were quoted, so `"123"` stays a string and the loader types
//! values by the schema, after interpolation.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A place in a compose file: `file:line:col`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (0, _) => write!(f, "{}", self.file),
            (l, 0) => write!(f, "{}:{l}", self.file),
            (l, c) => write!(f, "{}:{l}:{c}", self.file),
        }
    }
}

impl Loc {
    pub fn file(file: &Arc<str>) -> Loc {
        Loc {
            file: file.clone(),
            line: 0,
            col: 0,
        }
    }
}

/// A mapping key (always a scalar in compose files).
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub text: String,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `~`, `null` or nothing.
    Null,
    /// Text and whether it was plain (unquoted, not a block scalar).
    Scalar(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub loc: Loc,
}

impl Node {
    pub fn new(kind: Kind, loc: Loc) -> Node {
        Node { kind, loc }
    }

    /// A string scalar (typed as a string, never as a number).
    pub fn string(text: impl Into<String>, loc: Loc) -> Node {
        Node::new(Kind::Scalar(text.into(), false), loc)
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.text == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Scalar(..) => "a scalar",
            Kind::Seq(_) => "a sequence",
            Kind::Map(_) => "a mapping",
        }
    }

    /// The JSON value of this node under the YAML 1.2 core schema (for
    /// `x-*` extensions).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Scalar(s, false) => Value::String(s.clone()),
            Kind::Scalar(s, true) => match s.as_str() {
                "true" | "True" | "TRUE" => Value::Bool(true),
                "false" | "False" | "FALSE" => Value::Bool(false),
                _ => {
                    if let Ok(i) = s.parse::<i64>() {
                        Value::from(i)
                    } else if let Some(n) = s
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .and_then(serde_json::Number::from_f64)
                    {
                        Value::Number(n)
                    } else {
                        Value::String(s.clone())
                    }
                }
            },
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.text.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A YAML error at a place.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub loc: Loc,
    pub msg: String,
}

enum Frame {
    Seq {
        loc: Loc,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        loc: Loc,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    docs: Vec<Node>,
    doc_starts: usize,
    error: Option<YamlError>,
}

impl Builder {
    fn loc(&self, mark: &Marker) -> Loc {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Loc {
            file: self.file.clone(),
            line: mark.line(),
            col: mark.col() + 1,
        }
    }

    fn fail(&mut self, loc: Loc, msg: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                loc,
                msg: msg.into(),
            });
        }
    }

    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }

    fn finish_map(&mut self, loc: Loc, raw: Vec<(Node, Node)>) -> Node {
        let mut entries: Vec<(Key, Node)> = Vec::new();
        let mut merges: Vec<Node> = Vec::new();
        for (k, v) in raw {
            let text = match &k.kind {
                Kind::Scalar(s, plain) => {
                    if *plain && s == "<<" {
                        merges.push(v);
                        continue;
                    }
                    s.clone()
                }
                Kind::Null => String::new(),
                _ => {
                    self.fail(k.loc.clone(), "mapping keys must be scalars");
                    continue;
                }
            };
            if entries.iter().any(|(e, _)| e.text == text) {
                self.fail(k.loc.clone(), format!("duplicate key {text:?}"));
                continue;
            }
            entries.push((Key { text, loc: k.loc }, v));
        }
        // Merge keys: explicit keys win, then the sources in order.
        for m in merges {
            let sources = match m.kind {
                Kind::Seq(items) => items,
                _ => vec![m],
            };
            for src in sources {
                match src.kind {
                    Kind::Map(src_entries) => {
                        for (k, v) in src_entries {
                            if !entries.iter().any(|(e, _)| e.text == k.text) {
                                entries.push((k, v));
                            }
                        }
                    }
                    _ => self.fail(
                        src.loc,
                        "merge key (<<) value must be a mapping or a list of mappings",
                    ),
                }
            }
        }
        Node::new(Kind::Map(entries), loc)
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let loc = self.loc(&mark);
        match ev {
            Event::DocumentStart => {
                self.doc_starts += 1;
                if self.doc_starts > 1 {
                    self.fail(
                        loc,
                        "multiple YAML documents in one compose file are not supported",
                    );
                }
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let node = node.clone();
                    self.push(node, 0);
                }
                None => self.fail(loc, "alias to an unknown anchor"),
            },
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                let kind = if plain && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Kind::Null
                } else {
                    Kind::Scalar(text, plain)
                };
                self.push(Node::new(kind, loc), anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                loc,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                loc,
                anchor,
                entries: Vec::new(),
                key: None,
            }),
            Event::SequenceEnd => {
                if let Some(Frame::Seq { loc, anchor, items }) = self.stack.pop() {
                    self.push(Node::new(Kind::Seq(items), loc), anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    loc,
                    anchor,
                    entries,
                    ..
                }) = self.stack.pop()
                {
                    let node = self.finish_map(loc, entries);
                    self.push(node, anchor);
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// Parses `text` (the content of `file`) into one node; an empty document
/// gives `None`.
pub fn parse(file: &Arc<str>, text: &str) -> Result<Option<Node>, YamlError> {
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
        doc_starts: 0,
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        return Err(YamlError {
            loc: Loc {
                file: file.clone(),
                line: m.line(),
                col: m.col() + 1,
            },
            msg: format!("invalid YAML: {}", e.info()),
        });
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(builder.docs.pop())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Option<Node>, YamlError> {
        parse(&Arc::from("c.yaml"), text)
    }

    #[test]
    fn positions_and_styles() {
        let n = p("a:\n  b: 1\n  c: \"2\"\n  d:\n  e: ~\n")
            .unwrap()
            .unwrap();
        let a = n.get("a").unwrap();
        let b = a.get("b").unwrap();
        assert_eq!(b.kind, Kind::Scalar("1".into(), true));
        assert_eq!((b.loc.line, b.loc.col), (2, 6));
        assert_eq!(a.get("c").unwrap().kind, Kind::Scalar("2".into(), false));
        assert_eq!(a.get("d").unwrap().kind, Kind::Null);
        assert_eq!(a.get("e").unwrap().kind, Kind::Null);
        match &a.kind {
            Kind::Map(e) => assert_eq!((e[1].0.loc.line, e[1].0.loc.col), (3, 3)),
            _ => panic!(),
        }
    }

    #[test]
    fn anchors_and_merge_keys() {
        let n = p("x: &b\n  k: 1\n  j: 2\ny: &c\n  m: 3\nz:\n  <<: [*b, *c]\n  k: 9\nw: *c\n")
            .unwrap()
            .unwrap();
        let z = n.get("z").unwrap();
        assert_eq!(z.get("k").unwrap().kind, Kind::Scalar("9".into(), true));
        assert_eq!(z.get("j").unwrap().kind, Kind::Scalar("2".into(), true));
        assert_eq!(z.get("m").unwrap().kind, Kind::Scalar("3".into(), true));
        assert_eq!(
            n.get("w").unwrap().get("m").unwrap().kind,
            Kind::Scalar("3".into(), true)
        );
        let single = p("x: &b {k: 1}\nz:\n  k: 2\n  <<: *b\n").unwrap().unwrap();
        assert_eq!(
            single.get("z").unwrap().get("k").unwrap().kind,
            Kind::Scalar("2".into(), true)
        );
    }

    #[test]
    fn errors() {
        let e = p("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.loc.line, 3);
        assert!(e.msg.contains("duplicate key"));
        let e = p("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(e.msg.contains("multiple YAML documents"), "{e:?}");
        let e = p("a: [1\n").unwrap_err();
        assert!(e.msg.contains("invalid YAML"));
        assert_eq!(p("").unwrap(), None);
    }
}
