//! The keys that make panels and per-room values travel with the scripts:
//! `panels = "DIR"` (the UI extension panels folder, `panels/` beside the
//! config by default), `[panel.NAME] codecs = [...]` (which codecs get the
//! panels of `NAME.xml`, the same selectors as scripts) and `settings =
//! { ... }` in a `[[codec]]` table merged over `[defaults] settings`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::resolve::{Fleet, Resolver};
use super::{CodecEntry, ConfigError};

/// One `[panel.NAME]` table: where the panels of `NAME.xml` go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PanelConfig {
    /// Codec names and `tag:x` selectors; `None` means every codec.
    pub codecs: Option<Vec<String>>,
    /// Where the table starts (line, column).
    pub at: (usize, usize),
}

/// Whether a panel file's panels go to `codec`, by its `[panel.NAME]`.
pub fn in_scope(panel: &BTreeMap<String, PanelConfig>, file: &str, codec: &CodecEntry) -> bool {
    super::selected(panel.get(file).and_then(|p| p.codecs.as_deref()), codec)
}

impl Resolver<'_> {
    /// `panels = "DIR"` relative to the config; without it, `panels/`
    /// beside the config. A folder named but missing is a mistake.
    pub fn panels_dir(&self) -> Result<PathBuf, ConfigError> {
        match &self.read.file.panels {
            None => Ok(self.rel(crate::panels::DEFAULT_PANELS)),
            Some(p) => {
                let dir = self.rel(p.get_ref());
                if !Path::new(&dir).is_dir() {
                    return Err(self.src.err_at(
                        p.span().start,
                        format!("key panels: {} is not a folder", dir.display()),
                    ));
                }
                Ok(dir)
            }
        }
    }

    /// The `[panel.NAME]` tables; every selector must pick some codec.
    pub fn panel_tables(
        &self,
        fleet: &Fleet,
    ) -> Result<BTreeMap<String, PanelConfig>, ConfigError> {
        let mut out = BTreeMap::new();
        for (name, t) in &self.read.file.panel {
            let at = t.span().start;
            for sel in t.get_ref().codecs.iter().flatten() {
                if let Some(hint) = super::resolve::unmatched(sel, fleet) {
                    let place = self.src.key_offset(at, "codecs").unwrap_or(at);
                    return Err(self.src.err_at(
                        place,
                        format!("[panel.{name}]: key codecs: {sel:?} matches no configured codec: {hint}"),
                    ));
                }
            }
            out.insert(
                name.clone(),
                PanelConfig {
                    codecs: t.get_ref().codecs.clone(),
                    at: self.src.line_col(at),
                },
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, String> {
        let env = |k: &str| (k == "PW").then(|| "pw".to_string());
        Config::parse(Path::new("/etc/xmacro/xmacro.toml"), text, &env).map_err(|e| e.to_string())
    }

    const ROOMS: &str = "[defaults]\npassword_env = \"PW\"\nsettings = { capacity = 4, building = \"HQ\" }\n\n[[codec]]\nname = \"oslo\"\nurl = \"ws://a/ws\"\ntags = [\"huddle\"]\nsettings = { room_name = \"Oslo\", capacity = 8 }\n\n[[codec]]\nname = \"bergen\"\nurl = \"ws://b/ws\"\n";

    #[test]
    fn a_codecs_settings_are_merged_over_the_defaults_key_by_key() {
        let c = parse(ROOMS).unwrap();
        let oslo = &c.settings["oslo"];
        assert_eq!(oslo["room_name"].as_str(), Some("Oslo"));
        assert_eq!(oslo["capacity"].as_integer(), Some(8));
        assert_eq!(oslo["building"].as_str(), Some("HQ"));
        let bergen = &c.settings["bergen"];
        assert_eq!(bergen["capacity"].as_integer(), Some(4));
        assert!(bergen.get("room_name").is_none());
    }

    #[test]
    fn panel_tables_take_the_selectors_of_scripts_and_name_a_bad_one() {
        let c = parse(&format!(
            "{ROOMS}\n[panel.huddle]\ncodecs = [\"tag:huddle\"]\n"
        ))
        .unwrap();
        assert_eq!(
            c.panel["huddle"].codecs,
            Some(vec!["tag:huddle".to_string()])
        );
        assert_eq!(c.panels, Path::new("/etc/xmacro/panels"));
        let e = parse(&format!(
            "{ROOMS}\n[panel.huddle]\ncodecs = [\"tag:hudle\"]\n"
        ))
        .unwrap_err();
        assert!(
            e.contains(":16:")
                && e.contains("[panel.huddle]: key codecs")
                && e.contains("did you mean \"huddle\"?"),
            "{e}"
        );
        let e = parse(&format!("{ROOMS}\n[panel.huddle]\ncodec = []\n")).unwrap_err();
        assert!(e.contains("codec"), "{e}");
    }

    #[test]
    fn a_panels_folder_named_but_missing_is_refused_at_its_key() {
        let e = parse(&format!("panels = \"nowhere\"\n{ROOMS}")).unwrap_err();
        assert!(
            e.starts_with("/etc/xmacro/xmacro.toml:1:")
                && e.contains("key panels")
                && e.contains("/etc/xmacro/nowhere"),
            "{e}"
        );
    }
}
