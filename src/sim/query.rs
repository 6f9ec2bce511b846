//! How the device reads a query with `**`: its last name matches as a
//! prefix, so `Status ** Volume` also returns `VolumeMute` and
//! `VolumeControlled` (Cisco's XoWS transport guide). Used for xQuery and
//! feedback subscriptions; queries without `**` match exactly.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::xows::doc;
use crate::xows::path::Segment;

/// The part of `node` that `pattern` covers (see [`doc::select`]), with the
/// device's prefix rule for the last name of a `**` query.
pub fn select(node: &Value, pattern: &[Segment]) -> Option<Value> {
    let prefix = match pattern.last() {
        Some(Segment::Name(last)) if pattern.contains(&Segment::AnyDepth) => last,
        _ => return doc::select(node, pattern),
    };
    let mut names = BTreeSet::new();
    keys_with_prefix(node, prefix, &mut names);
    let mut out: Option<Value> = None;
    let mut concrete = pattern.to_vec();
    for name in names {
        if let Some(last) = concrete.last_mut() {
            *last = Segment::Name(name);
        }
        if let Some(part) = doc::select(node, &concrete) {
            match &mut out {
                Some(o) => {
                    doc::merge(o, &part);
                }
                None => out = Some(part),
            }
        }
    }
    out
}

fn keys_with_prefix(node: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                if k.starts_with(prefix) {
                    out.insert(k.clone());
                }
                keys_with_prefix(v, prefix, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys_with_prefix(v, prefix, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xows::path::Path;
    use serde_json::json;

    fn q(doc: &Value, text: &str) -> Option<Value> {
        select(doc, &Path::parse(text).unwrap().0)
    }

    #[test]
    fn the_last_name_of_a_wildcard_query_is_a_prefix() {
        let d = json!({"Status": {"Audio": {"Volume": 50, "VolumeMute": "Off",
            "Output": {"LocalOutput": [{"id": 1, "VolumeControlled": "On", "Name": "x"}]}}}});
        assert_eq!(
            q(&d, "Status ** Volume").unwrap(),
            json!({"Status": {"Audio": {"Volume": 50, "VolumeMute": "Off",
                "Output": {"LocalOutput": [{"id": 1, "VolumeControlled": "On"}]}}}})
        );
        assert_eq!(
            q(&d, "Status Audio Volume").unwrap(),
            json!({"Status": {"Audio": {"Volume": 50}}}),
            "no ** keeps exact matching"
        );
        assert_eq!(q(&d, "Status ** Nothing"), None);
    }

    #[test]
    fn a_double_star_matches_zero_levels_too() {
        let d = json!({"Status": {"SIP": {"CallForward": {"DisplayName": ""}},
            "SystemUnit": {"Software": {"DisplayName": "RoomOS"}}}});
        assert_eq!(
            q(&d, "Status ** SIP").unwrap(),
            json!({"Status": {"SIP": {"CallForward": {"DisplayName": ""}}}})
        );
        assert_eq!(
            q(&d, "Status ** DisplayName").unwrap(),
            d,
            "every level, the guide's transcript"
        );
    }
}
