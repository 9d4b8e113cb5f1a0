//! Merging compose files and `extends`, per the Compose Specification's
//! merge rules (`13-merge.md`): mappings merge recursively and scalars
//! override; sequences append (duplicates dropped) except `command`,
//! `entrypoint` and `healthcheck.test`, which are replaced; `environment`,
//! `labels`, `sysctls` and `extra_hosts` merge by key in either form;
//! `volumes` merge by target path; `depends_on` and `networks` by name;
//! `ulimits` by name (the value is replaced).

use crate::yaml::{Key, Kind, Node};

/// Same content, positions ignored.
pub fn same(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Null, Kind::Null) => true,
        (Kind::Scalar(x, _), Kind::Scalar(y, _)) => x == y,
        (Kind::Seq(x), Kind::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Kind::Map(x), Kind::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka.text == kb.text && same(va, vb))
        }
        _ => false,
    }
}

fn set(entries: &mut Vec<(Key, Node)>, key: Key, value: Node) {
    match entries.iter_mut().find(|(k, _)| k.text == key.text) {
        Some(slot) => slot.1 = value,
        None => entries.push((key, value)),
    }
}

/// Top level of two compose files: `services` merge service by service,
/// everything else recursively.
pub fn merge_project(base: Node, over: Node) -> Node {
    let (Kind::Map(mut entries), Kind::Map(over_entries)) = (base.kind.clone(), over.kind.clone())
    else {
        return over;
    };
    for (k, v) in over_entries {
        let merged = match entries.iter().find(|(e, _)| e.text == k.text) {
            Some((_, b)) if k.text == "services" => merge_services(b.clone(), v),
            Some((_, b)) => merge_generic(b.clone(), v),
            None => v,
        };
        set(&mut entries, k, merged);
    }
    Node::new(Kind::Map(entries), base.loc)
}

fn merge_services(base: Node, over: Node) -> Node {
    let (Kind::Map(mut entries), Kind::Map(over_entries)) = (base.kind.clone(), over.kind.clone())
    else {
        return over;
    };
    for (k, v) in over_entries {
        let merged = match entries.iter().find(|(e, _)| e.text == k.text) {
            Some((_, b)) => merge_service(b.clone(), v),
            None => v,
        };
        set(&mut entries, k, merged);
    }
    Node::new(Kind::Map(entries), base.loc)
}

/// One service over another (a later file's, or the extending service over
/// the extended one).
pub fn merge_service(base: Node, over: Node) -> Node {
    let base = match base.kind {
        Kind::Null => Node::new(Kind::Map(Vec::new()), base.loc),
        _ => base,
    };
    let over = match over.kind {
        Kind::Null => Node::new(Kind::Map(Vec::new()), over.loc),
        _ => over,
    };
    let (Kind::Map(mut entries), Kind::Map(over_entries)) = (base.kind.clone(), over.kind.clone())
    else {
        return over;
    };
    for (k, v) in over_entries {
        let Some(b) = entries
            .iter()
            .find(|(e, _)| e.text == k.text)
            .map(|(_, b)| b.clone())
        else {
            entries.push((k, v));
            continue;
        };
        let merged = match k.text.as_str() {
            "command" | "entrypoint" => v,
            "environment" | "labels" | "sysctls" | "extra_hosts" | "annotations" => {
                merge_by_key(to_map(b, Some('=')), to_map(v, Some('=')), false)
            }
            "depends_on" | "networks" => merge_by_key(to_map(b, None), to_map(v, None), true),
            "ulimits" => merge_by_key(b, v, false),
            "volumes" => merge_volumes(b, v),
            "healthcheck" => merge_healthcheck(b, v),
            "tmpfs" | "env_file" | "dns" | "dns_search" => merge_generic(to_seq(b), to_seq(v)),
            _ => merge_generic(b, v),
        };
        set(&mut entries, k, merged);
    }
    Node::new(Kind::Map(entries), base.loc)
}

fn merge_healthcheck(base: Node, over: Node) -> Node {
    let (Kind::Map(mut entries), Kind::Map(over_entries)) = (base.kind.clone(), over.kind.clone())
    else {
        return over;
    };
    for (k, v) in over_entries {
        // `test` is replaced, not appended.
        set(&mut entries, k, v);
    }
    Node::new(Kind::Map(entries), base.loc)
}

/// Mappings recursively, sequences appended without duplicates, anything
/// else replaced.
pub fn merge_generic(base: Node, over: Node) -> Node {
    match (base.kind, over.kind) {
        (Kind::Map(mut entries), Kind::Map(over_entries)) => {
            for (k, v) in over_entries {
                let merged = match entries.iter().find(|(e, _)| e.text == k.text) {
                    Some((_, b)) => merge_generic(b.clone(), v),
                    None => v,
                };
                set(&mut entries, k, merged);
            }
            Node::new(Kind::Map(entries), base.loc)
        }
        (Kind::Seq(mut items), Kind::Seq(over_items)) => {
            for v in over_items {
                if !items.iter().any(|i| same(i, &v)) {
                    items.push(v);
                }
            }
            Node::new(Kind::Seq(items), base.loc)
        }
        (_, kind) => Node::new(kind, over.loc),
    }
}

/// By key; `deep` merges the values recursively (null counts as an empty
/// mapping), otherwise the later value replaces the earlier.
fn merge_by_key(base: Node, over: Node, deep: bool) -> Node {
    let (Kind::Map(mut entries), Kind::Map(over_entries)) = (base.kind.clone(), over.kind.clone())
    else {
        return over;
    };
    for (k, v) in over_entries {
        let merged = match entries.iter().find(|(e, _)| e.text == k.text) {
            Some((_, b)) if deep => match (&b.kind, &v.kind) {
                (_, Kind::Null) => b.clone(),
                (Kind::Null, _) => v,
                _ => merge_generic(b.clone(), v),
            },
            _ => v,
        };
        set(&mut entries, k, merged);
    }
    Node::new(Kind::Map(entries), base.loc)
}

/// The list form (`K=V`, `K`, or bare names when `sep` is `None`) as a
/// mapping; a mapping as is.
pub fn to_map(node: Node, sep: Option<char>) -> Node {
    let Kind::Seq(items) = node.kind else {
        return node;
    };
    let mut entries: Vec<(Key, Node)> = Vec::new();
    for item in items {
        let Kind::Scalar(text, _) = &item.kind else {
            // Left for typing to report.
            return Node::new(Kind::Seq(vec![item]), node.loc);
        };
        let (k, v) = match sep.and_then(|c| text.split_once(c)) {
            Some((k, v)) => (k.to_string(), Node::string(v, item.loc.clone())),
            None => (text.clone(), Node::new(Kind::Null, item.loc.clone())),
        };
        set(
            &mut entries,
            Key {
                text: k,
                loc: item.loc.clone(),
            },
            v,
        );
    }
    Node::new(Kind::Map(entries), node.loc)
}

fn to_seq(node: Node) -> Node {
    match node.kind {
        Kind::Scalar(..) => Node::new(Kind::Seq(vec![node.clone()]), node.loc),
        _ => node,
    }
}

/// The container path of a `volumes` entry in either syntax.
pub fn volume_target(node: &Node) -> Option<String> {
    match &node.kind {
        Kind::Scalar(s, _) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(if parts.len() == 1 { parts[0] } else { parts[1] }.to_string())
        }
        Kind::Map(_) => match node.get("target").map(|t| &t.kind) {
            Some(Kind::Scalar(t, _)) => Some(t.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn merge_volumes(base: Node, over: Node) -> Node {
    let (Kind::Seq(mut items), Kind::Seq(over_items)) = (base.kind.clone(), over.kind.clone())
    else {
        return over;
    };
    for v in over_items {
        let target = volume_target(&v);
        match items
            .iter_mut()
            .find(|i| target.is_some() && volume_target(i) == target)
        {
            Some(slot) => *slot = v,
            None => items.push(v),
        }
    }
    Node::new(Kind::Seq(items), base.loc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;
    use std::sync::Arc;

    fn y(s: &str) -> Node {
        parse(&Arc::from("t.yaml"), s).unwrap().unwrap()
    }

    fn json(n: &Node) -> String {
        n.to_json().to_string()
    }

    #[test]
    fn service_rules() {
        let base = y("image: a\ncommand: [x, y]\nports: ['80:80']\nenvironment: [A=1, B=2]\nlabels: {l: 1}\nvolumes: ['./a:/data', 'v:/other']\ndepends_on: [db]\nnetworks: {front: {aliases: [a]}}\nulimits: {nofile: {soft: 1, hard: 2}}\nhealthcheck: {test: [CMD, a], interval: 1s}\ncap_add: [NET_ADMIN]\ntmpfs: /run\n");
        let over = y("image: b\ncommand: [z]\nports: ['80:80', '443:443']\nenvironment: {B: 3, C: null}\nlabels: [m=2]\nvolumes: [{type: bind, source: ./b, target: /data}, /new]\ndepends_on: {db: {condition: service_healthy}, cache: {condition: service_started}}\nnetworks: [back, front]\nulimits: {nofile: 5}\nhealthcheck: {test: [CMD, b]}\ncap_add: [NET_ADMIN, SYS_TIME]\ntmpfs: [/tmp]\n");
        let m = merge_service(base, over);
        let get = |k: &str| json(m.get(k).unwrap());
        assert_eq!(get("image"), r#""b""#);
        assert_eq!(get("command"), r#"["z"]"#);
        assert_eq!(get("ports"), r#"["80:80","443:443"]"#);
        assert_eq!(get("environment"), r#"{"A":"1","B":3,"C":null}"#);
        assert_eq!(get("labels"), r#"{"l":1,"m":"2"}"#);
        assert_eq!(
            get("volumes"),
            r#"[{"type":"bind","source":"./b","target":"/data"},"v:/other","/new"]"#
        );
        assert_eq!(
            get("depends_on"),
            r#"{"db":{"condition":"service_healthy"},"cache":{"condition":"service_started"}}"#
        );
        assert_eq!(
            get("networks"),
            r#"{"front":{"aliases":["a"]},"back":null}"#
        );
        assert_eq!(get("ulimits"), r#"{"nofile":5}"#);
        assert_eq!(
            get("healthcheck"),
            r#"{"test":["CMD","b"],"interval":"1s"}"#
        );
        assert_eq!(get("cap_add"), r#"["NET_ADMIN","SYS_TIME"]"#);
        assert_eq!(get("tmpfs"), r#"["/run","/tmp"]"#);
    }

    #[test]
    fn project_rules() {
        let a = y("name: a\nservices:\n  web: {image: x, ports: ['1:1']}\nvolumes: {v: {labels: {a: 1}}}\n");
        let b = y("name: b\nservices:\n  web: {ports: ['2:2']}\n  db: {image: d}\nvolumes: {v: {labels: {b: 2}}, w: null}\n");
        let m = merge_project(a, b);
        assert_eq!(
            json(&m),
            r#"{"name":"b","services":{"web":{"image":"x","ports":["1:1","2:2"]},"db":{"image":"d"}},"volumes":{"v":{"labels":{"a":1,"b":2}},"w":null}}"#
        );
    }
}
