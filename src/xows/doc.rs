//! Operations on xAPI documents (JSON trees whose arrays hold elements with
//! an `id`): relative get, pattern select (xQuery and feedback filtering),
//! merge with a diff of what changed, and the legacy all-strings form.
//!
//! Plain functions on `serde_json::Value`, no I/O, unit-tested here.

use serde_json::{Map, Value};

use crate::xows::path::Segment;

/// The `id` of an array element (a number, or a numeric string in legacy form).
pub fn element_id(v: &Value) -> Option<u64> {
    match v.get("id")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn is_ghost(v: &Value) -> bool {
    v.get("ghost").is_some()
}

/// The value at a concrete path, relative to it (xGet). A name applied to an
/// array applies to every element (`Call Status` gives each call's status).
pub fn get(node: &Value, path: &[Segment]) -> Option<Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(node.clone());
    };
    match (node, first) {
        (Value::Object(map), Segment::Name(n)) => get(map.get(n)?, rest),
        (Value::Array(items), Segment::Index(id)) => {
            get(items.iter().find(|e| element_id(e) == Some(*id))?, rest)
        }
        (Value::Array(_), Segment::Name(_)) => select(node, path),
        _ => None,
    }
}

/// The part of `node` that `pattern` covers, in the same shape (array
/// elements keep their `id`); `None` when nothing matches. Used for xQuery
/// and to cut a change down to what a subscription asked for. A ghost element
/// reached by the pattern is passed whole, so subscribers learn it went away.
pub fn select(node: &Value, pattern: &[Segment]) -> Option<Value> {
    let Some((first, rest)) = pattern.split_first() else {
        return Some(node.clone());
    };
    match node {
        Value::Array(items) => {
            let picked: Vec<Value> = match first {
                Segment::Index(id) => items
                    .iter()
                    .filter(|e| element_id(e) == Some(*id))
                    .filter_map(|e| select_element(e, rest))
                    .collect(),
                Segment::AnyDepth => items
                    .iter()
                    .filter_map(|e| {
                        let mut r = select_element(e, pattern);
                        if let Some(deeper) = select_element(e, rest) {
                            r = Some(match r {
                                Some(mut a) => {
                                    merge(&mut a, &deeper);
                                    a
                                }
                                None => deeper,
                            });
                        }
                        r
                    })
                    .collect(),
                Segment::Name(_) => items
                    .iter()
                    .filter_map(|e| select_element(e, pattern))
                    .collect(),
            };
            (!picked.is_empty()).then_some(Value::Array(picked))
        }
        Value::Object(map) => match first {
            Segment::Name(n) => {
                let sub = select(map.get(n)?, rest)?;
                Some(single(n, sub))
            }
            Segment::Index(_) => None,
            Segment::AnyDepth => {
                let mut out: Option<Value> = select(node, rest);
                for (k, child) in map {
                    if k == "id" {
                        continue;
                    }
                    if let Some(sub) = select(child, pattern) {
                        let piece = single(k, sub);
                        match &mut out {
                            Some(o) => {
                                merge(o, &piece);
                            }
                            None => out = Some(piece),
                        }
                    }
                }
                out
            }
        },
        _ => (rest.is_empty() && *first == Segment::AnyDepth).then(|| node.clone()),
    }
}

fn select_element(elem: &Value, rest: &[Segment]) -> Option<Value> {
    if is_ghost(elem) {
        return Some(elem.clone());
    }
    let mut picked = select(elem, rest)?;
    if let (Value::Object(m), Some(id)) = (&mut picked, elem.get("id")) {
        m.insert("id".into(), id.clone());
    }
    Some(picked)
}

fn single(key: &str, value: Value) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), value);
    Value::Object(m)
}

/// A document holding `value` at `path` (ids become array elements).
pub fn wrap(path: &[Segment], value: Value) -> Value {
    path.iter().rev().fold(value, |inner, seg| match seg {
        Segment::Name(n) => single(n, inner),
        Segment::Index(id) => {
            let mut elem = match inner {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            elem.insert("id".into(), Value::from(*id));
            Value::Array(vec![Value::Object(elem)])
        }
        Segment::AnyDepth => inner,
    })
}

/// Applies `patch` to `target` and returns what actually changed, in the
/// patch's shape (array elements with their ids); `None` when nothing did.
pub fn merge(target: &mut Value, patch: &Value) -> Option<Value> {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            let mut diff = Map::new();
            for (k, pv) in p {
                match t.get_mut(k) {
                    Some(tv) => {
                        if let Some(d) = merge(tv, pv) {
                            diff.insert(k.clone(), d);
                        }
                    }
                    None => {
                        t.insert(k.clone(), pv.clone());
                        diff.insert(k.clone(), pv.clone());
                    }
                }
            }
            (!diff.is_empty()).then_some(Value::Object(diff))
        }
        (Value::Array(t), Value::Array(p)) => {
            let mut diff = Vec::new();
            for pe in p {
                let id = element_id(pe);
                match t.iter_mut().find(|te| id.is_some() && element_id(te) == id) {
                    Some(te) => {
                        if let Some(Value::Object(mut d)) = merge(te, pe) {
                            if let Some(idv) = pe.get("id") {
                                d.insert("id".into(), idv.clone());
                            }
                            diff.push(Value::Object(d));
                        }
                    }
                    None => {
                        t.push(pe.clone());
                        diff.push(pe.clone());
                    }
                }
            }
            (!diff.is_empty()).then_some(Value::Array(diff))
        }
        (t, p) => {
            if t == p {
                None
            } else {
                *t = p.clone();
                Some(p.clone())
            }
        }
    }
}

/// Removes the array element at `path` (which ends with an id); returns the
/// ghost document to announce, rooted like `path`.
pub fn remove_element(doc: &mut Value, path: &[Segment]) -> Option<Value> {
    let (Segment::Index(id), parent) = path.split_last()? else {
        return None;
    };
    let mut node = &mut *doc;
    for seg in parent {
        node = match (node, seg) {
            (Value::Object(m), Segment::Name(n)) => m.get_mut(n)?,
            (Value::Array(items), Segment::Index(i)) => {
                items.iter_mut().find(|e| element_id(e) == Some(*i))?
            }
            _ => return None,
        };
    }
    let items = node.as_array_mut()?;
    let pos = items.iter().position(|e| element_id(e) == Some(*id))?;
    items.remove(pos);
    let mut ghost = Map::new();
    ghost.insert("ghost".into(), Value::String("True".into()));
    Some(wrap(path, Value::Object(ghost)))
}

/// Applies a feedback change to a last-known document: ghost elements are
/// removed, everything else merged.
pub fn apply(state: &mut Value, change: &Value) {
    match (state, change) {
        (Value::Object(s), Value::Object(c)) => {
            for (k, cv) in c {
                match s.get_mut(k) {
                    Some(sv) => apply(sv, cv),
                    None => {
                        let mut fresh = Value::Null;
                        apply(&mut fresh, cv);
                        s.insert(k.clone(), fresh);
                    }
                }
            }
        }
        (Value::Array(s), Value::Array(c)) if c.iter().all(|e| element_id(e).is_some()) => {
            for ce in c {
                let id = element_id(ce);
                if is_ghost(ce) {
                    s.retain(|e| element_id(e) != id);
                } else if let Some(se) = s.iter_mut().find(|e| element_id(e) == id) {
                    apply(se, ce);
                } else {
                    s.push(ce.clone());
                }
            }
        }
        (s, Value::Array(c)) => {
            *s = Value::Array(c.iter().filter(|e| !is_ghost(e)).cloned().collect());
        }
        (s, c @ Value::Object(_)) => {
            *s = Value::Object(Map::new());
            apply(s, c);
        }
        (s, c) => *s = c.clone(),
    }
}

/// A fingerprint of what a feedback change sets: its paths and the ids of
/// the elements on them, not its values. Two changes with the same shape
/// set the same leaves, so the later one wholly replaces the earlier (a
/// full feedback queue withdraws the earlier, see
/// [`super::feedback_queue`]); changes of different shapes never replace
/// one another. A ghost (an element that went away) has its own shape.
pub fn shape(v: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    fn walk(v: &Value, h: &mut std::collections::hash_map::DefaultHasher) {
        match v {
            Value::Object(m) => {
                h.write_u8(b'{');
                for (k, v) in m {
                    k.hash(h);
                    if k == "id" {
                        // Another element is another change.
                        v.as_u64()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                            .hash(h);
                    } else {
                        walk(v, h);
                    }
                }
                h.write_u8(b'}');
            }
            Value::Array(items) if items.iter().all(|e| element_id(e).is_some()) => {
                h.write_u8(b'[');
                for e in items {
                    walk(e, h);
                }
                h.write_u8(b']');
            }
            // A leaf (or a list of plain values, replaced whole).
            _ => h.write_u8(b'.'),
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    walk(v, &mut h);
    h.finish()
}

/// Brings a last-known document up to `current` (read after a reconnect)
/// and returns the difference as feedback would carry it: changed leaves,
/// new elements, and ghosts for elements that went away. `None` when
/// nothing changed.
pub fn reconcile(state: &mut Value, current: &Value) -> Option<Value> {
    match (state, current) {
        (Value::Object(s), Value::Object(c)) => {
            let mut diff = Map::new();
            for (k, cv) in c {
                match s.get_mut(k) {
                    Some(sv) => {
                        if let Some(d) = reconcile(sv, cv) {
                            diff.insert(k.clone(), d);
                        }
                    }
                    None => {
                        s.insert(k.clone(), cv.clone());
                        diff.insert(k.clone(), cv.clone());
                    }
                }
            }
            (!diff.is_empty()).then_some(Value::Object(diff))
        }
        (Value::Array(s), Value::Array(c))
            if s.iter().chain(c.iter()).all(|e| element_id(e).is_some()) =>
        {
            let mut diff = Vec::new();
            for gone in s
                .iter()
                .filter(|se| !c.iter().any(|ce| element_id(ce) == element_id(se)))
            {
                let mut ghost = Map::new();
                ghost.insert("id".into(), gone["id"].clone());
                ghost.insert("ghost".into(), Value::String("True".into()));
                diff.push(Value::Object(ghost));
            }
            s.retain(|se| c.iter().any(|ce| element_id(ce) == element_id(se)));
            for ce in c {
                match s.iter_mut().find(|se| element_id(se) == element_id(ce)) {
                    Some(se) => {
                        if let Some(Value::Object(mut d)) = reconcile(se, ce) {
                            d.insert("id".into(), ce["id"].clone());
                            diff.push(Value::Object(d));
                        }
                    }
                    None => {
                        s.push(ce.clone());
                        diff.push(ce.clone());
                    }
                }
            }
            (!diff.is_empty()).then_some(Value::Array(diff))
        }
        (s, c) => {
            if s == c {
                None
            } else {
                *s = c.clone();
                Some(c.clone())
            }
        }
    }
}

/// The values a feedback document holds at a concrete path (root
/// included): one for a plain path, one per changed element when the path
/// runs through an array. A ghost element is returned whole, so callbacks
/// learn that it went away.
pub fn values_at(mut document: Value, path: &[Segment]) -> Vec<Value> {
    let mut out = Vec::new();
    take_at(&mut document, path, &mut out);
    out
}

/// Moves the values at `path` out of `node` (the document is the
/// subscriber's own: nothing is copied).
fn take_at(node: &mut Value, path: &[Segment], out: &mut Vec<Value>) {
    let Some((first, rest)) = path.split_first() else {
        // A path that ends at an array of elements (`Status Call`) gives
        // each changed element, as the on-device macros do.
        match node {
            Value::Array(items)
                if !items.is_empty() && items.iter().all(|e| element_id(e).is_some()) =>
            {
                out.append(items)
            }
            _ => out.push(node.take()),
        }
        return;
    };
    if let (Value::Object(m), Segment::Name(n)) = (&mut *node, first) {
        if let Some(child) = m.get_mut(n) {
            take_at(child, rest, out);
        } else if m.contains_key("ghost") {
            // A ghost holds none of the element's leaves: it goes whole.
            out.push(node.take());
        }
        return;
    }
    match (node, first) {
        (Value::Array(items), Segment::Index(id)) => {
            for e in items.iter_mut().filter(|e| element_id(e) == Some(*id)) {
                take_at(e, rest, out);
            }
        }
        (Value::Array(items), _) => {
            for e in items {
                take_at(e, path, out);
            }
        }
        _ => {}
    }
}

/// The legacy (`/ws?legacy`) form: every number becomes a string.
pub fn stringify(v: &mut Value) {
    match v {
        Value::Number(n) => *v = Value::String(n.to_string()),
        Value::Array(a) => a.iter_mut().for_each(stringify),
        Value::Object(m) => m.values_mut().for_each(stringify),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xows::path::Path;
    use serde_json::json;

    fn p(s: &str) -> Vec<Segment> {
        Path::parse(s).unwrap().0
    }

    fn doc() -> Value {
        json!({"Status":{
            "Audio":{"Volume":50,"Microphones":{"Mute":"Off"}},
            "SIP":{"CallForward":{"DisplayName":""}},
            "SystemUnit":{"Software":{"DisplayName":"ce 9.7.1","Version":"9.7"}},
            "Call":[{"id":2,"Status":"Connected","DisplayName":"Bob"},{"id":3,"Status":"Ringing"}]
        }})
    }

    #[test]
    fn changes_with_the_same_paths_have_the_same_shape() {
        let a = json!({"Status":{"Audio":{"Volume":10,"VolumeMute":"Off"},
            "Call":[{"id":1,"Status":"Dialling"}]}});
        let b = json!({"Status":{"Audio":{"Volume":20,"VolumeMute":"On"},
            "Call":[{"id":1,"Status":"Connected"}]}});
        assert_eq!(shape(&a), shape(&b), "values do not count");
        assert_eq!(shape(&json!(5)), shape(&json!("Connected")));
        for other in [
            json!({"Status":{"Audio":{"Volume":20}}}),
            json!({"Status":{"Audio":{"Volume":10,"VolumeMute":"Off"},
                "Call":[{"id":2,"Status":"Dialling"}]}}),
            json!({"Status":{"Audio":{"Volume":10,"VolumeMute":"Off"},
                "Call":[{"id":1,"ghost":"True"}]}}),
            json!({"Status":{"Audio":{"Volume":{"Level":10},"VolumeMute":"Off"},
                "Call":[{"id":1,"Status":"Dialling"}]}}),
        ] {
            assert_ne!(shape(&a), shape(&other), "{other}");
        }
        assert_ne!(
            shape(&json!({"id": 2, "Status": "Connected"})),
            shape(&json!({"id": "3", "Status": "Connected"})),
            "another element"
        );
    }

    #[test]
    fn get_is_relative() {
        let d = doc();
        assert_eq!(get(&d, &p("Status Audio Volume")), Some(json!(50)));
        assert_eq!(get(&d, &p("Status Call[3] Status")), Some(json!("Ringing")));
        assert_eq!(
            get(&d, &p("Status Call Status")),
            Some(json!([{"id":2,"Status":"Connected"},{"id":3,"Status":"Ringing"}]))
        );
        assert_eq!(get(&d, &p("Status Call[9]")), None);
        assert_eq!(get(&d, &p("Status Nope")), None);
    }

    #[test]
    fn select_roots_and_wildcards() {
        let d = doc();
        assert_eq!(
            select(&d, &p("Status ** DisplayName")),
            Some(json!({"Status":{
                "SIP":{"CallForward":{"DisplayName":""}},
                "SystemUnit":{"Software":{"DisplayName":"ce 9.7.1"}},
                "Call":[{"id":2,"DisplayName":"Bob"}]
            }}))
        );
        assert_eq!(
            select(&d, &p("Status Call[2] Status")),
            Some(json!({"Status":{"Call":[{"id":2,"Status":"Connected"}]}}))
        );
        assert_eq!(select(&d, &p("Status Audio Nope")), None);
        assert_eq!(select(&d, &p("**")), Some(d.clone()));
    }

    #[test]
    fn ghosts_pass_through_deeper_patterns() {
        let change = json!({"Status":{"Call":[{"id":3,"ghost":"True"}]}});
        assert_eq!(
            select(&change, &p("Status Call Status")),
            Some(change.clone())
        );
        assert_eq!(select(&change, &p("Status Audio")), None);
    }

    #[test]
    fn merge_reports_only_changes() {
        let mut d = doc();
        assert_eq!(
            merge(&mut d, &wrap(&p("Status Audio Volume"), json!(50))),
            None
        );
        assert_eq!(
            merge(&mut d, &wrap(&p("Status Audio Volume"), json!(60))),
            Some(json!({"Status":{"Audio":{"Volume":60}}}))
        );
        assert_eq!(
            merge(
                &mut d,
                &wrap(&p("Status Call[3] Status"), json!("Connected"))
            ),
            Some(json!({"Status":{"Call":[{"id":3,"Status":"Connected"}]}}))
        );
        let added = merge(
            &mut d,
            &wrap(&p("Status Call[4]"), json!({"Status":"Dialling"})),
        );
        assert_eq!(
            added,
            Some(json!({"Status":{"Call":[{"id":4,"Status":"Dialling"}]}}))
        );
        assert_eq!(
            get(&d, &p("Status Call[4] Status")),
            Some(json!("Dialling"))
        );
    }

    #[test]
    fn removal_leaves_a_ghost() {
        let mut d = doc();
        let ghost = remove_element(&mut d, &p("Status Call[2]")).unwrap();
        assert_eq!(ghost, json!({"Status":{"Call":[{"id":2,"ghost":"True"}]}}));
        assert_eq!(get(&d, &p("Status Call[2]")), None);
        assert_eq!(remove_element(&mut d, &p("Status Call[2]")), None);
        assert_eq!(remove_element(&mut d, &p("Status Audio")), None);
    }

    #[test]
    fn legacy_form_is_all_strings() {
        let mut v = json!({"Volume":50,"Call":[{"id":2}],"ok":true});
        stringify(&mut v);
        assert_eq!(v, json!({"Volume":"50","Call":[{"id":"2"}],"ok":true}));
    }

    #[test]
    fn apply_removes_ghosts_and_merges() {
        let mut state = json!({"Status":{"Call":[{"id":2,"Status":"Ringing"}]}});
        apply(
            &mut state,
            &json!({"Status":{"Call":[{"id":2,"Status":"Connected"}]}}),
        );
        assert_eq!(
            state,
            json!({"Status":{"Call":[{"id":2,"Status":"Connected"}]}})
        );
        apply(
            &mut state,
            &json!({"Status":{"Call":[{"id":2,"ghost":"True"}]}}),
        );
        assert_eq!(state, json!({"Status":{"Call":[]}}));
        let mut empty = json!({});
        apply(
            &mut empty,
            &json!({"Status":{"Call":[{"id":5,"ghost":"True"}]}}),
        );
        assert_eq!(empty, json!({"Status":{"Call":[]}}));
    }

    #[test]
    fn reconcile_reports_only_what_changed_while_away() {
        let mut state = json!({"Status":{"Audio":{"Volume":50,"VolumeMute":"Off"},
            "Call":[{"id":2,"Status":"Connected"}]}});
        let current = json!({"Status":{"Audio":{"Volume":70,"VolumeMute":"Off"},
            "Call":[{"id":3,"Status":"Ringing"}]}});
        let diff = reconcile(&mut state, &current).unwrap();
        assert_eq!(
            diff,
            json!({"Status":{"Audio":{"Volume":70},
                "Call":[{"id":2,"ghost":"True"},{"id":3,"Status":"Ringing"}]}})
        );
        assert_eq!(state, current);
        assert_eq!(reconcile(&mut state, &current), None);
    }

    #[test]
    fn values_at_walks_arrays_once_per_element() {
        let d = json!({"Status":{"Call":[{"id":2,"Status":"Connected"},{"id":3,"ghost":"True"}]}});
        assert_eq!(
            values_at(d.clone(), &p("Status Call Status")),
            vec![json!("Connected"), json!({"id":3,"ghost":"True"})]
        );
        assert_eq!(
            values_at(d.clone(), &p("Status Call[2] Status")),
            vec![json!("Connected")]
        );
        assert_eq!(
            values_at(d.clone(), &p("Status Audio Volume")),
            Vec::<Value>::new()
        );
        assert_eq!(
            values_at(d.clone(), &p("Status Call")),
            vec![
                json!({"id":2,"Status":"Connected"}),
                json!({"id":3,"ghost":"True"})
            ]
        );
        let v = json!({"Status":{"Audio":{"Volume":60}}});
        assert_eq!(
            values_at(v.clone(), &p("Status Audio Volume")),
            vec![json!(60)]
        );
        assert_eq!(
            values_at(v.clone(), &p("Status Audio")),
            vec![json!({"Volume":60})]
        );
    }
}
