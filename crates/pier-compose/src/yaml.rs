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

/// The most nodes that aliases may produce in one file, counted as copies
/// of their anchored nodes (scalars, sequences, mappings and keys; merge
/// keys `<<: *a` included, as they are aliases too). Without a cap a file
/// of a few hundred bytes ("billion laughs": anchors of ten aliases to the
/// previous one) expands to billions of nodes and runs out of memory.
/// go-yaml, which docker compose uses, fails with "excessive aliasing" once
/// about 400,000 decoded nodes come from aliases (99% of a small document,
/// falling to 10% of a large one); a fixed budget above that accepts every
/// file docker compose accepts, and at about 100 bytes a node (with its
/// text) bounds the copies to about 100 MB.
const ALIAS_NODE_BUDGET: usize = 1_000_000;

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
        /// Nodes in `items`, all levels.
        nodes: usize,
    },
    Map {
        loc: Loc,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        /// Nodes in `entries` and `key`, all levels.
        nodes: usize,
    },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    /// Anchored nodes and how many nodes each is, all levels.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes produced by aliases so far (see [`ALIAS_NODE_BUDGET`]).
    aliased: usize,
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

    /// Adds a finished node of `count` nodes (all levels) to its parent.
    fn push(&mut self, node: Node, anchor: usize, count: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), count));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, nodes, .. }) => {
                *nodes = nodes.saturating_add(count);
                items.push(node);
            }
            Some(Frame::Map {
                entries,
                key,
                nodes,
                ..
            }) => {
                *nodes = nodes.saturating_add(count);
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
            }
        }
    }

    /// Pushes a copy of the node anchored as `id`, unless that takes the
    /// nodes produced by aliases over [`ALIAS_NODE_BUDGET`].
    fn alias(&mut self, id: usize, loc: Loc) {
        let Some(count) = self.anchors.get(&id).map(|(_, count)| *count) else {
            self.fail(loc, "alias to an unknown anchor");
            return;
        };
        // Checked before the copy is made: a bomb stops at the alias that
        // crosses the budget, with no more than the budget copied.
        self.aliased = self.aliased.saturating_add(count);
        if self.aliased > ALIAS_NODE_BUDGET {
            self.fail(
                loc,
                format!("too many nodes from aliases (over {ALIAS_NODE_BUDGET}): an alias bomb?"),
            );
            return;
        }
        if let Some((node, _)) = self.anchors.get(&id) {
            let node = node.clone();
            self.push(node, 0, count);
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
            Event::Alias(id) => self.alias(id, loc),
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                let kind = if plain && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Kind::Null
                } else {
                    Kind::Scalar(text, plain)
                };
                self.push(Node::new(kind, loc), anchor, 1);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                loc,
                anchor,
                items: Vec::new(),
                nodes: 0,
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                loc,
                anchor,
                entries: Vec::new(),
                key: None,
                nodes: 0,
            }),
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    loc,
                    anchor,
                    items,
                    nodes,
                }) = self.stack.pop()
                {
                    self.push(
                        Node::new(Kind::Seq(items), loc),
                        anchor,
                        nodes.saturating_add(1),
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    loc,
                    anchor,
                    entries,
                    nodes,
                    ..
                }) = self.stack.pop()
                {
                    // Merged entries are counted once, in the alias that
                    // brought them (`<<: *a`), even when a key overrides them.
                    let node = self.finish_map(loc, entries);
                    self.push(node, anchor, nodes.saturating_add(1));
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
        aliased: 0,
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

    /// `levels` anchors of `width` aliases each to the one before, as
    /// sequences (`x-l1: &l1 [*l0, *l0]`) or, with `merge`, as mappings of
    /// merge keys (`x-l1: &l1 {k0: {<<: *l0}, k1: {<<: *l0}}`).
    fn bomb(levels: usize, width: usize, merge: bool) -> String {
        let mut s = String::from(if merge {
            "x-l0: &l0 {k: lol}\n"
        } else {
            "x-l0: &l0 [lol]\n"
        });
        for l in 1..=levels {
            let refs: Vec<String> = (0..width)
                .map(|i| match merge {
                    true => format!("k{i}: {{<<: *l{}}}", l - 1),
                    false => format!("*l{}", l - 1),
                })
                .collect();
            match merge {
                true => s.push_str(&format!("x-l{l}: &l{l} {{{}}}\n", refs.join(", "))),
                false => s.push_str(&format!("x-l{l}: &l{l} [{}]\n", refs.join(", "))),
            }
        }
        s.push_str("services: {}\n");
        s
    }

    #[test]
    fn alias_bomb() {
        // The 456-byte file that once took 13 s and 4 GB (10^7 nodes).
        let text = bomb(7, 10, false);
        assert_eq!(text.len(), 456);
        let e = p(&text).unwrap_err();
        assert_eq!(
            e.msg,
            "too many nodes from aliases (over 1000000): an alias bomb?"
        );
        // l0..l5 are 2, 21, ..., 211111 nodes; the aliases of lines 2-6
        // produce 234560 of them, and the fourth *l5 of line 7 (x-l6)
        // crosses the budget: l6 and l7 are never built.
        assert_eq!((&*e.loc.file, e.loc.line, e.loc.col), ("c.yaml", 7, 27));
        // Merge keys copy their source too.
        let e = p(&bomb(7, 10, true)).unwrap_err();
        assert!(e.msg.contains("too many nodes from aliases"), "{e:?}");
        assert_eq!(e.loc.line, 7);
    }

    #[test]
    fn many_aliases_load() {
        // Under the budget: 10^5 copies of [lol] in one sequence.
        let n = p(&bomb(5, 10, false)).unwrap().unwrap();
        assert_eq!(
            n.get("x-l5")
                .unwrap()
                .to_json()
                .to_string()
                .matches("lol")
                .count(),
            100_000
        );
        let n = p(&bomb(5, 10, true)).unwrap().unwrap();
        assert!(matches!(n.get("x-l5").unwrap().kind, Kind::Map(ref e) if e.len() == 10));
        // A large file with an anchor used by every service.
        let mut text = String::from(
            "x-d: &d\n  image: x\n  restart: always\n  environment: [A=1, B=2]\nservices:\n",
        );
        for i in 0..5000 {
            text.push_str(&format!("  s{i}:\n    <<: *d\n    labels: {{n: \"{i}\"}}\n    networks: &n{i} [default]\n    x-n: *n{i}\n"));
        }
        let n = p(&text).unwrap().unwrap();
        let s = n.get("services").unwrap().get("s4999").unwrap();
        assert_eq!(s.get("image").unwrap().kind, Kind::Scalar("x".into(), true));
        assert_eq!(s.get("x-n").unwrap(), s.get("networks").unwrap());
    }
}
