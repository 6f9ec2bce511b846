//! UI extension panels that travel with the scripts: the `panels/` folder
//! read into panels ([`files`]), and what a codec needs to be in line with
//! it ([`plan`]). Both are plain data with no I/O beyond reading the
//! folder; the host's `panels` task executes a plan against a codec.
//!
//! A panel file is an `<Extensions>` document as the device's UI Extensions
//! Editor exports it, with one or more `<Panel>` elements. Each panel is
//! saved on its own (`UserInterface Extensions Panel Save PanelId: ID`,
//! body: an `<Extensions>` document holding that one panel, its text as
//! written), and known by the hash of that body.

pub mod files;
pub mod plan;

pub use files::{Panel, PanelError, PanelFile, Project, read_dir};
pub use plan::{Action, plan};

/// The folder of panels beside a config file (or a scripts folder) when
/// none is named.
pub const DEFAULT_PANELS: &str = "panels";

/// The hash a panel is known by: SHA-256 of the body the host saves, in
/// hex (kept in the store per codec and PanelId, so it must not change
/// between builds the way `DefaultHasher` may).
pub fn hash(body: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(body.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}
