//! The public xAPI schema (the JSON that roomos.cisco.com publishes), read
//! into a path trie with value spaces and command parameters.
//!
//! The simulator checks xSet values and command arguments with it the way a
//! codec does, and `xmacro check` looks script paths up in it. The simulator's
//! built-in device model describes itself with the same types.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::xows::path::{Path, Segment};

/// What kind of object a schema entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Configuration,
    Status,
    Command,
    Event,
}

impl Kind {
    fn root(self) -> &'static str {
        match self {
            Kind::Configuration => "Configuration",
            Kind::Status => "Status",
            Kind::Command => "Command",
            Kind::Event => "Event",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "Configuration" => Kind::Configuration,
            "Status" => Kind::Status,
            "Command" => Kind::Command,
            "Event" => Kind::Event,
            _ => return None,
        })
    }
}

/// The values a configuration, status or parameter accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueSpace {
    Integer {
        min: i64,
        max: i64,
    },
    Literal(Vec<String>),
    String {
        min_len: usize,
        max_len: usize,
    },
    /// A repeated argument: up to `max_count` values of `item`.
    Array {
        item: Box<ValueSpace>,
        max_count: usize,
    },
    /// The schema gives no bounds.
    Any,
}

impl ValueSpace {
    fn from_json(v: &Value) -> ValueSpace {
        let Some(obj) = v.as_object() else {
            return ValueSpace::Any;
        };
        let num = |k: &str| obj.get(k).and_then(|x| x.as_str()?.parse::<i64>().ok());
        let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
        let base = ty.strip_suffix("Array").unwrap_or(ty);
        let item = match base {
            "Integer" => match (num("Min"), num("Max")) {
                (Some(min), Some(max)) => ValueSpace::Integer { min, max },
                _ => ValueSpace::Integer {
                    min: i64::MIN,
                    max: i64::MAX,
                },
            },
            "Literal" => ValueSpace::Literal(
                obj.get("Values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "String" => ValueSpace::String {
                min_len: num("MinLength").unwrap_or(0).max(0) as usize,
                max_len: num("MaxLength").map_or(usize::MAX, |n| n.max(0) as usize),
            },
            _ => ValueSpace::Any,
        };
        if base.len() != ty.len() {
            ValueSpace::Array {
                item: Box::new(item),
                max_count: num("multiple").map_or(usize::MAX, |n| n.max(1) as usize),
            }
        } else {
            item
        }
    }

    /// Checks `value` and returns it as the codec stores it (integers as
    /// numbers, literals spelled as the schema spells them), or says why not.
    pub fn check(&self, value: &Value) -> Result<Value, String> {
        match self {
            ValueSpace::Any => Ok(value.clone()),
            ValueSpace::Integer { min, max } => {
                let n = match value {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                }
                .ok_or_else(|| format!("expected an integer, got {value}"))?;
                if n < *min || n > *max {
                    return Err(format!("{n} is outside {min}..{max}"));
                }
                Ok(Value::from(n))
            }
            ValueSpace::Literal(values) => {
                let text = scalar_text(value)
                    .ok_or_else(|| format!("expected one of {}", values.join("/")))?;
                values
                    .iter()
                    .find(|v| v.eq_ignore_ascii_case(&text))
                    .map(|v| Value::String(v.clone()))
                    .ok_or_else(|| format!("{text:?} is not one of {}", values.join("/")))
            }
            ValueSpace::String { min_len, max_len } => {
                let text =
                    scalar_text(value).ok_or_else(|| format!("expected a string, got {value}"))?;
                let len = text.chars().count();
                if len < *min_len || len > *max_len {
                    return Err(format!(
                        "length {len} is outside {min_len}..{}",
                        if *max_len == usize::MAX {
                            "".to_string()
                        } else {
                            max_len.to_string()
                        }
                    ));
                }
                Ok(Value::String(text))
            }
            ValueSpace::Array { item, max_count } => {
                let items: Vec<&Value> = match value {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                if items.len() > *max_count {
                    return Err(format!("at most {max_count} values, got {}", items.len()));
                }
                let checked = items
                    .into_iter()
                    .map(|v| item.check(v))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if checked.len() == 1 {
                    checked.into_iter().next().unwrap_or_default()
                } else {
                    Value::Array(checked)
                })
            }
        }
    }

    /// The value a default string stands for in an integer-aware document.
    pub fn typed_default(&self, text: &str) -> Value {
        match self {
            ValueSpace::Integer { .. } => text
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(text.to_string())),
            _ => Value::String(text.to_string()),
        }
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        _ => None,
    }
}

/// One command parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub required: bool,
    pub valuespace: ValueSpace,
    /// What the device uses when the parameter is left out, as the schema
    /// spells it (`HttpClient Get`'s `ResultBody` is `PlainText`).
    pub default: Option<String>,
    /// The schema's text about it (editors show it).
    pub description: Option<String>,
}

impl Param {
    /// The default as the device would store it once checked (integers as
    /// numbers, literals as the schema spells them). A default outside the
    /// parameter's own value space (the schema has a few, such as
    /// `TextLine Display`'s `X: 0` in 1..10000) is kept as written.
    pub fn default_value(&self) -> Option<Value> {
        let text = self.default.as_deref()?;
        let item = match &self.valuespace {
            ValueSpace::Array { item, .. } => item.as_ref(),
            other => other,
        };
        Some(
            item.check(&Value::String(text.to_string()))
                .unwrap_or_else(|_| item.typed_default(text)),
        )
    }
}

/// What sits at a schema path.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Configuration {
        valuespace: ValueSpace,
        default: Option<String>,
    },
    Status {
        valuespace: ValueSpace,
    },
    Command {
        params: Vec<Param>,
        multiline: bool,
    },
    /// An event; `children` is the schema's description of its payload
    /// (`{"Name": {"valuespace": "string", ...}, ...}`).
    Event {
        children: Value,
    },
}

/// A node of the path trie.
#[derive(Debug, Default, Clone)]
pub struct Node {
    pub children: BTreeMap<String, Node>,
    /// For an array node (`Connector[1..6]`): the ids it may hold.
    pub index_range: Option<(u64, u64)>,
    pub entry: Option<Entry>,
    /// The schema's text about the entry here (editors show it on hover).
    pub description: Option<String>,
}

/// Why a path is not in the schema; names the element at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("no {name:?} under {parent}{}", suggestion_text(.suggestion))]
    Unknown {
        parent: String,
        name: String,
        suggestion: Option<String>,
    },
    #[error("{path}: element id {id} is outside {lo}..{hi}")]
    IndexOutOfRange {
        path: String,
        id: u64,
        lo: u64,
        hi: u64,
    },
    #[error("{path}: an element id is given where none is expected")]
    UnexpectedIndex { path: String },
}

fn suggestion_text(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default()
}

/// Why a schema file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: not JSON: {source}")]
    Json {
        file: String,
        source: serde_json::Error,
    },
    #[error("{file}: {why}")]
    Shape { file: String, why: String },
}

/// The schema of one product (or of all products merged).
#[derive(Debug, Default, Clone)]
pub struct Schema {
    pub root: Node,
}

impl Schema {
    /// Reads a schema file; `product` keeps only that product's objects
    /// (`None` merges every product, as `xmacro check` wants).
    pub fn load(file: &std::path::Path, product: Option<&str>) -> Result<Schema, SchemaError> {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|source| SchemaError::Io {
            file: name.clone(),
            source,
        })?;
        let json: Value = serde_json::from_str(&text).map_err(|source| SchemaError::Json {
            file: name.clone(),
            source,
        })?;
        Schema::from_json(&json, product).map_err(|why| SchemaError::Shape { file: name, why })
    }

    /// Builds a schema from the parsed JSON document.
    pub fn from_json(json: &Value, product: Option<&str>) -> Result<Schema, String> {
        let objects = json
            .get("objects")
            .and_then(Value::as_array)
            .ok_or("no \"objects\" array at the top")?;
        let mut schema = Schema::default();
        let mut kept = 0;
        for (i, obj) in objects.iter().enumerate() {
            let products = obj.get("products").and_then(Value::as_array);
            if let (Some(p), Some(list)) = (product, products)
                && !list.iter().any(|x| x.as_str() == Some(p))
            {
                continue;
            }
            let kind = obj
                .get("type")
                .and_then(Value::as_str)
                .and_then(Kind::parse)
                .ok_or_else(|| format!("object {i}: unknown or missing \"type\""))?;
            let path = obj
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("object {i}: missing \"path\""))?;
            let attrs = obj.get("attributes").cloned().unwrap_or(Value::Null);
            let node = schema.insert(kind, path, entry_from_json(kind, &attrs))?;
            if node.description.is_none() {
                node.description = description(&attrs);
            }
            kept += 1;
        }
        if kept == 0 {
            return Err(match product {
                Some(p) => format!("no object is marked for product {p:?}"),
                None => "no objects".to_string(),
            });
        }
        Ok(schema)
    }

    /// Adds one entry at a schema path such as `Video Input Connector[1..6] Name`
    /// (`[n]` means any id), and gives its node.
    pub fn insert(&mut self, kind: Kind, path: &str, entry: Entry) -> Result<&mut Node, String> {
        let mut node = self.root.children.entry(kind.root().into()).or_default();
        for word in path.split_whitespace() {
            let (name, range) = split_range(word).map_err(|e| format!("{path}: {e}"))?;
            node = node.children.entry(name.to_string()).or_default();
            if let Some((lo, hi)) = range {
                node.index_range = Some(match node.index_range {
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                    None => (lo, hi),
                });
            }
        }
        if node.entry.is_none() {
            node.entry = Some(entry);
        }
        Ok(node)
    }

    /// Finds the node at a concrete path (root included). Element ids are
    /// checked against the node's range; an array node may also be named
    /// without an id (as `xStatus Call Status` is).
    pub fn lookup(&self, path: &Path) -> Result<&Node, LookupError> {
        let mut node = &self.root;
        let mut walked = String::new();
        let mut segs = path.0.iter().peekable();
        while let Some(seg) = segs.next() {
            match seg {
                Segment::Name(name) => {
                    node = match node.children.get(name) {
                        Some(n) => n,
                        None => {
                            return Err(LookupError::Unknown {
                                parent: if walked.is_empty() {
                                    "the top".into()
                                } else {
                                    walked
                                },
                                name: name.clone(),
                                suggestion: nearest(name, node.children.keys()),
                            });
                        }
                    };
                    if !walked.is_empty() {
                        walked.push(' ');
                    }
                    walked.push_str(name);
                    if let Some(Segment::Index(id)) = segs.peek() {
                        let id = *id;
                        segs.next();
                        match node.index_range {
                            Some((lo, hi)) if id >= lo && id <= hi => {
                                walked.push_str(&format!("[{id}]"))
                            }
                            Some((lo, hi)) => {
                                return Err(LookupError::IndexOutOfRange {
                                    path: walked,
                                    id,
                                    lo,
                                    hi,
                                });
                            }
                            None => return Err(LookupError::UnexpectedIndex { path: walked }),
                        }
                    }
                }
                Segment::Index(_) => return Err(LookupError::UnexpectedIndex { path: walked }),
                Segment::AnyDepth => return Ok(node),
            }
        }
        Ok(node)
    }

    /// The command at `path` (with or without the leading `Command`).
    pub fn command(&self, path: &Path) -> Result<(&[Param], bool), LookupError> {
        let full = match path.0.first() {
            Some(Segment::Name(n)) if n == "Command" => path.clone(),
            _ => {
                let mut p = Path(vec![Segment::Name("Command".into())]);
                p.0.extend(path.0.iter().cloned());
                p
            }
        };
        match &self.lookup(&full)?.entry {
            Some(Entry::Command { params, multiline }) => Ok((params, *multiline)),
            _ => Err(LookupError::Unknown {
                parent: "Command".into(),
                name: path.to_string(),
                suggestion: None,
            }),
        }
    }

    /// Every Configuration with its default, ranges expanded into element
    /// ids: the document a factory-new codec of this product holds.
    pub fn default_configuration(&self) -> Value {
        let mut doc = Value::Object(Map::new());
        if let Some(cfg) = self.root.children.get("Configuration") {
            collect_defaults(cfg, &mut Vec::new(), &mut doc);
        }
        doc
    }
}

fn collect_defaults(node: &Node, at: &mut Vec<Segment>, doc: &mut Value) {
    if let Some(Entry::Configuration {
        valuespace,
        default: Some(d),
    }) = &node.entry
    {
        let value = valuespace.typed_default(d);
        crate::xows::doc::merge(doc, &crate::xows::doc::wrap(at, value));
    }
    for (name, child) in &node.children {
        at.push(Segment::Name(name.clone()));
        match child.index_range {
            Some((lo, hi)) if hi - lo < 1024 => {
                for id in lo..=hi {
                    at.push(Segment::Index(id));
                    collect_defaults(child, at, doc);
                    at.pop();
                }
            }
            _ => collect_defaults(child, at, doc),
        }
        at.pop();
    }
}

/// The ids an array node may hold, both ends included.
type IndexRange = (u64, u64);

fn split_range(word: &str) -> Result<(&str, Option<IndexRange>), String> {
    let Some(open) = word.find('[') else {
        return Ok((word, None));
    };
    let inner = word[open + 1..]
        .strip_suffix(']')
        .ok_or_else(|| format!("{word:?}: missing ']'"))?;
    let range = if inner == "n" {
        (1, u64::MAX)
    } else if let Some((a, b)) = inner.split_once("..") {
        let p = |s: &str| s.parse::<u64>().map_err(|_| format!("{word:?}: bad range"));
        (p(a)?, p(b)?)
    } else {
        let n = inner
            .parse::<u64>()
            .map_err(|_| format!("{word:?}: bad index"))?;
        (n, n)
    };
    Ok((&word[..open], Some(range)))
}

fn entry_from_json(kind: Kind, attrs: &Value) -> Entry {
    let vs = || ValueSpace::from_json(attrs.get("valuespace").unwrap_or(&Value::Null));
    match kind {
        Kind::Configuration => Entry::Configuration {
            valuespace: vs(),
            default: attrs
                .get("default")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        Kind::Status => Entry::Status { valuespace: vs() },
        Kind::Event => Entry::Event {
            children: attrs.get("children").cloned().unwrap_or(Value::Null),
        },
        Kind::Command => Entry::Command {
            params: attrs
                .get("params")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .filter_map(|p| {
                            Some(Param {
                                name: p.get("name")?.as_str()?.to_string(),
                                required: p.get("required").and_then(Value::as_bool) == Some(true),
                                valuespace: ValueSpace::from_json(
                                    p.get("valuespace").unwrap_or(&Value::Null),
                                ),
                                default: p.get("default").and_then(scalar_text),
                                description: description(p),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            multiline: attrs.get("multiline").and_then(Value::as_str) == Some("True"),
        },
    }
}

/// An object's or parameter's `description`, when it says something.
fn description(attrs: &Value) -> Option<String> {
    attrs
        .get("description")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
}

/// The candidate closest to `word` by edit distance, when it is close enough
/// to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a String>) -> Option<String> {
    let lw = word.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&lw, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Checks command arguments against the parameter list and returns them as
/// the codec would store them; the error says which parameter is at fault.
pub fn check_params(
    params: &[Param],
    args: &Map<String, Value>,
) -> Result<Map<String, Value>, ParamError> {
    let mut out = Map::new();
    for (name, value) in args {
        if name == "body" {
            out.insert(name.clone(), value.clone());
            continue;
        }
        let Some(p) = params.iter().find(|p| p.name.eq_ignore_ascii_case(name)) else {
            return Err(ParamError::Unknown {
                name: name.clone(),
                suggestion: nearest(name, params.iter().map(|p| &p.name)),
            });
        };
        let v = p
            .valuespace
            .check(value)
            .map_err(|why| ParamError::BadValue {
                name: p.name.clone(),
                why,
            })?;
        out.insert(p.name.clone(), v);
    }
    let missing: Vec<String> = params
        .iter()
        .filter(|p| p.required && !out.contains_key(&p.name))
        .map(|p| p.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(ParamError::Missing(missing));
    }
    Ok(out)
}

/// Checked arguments with every parameter left out that has a default
/// filled in with it: what the device acts on (the log keeps what was sent).
pub fn with_defaults(params: &[Param], args: &Map<String, Value>) -> Map<String, Value> {
    let mut out = args.clone();
    for p in params {
        if !out.contains_key(&p.name)
            && let Some(v) = p.default_value()
        {
            out.insert(p.name.clone(), v);
        }
    }
    out
}

/// Why command arguments were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("unknown parameter {name:?}{}", suggestion_text(.suggestion))]
    Unknown {
        name: String,
        suggestion: Option<String>,
    },
    #[error("bad argument to parameter {name:?}: {why}")]
    BadValue { name: String, why: String },
    #[error("missing required parameter(s): {}", .0.join(", "))]
    Missing(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tiny() -> Schema {
        let json = json!({"objects": [
            {"type":"Configuration","path":"Audio DefaultVolume","products":["barents"],
             "attributes":{"default":"50","valuespace":{"type":"Integer","Min":"0","Max":"100"}}},
            {"type":"Configuration","path":"Video Input Connector[1..2] Name","products":["barents"],
             "attributes":{"default":"","valuespace":{"type":"String","MinLength":"0","MaxLength":"4"}}},
            {"type":"Command","path":"Audio Volume Set","products":["barents"],
             "attributes":{"params":[{"name":"Level","required":true,"valuespace":{"type":"Integer","Min":"0","Max":"100"}},
                                     {"name":"Device","required":false,"valuespace":{"type":"Literal","Values":["Internal","HeadsetUSB"]}}]}},
            {"type":"Command","path":"Call Join","products":["barents"],
             "attributes":{"params":[{"name":"CallId","required":false,"valuespace":{"type":"IntegerArray","Min":"0","Max":"9","multiple":"2"}}]}},
            {"type":"Status","path":"Call[n] Status","products":["barents"],"attributes":{"valuespace":{"type":"String"}}},
            {"type":"Command","path":"HttpClient Get","products":["barents"],
             "attributes":{"params":[{"name":"Url","required":true,"valuespace":{"type":"String"}},
                                     {"name":"ResultBody","required":false,"default":"PlainText","valuespace":{"type":"Literal","Values":["None","PlainText","Base64"]}},
                                     {"name":"Timeout","required":false,"default":"30","valuespace":{"type":"Integer","Min":"1","Max":"30"}},
                                     {"name":"X","required":false,"default":"0","valuespace":{"type":"Integer","Min":"1","Max":"9"}}]}},
            {"type":"Command","path":"Other Thing","products":["polaris"],"attributes":{"params":[]}}
        ]});
        Schema::from_json(&json, Some("barents")).unwrap()
    }

    #[test]
    fn defaults_expand_ranges() {
        let d = tiny().default_configuration();
        assert_eq!(d["Audio"]["DefaultVolume"], json!(50));
        assert_eq!(
            d["Video"]["Input"]["Connector"],
            json!([{"id":1,"Name":""},{"id":2,"Name":""}])
        );
    }

    #[test]
    fn lookup_checks_names_and_ids() {
        let s = tiny();
        assert!(
            s.lookup(&Path::parse("Status Call[7] Status").unwrap())
                .is_ok()
        );
        assert!(
            s.lookup(&Path::parse("Configuration Video Input Connector[2] Name").unwrap())
                .is_ok()
        );
        let e = s
            .lookup(&Path::parse("Configuration Video Input Connector[3] Name").unwrap())
            .unwrap_err();
        assert!(
            matches!(e, LookupError::IndexOutOfRange { id: 3, .. }),
            "{e}"
        );
        let e = s
            .lookup(&Path::parse("Configuration Audio DefaultVolum").unwrap())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no \"DefaultVolum\" under Configuration Audio (did you mean \"DefaultVolume\"?)"
        );
        assert!(
            s.command(&Path::parse("Other Thing").unwrap()).is_err(),
            "other product"
        );
    }

    #[test]
    fn params_are_checked_like_a_codec() {
        let s = tiny();
        let (params, _) = s
            .command(&Path::parse("Audio Volume Set").unwrap())
            .unwrap();
        let ok = check_params(
            params,
            json!({"Level":"60","device":"headsetusb"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(Value::Object(ok), json!({"Level":60,"Device":"HeadsetUSB"}));
        let e = check_params(params, json!({"Level":101}).as_object().unwrap()).unwrap_err();
        assert!(
            matches!(&e, ParamError::BadValue { name, .. } if name == "Level"),
            "{e}"
        );
        let e = check_params(
            params,
            json!({"Device":"Nope","Level":1}).as_object().unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("Nope"), "{e}");
        let e = check_params(params, json!({}).as_object().unwrap()).unwrap_err();
        assert_eq!(e, ParamError::Missing(vec!["Level".into()]));
        let e = check_params(params, json!({"Levl":1}).as_object().unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown parameter \"Levl\" (did you mean \"Level\"?)"
        );
        let (join, _) = s.command(&Path::parse("Call Join").unwrap()).unwrap();
        assert!(check_params(join, json!({"CallId":[1,2]}).as_object().unwrap()).is_ok());
        assert!(check_params(join, json!({"CallId":[1,2,3]}).as_object().unwrap()).is_err());
    }

    #[test]
    fn omitted_parameters_take_the_schemas_default_and_given_ones_stay() {
        let s = tiny();
        let (params, _) = s.command(&Path::parse("HttpClient Get").unwrap()).unwrap();
        let sent = check_params(
            params,
            json!({"Url": "https://a.test/"}).as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(
            Value::Object(with_defaults(params, &sent)),
            json!({"Url": "https://a.test/", "ResultBody": "PlainText", "Timeout": 30, "X": 0})
        );
        let sent = check_params(
            params,
            json!({"Url": "u", "resultbody": "none"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(with_defaults(params, &sent)["ResultBody"], json!("None"));
        let (set, _) = s
            .command(&Path::parse("Audio Volume Set").unwrap())
            .unwrap();
        let sent = check_params(set, json!({"Level": 5}).as_object().unwrap()).unwrap();
        assert_eq!(with_defaults(set, &sent), sent, "no default, nothing added");
    }

    #[test]
    fn reads_the_public_schema() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/xapi-schema/roomos-26.4.1.json");
        let s = Schema::load(&file, Some("barents")).unwrap();
        let d = s.default_configuration();
        assert_eq!(d["Audio"]["DefaultVolume"], json!(50));
        assert!(s.command(&Path::parse("Dial").unwrap()).is_ok());
        assert!(Schema::load(&file, Some("no-such-product")).is_err());
    }

    #[test]
    fn descriptions_of_entries_and_parameters_are_kept_for_editors() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/xapi-schema/roomos-26.4.1.json");
        let s = Schema::load(&file, Some("barents")).unwrap();
        let volume = s
            .lookup(&Path::parse("Status Audio Volume").unwrap())
            .unwrap();
        assert_eq!(
            volume.description.as_deref(),
            Some("Shows the volume level (dB) of the loudspeaker output.")
        );
        let (params, _) = s
            .command(&Path::parse("Audio Volume Set").unwrap())
            .unwrap();
        let level = params.iter().find(|p| p.name == "Level").unwrap();
        assert!(
            level
                .description
                .as_deref()
                .unwrap()
                .contains("70 equals 0 dB gain"),
            "{level:?}"
        );
    }
}
