//! The `[rollout]` table: which codecs get a change first (`canary`, the
//! same selectors as `[script.NAME] codecs`), how long a change runs there
//! without a failure before it goes everywhere (`soak`), and the local-time
//! hours promotion to the rest may happen in (`window`, optional, may
//! cross midnight). Without the table a change goes everywhere at once.

use std::time::Duration;

use chrono::NaiveTime;
use serde::Deserialize;

use super::KeyError;

/// The `[rollout]` table as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRollout {
    pub canary: Option<Vec<String>>,
    pub soak: Option<String>,
    pub window: Option<String>,
}

/// `[rollout]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutConfig {
    /// Codec names and `tag:x` selectors: the codecs a change reaches first.
    pub canary: Vec<String>,
    /// How long a change runs on the canary without a failure before it is
    /// promoted to every codec.
    pub soak: Duration,
    /// Local-time hours in which promotion may happen; any time when `None`.
    pub window: Option<Window>,
}

/// Local-time hours, `start` included, `end` not; `start > end` crosses
/// midnight ("22:00-05:00").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// Why a `window` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Not `HH:MM-HH:MM`.
    #[error("{0:?} is not a window like \"22:00-05:00\" (local time, HH:MM-HH:MM)")]
    Shape(String),
    /// Start and end are the same.
    #[error(
        "{0:?} is an empty window (start and end are the same); leave window out to promote at any time"
    )]
    Empty(String),
}

impl Window {
    /// Reads `"HH:MM-HH:MM"`.
    pub fn parse(text: &str) -> Result<Window, WindowError> {
        let shape = || WindowError::Shape(text.to_string());
        let (a, b) = text.split_once('-').ok_or_else(shape)?;
        let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| shape());
        let (start, end) = (time(a)?, time(b)?);
        if start == end {
            return Err(WindowError::Empty(text.to_string()));
        }
        Ok(Window { start, end })
    }

    /// Whether the local time `t` is inside the window.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

/// The soak when `[rollout]` leaves it out.
pub const DEFAULT_SOAK: Duration = Duration::from_secs(30 * 60);

impl RawRollout {
    /// Checks the table; `pick` says whether a canary selector picks some
    /// configured codec (`Err` with a hint when not).
    pub fn resolve(
        &self,
        pick: &dyn Fn(&str) -> Result<(), String>,
    ) -> Result<RolloutConfig, KeyError> {
        let canary = self.canary.clone().ok_or_else(|| {
            KeyError::new(
                "canary",
                "missing: name the codecs a change reaches first, as canary = [\"tag:canary\", \"lab-1\"]",
            )
        })?;
        if canary.is_empty() {
            return Err(KeyError::new(
                "canary",
                "is empty: name at least one codec or tag (without canary codecs a change could never be tried before it goes everywhere)",
            ));
        }
        for sel in &canary {
            pick(sel).map_err(|hint| {
                KeyError::new(
                    "canary",
                    format!("{sel:?} matches no configured codec: {hint}"),
                )
            })?;
        }
        let soak = match &self.soak {
            Some(s) => {
                super::parse_duration(s).map_err(|e| KeyError::new("soak", e.to_string()))?
            }
            None => DEFAULT_SOAK,
        };
        let window = self
            .window
            .as_deref()
            .map(Window::parse)
            .transpose()
            .map_err(|why| KeyError::new("window", why.to_string()))?;
        Ok(RolloutConfig {
            canary,
            soak,
            window,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn a_window_crossing_midnight_holds_the_late_evening_and_the_early_morning() {
        let w = Window::parse("22:00-05:00").unwrap();
        assert!(w.contains(t(22, 0)));
        assert!(w.contains(t(23, 59)));
        assert!(w.contains(t(0, 0)));
        assert!(w.contains(t(4, 59)));
        assert!(!w.contains(t(5, 0)));
        assert!(!w.contains(t(12, 0)));
        assert!(!w.contains(t(21, 59)));
        assert_eq!(w.to_string(), "22:00-05:00");
    }

    #[test]
    fn a_window_inside_one_day_holds_its_hours_only() {
        let w = Window::parse("09:30-17:00").unwrap();
        assert!(w.contains(t(9, 30)));
        assert!(w.contains(t(16, 59)));
        assert!(!w.contains(t(17, 0)));
        assert!(!w.contains(t(9, 29)));
    }

    #[test]
    fn bad_windows_say_what_a_window_looks_like() {
        for bad in ["22-05", "22:00", "25:00-01:00", "22:00-5", "evening"] {
            let e = Window::parse(bad).unwrap_err().to_string();
            assert!(e.contains("HH:MM-HH:MM"), "{bad}: {e}");
        }
        assert!(
            Window::parse("05:00-05:00")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }

    const FLEET: &str = r#"
[defaults]
password_env = "PW"

[[codec]]
name = "lab-1"
url = "ws://127.0.0.1:1/ws"
tags = ["canary"]

[[codec]]
name = "room-1"
url = "ws://127.0.0.1:2/ws"
"#;

    fn parse(rollout: &str) -> Result<super::super::Config, super::super::ConfigError> {
        let text = format!("{FLEET}\n{rollout}");
        let env = |k: &str| (k == "PW").then(|| "pw".to_string());
        super::super::Config::parse(std::path::Path::new("/etc/xmacro.toml"), &text, &env)
    }

    #[test]
    fn a_rollout_table_resolves_with_its_soak_and_window() {
        let c = parse("[rollout]\ncanary = [\"tag:canary\", \"room-1\"]\nsoak = \"2s\"\nwindow = \"22:00-05:00\"\n").unwrap();
        let r = c.rollout.unwrap();
        assert_eq!(r.canary, ["tag:canary", "room-1"]);
        assert_eq!(r.soak, Duration::from_secs(2));
        assert_eq!(r.window.unwrap().to_string(), "22:00-05:00");
        let r = parse("[rollout]\ncanary = [\"lab-1\"]\n")
            .unwrap()
            .rollout
            .unwrap();
        assert_eq!((r.soak, r.window), (DEFAULT_SOAK, None));
        assert!(parse("").unwrap().rollout.is_none());
    }

    #[test]
    fn a_bad_rollout_value_is_placed_at_its_file_line_and_key() {
        let at = |text: &str| parse(text).unwrap_err().to_string();
        let e = at("[rollout]\ncanary = [\"lab-1\"]\nsoak = \"30 minutes\"\n");
        assert!(
            e.starts_with("/etc/xmacro.toml:16:1: [rollout]: key soak:"),
            "{e}"
        );
        let e = at("[rollout]\ncanary = [\"lab-1\"]\nwindow = \"late\"\n");
        assert!(
            e.starts_with("/etc/xmacro.toml:16:1: [rollout]: key window:"),
            "{e}"
        );
        let e = at("[rollout]\ncanary = [\"tag:canery\"]\n");
        assert!(
            e.starts_with("/etc/xmacro.toml:15:1: [rollout]: key canary:"),
            "{e}"
        );
        assert!(e.contains("did you mean \"canary\""), "{e}");
        let e = at("[rollout]\ncanary = []\n");
        assert!(e.contains("key canary: is empty"), "{e}");
        let e = at("[rollout]\nsoak = \"1m\"\n");
        assert!(e.contains("key canary: missing"), "{e}");
        let e = at("[rollout]\ncanary = [\"lab-1\"]\nsoke = \"1m\"\n");
        assert!(e.contains("soke"), "{e}");
    }
}
