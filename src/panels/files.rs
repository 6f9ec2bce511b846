//! The panels folder read into panels: every `*.xml` file is an
//! `<Extensions>` document with one or more `<Panel>` elements, each with
//! its `<PanelId>`. A file that is not well-formed, has a panel without a
//! PanelId, or has a PanelId another file already has, is refused with
//! its file, line and column; the last good version of a refused file
//! stays in force (as a bad script edit leaves the running script), so
//! the codecs keep what they have.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The most a panel file may hold: an Editor export with dozens of pages
/// is tens of kilobytes.
pub const MAX_PANEL_FILE_BYTES: u64 = 1 << 20;

/// One panel, ready to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panel {
    /// Its `<PanelId>`.
    pub id: String,
    /// The stem of the file it is in (its `[panel.NAME]`).
    pub file: String,
    /// What `Panel Save` gets: an `<Extensions>` document with this one
    /// panel, the panel's text as written.
    pub body: String,
    /// [`super::hash`] of `body`.
    pub hash: String,
    /// The `<WidgetId>`s the panel defines.
    pub widgets: BTreeSet<String>,
}

/// One panel file as last read well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelFile {
    pub path: PathBuf,
    /// Its panels, in file order.
    pub panels: Vec<Panel>,
    /// A hash of the file's text (a save that changes nothing is no news).
    pub text_hash: String,
}

/// A refused panel file: where and why (`line` 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PanelError {
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl std::fmt::Display for PanelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

/// The project's panels: the files in force (by stem), and the files
/// refused at the last read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Project {
    pub files: BTreeMap<String, PanelFile>,
    pub errors: Vec<PanelError>,
}

impl Project {
    /// Every panel in force, in file order.
    pub fn panels(&self) -> impl Iterator<Item = &Panel> {
        self.files.values().flat_map(|f| &f.panels)
    }

    /// Whether any panel defines this widget.
    pub fn defines_widget(&self, id: &str) -> bool {
        self.panels().any(|p| p.widgets.contains(id))
    }

    /// Whether the panels in force are the same (refusals aside).
    pub fn same_panels(&self, other: &Project) -> bool {
        self.files == other.files
    }
}

/// Whether a directory entry is a panel file (not an editor's temporary).
pub fn is_panel_file(name: &str) -> bool {
    name.ends_with(".xml") && !name.starts_with('.') && !name.starts_with('#') && name.len() > 4
}

/// Reads the panels folder. A file refused now keeps its version in
/// `previous` (if it had a good one); a folder that does not exist holds
/// no panels.
pub fn read_dir(dir: &Path, previous: &Project) -> Project {
    let mut found: BTreeMap<String, Result<PanelFile, PanelError>> = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Project::default(),
        Err(e) => {
            // Unreadable for now: keep what is in force.
            let mut keep = previous.clone();
            keep.errors = vec![whole(&dir.display().to_string(), e.to_string())];
            return keep;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_panel_file(&name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let stem = name.trim_end_matches(".xml").to_string();
        found.insert(stem.clone(), read_file(&dir.join(&name), &stem));
    }
    settle(found, previous)
}

/// Reads and parses one panel file.
pub fn read_file(path: &Path, stem: &str) -> Result<PanelFile, PanelError> {
    let shown = path.display().to_string();
    let bytes = crate::files::read_bounded(path, MAX_PANEL_FILE_BYTES)
        .map_err(|e| whole(&shown, e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| whole(&shown, format!("not UTF-8: {e}")))?;
    parse(path, stem, &text)
}

fn whole(file: &str, message: String) -> PanelError {
    PanelError {
        file: file.to_string(),
        line: 0,
        col: 0,
        message,
    }
}

/// Parses the text of a panel file (named `path`, stem `stem`).
pub fn parse(path: &Path, stem: &str, text: &str) -> Result<PanelFile, PanelError> {
    let shown = path.display().to_string();
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        let pos = e.pos();
        PanelError {
            file: shown.clone(),
            line: pos.row,
            col: pos.col,
            message: format!("not well-formed XML: {e}"),
        }
    })?;
    let at = |node: roxmltree::Node, message: String| {
        let pos = doc.text_pos_at(node.range().start);
        PanelError {
            file: shown.clone(),
            line: pos.row,
            col: pos.col,
            message,
        }
    };
    let root = doc.root_element();
    if root.tag_name().name() != "Extensions" {
        return Err(at(
            root,
            format!(
                "the document is <{}>, not <Extensions> (export the panel from the UI Extensions Editor)",
                root.tag_name().name()
            ),
        ));
    }
    let version = child(root, "Version").map(|v| &text[v.range()]);
    let nodes: Vec<roxmltree::Node> = root
        .children()
        .filter(|n| n.has_tag_name("Panel"))
        .collect();
    if nodes.is_empty() {
        return Err(at(root, "no <Panel> in this <Extensions>".into()));
    }
    let mut panels = Vec::new();
    let mut seen = BTreeSet::new();
    for node in &nodes {
        let Some(id_node) = child(*node, "PanelId") else {
            return Err(at(*node, "this <Panel> has no <PanelId>".into()));
        };
        let id = id_node.text().unwrap_or_default().trim().to_string();
        if id.is_empty() || id.chars().count() > 255 {
            return Err(at(id_node, "a PanelId is 1 to 255 characters".to_string()));
        }
        if !seen.insert(id.clone()) {
            return Err(at(id_node, format!("PanelId {id:?} is in this file twice")));
        }
        let body = if nodes.len() == 1 {
            text.to_string()
        } else {
            let version = version.map(|v| format!("\n  {v}")).unwrap_or_default();
            format!(
                "<Extensions>{version}\n  {}\n</Extensions>\n",
                &text[node.range()]
            )
        };
        let widgets = node
            .descendants()
            .filter(|n| n.has_tag_name("WidgetId"))
            .filter_map(|n| n.text())
            .map(|t| t.trim().to_string())
            .collect();
        panels.push(Panel {
            hash: super::hash(&body),
            id,
            file: stem.to_string(),
            body,
            widgets,
        });
    }
    Ok(PanelFile {
        path: path.to_path_buf(),
        panels,
        text_hash: super::hash(text),
    })
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(tag))
}

/// Puts what was read together: a refused file keeps its previous good
/// version; a PanelId in two files stays with the file that had it
/// before (else the first by name), and the other file is refused at
/// that PanelId.
fn settle(found: BTreeMap<String, Result<PanelFile, PanelError>>, previous: &Project) -> Project {
    let mut out = Project::default();
    let mut candidates: Vec<(String, PanelFile, bool)> = Vec::new();
    for (stem, read) in found {
        match read {
            Ok(f) => {
                let unchanged = previous.files.get(&stem).is_some_and(|p| p == &f);
                candidates.push((stem, f, unchanged));
            }
            Err(e) => {
                out.errors.push(e);
                if let Some(old) = previous.files.get(&stem) {
                    candidates.push((stem, old.clone(), true));
                }
            }
        }
    }
    // Versions already in force claim their PanelIds first.
    candidates.sort_by_key(|(stem, _, unchanged)| (!unchanged, stem.clone()));
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (stem, file, _) in candidates {
        if let Some((id, other)) = file
            .panels
            .iter()
            .find_map(|p| owner.get(&p.id).map(|o| (p.id.clone(), o.clone())))
        {
            out.errors.push(duplicate(&file, &id, &other));
            let fallback = previous.files.get(&stem).filter(|old| {
                *old != &file && old.panels.iter().all(|p| !owner.contains_key(&p.id))
            });
            if let Some(old) = fallback {
                for p in &old.panels {
                    owner.insert(p.id.clone(), stem.clone());
                }
                out.files.insert(stem, old.clone());
            }
            continue;
        }
        for p in &file.panels {
            owner.insert(p.id.clone(), stem.clone());
        }
        out.files.insert(stem, file);
    }
    out.errors.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// The error of a file whose PanelId `id` another file (`other`) has.
fn duplicate(file: &PanelFile, id: &str, other: &str) -> PanelError {
    let shown = file.path.display().to_string();
    let text = std::fs::read_to_string(&file.path).unwrap_or_default();
    let (line, col) = text
        .find(&format!(">{id}</PanelId>"))
        .map(|i| {
            let before = &text[..i + 1];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
            (line as u32, col as u32)
        })
        .unwrap_or((0, 0));
    PanelError {
        file: shown,
        line,
        col,
        message: format!("PanelId {id:?} is already defined in {other}.xml"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const ONE: &str = "<Extensions>\n  <Version>1.11</Version>\n  <Panel>\n    <Order>1</Order>\n    <PanelId>speeddial</PanelId>\n    <Type>Statusbar</Type>\n    <Name>Speed dial</Name>\n    <Page>\n      <Name>Dial</Name>\n      <Row>\n        <Widget>\n          <WidgetId>quickdial</WidgetId>\n          <Type>Button</Type>\n        </Widget>\n      </Row>\n    </Page>\n  </Panel>\n</Extensions>\n";

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xmacro-panels-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_file_with_one_panel_is_saved_as_written_with_its_widgets() {
        let f = parse(Path::new("panels/dial.xml"), "dial", ONE).unwrap();
        assert_eq!(f.panels.len(), 1);
        let p = &f.panels[0];
        assert_eq!(p.id, "speeddial");
        assert_eq!(p.body, ONE);
        assert_eq!(p.hash, crate::panels::hash(ONE));
        assert!(p.widgets.contains("quickdial"));
    }

    #[test]
    fn a_file_with_two_panels_gives_each_its_own_document_with_its_text_intact() {
        let two = "<Extensions><Version>1.11</Version><Panel><PanelId>a</PanelId><Name>A &amp; co</Name></Panel><Panel><PanelId>b</PanelId></Panel></Extensions>";
        let f = parse(Path::new("two.xml"), "two", two).unwrap();
        let ids: Vec<&str> = f.panels.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        let a = &f.panels[0].body;
        assert!(a.contains("<Version>1.11</Version>"), "{a}");
        assert!(
            a.contains("<Panel><PanelId>a</PanelId><Name>A &amp; co</Name></Panel>"),
            "{a}"
        );
        assert!(!a.contains("<PanelId>b</PanelId>"), "{a}");
        assert!(roxmltree::Document::parse(a).is_ok());
    }

    #[test]
    fn bad_files_are_refused_with_file_line_and_column() {
        let cases = [
            (
                "<Extensions>\n  <Panel>\n    <PanelId>x</PanelId>\n  </Pane>\n</Extensions>",
                4,
                "not well-formed",
            ),
            (
                "<Extensions>\n  <Panel>\n    <Name>x</Name>\n  </Panel>\n</Extensions>",
                2,
                "no <PanelId>",
            ),
            (
                "<Extensions>\n  <Version>1</Version>\n</Extensions>",
                1,
                "no <Panel>",
            ),
            ("<Panel><PanelId>x</PanelId></Panel>", 1, "not <Extensions>"),
            (
                "<Extensions>\n<Panel>\n<PanelId> </PanelId></Panel></Extensions>",
                3,
                "1 to 255",
            ),
        ];
        for (text, line, why) in cases {
            let e = parse(Path::new("panels/huddle.xml"), "huddle", text).unwrap_err();
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("panels/huddle.xml:{line}:")) && shown.contains(why),
                "{shown}"
            );
        }
    }

    #[test]
    fn a_refused_file_keeps_its_last_good_version_and_the_others_stay() {
        let dir = temp("keep");
        std::fs::write(dir.join("dial.xml"), ONE).unwrap();
        std::fs::write(
            dir.join("lights.xml"),
            "<Extensions><Panel><PanelId>lights</PanelId></Panel></Extensions>",
        )
        .unwrap();
        std::fs::write(dir.join(".dial.xml.swp"), "junk").unwrap();
        let good = read_dir(&dir, &Project::default());
        assert!(good.errors.is_empty(), "{:?}", good.errors);
        assert_eq!(good.panels().count(), 2);

        std::fs::write(dir.join("dial.xml"), "<Extensions><Panel>").unwrap();
        let now = read_dir(&dir, &good);
        assert_eq!(now.errors.len(), 1);
        assert!(
            now.errors[0].to_string().contains("dial.xml:1:"),
            "{}",
            now.errors[0]
        );
        assert!(
            now.same_panels(&good),
            "the last good version stays in force"
        );

        // Without a good version before, a refused file has no panels.
        let fresh = read_dir(&dir, &Project::default());
        assert_eq!(fresh.files.keys().collect::<Vec<_>>(), ["lights"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_panel_id_another_file_has_is_refused_in_the_file_that_came_second() {
        let dir = temp("dup");
        std::fs::write(dir.join("b.xml"), ONE).unwrap();
        let before = read_dir(&dir, &Project::default());
        std::fs::write(dir.join("a.xml"), ONE.replace("Speed dial", "Copy")).unwrap();
        let now = read_dir(&dir, &before);
        assert_eq!(now.files.keys().collect::<Vec<_>>(), ["b"]);
        let e = now.errors[0].to_string();
        assert!(
            e.contains("a.xml:5:") && e.contains("\"speeddial\" is already defined in b.xml"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_missing_folder_holds_no_panels() {
        let p = read_dir(Path::new("/no/such/panels"), &Project::default());
        assert_eq!(p, Project::default());
    }
}
