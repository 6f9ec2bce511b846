//! A version of a script: everything that makes it behave as it does,
//! kept whole so it can run again after its files changed (the promoted
//! version of a staged rollout, [`super::state`]), and named by a content
//! hash over all of it (the version `xmacro status` shows).
//!
//! What goes in: the script's text, the text of every library it imports
//! (by path inside the scripts directory), its `args` and its `codecs`
//! selectors, and `extra`: further inputs by name (a codec's `settings`,
//! a panel in the script's scope) that fold into the same hash without a
//! change of this format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One version of a script, as it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Snapshot {
    /// The file, relative to the scripts directory.
    pub file: String,
    /// Its text.
    pub source: String,
    /// The libraries it imports (directly or not), by path relative to the
    /// scripts directory (`lib/util.rhai`), with their text.
    #[serde(default)]
    pub libraries: BTreeMap<String, String>,
    /// `[script.NAME] args`, as TOML text.
    #[serde(default)]
    pub args: String,
    /// `[script.NAME] codecs`; `None`: every codec.
    #[serde(default)]
    pub codecs: Option<Vec<String>>,
    /// Further inputs by name, folded into the version.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

impl Snapshot {
    /// The content hash naming this version.
    pub fn version(&self) -> u64 {
        let mut h = Sha256::new();
        let mut part = |tag: &str, name: &str, text: &str| {
            for field in [tag, name, text] {
                h.update((field.len() as u64).to_be_bytes());
                h.update(field.as_bytes());
            }
        };
        part("file", &self.file, &self.source);
        for (path, text) in &self.libraries {
            part("library", path, text);
        }
        part("args", "", &self.args);
        match &self.codecs {
            Some(list) => {
                for c in list {
                    part("codec", c, "");
                }
            }
            None => part("codecs", "all", ""),
        }
        for (name, text) in &self.extra {
            part("extra", name, text);
        }
        let d = h.finalize();
        u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
    }

    /// The args as the script sees them (an unreadable text, which this
    /// build never writes, as none).
    pub fn args_table(&self) -> toml::Table {
        toml::from_str(&self.args).unwrap_or_default()
    }

    /// The TOML text kept for `args`.
    pub fn args_text(args: &toml::Table) -> String {
        toml::to_string(args).unwrap_or_default()
    }
}

/// A version as shown: 16 hex digits.
pub fn show(version: u64) -> String {
    format!("{version:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Snapshot {
        Snapshot {
            file: "room.rhai".into(),
            source: "let x = 1;".into(),
            libraries: [("lib/util.rhai".to_string(), "fn f() { 1 }".to_string())].into(),
            args: Snapshot::args_text(&toml::from_str("max = 60").unwrap()),
            codecs: None,
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn every_input_of_a_version_changes_its_name() {
        let v = base().version();
        assert_eq!(base().version(), v, "the same inputs, the same name");
        type Change = Box<dyn Fn(&mut Snapshot)>;
        let changes: Vec<Change> = vec![
            Box::new(|s| s.source.push(' ')),
            Box::new(|s| s.file = "other.rhai".into()),
            Box::new(|s| {
                s.libraries
                    .insert("lib/util.rhai".into(), "fn f() { 2 }".into());
            }),
            Box::new(|s| {
                s.libraries.insert("lib/more.rhai".into(), String::new());
            }),
            Box::new(|s| s.args = Snapshot::args_text(&toml::from_str("max = 61").unwrap())),
            Box::new(|s| s.codecs = Some(vec!["lab-1".into()])),
            Box::new(|s| {
                s.extra.insert("settings".into(), "{}".into());
            }),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut s = base();
            change(&mut s);
            assert_ne!(s.version(), v, "change {i}");
        }
    }

    #[test]
    fn parts_of_a_version_cannot_be_shifted_into_each_other() {
        let mut a = base();
        a.source = "ab".into();
        a.file = "x".into();
        let mut b = base();
        b.source = "b".into();
        b.file = "xa".into();
        assert_ne!(a.version(), b.version());
    }

    #[test]
    fn a_snapshot_reads_back_as_written() {
        let s = base();
        let text = serde_json::to_string(&s).unwrap();
        let back: Snapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.args_table()["max"].as_integer(), Some(60));
        assert_eq!(show(0xab), "00000000000000ab");
    }
}
