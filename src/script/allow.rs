//! `allow`: the xAPI a script may touch, as path patterns in the words of
//! the xAPI (`Status Audio Volume`, `Command Audio Volume *`, `Event
//! UserInterface Extensions **`). Plain data shared by the runtime (which
//! refuses a call outside the list before it reaches the codec) and
//! `xmacro check` (which flags literal paths outside it).
//!
//! What a pattern means:
//!
//! - A pattern names nodes of the xAPI tree and allows each of them with
//!   everything beneath it: reading a node delivers its subtree, so naming
//!   the node grants the subtree. `Status Audio` allows `Status Audio
//!   Volume`; `Status Audio Volume` does not allow `Status Audio`.
//! - `*` stands for exactly one word (any name, with any element id);
//!   `**` for any number of words, none included, so `Event UserInterface
//!   Extensions **` is that node and all below, and `Status ** DisplayName`
//!   every `DisplayName` in the status tree.
//! - The first word names the document: `Status`, `Config` or
//!   `Configuration` (the same), `Command`, `Event` (or `*`/`**`).
//! - Element ids follow the paths' own spellings: `Connector[1]` and
//!   `Connector 1` are the same; a pattern that gives no id there allows
//!   every element (`Video Input Connector Connected` allows
//!   `Connector[2] Connected`), one that gives an id allows that one only.
//! - Names are compared without regard to case, as codecs compare them.
//! - A request that itself holds `**` (a query such as `Status **
//!   DisplayName`, or feedback on `Event UserInterface **`) could reach
//!   anything its `**` stands for, so it is allowed only when one pattern
//!   covers all of that (`Status **`, `Status ** DisplayName`). Likewise a
//!   subscription to a parent path (`Status Audio` when only `Status Audio
//!   Volume` is allowed) is refused: it would deliver more than allowed.

use crate::xows::path::{Path, PathError, Root, Segment};

/// One word of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A name (`None` for `*`) and, if given, the element id.
    Word {
        name: Option<String>,
        index: Option<u64>,
    },
    /// `**`: any number of words.
    Tail,
}

/// One word of a requested path.
#[derive(Debug, Clone, Copy)]
enum Want<'a> {
    Word {
        name: &'a str,
        index: Option<u64>,
    },
    /// The request's own `**`.
    Any,
}

/// One pattern as written and as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    steps: Vec<Step>,
}

/// Why an `allow` entry cannot be read; names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowError {
    #[error("allow[{index}] {pattern:?}: {why}")]
    Bad {
        /// Position in the list, from 0.
        index: usize,
        pattern: String,
        why: String,
    },
}

/// A script's `allow` list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowList {
    patterns: Vec<Pattern>,
}

impl AllowList {
    /// Reads the patterns; the first that cannot be read is the error.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<AllowList, AllowError> {
        let patterns = list
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let text = text.as_ref();
                let steps = parse_pattern(text).map_err(|why| AllowError::Bad {
                    index,
                    pattern: text.to_string(),
                    why,
                })?;
                Ok(Pattern {
                    text: text.to_string(),
                    steps,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(AllowList { patterns })
    }

    /// Whether the list allows everything `path` could reach (the node,
    /// its subtree, and whatever a `**` in it stands for).
    pub fn permits(&self, path: &Path) -> bool {
        let want = wants(path);
        self.patterns.iter().any(|p| covers(&p.steps, &want))
    }

    /// The patterns as written.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|p| p.text.as_str())
    }

    /// The list as a message shows it: `["Status Audio Volume", ...]`.
    pub fn describe(&self) -> String {
        let quoted: Vec<String> = self.patterns().map(|p| format!("{p:?}")).collect();
        format!("[{}]", quoted.join(", "))
    }
}

fn parse_pattern(text: &str) -> Result<Vec<Step>, String> {
    let mut steps: Vec<Step> = Vec::new();
    for token in text.split(|c: char| c.is_whitespace() || c == '/') {
        if token.is_empty() {
            continue;
        }
        match token {
            "**" => steps.push(Step::Tail),
            "*" => steps.push(Step::Word {
                name: None,
                index: None,
            }),
            _ => {
                let segs = Path::parse(token).map_err(|e| match e {
                    PathError::BadToken { reason, .. } => reason.to_string(),
                    other => other.to_string(),
                })?;
                for seg in segs.0 {
                    match (seg, steps.last_mut()) {
                        (
                            Segment::Index(i),
                            Some(Step::Word {
                                index: index @ None,
                                ..
                            }),
                        ) => *index = Some(i),
                        (Segment::Index(_), _) => {
                            return Err("an element id must follow a name".into());
                        }
                        (Segment::Name(n), _) => steps.push(Step::Word {
                            name: Some(n),
                            index: None,
                        }),
                        (Segment::AnyDepth, _) => steps.push(Step::Tail),
                    }
                }
            }
        }
    }
    match steps.first_mut() {
        None => return Err("empty pattern".into()),
        Some(Step::Word {
            name: Some(first), ..
        }) => match Root::parse(first) {
            Some(root) => *first = root.as_str().to_string(),
            None => {
                return Err(
                    "a pattern starts with Status, Config, Command or Event (or * or **)".into(),
                );
            }
        },
        Some(_) => {}
    }
    Ok(steps)
}

/// A requested path as words, each name with the element id after it.
fn wants(path: &Path) -> Vec<Want<'_>> {
    let mut out: Vec<Want> = Vec::with_capacity(path.0.len());
    for seg in &path.0 {
        match (seg, out.last_mut()) {
            (
                Segment::Index(i),
                Some(Want::Word {
                    index: index @ None,
                    ..
                }),
            ) => *index = Some(*i),
            // An id with no name before it: a word no name matches.
            (Segment::Index(i), _) => out.push(Want::Word {
                name: "",
                index: Some(*i),
            }),
            (Segment::Name(n), _) => out.push(Want::Word {
                name: n,
                index: None,
            }),
            (Segment::AnyDepth, _) => out.push(Want::Any),
        }
    }
    out
}

/// Whether the pattern allows everything the request could reach.
fn covers(pattern: &[Step], want: &[Want]) -> bool {
    match (pattern.first(), want.first()) {
        // The pattern ends: the rest of the request lies beneath it.
        (None, _) => true,
        (Some(Step::Tail), _) => {
            covers(&pattern[1..], want) || (!want.is_empty() && covers(pattern, &want[1..]))
        }
        // The request ends above what the pattern names: a parent.
        (Some(Step::Word { .. }), None) => false,
        // Only `**` covers the request's own `**`.
        (Some(Step::Word { .. }), Some(Want::Any)) => false,
        (Some(Step::Word { name, index }), Some(Want::Word { name: n, index: i })) => {
            name.as_ref().is_none_or(|p| p.eq_ignore_ascii_case(n))
                && index.is_none_or(|p| *i == Some(p))
                && covers(&pattern[1..], &want[1..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(patterns: &[&str]) -> AllowList {
        AllowList::parse(patterns).unwrap()
    }

    fn allows(l: &AllowList, path: &str) -> bool {
        l.permits(&Path::parse(path).unwrap())
    }

    #[test]
    fn a_pattern_allows_the_node_it_names_and_everything_beneath_it() {
        let l = list(&["Status Audio"]);
        assert!(allows(&l, "Status Audio"));
        assert!(allows(&l, "Status Audio Volume"));
        assert!(allows(&l, "Status Audio Microphones Mute"));
        assert!(!allows(&l, "Status Video"));
        assert!(!allows(&l, "Status AudioX"));
        assert!(!allows(&l, "Config Audio"));
    }

    #[test]
    fn a_parent_of_an_allowed_path_is_refused_since_it_would_deliver_more() {
        let l = list(&["Status Audio Volume"]);
        assert!(allows(&l, "Status Audio Volume"));
        assert!(!allows(&l, "Status Audio"));
        assert!(!allows(&l, "Status"));
    }

    #[test]
    fn a_star_stands_for_exactly_one_word() {
        let l = list(&["Command Audio Volume *"]);
        assert!(allows(&l, "Command Audio Volume Set"));
        assert!(allows(&l, "Command Audio Volume Increase"));
        assert!(!allows(&l, "Command Audio Volume"));
        assert!(!allows(&l, "Command Audio VolumeMute"));
        assert!(!allows(&l, "Command Audio Microphones Mute"));
        let l = list(&["Status * Volume"]);
        assert!(allows(&l, "Status Audio Volume"));
        assert!(!allows(&l, "Status Audio Microphones Volume"));
    }

    #[test]
    fn a_double_star_stands_for_any_number_of_words_none_included() {
        let l = list(&["Event UserInterface Extensions **"]);
        assert!(allows(&l, "Event UserInterface Extensions"));
        assert!(allows(&l, "Event UserInterface Extensions Widget Action"));
        assert!(!allows(&l, "Event UserInterface"));
        let l = list(&["Status ** DisplayName"]);
        assert!(allows(&l, "Status SystemUnit Software DisplayName"));
        assert!(allows(&l, "Status DisplayName"));
        assert!(!allows(&l, "Status SystemUnit Software Version"));
        assert!(!allows(&l, "Config SystemUnit Name"));
    }

    #[test]
    fn config_and_configuration_are_the_same_document() {
        let l = list(&["Config Audio DefaultVolume"]);
        assert!(allows(&l, "Configuration Audio DefaultVolume"));
        assert!(allows(&l, "xConfiguration Audio DefaultVolume"));
        let l = list(&["Configuration Audio"]);
        assert!(allows(&l, "Config Audio DefaultVolume"));
    }

    #[test]
    fn names_are_compared_without_regard_to_case_so_no_spelling_slips_past() {
        let l = list(&["Status Audio Volume"]);
        assert!(allows(&l, "status audio volume"));
        assert!(allows(&l, "STATUS AUDIO VOLUME"));
        let l = list(&["Command Dial"]);
        assert!(!allows(&l, "command audio volume set"));
    }

    #[test]
    fn element_ids_are_read_in_either_spelling_and_a_pattern_without_one_allows_every_element() {
        let any = list(&["Status Video Input Connector Connected"]);
        assert!(allows(&any, "Status Video Input Connector[2] Connected"));
        assert!(allows(&any, "Status Video Input Connector 1 Connected"));
        let one = list(&["Status Video Input Connector[1] Connected"]);
        let spaced = list(&["Status Video Input Connector 1 Connected"]);
        assert_eq!(one.patterns[0].steps, spaced.patterns[0].steps);
        assert!(allows(&one, "Status Video Input Connector 1 Connected"));
        assert!(!allows(&one, "Status Video Input Connector[2] Connected"));
        // No id in the request: every element, more than the one allowed.
        assert!(!allows(&one, "Status Video Input Connector Connected"));
        let star = list(&["Status Video Input * Connected"]);
        assert!(allows(&star, "Status Video Input Connector[3] Connected"));
    }

    #[test]
    fn a_request_holding_a_double_star_needs_one_pattern_covering_all_it_could_reach() {
        let l = list(&["Status SystemUnit", "Status UserInterface"]);
        assert!(!allows(&l, "Status ** DisplayName"));
        assert!(allows(&l, "Status SystemUnit ** DisplayName"));
        assert!(allows(&list(&["Status **"]), "Status ** DisplayName"));
        assert!(allows(&list(&["Status"]), "Status ** DisplayName"));
        assert!(allows(
            &list(&["Status ** DisplayName"]),
            "Status ** DisplayName"
        ));
        let events = list(&["Event UserInterface Extensions **"]);
        assert!(!allows(&events, "Event UserInterface **"));
        assert!(allows(&events, "Event UserInterface Extensions Panel **"));
    }

    #[test]
    fn an_empty_list_allows_nothing_and_a_lone_double_star_everything() {
        assert!(!allows(&list(&[]), "Status Audio Volume"));
        let all = list(&["**"]);
        assert!(allows(&all, "Command Dial"));
        assert!(allows(&all, "Status ** DisplayName"));
    }

    #[test]
    fn a_pattern_that_cannot_be_read_is_named_with_its_place() {
        let e = AllowList::parse(&["Status Audio", "Audio Volume"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "allow[1] \"Audio Volume\": a pattern starts with Status, Config, Command or Event (or * or **)"
        );
        for bad in ["", "  ", "Status Au%dio", "1 Audio", "Status Connector[x]"] {
            let e = AllowList::parse(&[bad]).unwrap_err().to_string();
            assert!(e.starts_with("allow[0]"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_list_is_described_as_written() {
        let l = list(&["Status Audio Volume", "Command Audio Volume *"]);
        assert_eq!(
            l.describe(),
            r#"["Status Audio Volume", "Command Audio Volume *"]"#
        );
    }
}
