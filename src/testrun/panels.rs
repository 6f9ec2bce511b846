//! The project's UI extension panels in `xmacro test`: the same folder and
//! `[panel.NAME]` scopes as `run` (found beside the scripts directory, or
//! from `--config`), saved on each simulated room a test creates, so
//! `room.panels()` lists them and `room.widget(id, type)` fails, naming
//! the id, when the project has panels and none defines that widget.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::CodecEntry;
use crate::config::panels::{PanelConfig, in_scope};
use crate::panels::{Panel, Project, read_dir};

/// The project's panels and their scopes, as a test run sees them.
#[derive(Debug, Clone, Default)]
pub struct TestPanels {
    pub dir: PathBuf,
    pub project: Project,
    pub scope: BTreeMap<String, PanelConfig>,
}

impl TestPanels {
    /// Reads the folder; a refused file is an error naming it (a test run
    /// has no last good version to keep).
    pub fn read(
        dir: &Path,
        scope: BTreeMap<String, PanelConfig>,
    ) -> Result<TestPanels, crate::panels::PanelError> {
        let project = read_dir(dir, &Project::default());
        if let Some(e) = project.errors.first() {
            return Err(e.clone());
        }
        Ok(TestPanels {
            dir: dir.to_path_buf(),
            project,
            scope,
        })
    }

    /// The panels meant for a room with this name and these tags.
    pub fn for_room(&self, codec: &CodecEntry) -> Vec<&Panel> {
        self.project
            .panels()
            .filter(|p| in_scope(&self.scope, &p.file, codec))
            .collect()
    }

    /// Why `room.widget(id, ...)` cannot act: the project has panels and
    /// none defines this widget.
    pub fn undefined_widget(&self, id: &str) -> Option<String> {
        if self.project.files.is_empty() || self.project.defines_widget(id) {
            return None;
        }
        let known: Vec<String> = self
            .project
            .panels()
            .flat_map(|p| p.widgets.iter().cloned())
            .collect();
        Some(format!(
            "room.widget({id:?}): no panel in {} defines the widget {id:?}{} (widgets: {})",
            self.dir.display(),
            crate::config::did_you_mean(id, known.iter()),
            known.join(", ")
        ))
    }
}
