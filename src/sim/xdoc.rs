//! `xDoc`: the schema of a path in the shape a codec's xDocument gives and
//! jsxapi's `xapi.doc()` and schema generator read. Leaves carry
//! `ValueSpace` (`type`, `Min`/`Max`, `Value` for literals), commands
//! `command: "True"` with one member per parameter (`required`), events one
//! member per field with `type` (`int`, `literal`, `string`); Status arrays
//! hold one element, Configuration arrays one per id. Lower-case keys are
//! attributes, capitalised keys are children, as in the device's document.

use serde_json::{Map, Value, json};

use crate::schema::{Entry, Node, Param, Schema, ValueSpace};
use crate::xows::path::{Root, Segment};
use crate::xows::protocol::RpcError;

/// Configuration arrays longer than this are described by their first ids.
const MAX_IDS: u64 = 16;

/// Answers `xDoc` with `Path` and `Type` (`Schema` is the only type served).
pub fn answer(schema: &Schema, params: &Value) -> Result<Value, RpcError> {
    let path = crate::xows::protocol::path_param(params, "Path")?;
    let ty = params
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or("Schema");
    if ty != "Schema" {
        return Err(RpcError::invalid_params(format!(
            "Type {ty:?} is not served; use \"Schema\""
        )));
    }
    let Some(root) = path.root() else {
        return Err(RpcError::invalid_params(
            "Path must start with Status, Configuration, Command or Event",
        ));
    };
    let mut canonical = path.clone();
    canonical.0[0] = Segment::Name(root.as_str().into());
    let no_match = || {
        RpcError::new(
            crate::xows::protocol::code::METHOD_NOT_FOUND,
            "No match on Path argument",
        )
        .with_data(path.to_string())
    };
    let node = schema.lookup(&canonical).map_err(|_| no_match())?;
    Ok(render(root, node))
}

fn render(root: Root, node: &Node) -> Value {
    let mut map = match &node.entry {
        Some(entry) => leaf(entry),
        None => Map::new(),
    };
    for (name, child) in &node.children {
        let value = render(root, child);
        let value = match (child.index_range, root) {
            (Some((lo, hi)), Root::Configuration) => Value::Array(
                (lo..=hi.min(lo + MAX_IDS - 1))
                    .map(|id| with_id(value.clone(), id))
                    .collect(),
            ),
            (Some(_), _) => Value::Array(vec![value]),
            (None, _) => value,
        };
        map.insert(name.clone(), value);
    }
    Value::Object(map)
}

fn with_id(mut v: Value, id: u64) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("id".into(), json!(id.to_string()));
    }
    v
}

fn leaf(entry: &Entry) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("access".into(), json!("public-api"));
    match entry {
        Entry::Configuration {
            valuespace,
            default,
        } => {
            m.insert("ValueSpace".into(), value_space(valuespace));
            m.insert("read".into(), json!("Admin;Integrator;User"));
            m.insert("role".into(), json!("Admin"));
            if let Some(d) = default {
                m.insert("default".into(), json!(d));
            }
        }
        Entry::Status { valuespace } => {
            m.insert("ValueSpace".into(), value_space(valuespace));
            m.insert("read".into(), json!("Admin;Integrator;User"));
        }
        Entry::Command { params, multiline } => {
            m.insert("command".into(), json!("True"));
            m.insert(
                "multiline".into(),
                json!(if *multiline { "True" } else { "False" }),
            );
            m.insert("role".into(), json!("Admin;Integrator;User"));
            for p in params {
                m.insert(p.name.clone(), param(p));
            }
        }
        Entry::Event { children } => {
            m.insert("event".into(), json!("True"));
            m.insert("read".into(), json!("Admin;Integrator;User"));
            if let Value::Object(fields) = event_fields(children) {
                m.extend(fields);
            }
        }
    }
    m
}

fn param(p: &Param) -> Value {
    json!({
        "ValueSpace": value_space(&p.valuespace),
        "required": if p.required { "True" } else { "False" },
    })
}

fn value_space(vs: &ValueSpace) -> Value {
    let (array, item) = match vs {
        ValueSpace::Array { item, .. } => (true, item.as_ref()),
        other => (false, other),
    };
    let suffix = if array { "Array" } else { "" };
    match item {
        ValueSpace::Integer { min, max } => {
            let mut m = json!({ "type": format!("Integer{suffix}") });
            if *min != i64::MIN {
                m["Min"] = json!(min.to_string());
            }
            if *max != i64::MAX {
                m["Max"] = json!(max.to_string());
            }
            m
        }
        ValueSpace::Literal(values) => {
            json!({ "type": format!("Literal{suffix}"), "Value": values })
        }
        ValueSpace::String { min_len, max_len } => {
            let mut m =
                json!({ "type": format!("String{suffix}"), "MinLength": min_len.to_string() });
            if *max_len != usize::MAX {
                m["MaxLength"] = json!(max_len.to_string());
            }
            m
        }
        ValueSpace::Array { .. } | ValueSpace::Any => json!({ "type": format!("String{suffix}") }),
    }
}

/// An event's fields: `{"CallId": {"type": "int"}, "Ports": [{...}]}`.
fn event_fields(children: &Value) -> Value {
    let Some(fields) = children.as_object() else {
        return json!({});
    };
    let mut m = Map::new();
    for (name, spec) in fields {
        let value = match spec.get("children") {
            Some(inner) if inner.is_object() => {
                let v = event_fields(inner);
                if spec.get("multiple").and_then(Value::as_bool) == Some(true) {
                    Value::Array(vec![v])
                } else {
                    v
                }
            }
            _ => {
                let ty = spec
                    .get("valuespace")
                    .and_then(Value::as_str)
                    .unwrap_or("string");
                let mut leaf = json!({ "type": ty });
                if let Some(values) = spec.get("values") {
                    leaf["Value"] = values.clone();
                }
                leaf
            }
        };
        m.insert(name.clone(), value);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Schema {
        let json = json!({"objects": [
            {"type":"Configuration","path":"Audio DefaultVolume","products":["p"],
             "attributes":{"default":"50","valuespace":{"type":"Integer","Min":"0","Max":"100"}}},
            {"type":"Status","path":"Call[n] Status","products":["p"],
             "attributes":{"valuespace":{"type":"Literal","Values":["Idle","Connected"]}}},
            {"type":"Command","path":"Dial","products":["p"],
             "attributes":{"params":[{"name":"Number","required":true,"valuespace":{"type":"String","MinLength":"0","MaxLength":"255"}}]}},
            {"type":"Event","path":"CallSuccessful","products":["p"],
             "attributes":{"children":{"CallId":{"valuespace":"int","required":true}}}}
        ]});
        Schema::from_json(&json, Some("p")).unwrap()
    }

    fn doc(path: Value) -> Value {
        answer(&tiny(), &json!({"Path": path, "Type": "Schema"})).unwrap()
    }

    #[test]
    fn each_kind_has_the_shape_jsxapi_reads() {
        assert_eq!(
            doc(json!(["Configuration", "Audio", "DefaultVolume"]))["ValueSpace"],
            json!({"type": "Integer", "Min": "0", "Max": "100"})
        );
        let status = doc(json!(["Status"]));
        assert_eq!(
            status["Call"][0]["Status"]["ValueSpace"],
            json!({"type": "Literal", "Value": ["Idle", "Connected"]})
        );
        let dial = doc(json!(["Command", "Dial"]));
        assert_eq!(dial["command"], "True");
        assert_eq!(dial["Number"]["required"], "True");
        assert_eq!(
            doc(json!(["Event"]))["CallSuccessful"]["CallId"],
            json!({"type": "int"})
        );
    }

    #[test]
    fn unknown_paths_answer_no_match() {
        let e = answer(&tiny(), &json!({"Path": ["Status", "Nope"]})).unwrap_err();
        assert_eq!(e.code, -32601);
    }
}
