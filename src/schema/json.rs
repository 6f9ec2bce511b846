//! Reading the public xAPI schema's JSON (the document behind
//! roomos.cisco.com/xapi: an `objects` array, each with its `type`,
//! `path`, `products` and `attributes`) into the path trie.

use serde_json::Value;

use super::value::scalar_text;
use super::{Entry, Kind, Node, Param, Schema, ValueSpace};

/// Why a schema document has not the shape of Cisco's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("no \"objects\" array at the top")]
    NoObjects,
    #[error("object {0}: unknown or missing \"type\"")]
    UnknownType(usize),
    #[error("object {0}: missing \"path\"")]
    MissingPath(usize),
    #[error("no object is marked for product {given:?}; this schema describes {known}")]
    NoProduct { given: String, known: String },
    #[error("no objects")]
    Empty,
    /// A word of a path such as `Connector[1..6]` that cannot be read.
    #[error("{path}: {word:?}: {what}")]
    BadPath {
        path: String,
        word: String,
        what: &'static str,
    },
}

impl Schema {
    /// Builds a schema from the parsed JSON document.
    pub fn from_json(json: &Value, product: Option<&str>) -> Result<Schema, ShapeError> {
        let objects = json
            .get("objects")
            .and_then(Value::as_array)
            .ok_or(ShapeError::NoObjects)?;
        // A product by codename or by name; a file without product marks
        // (one `xmacro schema pull` wrote: one device's) serves any.
        let known = super::products::in_document(objects);
        let product =
            match product {
                Some(p) if known.is_empty() => Some(p),
                Some(p) => Some(super::products::resolve(p, &known).ok_or_else(|| {
                    ShapeError::NoProduct {
                        given: p.to_string(),
                        known: super::products::listing(&known),
                    }
                })?),
                None => None,
            };
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
                .ok_or(ShapeError::UnknownType(i))?;
            let path = obj
                .get("path")
                .and_then(Value::as_str)
                .ok_or(ShapeError::MissingPath(i))?;
            let attrs = obj.get("attributes").cloned().unwrap_or(Value::Null);
            let node = schema.insert(kind, path, entry_from_json(kind, &attrs))?;
            if node.description.is_none() {
                node.description = description(&attrs);
            }
            kept += 1;
        }
        if kept == 0 {
            return Err(match product {
                Some(p) => ShapeError::NoProduct {
                    given: p.to_string(),
                    known: super::products::listing(&known),
                },
                None => ShapeError::Empty,
            });
        }
        Ok(schema)
    }

    /// Adds one entry at a schema path such as `Video Input Connector[1..6] Name`
    /// (`[n]` means any id), and gives its node.
    pub fn insert(
        &mut self,
        kind: Kind,
        path: &str,
        entry: Entry,
    ) -> Result<&mut Node, ShapeError> {
        let mut node = self.root.children.entry(kind.root().into()).or_default();
        for word in path.split_whitespace() {
            let (name, range) = split_range(word).map_err(|what| ShapeError::BadPath {
                path: path.to_string(),
                word: word.to_string(),
                what,
            })?;
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
}

impl ValueSpace {
    /// A `valuespace` object as the schema writes it.
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
}

/// The ids an array node may hold, both ends included.
type IndexRange = (u64, u64);

/// A path word and the ids it gives (`Connector[1..6]`, `[n]`: any id);
/// an error says what is wrong with the word.
fn split_range(word: &str) -> Result<(&str, Option<IndexRange>), &'static str> {
    let Some(open) = word.find('[') else {
        return Ok((word, None));
    };
    let inner = word[open + 1..].strip_suffix(']').ok_or("missing ']'")?;
    let range = if inner == "n" {
        (1, u64::MAX)
    } else if let Some((a, b)) = inner.split_once("..") {
        let p = |s: &str| s.parse::<u64>().map_err(|_| "bad range");
        (p(a)?, p(b)?)
    } else {
        let n = inner.parse::<u64>().map_err(|_| "bad index")?;
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
