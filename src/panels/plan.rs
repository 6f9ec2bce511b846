//! What one codec needs to be in line with the project's panels, as plain
//! data: from the panels meant for it, what it lists, and what the host
//! saved there before (PanelId to hash), a plan of saves and removes.
//!
//! A panel is saved when the codec does not list it or the host last saved
//! something else under its PanelId; a panel the host saved that is no
//! longer meant for the codec is removed (or only forgotten, when the codec
//! no longer has it). A PanelId the host never saved is never touched.

use std::collections::{BTreeMap, BTreeSet};

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// `Panel Save` this PanelId (its body is the desired one).
    Save(String),
    /// `Panel Remove` this PanelId, then forget it.
    Remove(String),
    /// The codec no longer has a panel the host saved and no longer
    /// wants: only its record goes.
    Forget(String),
}

/// The plan for one codec: `desired` is PanelId to hash of the panels in
/// its scope; `listed` the PanelIds it has now; `owned` PanelId to hash
/// of what the host saved there.
pub fn plan(
    desired: &BTreeMap<String, String>,
    listed: &BTreeSet<String>,
    owned: &BTreeMap<String, String>,
) -> Vec<Action> {
    let mut out = Vec::new();
    for (id, hash) in desired {
        if !listed.contains(id) || owned.get(id) != Some(hash) {
            out.push(Action::Save(id.clone()));
        }
    }
    for id in owned.keys().filter(|id| !desired.contains_key(*id)) {
        if listed.contains(id) {
            out.push(Action::Remove(id.clone()));
        } else {
            out.push(Action::Forget(id.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_fresh_codec_gets_every_panel_in_its_scope() {
        let p = plan(&map(&[("a", "1"), ("b", "2")]), &set(&[]), &map(&[]));
        assert_eq!(p, [Action::Save("a".into()), Action::Save("b".into())]);
    }

    #[test]
    fn a_codec_that_has_what_was_saved_gets_nothing() {
        let d = map(&[("a", "1")]);
        assert_eq!(plan(&d, &set(&["a", "theirs"]), &d), []);
    }

    #[test]
    fn an_edited_panel_is_saved_again() {
        let p = plan(&map(&[("a", "2")]), &set(&["a"]), &map(&[("a", "1")]));
        assert_eq!(p, [Action::Save("a".into())]);
    }

    #[test]
    fn a_factory_reset_codec_gets_everything_back_though_the_records_say_saved() {
        let d = map(&[("a", "1"), ("b", "2")]);
        assert_eq!(plan(&d, &set(&[]), &d).len(), 2);
    }

    #[test]
    fn a_panel_saved_before_and_no_longer_wanted_is_removed_and_only_that_one() {
        let p = plan(
            &map(&[("a", "1")]),
            &set(&["a", "gone", "theirs"]),
            &map(&[("a", "1"), ("gone", "9")]),
        );
        assert_eq!(p, [Action::Remove("gone".into())]);
    }

    #[test]
    fn a_panel_someone_else_saved_is_never_touched() {
        let p = plan(&map(&[]), &set(&["theirs"]), &map(&[]));
        assert_eq!(p, []);
    }

    #[test]
    fn a_record_of_a_panel_the_codec_lost_is_only_forgotten() {
        let p = plan(&map(&[]), &set(&[]), &map(&[("gone", "9")]));
        assert_eq!(p, [Action::Forget("gone".into())]);
    }

    #[test]
    fn a_panel_with_the_same_id_saved_by_someone_else_is_replaced_when_ours() {
        // The project says this PanelId is its own: it is saved, and owned
        // from then on.
        let p = plan(&map(&[("a", "1")]), &set(&["a"]), &map(&[]));
        assert_eq!(p, [Action::Save("a".into())]);
    }
}
