//! xAPI paths: one type shared by the client, the simulator and the scripts.
//!
//! Users write paths in several spellings (`Status Audio Volume`,
//! `Status/Audio/Volume`, `Connector[1]`, `Connector 1`); they all parse to the
//! same [`Path`], which travels on the wire as a JSON array of names and
//! one-based element ids (`["Status","Video","Input","Connector",1]`).

use std::fmt;

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A node name, such as `Audio`.
    Name(String),
    /// An array element, selected by its `id` (one-based on the codecs).
    Index(u64),
    /// `**`: zero or more levels (queries and feedback only).
    AnyDepth,
}

/// The document a path starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Root {
    Status,
    Configuration,
    Command,
    Event,
}

impl Root {
    /// The canonical name, as the codec spells it on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Root::Status => "Status",
            Root::Configuration => "Configuration",
            Root::Command => "Command",
            Root::Event => "Event",
        }
    }

    /// Accepts the spellings people type: `Status`, `status`, `xStatus`,
    /// `Config`, `Configuration`, `xConfiguration`, `Command`, `Event`, ...
    pub fn parse(word: &str) -> Option<Root> {
        let w = word.to_ascii_lowercase();
        let w = w.strip_prefix('x').unwrap_or(&w);
        match w {
            "status" => Some(Root::Status),
            "config" | "configuration" => Some(Root::Configuration),
            "command" => Some(Root::Command),
            "event" => Some(Root::Event),
            _ => None,
        }
    }
}

/// Why a path did not parse; names the token at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("empty path")]
    Empty,
    #[error("bad path element {token:?}: {reason}")]
    BadToken { token: String, reason: &'static str },
    #[error("path element {index} is neither a name nor a number: {value}")]
    BadJson { index: usize, value: String },
}

/// A parsed xAPI path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Path(pub Vec<Segment>);

impl Path {
    /// Parses `Status Audio Volume`, `Status/Audio/Volume`,
    /// `Video Input Connector[2] Connected`, `Video Input Connector 2 Connected`
    /// and `Status ** DisplayName`. A first word that names a root
    /// (`status`, `xConfiguration`, `Config`, ...) is spelled canonically.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let mut segs = Vec::new();
        for token in text.split(|c: char| c.is_whitespace() || c == '/') {
            if token.is_empty() {
                continue;
            }
            parse_token(token, &mut segs)?;
        }
        if segs.is_empty() {
            return Err(PathError::Empty);
        }
        let mut path = Path(segs);
        path.canonical_root();
        Ok(path)
    }

    /// Builds a path from already separated words (as a CLI receives them);
    /// each word may itself hold several elements (`"Audio Volume"`).
    pub fn from_words<S: AsRef<str>>(words: &[S]) -> Result<Path, PathError> {
        let joined: Vec<&str> = words.iter().map(|w| w.as_ref()).collect();
        Path::parse(&joined.join(" "))
    }

    /// The JSON form used on the wire: names as strings, ids as numbers.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|s| match s {
                    Segment::Name(n) => Value::String(n.clone()),
                    Segment::Index(i) => Value::from(*i),
                    Segment::AnyDepth => Value::String("**".into()),
                })
                .collect(),
        )
    }

    /// Reads the wire form. Strings that look like numbers (legacy clients
    /// send `"2"`) select elements too.
    pub fn from_json(value: &Value) -> Result<Path, PathError> {
        let items = value.as_array().ok_or(PathError::BadJson {
            index: 0,
            value: value.to_string(),
        })?;
        let mut segs = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            match item {
                Value::String(s) if s == "**" => segs.push(Segment::AnyDepth),
                Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => segs
                    .push(Segment::Index(s.parse().map_err(|_| {
                        PathError::BadJson {
                            index,
                            value: item.to_string(),
                        }
                    })?)),
                Value::String(s) if !s.is_empty() => segs.push(Segment::Name(s.clone())),
                Value::Number(n) if n.as_u64().is_some() => {
                    segs.push(Segment::Index(n.as_u64().unwrap_or_default()))
                }
                _ => {
                    return Err(PathError::BadJson {
                        index,
                        value: item.to_string(),
                    });
                }
            }
        }
        if segs.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(Path(segs))
    }

    /// The document this path starts in, if its first element names one.
    pub fn root(&self) -> Option<Root> {
        match self.0.first() {
            Some(Segment::Name(n)) => Root::parse(n),
            _ => None,
        }
    }

    /// Whether the path holds `**`.
    pub fn has_wildcard(&self) -> bool {
        self.0.contains(&Segment::AnyDepth)
    }

    /// The path without its first element (for example the root).
    pub fn tail(&self) -> &[Segment] {
        self.0.get(1..).unwrap_or(&[])
    }

    /// Names only, joined with `/` (the form of a command method name).
    pub fn slash_joined(segs: &[Segment]) -> String {
        let mut out = String::new();
        for s in segs {
            if !out.is_empty() {
                out.push('/');
            }
            out.push_str(&Path::segment_text(s));
        }
        out
    }

    fn segment_text(s: &Segment) -> String {
        match s {
            Segment::Name(n) => n.clone(),
            Segment::Index(i) => i.to_string(),
            Segment::AnyDepth => "**".into(),
        }
    }

    fn canonical_root(&mut self) {
        if let Some(Segment::Name(first)) = self.0.first_mut()
            && let Some(root) = Root::parse(first)
        {
            *first = root.as_str().to_string();
        }
    }
}

impl fmt::Display for Path {
    /// Space separated, an element id in brackets right after its name:
    /// `Status Video Input Connector[2] Connected`. The text parses back to
    /// the same path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut prev: Option<&Segment> = None;
        for s in &self.0 {
            match (prev, s) {
                (Some(Segment::Name(_)), Segment::Index(i)) => write!(f, "[{i}]")?,
                (p, other) => {
                    if p.is_some() {
                        f.write_str(" ")?;
                    }
                    f.write_str(&Path::segment_text(other))?;
                }
            }
            prev = Some(s);
        }
        Ok(())
    }
}

fn parse_token(token: &str, segs: &mut Vec<Segment>) -> Result<(), PathError> {
    let bad = |reason| PathError::BadToken {
        token: token.to_string(),
        reason,
    };
    if token == "**" {
        segs.push(Segment::AnyDepth);
        return Ok(());
    }
    if token.bytes().all(|b| b.is_ascii_digit()) {
        let id = token.parse().map_err(|_| bad("number too large"))?;
        segs.push(Segment::Index(id));
        return Ok(());
    }
    let (name, index) = match token.find('[') {
        Some(open) => {
            let rest = &token[open + 1..];
            let inner = rest.strip_suffix(']').ok_or_else(|| bad("missing ']'"))?;
            if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("an element id in brackets must be a number"));
            }
            let id = inner.parse().map_err(|_| bad("number too large"))?;
            (&token[..open], Some(id))
        }
        None => (token, None),
    };
    if name.is_empty() {
        return Err(bad("a name must come before '['"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(bad(
            "names start with a letter (digits alone select an element)",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(bad("names hold letters, digits, '_', '-' and '.' only"));
    }
    segs.push(Segment::Name(name.to_string()));
    if let Some(id) = index {
        segs.push(Segment::Index(id));
    }
    Ok(())
}

/// Whether `pattern` (which may hold `**`) matches the whole of `path`.
pub fn matches(pattern: &[Segment], path: &[Segment]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(Segment::AnyDepth), _) => {
            matches(&pattern[1..], path) || (!path.is_empty() && matches(pattern, &path[1..]))
        }
        (Some(p), Some(s)) => p == s && matches(&pattern[1..], &path[1..]),
        _ => false,
    }
}

/// Whether `pattern` matches some prefix of `path` (a subscription to
/// `Status Audio` covers `Status Audio Volume`).
pub fn matches_prefix(pattern: &[Segment], path: &[Segment]) -> bool {
    (0..=path.len()).any(|n| matches(pattern, &path[..n]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Path) -> String {
        p.to_json().to_string()
    }

    #[test]
    fn spellings_agree() {
        let a = Path::parse("Status Video Input Connector[1] Connected").unwrap();
        let b = Path::parse("Status/Video/Input/Connector/1/Connected").unwrap();
        let c = Path::parse("  Status  Video Input Connector 1 Connected ").unwrap();
        let d = Path::parse("xStatus Video Input Connector[1] Connected").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a, d);
        assert_eq!(
            names(&a),
            r#"["Status","Video","Input","Connector",1,"Connected"]"#
        );
        assert_eq!(a.to_string(), "Status Video Input Connector[1] Connected");
    }

    #[test]
    fn roots_are_canonical() {
        assert_eq!(
            Path::parse("config Audio DefaultVolume").unwrap().0[0],
            Segment::Name("Configuration".into())
        );
        assert_eq!(
            Path::parse("Audio Volume").unwrap().root(),
            None,
            "no root is invented"
        );
        assert_eq!(Path::parse("event x").unwrap().root(), Some(Root::Event));
    }

    #[test]
    fn bad_tokens_are_named() {
        let e = Path::parse("Status Connector[x]").unwrap_err();
        assert!(e.to_string().contains("Connector[x]"), "{e}");
        assert!(Path::parse("Status Connector[1").is_err());
        assert!(Path::parse("Status [1]").is_err());
        assert!(Path::parse("Status Au$dio").is_err());
        assert!(
            Path::parse("6[36]").is_err(),
            "found by the path fuzz target"
        );
        assert!(Path::parse("Status 2x").is_err());
        assert_eq!(Path::parse(" / ").unwrap_err(), PathError::Empty);
    }

    #[test]
    fn json_round_trip_and_legacy_ids() {
        let p = Path::parse("Status ** DisplayName").unwrap();
        assert_eq!(Path::from_json(&p.to_json()).unwrap(), p);
        let legacy = serde_json::json!(["Status", "Call", "3", "Status"]);
        assert_eq!(
            Path::from_json(&legacy).unwrap(),
            Path::parse("Status Call[3] Status").unwrap()
        );
        assert!(Path::from_json(&serde_json::json!(["Status", true])).is_err());
        assert!(Path::from_json(&serde_json::json!("Status")).is_err());
    }

    #[test]
    fn display_parses_back() {
        for text in [
            "Status Video Input Connector[1] Connected",
            "a 1 2",
            "** 1",
            "1",
            "Status ** 3 x",
        ] {
            let p = Path::parse(text).unwrap();
            assert_eq!(
                Path::parse(&p.to_string()).unwrap(),
                p,
                "{text} shown as {p}"
            );
        }
    }

    #[test]
    fn wildcard_matching() {
        let q = Path::parse("Status ** DisplayName").unwrap();
        let hit = Path::parse("Status SystemUnit Software DisplayName").unwrap();
        let direct = Path::parse("Status DisplayName").unwrap();
        let miss = Path::parse("Status SystemUnit Software Version").unwrap();
        assert!(matches(&q.0, &hit.0));
        assert!(matches(&q.0, &direct.0));
        assert!(!matches(&q.0, &miss.0));
        let sub = Path::parse("Status Audio").unwrap();
        let leaf = Path::parse("Status Audio Volume").unwrap();
        assert!(matches_prefix(&sub.0, &leaf.0));
        assert!(!matches_prefix(&leaf.0, &sub.0));
        let all = Path::parse("**").unwrap();
        assert!(matches_prefix(&all.0, &leaf.0));
    }
}
