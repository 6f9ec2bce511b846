//! The products a schema file describes: Cisco marks each object with the
//! codenames of the devices that have it (`barents`, `polaris`, ...), and
//! people know the devices by name (Codec Pro, Desk Pro, Board Pro ...).
//! `--product` takes either, case and spaces aside; a name the schema does
//! not have is refused with the list of those it has.

use serde_json::Value;

/// Codenames and the names devices are sold under (a codename may have
/// more than one: a Room Kit Pro is a Codec Pro with its camera).
pub const NAMES: &[(&str, &[&str])] = &[
    ("bandai", &["Desk Mini"]),
    ("barents", &["Codec Pro", "Room Kit Pro"]),
    ("barents_70d", &["Room 70 Dual G2"]),
    ("barents_70i", &["Room 70 Panorama"]),
    ("barents_70s", &["Room 70 Single G2"]),
    ("barents_82i", &["Room Panorama"]),
    ("brooklyn", &["Room Bar Pro"]),
    ("darling_10_55", &["Board 55"]),
    ("darling_10_70", &["Board 70"]),
    ("darling_15_55", &["Board 55S"]),
    ("darling_15_70", &["Board 70S"]),
    ("darling_15_85", &["Board 85S"]),
    ("davinci", &["Room Bar"]),
    ("felix_55", &["Board Pro 55 G2"]),
    ("felix_75", &["Board Pro 75 G2"]),
    ("havella", &["Room Kit Mini"]),
    ("helix_55", &["Board Pro 55"]),
    ("helix_75", &["Board Pro 75"]),
    ("hopen", &["Room Kit"]),
    ("millennium", &["Codec EQ", "Room Kit EQ"]),
    ("octavio", &["Desk"]),
    ("pictoris", &["Desk Pro G2"]),
    ("polaris", &["Desk Pro"]),
    ("spitsbergen", &["Room 55"]),
    ("svea", &["Codec Plus", "Room Kit Plus"]),
    ("svea_55d", &["Room 55 Dual"]),
    ("svea_70d", &["Room 70 Dual"]),
    ("svea_70s", &["Room 70 Single"]),
    ("tyne", &["Codec Pro G2"]),
    ("vecchio", &["Navigator"]),
];

/// The names a codename is sold under (none when unknown).
pub fn names(codename: &str) -> &'static [&'static str] {
    NAMES
        .iter()
        .find(|(c, _)| *c == codename)
        .map_or(&[], |(_, n)| n)
}

fn plain(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The codename `given` stands for among `known` (the schema's codenames):
/// itself, or a codename whose name it is (`roomkitpro`, `Desk Pro`).
pub fn resolve<'a>(given: &str, known: &'a [String]) -> Option<&'a str> {
    let want = plain(given);
    known
        .iter()
        .find(|c| plain(c) == want || names(c).iter().any(|n| plain(n) == want))
        .map(String::as_str)
}

/// Every codename marked on an object of a schema document, sorted.
pub fn in_document(objects: &[Value]) -> Vec<String> {
    let mut found: Vec<String> = objects
        .iter()
        .filter_map(|o| o.get("products")?.as_array())
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// `barents (Codec Pro, Room Kit Pro), bandai (Desk Mini), ...`.
pub fn listing(known: &[String]) -> String {
    known
        .iter()
        .map(|c| match names(c) {
            [] => c.clone(),
            n => format!("{c} ({})", n.join(", ")),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        ["barents", "polaris", "helix_55", "vecchio"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn a_codename_or_a_product_name_is_accepted_case_and_spaces_aside() {
        let k = known();
        assert_eq!(resolve("barents", &k), Some("barents"));
        assert_eq!(resolve("roomkitpro", &k), Some("barents"));
        assert_eq!(resolve("Room Kit Pro", &k), Some("barents"));
        assert_eq!(resolve("codec-pro", &k), Some("barents"));
        assert_eq!(resolve("desk pro", &k), Some("polaris"));
        assert_eq!(resolve("Board Pro 55", &k), Some("helix_55"));
        assert_eq!(resolve("HELIX_55", &k), Some("helix_55"));
        assert_eq!(resolve("Desk Mini", &k), None, "not in this schema");
    }

    #[test]
    fn the_listing_names_each_codename_with_its_product_names() {
        assert_eq!(
            listing(&["barents".into(), "unknown_x".into()]),
            "barents (Codec Pro, Room Kit Pro), unknown_x"
        );
    }
}
