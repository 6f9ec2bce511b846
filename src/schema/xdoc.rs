//! A codec's own description of its xAPI (`xDoc`, one document per root:
//! Configuration, Status, Command, Event) written as the public schema's
//! JSON, so `xmacro schema pull` gives a file that `check --schema`, `run
//! --schema`, `sim --schema`, `test --schema` and editors read like
//! Cisco's, and that matches the firmware the codec runs.
//!
//! In an xDoc, lower-case keys are attributes and capitalised keys are
//! children; a leaf has a `ValueSpace` (`Value` lists a literal's values),
//! a command is marked `command: "True"` with one child per parameter, an
//! event `event: "True"` with one child per field (`type`: int, literal,
//! string). Configuration arrays list their elements with an `id`; Status
//! arrays hold one element standing for any.

use serde_json::{Map, Value, json};

use super::Kind;

/// What an xDoc document does not say the way the reader expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XdocError {
    #[error("the xDoc of {root} is not an object")]
    NotAnObject { root: &'static str },
    #[error("the xDoc of {root} describes nothing")]
    Empty { root: &'static str },
}

/// The public schema's objects for one root's xDoc document, in path order.
pub fn objects(kind: Kind, doc: &Value) -> Result<Vec<Value>, XdocError> {
    let root = kind.root();
    let map = doc.as_object().ok_or(XdocError::NotAnObject { root })?;
    let mut out = Vec::new();
    walk(kind, map, &mut Vec::new(), &mut out);
    if out.is_empty() {
        return Err(XdocError::Empty { root });
    }
    Ok(out)
}

/// The whole document: every root's objects under `objects`, as Cisco's
/// file has them, with where they came from.
pub fn document(objects: Vec<Value>, source: &str) -> Value {
    json!({
        "source": format!("xDoc of {source}, written by xmacro schema pull"),
        "objects": objects,
    })
}

fn is_child(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_uppercase())
}

fn walk(kind: Kind, node: &Map<String, Value>, at: &mut Vec<String>, out: &mut Vec<Value>) {
    let marked = |attr: &str| node.get(attr).and_then(Value::as_str) == Some("True");
    match kind {
        Kind::Command if marked("command") => return out.push(command(at, node)),
        Kind::Event if marked("event") => return out.push(event(at, node)),
        Kind::Configuration | Kind::Status if node.contains_key("ValueSpace") => {
            return out.push(leaf(kind, at, node));
        }
        _ => {}
    }
    for (name, child) in node.iter().filter(|(k, _)| is_child(k)) {
        match child {
            Value::Object(inner) => {
                at.push(name.clone());
                walk(kind, inner, at, out);
                at.pop();
            }
            Value::Array(items) => {
                let Some(first) = items.iter().find_map(Value::as_object) else {
                    continue;
                };
                at.push(format!("{name}{}", range(items)));
                walk(kind, first, at, out);
                at.pop();
            }
            _ => {}
        }
    }
}

/// `[lo..hi]` from the elements' ids, else `[n]` (any id).
fn range(items: &[Value]) -> String {
    let ids: Vec<u64> = items
        .iter()
        .filter_map(|i| match i.get("id")? {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_u64(),
            _ => None,
        })
        .collect();
    match (ids.iter().min(), ids.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => format!("[{lo}]"),
        (Some(lo), Some(hi)) => format!("[{lo}..{hi}]"),
        _ => "[n]".into(),
    }
}

fn object(kind: Kind, at: &[String], attributes: Map<String, Value>) -> Value {
    json!({
        "type": kind.root(),
        "path": at.join(" "),
        "attributes": attributes,
    })
}

/// A value space as the public schema writes it (`Values`, not `Value`).
fn value_space(vs: &Value) -> Value {
    let mut vs = vs.as_object().cloned().unwrap_or_default();
    if let Some(values) = vs.remove("Value") {
        let values = match values {
            Value::Array(a) => a,
            one => vec![one],
        };
        vs.insert("Values".into(), Value::Array(values));
    }
    Value::Object(vs)
}

fn copy(from: &Map<String, Value>, to: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k) {
            to.insert((*k).into(), v.clone());
        }
    }
}

fn leaf(kind: Kind, at: &[String], node: &Map<String, Value>) -> Value {
    let mut attrs = Map::new();
    attrs.insert("valuespace".into(), value_space(&node["ValueSpace"]));
    copy(node, &mut attrs, &["default", "description", "access"]);
    object(kind, at, attrs)
}

fn command(at: &[String], node: &Map<String, Value>) -> Value {
    let params: Vec<Value> = node
        .iter()
        .filter(|(k, v)| is_child(k) && v.get("ValueSpace").is_some())
        .map(|(name, p)| {
            let mut param = json!({
                "name": name,
                "required": p.get("required").and_then(Value::as_str) == Some("True"),
                "valuespace": value_space(&p["ValueSpace"]),
            });
            for k in ["default", "description"] {
                if let Some(v) = p.get(k) {
                    param[k] = v.clone();
                }
            }
            param
        })
        .collect();
    let mut attrs = Map::new();
    attrs.insert("params".into(), Value::Array(params));
    copy(node, &mut attrs, &["multiline", "description", "access"]);
    object(Kind::Command, at, attrs)
}

fn event(at: &[String], node: &Map<String, Value>) -> Value {
    let mut attrs = Map::new();
    attrs.insert("children".into(), event_fields(node));
    copy(node, &mut attrs, &["description", "access"]);
    object(Kind::Event, at, attrs)
}

/// An event's fields as the public schema nests them: `{"valuespace":
/// "int"}` for a value, `{"children": {...}, "multiple": true}` for a
/// repeated group.
fn event_fields(node: &Map<String, Value>) -> Value {
    let mut fields = Map::new();
    for (name, spec) in node.iter().filter(|(k, _)| is_child(k)) {
        let (inner, multiple) = match spec {
            Value::Array(items) => (items.first().and_then(Value::as_object), true),
            Value::Object(m) => (Some(m), false),
            _ => (None, false),
        };
        let Some(inner) = inner else { continue };
        let field = match inner.get("type").and_then(Value::as_str) {
            Some(ty) if !multiple => {
                let mut f = json!({ "valuespace": ty, "required": false });
                if let Some(values) = inner.get("Value") {
                    f["values"] = values.clone();
                }
                f
            }
            _ => json!({
                "children": event_fields(inner),
                "multiple": multiple,
                "required": false,
            }),
        };
        fields.insert(name.clone(), field);
    }
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Entry, Schema, ValueSpace};
    use crate::xows::path::Path;

    /// A schema written in the public format, served as xDoc by the
    /// simulator's own renderer, read back from xDoc: the same paths,
    /// value spaces, parameters and event fields.
    #[test]
    fn a_schema_served_as_xdoc_reads_back_the_same() {
        let public = json!({"objects": [
            {"type":"Configuration","path":"Audio DefaultVolume","products":["p"],
             "attributes":{"default":"50","valuespace":{"type":"Integer","Min":"0","Max":"100"}}},
            {"type":"Configuration","path":"Video Input Connector[1..3] Name","products":["p"],
             "attributes":{"default":"","valuespace":{"type":"String","MinLength":"0","MaxLength":"4"}}},
            {"type":"Status","path":"Call[n] Status","products":["p"],
             "attributes":{"valuespace":{"type":"Literal","Values":["Idle","Connected"]}}},
            {"type":"Command","path":"Dial","products":["p"],
             "attributes":{"multiline":"False","params":[{"name":"Number","required":true,"valuespace":{"type":"String","MinLength":"0","MaxLength":"255"}},
                                     {"name":"Protocol","required":false,"valuespace":{"type":"Literal","Values":["Sip","H323"]}}]}},
            {"type":"Event","path":"CallSuccessful","products":["p"],
             "attributes":{"children":{"CallId":{"valuespace":"int","required":true},
                                       "Ports":{"children":{"Id":{"valuespace":"int"}},"multiple":true}}}}
        ]});
        let original = Schema::from_json(&public, Some("p")).unwrap();
        let mut objs = Vec::new();
        for kind in [
            Kind::Configuration,
            Kind::Status,
            Kind::Command,
            Kind::Event,
        ] {
            let doc = crate::sim::xdoc::answer(
                &original,
                &json!({"Path": [kind.root()], "Type": "Schema"}),
            )
            .unwrap();
            objs.extend(objects(kind, &doc).unwrap());
        }
        let pulled = Schema::from_json(&document(objs, "test"), Some("any")).unwrap();
        let at = |s: &Schema, p: &str| s.lookup(&Path::parse(p).unwrap()).map(|n| n.entry.clone());
        for p in [
            "Configuration Audio DefaultVolume",
            "Configuration Video Input Connector[3] Name",
            "Status Call[7] Status",
            "Command Dial",
        ] {
            assert_eq!(at(&pulled, p).unwrap(), at(&original, p).unwrap(), "{p}");
        }
        assert!(at(&pulled, "Configuration Video Input Connector[4] Name").is_err());
        assert!(at(&pulled, "Status Audio Volum").is_err());
        let Some(Entry::Event { children }) = at(&pulled, "Event CallSuccessful").unwrap() else {
            panic!("no event");
        };
        assert_eq!(children["CallId"]["valuespace"], "int");
        assert_eq!(children["Ports"]["multiple"], true);
        assert_eq!(children["Ports"]["children"]["Id"]["valuespace"], "int");
        let Some(Entry::Status { valuespace }) = at(&pulled, "Status Call[1] Status").unwrap()
        else {
            panic!("no status");
        };
        assert_eq!(
            valuespace,
            ValueSpace::Literal(vec!["Idle".into(), "Connected".into()])
        );
    }

    #[test]
    fn a_root_that_describes_nothing_is_refused_by_name() {
        assert_eq!(
            objects(Kind::Status, &json!({})).unwrap_err().to_string(),
            "the xDoc of Status describes nothing"
        );
        assert!(objects(Kind::Event, &json!([1])).is_err());
    }
}
