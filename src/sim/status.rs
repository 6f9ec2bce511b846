//! What a device of the schema's product shows before anything happens:
//! every Status path with a plausible value from its value space (the
//! first literal, a value inside an integer range, an empty string where
//! nothing fits), one element in each array, and the payload an event
//! carries when a test names only some of its fields.

use serde_json::{Map, Value, json};

use crate::schema::{Entry, Node, Schema, ValueSpace};
use crate::xows::path::{Path, Segment};

/// A value the device could show for this value space.
pub fn plausible(vs: &ValueSpace) -> Value {
    match vs {
        ValueSpace::Literal(values) => values
            .first()
            .map_or_else(|| json!(""), |v| Value::String(v.clone())),
        ValueSpace::Integer { min, max } => json!(0.clamp(*min, *max)),
        ValueSpace::Array { item, .. } => plausible(item),
        ValueSpace::String { .. } | ValueSpace::Any => json!(""),
    }
}

/// The Status document of the schema's product (under the `Status` key's
/// level): every path, arrays with one element.
pub fn template(schema: &Schema) -> Value {
    schema
        .root
        .children
        .get("Status")
        .map_or_else(|| json!({}), status_node)
}

fn status_node(node: &Node) -> Value {
    if let Some(Entry::Status { valuespace }) = &node.entry
        && node.children.is_empty()
    {
        return plausible(valuespace);
    }
    let mut map = Map::new();
    for (name, child) in &node.children {
        let mut value = status_node(child);
        if let Some((lo, _)) = child.index_range {
            if let Value::Object(m) = &mut value {
                m.insert("id".into(), json!(lo));
            }
            value = Value::Array(vec![value]);
        }
        map.insert(name.clone(), value);
    }
    Value::Object(map)
}

/// `base` with `top` laid over it: objects merge key by key; an array in
/// `top` gives the elements (each laid over `base`'s element with the same
/// id, or its first one, so an element keeps every field the schema has);
/// anything else in `top` replaces what `base` has.
pub fn overlay(base: &mut Value, top: &Value) {
    if let (Value::Array(b), Value::Array(t)) = (&*base, top) {
        let laid: Vec<Value> = t
            .iter()
            .map(|elem| {
                let id = elem.get("id");
                let mut e = b
                    .iter()
                    .find(|x| id.is_some() && x.get("id") == id)
                    .or_else(|| b.first().filter(|_| id.is_some()))
                    .cloned()
                    .unwrap_or(Value::Null);
                overlay(&mut e, elem);
                e
            })
            .collect();
        *base = Value::Array(laid);
        return;
    }
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(k) {
                    Some(slot) => overlay(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, t) => *b = t.clone(),
    }
}

/// The payload of an event as the schema describes it (`children`), with
/// plausible values; repeated parts get one element.
pub fn event_payload(children: &Value) -> Value {
    let Some(fields) = children.as_object() else {
        return json!({});
    };
    let mut map = Map::new();
    for (name, spec) in fields {
        let value = match spec.get("children") {
            Some(inner) if inner.is_object() => {
                let mut v = event_payload(inner);
                if spec.get("multiple").and_then(Value::as_bool) == Some(true) {
                    if let Value::Object(m) = &mut v {
                        m.insert("id".into(), json!(1));
                    }
                    v = Value::Array(vec![v]);
                }
                v
            }
            _ => match spec.get("valuespace").and_then(Value::as_str) {
                Some("int") => json!(0),
                Some("literal") => spec
                    .get("values")
                    .and_then(|v| v.get(0))
                    .cloned()
                    .unwrap_or_else(|| json!("")),
                _ => json!(""),
            },
        };
        map.insert(name.clone(), value);
    }
    Value::Object(map)
}

/// The schema's description of the event at `path` (`None` for paths it
/// does not know, such as custom test events).
fn event_children<'a>(schema: &'a Schema, path: &Path) -> Option<&'a Value> {
    match &schema.lookup(path).ok()?.entry {
        Some(Entry::Event { children }) => Some(children),
        _ => None,
    }
}

/// The payload to emit at an event path: the schema's fields with
/// plausible values, overlaid with what was given (converted to the
/// schema's types, see [`typed_event`]). Paths the schema does not know
/// (custom test events) carry what was given.
pub fn fill_event(schema: &Schema, path: &Path, given: Value) -> Value {
    let Some(children) = event_children(schema, path) else {
        return given;
    };
    let given = convert_fields(children, given);
    let mut payload = event_payload(children);
    if payload.as_object().is_some_and(Map::is_empty) {
        return given;
    }
    overlay(&mut payload, &given);
    payload
}

/// `given` with every field the schema describes in the type the device
/// sends it in: `int` fields as numbers (`OptionId: "3"` becomes 3),
/// `string` fields as text, `literal` fields spelled as the schema spells
/// them. A value that does not fit (`"three"` for an int) and fields the
/// schema does not know are left as given.
pub fn typed_event(schema: &Schema, path: &Path, given: Value) -> Value {
    match event_children(schema, path) {
        Some(children) => convert_fields(children, given),
        None => given,
    }
}

fn convert_fields(children: &Value, given: Value) -> Value {
    let Value::Object(fields) = given else {
        return given;
    };
    let out = fields
        .into_iter()
        .map(|(name, value)| {
            let value = match children.get(&name) {
                Some(spec) => convert_field(spec, value),
                None => value,
            };
            (name, value)
        })
        .collect();
    Value::Object(out)
}

fn convert_field(spec: &Value, value: Value) -> Value {
    if let Some(inner) = spec.get("children").filter(|c| c.is_object()) {
        return match value {
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|i| convert_fields(inner, i))
                    .collect(),
            ),
            other => convert_fields(inner, other),
        };
    }
    let text = match &value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        _ => return value,
    };
    match spec.get("valuespace").and_then(Value::as_str) {
        Some("int") => text.trim().parse::<i64>().map_or(value, Value::from),
        Some("string") => Value::String(text),
        Some("literal") => {
            let spelled = spec.get("values").and_then(Value::as_array).and_then(|vs| {
                vs.iter()
                    .filter_map(Value::as_str)
                    .find(|v| v.eq_ignore_ascii_case(&text))
            });
            Value::String(spelled.map_or(text, str::to_string))
        }
        _ => value,
    }
}

/// Every path under `root` (`Status`, `Event`, ...) that the schema
/// describes, without element ids (`Call[n] Status` becomes
/// `Status Call Status`), for tests and tools.
pub fn paths(schema: &Schema, root: &str) -> Vec<Path> {
    let mut out = Vec::new();
    if let Some(node) = schema.root.children.get(root) {
        walk(node, &mut vec![Segment::Name(root.into())], &mut out);
    }
    out
}

fn walk(node: &Node, at: &mut Vec<Segment>, out: &mut Vec<Path>) {
    if node.entry.is_some() {
        out.push(Path(at.clone()));
    }
    for (name, child) in &node.children {
        at.push(Segment::Name(name.clone()));
        walk(child, at, out);
        at.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_the_value_space() {
        assert_eq!(
            plausible(&ValueSpace::Literal(vec!["On".into(), "Off".into()])),
            "On"
        );
        assert_eq!(plausible(&ValueSpace::Integer { min: 5, max: 9 }), 5);
        assert_eq!(plausible(&ValueSpace::Integer { min: -3, max: 9 }), 0);
        assert_eq!(
            plausible(&ValueSpace::String {
                min_len: 0,
                max_len: 9
            }),
            ""
        );
    }

    #[test]
    fn event_payloads_have_every_field() {
        let children = json!({
            "CallId": {"valuespace": "int"},
            "CauseOrigin": {"valuespace": "literal", "values": ["Internal", "SIP"]},
            "Ports": {"multiple": true, "children": {"Name": {"valuespace": "string"}}}
        });
        assert_eq!(
            event_payload(&children),
            json!({"CallId": 0, "CauseOrigin": "Internal", "Ports": [{"id": 1, "Name": ""}]})
        );
    }

    #[test]
    fn event_fields_take_the_schemas_types() {
        let children = json!({
            "OptionId": {"valuespace": "int"},
            "FeedbackId": {"valuespace": "string"},
            "Origin": {"valuespace": "literal", "values": ["OSD", "Controller"]},
            "Ports": {"multiple": true, "children": {"Level": {"valuespace": "int"}}}
        });
        let given = json!({"OptionId": "3", "FeedbackId": 7, "Origin": "controller",
            "Ports": [{"id": 1, "Level": " 12 "}], "Custom": "9"});
        assert_eq!(
            convert_fields(&children, given),
            json!({"OptionId": 3, "FeedbackId": "7", "Origin": "Controller",
                "Ports": [{"id": 1, "Level": 12}], "Custom": "9"})
        );
        let odd = json!({"OptionId": "three", "FeedbackId": {"x": 1}});
        assert_eq!(
            convert_fields(&children, odd.clone()),
            odd,
            "what does not fit stays"
        );
    }

    #[test]
    fn overlaid_elements_keep_the_fields_of_the_template() {
        let mut base = json!({"Cam": [{"id": 1, "Model": "", "Pan": 0}]});
        overlay(
            &mut base,
            &json!({"Cam": [{"id": 1, "Pan": 5}, {"id": 2, "Pan": 7}]}),
        );
        assert_eq!(
            base,
            json!({"Cam": [{"id": 1, "Model": "", "Pan": 5}, {"id": 2, "Model": "", "Pan": 7}]})
        );
    }

    #[test]
    fn overlay_replaces_arrays_and_merges_objects() {
        let mut base = json!({"Call": [{"id": 1}], "Audio": {"Volume": 0, "Mute": "On"}});
        overlay(&mut base, &json!({"Call": [], "Audio": {"Volume": 50}}));
        assert_eq!(
            base,
            json!({"Call": [], "Audio": {"Volume": 50, "Mute": "On"}})
        );
    }
}
