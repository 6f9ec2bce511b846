//! Paths into a codec's xAPI tree as scripts write them: `xapi.Status.Audio`
//! (each step a child), `xapi.Status.Video.Input.Connector[2]`, and the
//! string forms `xapi.get("Status/Audio/Volume")` resolve against.

use rhai::{Engine, INT, Position};

use super::{RhaiResult, usage};
use crate::xows::Codec;
use crate::xows::path::{Path, Root, Segment};

/// A place in one codec's xAPI tree: what `xapi`, `xapi.Status.Audio` and
/// `codecs["x"].Config` evaluate to.
#[derive(Clone)]
pub struct XPath {
    pub codec: Codec,
    pub path: Path,
    /// Where in the script the last part of the path was written, so a
    /// proxy-style command (`xapi.Command.X.Y(...)`, dispatched without a
    /// place of its own) fails at its place.
    pub pos: Position,
}

impl XPath {
    pub fn root(codec: Codec) -> Self {
        XPath {
            codec,
            path: Path::default(),
            pos: Position::NONE,
        }
    }

    pub(crate) fn describe(&self) -> String {
        if self.path.0.is_empty() {
            "xapi".into()
        } else {
            format!("xapi.{}", self.path.to_string().replace(' ', "."))
        }
    }
}

/// A path that remembers where it was written.
fn placed(c: rhai::NativeCallContext, p: RhaiResult<XPath>) -> RhaiResult<XPath> {
    p.map(|mut p| {
        p.pos = c.call_position();
        p
    })
}

fn parse_path(text: &str) -> RhaiResult<Path> {
    Path::parse(text).map_err(|e| usage(format!("path {text:?}: {e}")))
}

pub(super) fn need_root(p: &XPath, roots: &[Root], what: &str) -> RhaiResult<()> {
    match p.path.root() {
        Some(r) if roots.contains(&r) => Ok(()),
        _ => Err(usage(format!(
            "{what} works on {} paths, not {}",
            roots
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join("/"),
            p.describe()
        ))),
    }
}

fn child_name(p: &mut XPath, name: &str) -> RhaiResult<XPath> {
    let mut next = p.clone();
    next.pos = Position::NONE;
    if p.path.0.is_empty() {
        let root = Root::parse(name).ok_or_else(|| {
            usage(format!(
                "xapi has no {name:?}: use xapi.Status, xapi.Config, xapi.Command or xapi.Event"
            ))
        })?;
        next.path.0.push(Segment::Name(root.as_str().into()));
    } else {
        next.path.0.push(Segment::Name(name.into()));
    }
    Ok(next)
}

fn child_index(p: &mut XPath, index: INT) -> RhaiResult<XPath> {
    if index < 1 {
        return Err(usage(format!(
            "{}[{index}]: element ids start at 1",
            p.describe()
        )));
    }
    let mut next = p.clone();
    next.pos = Position::NONE;
    next.path.0.push(Segment::Index(index as u64));
    Ok(next)
}

pub(super) fn relative(p: &XPath, text: &str) -> RhaiResult<XPath> {
    let sub = parse_path(text)?;
    let mut next = p.clone();
    if sub.root().is_some() || p.path.0.is_empty() {
        next.path = sub;
    } else {
        next.path.0.extend(sub.0);
    }
    Ok(next)
}

pub(crate) fn command_path(p: &XPath, text: &str) -> RhaiResult<XPath> {
    let mut c = relative(p, text)?;
    if c.path.root() != Some(Root::Command) {
        c.path.0.insert(0, Segment::Name("Command".into()));
    }
    Ok(c)
}

/// Registers the path type: its steps (`.Name`, `[index]`) and its text.
pub(super) fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<XPath>("xapi path")
        .register_indexer_get(|c: rhai::NativeCallContext, p: &mut XPath, name: &str| {
            placed(c, child_name(p, name))
        })
        .register_indexer_get(|c: rhai::NativeCallContext, p: &mut XPath, i: INT| {
            placed(c, child_index(p, i))
        })
        // Methods take the path by value: Rhai writes a `&mut` method's
        // target back up a property chain, trying a setter and an index
        // setter per level (each failing with a formatted error), which
        // made `xapi.Status.Audio.Volume.get()` cost 10-15 us more than
        // `xapi.get("Status/Audio/Volume")`. A clone of a path is cheap.
        .register_fn("to_string", |p: XPath| p.describe())
        .register_fn("to_debug", |p: XPath| p.describe());
}
