//! What the host's panel sync did on each codec: the panels in sync, the
//! ones failing with their error, and the project's refused panel files;
//! and the count of `Panel Save` commands by result
//! (`xmacro_panel_saves_total{result}`). Written by the host, read by the
//! status page, `/api/status`, `/metrics` and `xmacro status`.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use super::metrics::Counter;

/// One codec's panels, as last synced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodecPanels {
    /// PanelIds the codec has as the project wants them.
    pub in_sync: Vec<String>,
    /// PanelId (or `*` for the codec as a whole) and why it failed.
    pub failing: BTreeMap<String, String>,
}

/// The panel board; see the module docs.
#[derive(Default)]
pub struct PanelBoard {
    codecs: Mutex<BTreeMap<String, CodecPanels>>,
    refused: Mutex<Vec<String>>,
    /// `Panel Save` commands the codec accepted.
    pub saves_ok: Counter,
    /// ... and refused (or never answered).
    pub saves_failed: Counter,
}

impl PanelBoard {
    /// A codec's panels after a sync.
    pub fn synced(&self, codec: &str, state: CodecPanels) {
        self.codecs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(codec.to_string(), state);
    }

    /// This host no longer serves the codec.
    pub fn forget(&self, codec: &str) {
        self.codecs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(codec);
    }

    /// A codec's panels, if it was synced.
    pub fn codec(&self, codec: &str) -> Option<CodecPanels> {
        self.codecs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(codec)
            .cloned()
    }

    /// The panel files refused at the last read (`file:line:col: why`).
    pub fn set_refused(&self, errors: Vec<String>) {
        *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = errors;
    }

    pub fn refused(&self) -> Vec<String> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The process's panel board.
pub fn panels() -> &'static PanelBoard {
    static BOARD: OnceLock<PanelBoard> = OnceLock::new();
    BOARD.get_or_init(PanelBoard::default)
}
