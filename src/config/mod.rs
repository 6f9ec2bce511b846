//! `xmacro.toml` read into a validated [`Config`]. Every mistake is reported
//! with the file, line and key at fault; passwords come from an environment
//! variable or a file, never from the config text, and never reach a log.
//!
//! The file is read in two steps, as written and then as meant:
//!
//! - [`raw`]: the TOML tables as written (unknown keys refused), each
//!   `[[codec]]` table cut out of the text by [`split`] and parsed on its
//!   own, and the places in the text mistakes are reported at;
//! - [`resolve`]: one step per part of the file, from what it says to the
//!   [`Config`] it means (defaults merged, paths relative to the file,
//!   passwords read, selectors checked).
//!
//! Beside them: [`bounds`] (size and nesting bounds, password sources),
//! [`codec`] (the client settings a codec table or the command line's
//! flags build, the same way for both) and [`store`] (`state =
//! "postgres://..."` and `[store]`).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::xows::CodecConfig;

pub mod bounds;
pub mod codec;
pub mod panels;
pub mod raw;
pub mod resolve;
pub mod rollout;
pub mod split;
pub mod store;

/// A config mistake: where and what (`line` 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
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

impl std::error::Error for ConfigError {}

/// A setting that cannot work: its key (in a config table; also the name
/// of its command-line flag) and why. Whoever knows where the key is
/// written places it ([`ConfigError`], or the flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct KeyError {
    pub key: &'static str,
    pub why: String,
}

impl KeyError {
    pub fn new(key: &'static str, why: impl Into<String>) -> Self {
        KeyError {
            key,
            why: why.into(),
        }
    }
}

/// The scripts folder when neither the command line nor the config names one.
pub const DEFAULT_SCRIPTS: &str = "scripts";
/// Where `store` keeps its files when neither `--state` nor the config says.
pub const DEFAULT_STATE: &str = ".xmacro/state";

/// The config file to use: the one given (`--config`, or `XMACRO_CONFIG`
/// through clap), else `./xmacro.toml` when it exists.
pub fn discover(given: Option<&Path>) -> Option<PathBuf> {
    let here = Path::new("xmacro.toml");
    given
        .map(Path::to_path_buf)
        .or_else(|| here.is_file().then(|| here.to_path_buf()))
}

/// ` (did you mean "x"?)` for the candidate nearest to a likely typo, else "".
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a String>) -> String {
    crate::schema::nearest(word, candidates)
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default()
}

/// One configured codec.
#[derive(Debug, Clone)]
pub struct CodecEntry {
    pub name: String,
    pub tags: Vec<String>,
    pub config: CodecConfig,
}

/// An entry of `[script.NAME] codecs`: a codec's name, or `tag:T` for
/// every codec tagged T. The config checks each picks some codec; the host
/// binds the script to those it picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector<'a> {
    Name(&'a str),
    Tag(&'a str),
}

impl<'a> Selector<'a> {
    /// Reads one entry as written.
    pub fn parse(text: &'a str) -> Selector<'a> {
        match text.strip_prefix("tag:") {
            Some(tag) => Selector::Tag(tag),
            None => Selector::Name(text),
        }
    }

    /// Whether this entry picks `codec`.
    pub fn picks(&self, codec: &CodecEntry) -> bool {
        match *self {
            Selector::Name(n) => codec.name == n,
            Selector::Tag(t) => codec.tags.iter().any(|x| x == t),
        }
    }
}

/// Whether a `codecs = [...]` list (names and `tag:T`) picks `codec`; no
/// list picks every codec.
pub fn selected(selectors: Option<&[String]>, codec: &CodecEntry) -> bool {
    selectors.is_none_or(|sel| sel.iter().any(|s| Selector::parse(s).picks(codec)))
}

/// One `[script.NAME]` table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptConfig {
    /// Codec names and `tag:x` selectors; `None` means every codec.
    pub codecs: Option<Vec<String>>,
    /// The script's `args` map.
    pub args: toml::Table,
    /// `allow`: the xAPI it may touch; `None` means all of it.
    pub allow: Option<crate::script::allow::AllowList>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub file: PathBuf,
    pub scripts: PathBuf,
    pub state: PathBuf,
    /// A PostgreSQL store (`state = "postgres://..."` or `[store]`), in
    /// place of the state directory.
    pub postgres: Option<store::PgSettings>,
    /// `store_quota`: bytes each instance's store may hold, if set.
    pub store_quota: Option<u64>,
    /// `audit_keep` and `audit_max_records`: what the audit trail keeps.
    pub audit: crate::audit::Retention,
    /// `connect_rate`: connection attempts per second, host-wide
    /// ([`crate::xows::pace`]).
    pub connect_rate: u32,
    /// `ping_rate`: keepalive pings per second, host-wide
    /// ([`crate::xows::pinger`]).
    pub ping_rate: u32,
    /// The codecs kept: every one, or only those a shard serves
    /// ([`Config::load_shard`]).
    pub codecs: Vec<CodecEntry>,
    /// How many codecs the file names (kept or not).
    pub fleet_size: usize,
    pub script: BTreeMap<String, ScriptConfig>,
    /// Where each `[script.NAME]` table starts (line, column).
    pub script_at: BTreeMap<String, (usize, usize)>,
    /// The `[http]` table: the status server.
    pub http: HttpConfig,
    /// `schema = "FILE"`: the public xAPI schema editors check and complete
    /// scripts against (`xmacro lsp`), relative to the config file.
    pub schema: Option<PathBuf>,
    /// `[rollout]`: a change reaches the canary codecs first and the rest
    /// after a soak; `None`: everywhere at once.
    pub rollout: Option<rollout::RolloutConfig>,
    /// A hash of the text it was read from: a save that changes nothing
    /// (or a mistake already reported) is not acted on again.
    pub text_hash: u64,
    /// `panels = "DIR"`: the UI extension panels folder.
    pub panels: PathBuf,
    /// The `[panel.NAME]` tables.
    pub panel: BTreeMap<String, panels::PanelConfig>,
    /// Each kept codec's `settings` (over `[defaults] settings`), by name.
    pub settings: BTreeMap<String, toml::Table>,
}

/// The `[http]` table: where `xmacro run` serves its status page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpConfig {
    /// `listen = "127.0.0.1:9090"`.
    pub listen: Option<std::net::SocketAddr>,
    /// `token_file = "FILE"` (relative to the config file).
    pub token_file: Option<PathBuf>,
}

/// Why a duration such as `10s` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0:?} has no unit (use ms, s, m or h)")]
    NoUnit(String),
    #[error("{0:?} is not a duration")]
    NotANumber(String),
    #[error("{text:?}: unknown unit {unit:?} (use ms, s, m or h)")]
    UnknownUnit { text: String, unit: String },
    #[error("{0:?} must be more than zero")]
    NotPositive(String),
    #[error("{0:?} is longer than a week")]
    TooLong(String),
}

/// Reads a duration such as `10s`, `500ms`, `2m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| DurationError::NoUnit(text.into()))?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| DurationError::NotANumber(text.into()))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        u => {
            return Err(DurationError::UnknownUnit {
                text: text.into(),
                unit: u.into(),
            });
        }
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(DurationError::NotPositive(text.into()));
    }
    // A week is already absurd for any timeout here; more is a typo.
    if secs > 7.0 * 24.0 * 3600.0 {
        return Err(DurationError::TooLong(text.into()));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| DurationError::NotANumber(text.into()))
}

/// The hash a [`Config`] keeps of the text it was read from.
pub fn text_hash(text: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl Config {
    /// The kept codecs script `name` runs on: those its `[script.NAME]
    /// codecs` picks, or every one.
    pub fn scope<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a CodecEntry> + 'a {
        let selectors = self.script.get(name).and_then(|s| s.codecs.as_deref());
        self.codecs.iter().filter(move |c| selected(selectors, c))
    }

    /// Reads and validates a config file. Environment variables named by
    /// `password_env` are read now.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        Config::load_shard(file, None)
    }

    /// Reads a config keeping only the codecs `shard` serves (all without
    /// one). Every codec table is checked (its keys, its name unique), but
    /// only kept codecs are resolved (URL, password, TLS files) and held,
    /// so a shard of a 100,000-codec fleet holds its own share.
    pub fn load_shard(
        file: &Path,
        shard: Option<crate::fleet::shard::Shard>,
    ) -> Result<Config, ConfigError> {
        let text = Config::read_text(file)?;
        Config::parse_shard(file, &text, shard)
    }

    /// The text of a config file, read bounded (a FIFO or a device put in
    /// its place is refused at once, not waited on).
    pub fn read_text(file: &Path) -> Result<String, ConfigError> {
        let unreadable = |message: String| ConfigError {
            file: file.display().to_string(),
            line: 0,
            col: 0,
            message,
        };
        if std::fs::metadata(file).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            return Err(unreadable("the config file does not exist".to_string()));
        }
        let bytes = crate::files::read_bounded(file, bounds::MAX_CONFIG_BYTES)
            .map_err(|e| unreadable(format!("{e} (a config holds settings, not data)")))?;
        String::from_utf8(bytes).map_err(|e| unreadable(format!("not UTF-8 text: {e}")))
    }

    /// Parses config text read from `file`, keeping the codecs `shard`
    /// serves; environment variables are read now.
    pub fn parse_shard(
        file: &Path,
        text: &str,
        shard: Option<crate::fleet::shard::Shard>,
    ) -> Result<Config, ConfigError> {
        let keep = |name: &str| shard.is_none_or(|s| s.serves(name));
        Config::parse_keeping(file, text, &|k| std::env::var(k).ok(), &keep)
    }

    /// Parses config text; `env` looks up environment variables.
    pub fn parse(
        file: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse_keeping(file, text, env, &|_| true)
    }

    /// Reads a config whose codecs' passwords come from elsewhere (`-p` or
    /// `XMACRO_PASSWORD` on a one-shot): `password_env` and
    /// `password_file` are not read, and the passwords are left empty.
    pub fn load_without_passwords(file: &Path) -> Result<Config, ConfigError> {
        let text = Config::read_text(file)?;
        Config::parse_with(file, &text, &|k| std::env::var(k).ok(), &|_| true, false)
    }

    /// Parses config text, keeping (and resolving) only the codecs whose
    /// name `keep` accepts: read as written, then resolved part by part.
    pub fn parse_keeping(
        file: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Config, ConfigError> {
        Config::parse_with(file, text, env, keep, true)
    }

    fn parse_with(
        file: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        keep: &dyn Fn(&str) -> bool,
        passwords: bool,
    ) -> Result<Config, ConfigError> {
        let src = raw::Source {
            name: file.display().to_string(),
            text,
        };
        let read = raw::read(&src, bounds::MAX_CODECS)?;
        let mut r = resolve::Resolver::new(file, &src, &read, env);
        r.passwords = passwords;
        let defaults = r.defaults()?;
        let store_quota = r.store_quota()?;
        let audit = r.audit()?;
        let connect_rate = r.connect_rate()?;
        let ping_rate = r.ping_rate()?;
        let postgres = r.postgres()?;
        let fleet = r.codecs(&defaults, keep)?;
        let (script, script_at) = r.scripts(&fleet)?;
        let panel = r.panel_tables(&fleet)?;
        let panels = r.panels_dir()?;
        let http = r.http()?;
        let rollout = r.rollout(&fleet)?;
        let raw = &read.file;
        Ok(Config {
            http,
            file: file.to_path_buf(),
            scripts: r.rel(raw.scripts.as_deref().unwrap_or(DEFAULT_SCRIPTS)),
            state: r.rel(raw.state.as_deref().unwrap_or(DEFAULT_STATE)),
            postgres,
            store_quota,
            audit,
            connect_rate,
            ping_rate,
            fleet_size: fleet.names.len(),
            codecs: fleet.kept,
            settings: fleet.settings,
            panels,
            panel,
            script,
            script_at,
            schema: raw.schema.as_deref().map(|p| r.rel(p)),
            rollout,
            text_hash: text_hash(text.as_bytes()),
        })
    }

    /// Refuses a `[script.NAME]` table whose NAME is no script in `known`
    /// (a typo would otherwise leave the real script running with default
    /// args, everywhere).
    pub fn check_script_names(&self, known: &[String]) -> Result<(), ConfigError> {
        for name in self.script.keys() {
            if !known.contains(name) {
                let (line, col) = self.script_at.get(name).copied().unwrap_or((0, 0));
                let list = if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                };
                return Err(ConfigError {
                    file: self.file.display().to_string(),
                    line,
                    col,
                    message: format!(
                        "[script.{name}]: there is no script {name:?} in {}{} (scripts: {list})",
                        self.scripts.display(),
                        did_you_mean(name, known.iter())
                    ),
                });
            }
        }
        Ok(())
    }

    /// The configured codec with this name.
    pub fn codec(&self, name: &str) -> Option<&CodecEntry> {
        self.codecs.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xows::Password;
    use crate::xows::TlsMode;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let env = |k: &str| (k == "CODEC_PASSWORD").then(|| "pw".to_string());
        Config::parse(Path::new("/etc/xmacro/xmacro.toml"), text, &env)
    }

    const GOOD: &str = r#"
scripts = "scripts"
state = ".xmacro/state"

[defaults]
username = "integrator"
password_env = "CODEC_PASSWORD"
request_timeout = "5s"

[[codec]]
name = "boardroom"
url = "wss://10.0.0.5/ws"
fingerprint = "sha256:4F:2A:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01"
tags = ["floor3"]

[[codec]]
name = "huddle-1"
url = "ws://huddle-1.example.com/ws"

[script.volume-limit]
codecs = ["boardroom", "tag:floor3"]
args = { max = 60 }
"#;

    #[test]
    fn a_good_config_resolves() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.scripts, PathBuf::from("/etc/xmacro/scripts"));
        assert_eq!(c.codecs.len(), 2);
        let b = c.codec("boardroom").unwrap();
        assert_eq!(b.config.username, "integrator");
        assert_eq!(b.config.password, Password("pw".into()));
        assert_eq!(b.config.request_timeout, Duration::from_secs(5));
        assert!(matches!(b.config.tls, TlsMode::Pin(_)));
        assert_eq!(b.tags, vec!["floor3"]);
        let s = &c.script["volume-limit"];
        assert_eq!(s.args["max"].as_integer(), Some(60));
        assert_eq!(c.http, HttpConfig::default());
    }

    #[test]
    fn connect_rate_defaults_to_500_a_second_and_a_rate_that_cannot_work_names_its_line() {
        assert_eq!(parse(GOOD).unwrap().connect_rate, 500);
        assert_eq!(parse("connect_rate = 50\n").unwrap().connect_rate, 50);
        assert_eq!(parse(GOOD).unwrap().ping_rate, 150);
        assert_eq!(parse("ping_rate = 400\n").unwrap().ping_rate, 400);
        let e = err("scripts = \"s\"\nping_rate = 0\n");
        assert!(
            e.contains(":2:") && e.contains("key ping_rate") && e.contains("keepalive pings"),
            "{e}"
        );
        for bad in ["0", "-5", "100001"] {
            let e = err(&format!("scripts = \"s\"\nconnect_rate = {bad}\n"));
            assert!(
                e.contains(":2:") && e.contains("key connect_rate") && e.contains("1 to 100000"),
                "{e}"
            );
        }
        let e = err("connect_rate = \"fast\"\n");
        assert!(e.contains(":1:") && e.contains("key connect_rate"), "{e}");
    }

    #[test]
    fn the_http_table_gives_the_status_server_address_and_token_file() {
        let c = parse("[http]\nlisten = \"0.0.0.0:9090\"\ntoken_file = \"http-token\"\n").unwrap();
        assert_eq!(c.http.listen, Some("0.0.0.0:9090".parse().unwrap()));
        assert_eq!(
            c.http.token_file,
            Some(PathBuf::from("/etc/xmacro/http-token"))
        );
        let e = err("\n[http]\nlisten = \"localhost\"\n");
        assert!(e.contains(":2:") && e.contains("key listen"), "{e}");
        let e = err("[http]\nport = 1\n");
        assert!(e.contains("port"), "{e}");
    }

    #[test]
    fn the_schema_key_names_the_file_editors_check_against() {
        let c = parse("schema = \"roomos-26.4.1.json\"\n").unwrap();
        assert_eq!(
            c.schema,
            Some(PathBuf::from("/etc/xmacro/roomos-26.4.1.json"))
        );
        assert_eq!(parse("").unwrap().schema, None);
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn allow_lists_and_audit_retention_are_read_and_each_mistake_is_placed() {
        let c = parse(
            "audit_keep = \"7d\"\naudit_max_records = 500\n[script.v]\nallow = [\"Status Audio Volume\", \"Command Audio Volume *\"]\n[script.w]\n",
        )
        .unwrap();
        assert_eq!(c.audit.keep, Duration::from_secs(7 * 86_400));
        assert_eq!(c.audit.max_records, 500);
        let allow = c.script["v"].allow.as_ref().unwrap();
        assert!(
            allow.permits(&crate::xows::path::Path::parse("Command Audio Volume Set").unwrap())
        );
        assert!(c.script["w"].allow.is_none(), "no allow: full access");
        assert_eq!(parse("").unwrap().audit, crate::audit::Retention::default());

        let e = err("[script.v]\ncodecs = []\nallow = [\"Status Audio\", \"Audio Volume\"]\n");
        assert!(
            e.contains(":3:") && e.contains("[script.v]: key allow[1] \"Audio Volume\""),
            "{e}"
        );
        let e = err("\naudit_keep = \"30\"\n");
        assert!(e.contains(":2:") && e.contains("key audit_keep"), "{e}");
        let e = err("audit_max_records = 0\n");
        assert!(
            e.contains(":1:") && e.contains("key audit_max_records"),
            "{e}"
        );
    }

    #[test]
    fn every_mistake_names_file_line_and_key() {
        let e = err("scripts = \"s\"\nbogus = 1\n");
        assert!(e.starts_with("/etc/xmacro/xmacro.toml:2:"), "{e}");
        assert!(e.contains("bogus"), "{e}");

        let e = err(
            "[[codec]]\nname = \"a\"\nurl = \"http://x/ws\"\npassword_env = \"CODEC_PASSWORD\"\n",
        );
        assert!(
            e.contains(":1:") && e.contains("key url") && e.contains("ws://"),
            "{e}"
        );

        let e = err("[[codec]]\nname = \"a\"\nurl = \"ws://x/ws\"\n");
        assert!(
            e.contains("key password_env") && e.contains("no password source"),
            "{e}"
        );

        let e = err("[[codec]]\nname = \"a\"\nurl = \"ws://x/ws\"\npassword_env = \"NOPE\"\n");
        assert!(e.contains("NOPE is not set"), "{e}");

        let dup = "[defaults]\npassword_env = \"CODEC_PASSWORD\"\n[[codec]]\nname = \"a\"\nurl = \"ws://x/ws\"\n\n[[codec]]\nname = \"a\"\nurl = \"ws://y/ws\"\n";
        let e = err(dup);
        assert!(
            e.contains(":8:") && e.contains("duplicate codec name"),
            "{e}"
        );

        let e = err(
            "[defaults]\npassword_env = \"CODEC_PASSWORD\"\n[[codec]]\nname = \"a\"\nurl = \"wss://x/ws\"\nca = \"/no/such/ca.pem\"\n",
        );
        assert!(e.contains("key ca") && e.contains("/no/such/ca.pem"), "{e}");

        let e = err("[[codec]]\nname = \"a\"\nurl = \"ws://x/ws\"\npassword = \"hunter2\"\n");
        assert!(e.contains("key password") && !e.contains("hunter2"), "{e}");

        let e = err(
            "[defaults]\npassword_env = \"CODEC_PASSWORD\"\nrequest_timeout = \"10 parsecs\"\n[[codec]]\nname = \"a\"\nurl = \"ws://x/ws\"\n",
        );
        assert!(e.contains("request_timeout"), "{e}");
        assert!(e.contains(":3:1:") && e.contains("from [defaults]"), "{e}");

        let e = err(
            "[defaults]\npassword_env = \"CODEC_PASSWORD\"\n[[codec]]\nname = \"a\"\nurl = \"ws://x/ws\"\n[script.x]\ncodecs = [\"b\"]\n",
        );
        assert!(
            e.contains(":7:") && e.contains("[script.x]") && e.contains("\"b\""),
            "{e}"
        );
    }

    #[test]
    fn keepalive_and_its_timeout_are_read_per_codec_over_defaults_and_a_bad_one_is_placed() {
        let c = parse(
            "[defaults]\npassword_env = \"CODEC_PASSWORD\"\nkeepalive = \"30s\"\n[[codec]]\nname = \"a\"\nurl = \"ws://x/ws\"\n[[codec]]\nname = \"b\"\nurl = \"ws://y/ws\"\nkeepalive = \"1m\"\nkeepalive_timeout = \"4s\"\n",
        )
        .unwrap();
        let a = &c.codec("a").unwrap().config;
        assert_eq!(a.keepalive, Duration::from_secs(30));
        assert_eq!(a.keepalive_timeout, Duration::from_secs(10));
        let b = &c.codec("b").unwrap().config;
        assert_eq!(b.keepalive, Duration::from_secs(60));
        assert_eq!(b.keepalive_timeout, Duration::from_secs(4));
        let plain = CodecConfig::from_url("ws://x/ws").unwrap();
        assert_eq!(
            (plain.keepalive, plain.keepalive_timeout),
            (Duration::from_secs(20), Duration::from_secs(10))
        );

        for (line, why) in [
            ("keepalive = \"500ms\"", "at least 1s"),
            ("keepalive_timeout = \"100ms\"", "at least 1s"),
            ("keepalive_timeout = \"soon\"", "not a duration"),
        ] {
            let e = err(&format!(
                "[defaults]\npassword_env = \"CODEC_PASSWORD\"\n[[codec]]\nname = \"a\"\nurl = \"ws://x/ws\"\n{line}\n"
            ));
            let key = line.split(' ').next().unwrap();
            assert!(
                e.contains(&format!("key {key}")) && e.contains(":6:") && e.contains(why),
                "{line}: {e}"
            );
        }
    }

    #[test]
    fn a_default_is_blamed_at_its_own_line_and_a_codec_key_at_its_own() {
        let text =
            "[defaults]\npassword_env = \"NOPE\"\n\n[[codec]]\nname = \"a\"\nurl = \"ws://x/ws\"\n";
        let e = err(text);
        assert!(e.starts_with("/etc/xmacro/xmacro.toml:2:1:"), "{e}");
        let e = err(
            "[defaults]\npassword_env = \"CODEC_PASSWORD\"\n[[codec]]\nname = \"a\"\nurl = \"10.0.0.5/ws\"\n",
        );
        assert!(e.starts_with("/etc/xmacro/xmacro.toml:5:1:"), "{e}");
        assert!(e.contains("expected ws:// or wss://"), "{e}");
    }

    #[test]
    fn unknown_codec_and_tag_selectors_suggest_the_nearest() {
        let e = err(&GOOD.replace("\"boardroom\", \"tag:floor3\"", "\"bordroom\""));
        assert!(e.contains("did you mean \"boardroom\"?"), "{e}");
        let e = err(&GOOD.replace("\"boardroom\", \"tag:floor3\"", "\"tag:flor3\""));
        assert!(
            e.contains("no codec has the tag \"flor3\" (did you mean \"floor3\"?)"),
            "{e}"
        );
    }

    #[test]
    fn script_tables_must_name_a_script() {
        let c = parse(&GOOD.replace("[script.volume-limit]", "[script.volume-limt]")).unwrap();
        let e = c
            .check_script_names(&["volume-limit".into(), "speed-dial".into()])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/xmacro/xmacro.toml:20:1:"), "{e}");
        assert!(e.contains("did you mean \"volume-limit\"?"), "{e}");
        assert!(
            parse(GOOD)
                .unwrap()
                .check_script_names(&["volume-limit".into()])
                .is_ok()
        );
    }

    #[test]
    fn a_missing_file_says_so_without_a_position() {
        let e = Config::load(Path::new("/no/such/xmacro.toml"))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "/no/such/xmacro.toml: the config file does not exist");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("0s").is_err());
        // Found by the config fuzz target: this used to panic.
        assert!(parse_duration("99999999999999999999999999999999999999h").is_err());
        assert!(parse_duration("8d").is_err());
    }

    #[test]
    fn a_ca_that_is_a_directory_or_not_pem_fails_the_check_with_its_key() {
        let dir = std::env::temp_dir().join(format!("xmacro-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello\n").unwrap();
        for (ca, why) in [
            ("/etc", "not a regular file"),
            (not_pem.to_str().unwrap(), "no PEM certificate"),
        ] {
            let e = err(&format!(
                "[defaults]\npassword_env = \"CODEC_PASSWORD\"\n\n[[codec]]\nname = \"a\"\nurl = \"wss://x/ws\"\nca = \"{ca}\"\n"
            ));
            assert!(
                e.starts_with("/etc/xmacro/xmacro.toml:7:")
                    && e.contains("key ca")
                    && e.contains(why),
                "{e}"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_5000_level_header_is_reported_with_its_line_and_key() {
        let e = err(&format!(
            "scripts = \"s\"\n[{}]\n",
            vec!["deep"; 5000].join(".")
        ));
        assert!(
            e.starts_with("/etc/xmacro/xmacro.toml:2:1: table header [deep.deep"),
            "{e}"
        );
        assert!(e.contains("5000 levels"), "{e}");
    }

    #[test]
    fn a_password_file_that_never_ends_is_refused_by_its_key() {
        let e =
            err("[[codec]]\nname = \"a\"\nurl = \"ws://x/ws\"\npassword_file = \"/dev/zero\"\n");
        assert!(
            e.contains("key password_file") && e.contains("/dev/zero"),
            "{e}"
        );
    }

    fn fleet(n: usize) -> String {
        let mut t = String::from("[defaults]\npassword_env = \"CODEC_PASSWORD\"\n");
        for i in 0..n {
            t.push_str(&format!(
                "[[codec]]\nname = \"c{i}\"\nurl = \"ws://x/ws\"\n"
            ));
        }
        t
    }

    #[test]
    fn a_fleet_beyond_the_bound_is_refused_at_the_first_codec_too_many() {
        let max = crate::config::bounds::MAX_CODECS;
        let e = err(&fleet(max + 1));
        let line = 2 + 3 * max + 1;
        assert!(
            e.starts_with(&format!(
                "/etc/xmacro/xmacro.toml:{line}:1: [[codec]] #{}",
                max + 1
            )) && e.contains(&format!("at most {max} codecs")),
            "{e}"
        );
        assert_eq!(parse(&fleet(100)).unwrap().codecs.len(), 100);
    }

    #[test]
    fn a_config_file_beyond_the_size_bound_is_refused_unread() {
        let dir = std::env::temp_dir().join(format!("xmacro-fleet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("xmacro.toml");
        // Sparse: refused by its size, so not a byte of it is read.
        let f = std::fs::File::create(&file).unwrap();
        f.set_len(crate::config::bounds::MAX_CONFIG_BYTES + 1)
            .unwrap();
        let e = Config::load(&file).unwrap_err().to_string();
        assert!(
            e.contains(&file.display().to_string())
                && e.contains(&format!(
                    "larger than {} bytes",
                    crate::config::bounds::MAX_CONFIG_BYTES
                )),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_shard_resolves_only_its_codecs_but_checks_every_table() {
        let keep = |n: &str| n == "c1";
        let env = |k: &str| (k == "CODEC_PASSWORD").then(|| "pw".to_string());
        let file = Path::new("/etc/xmacro/xmacro.toml");
        // c2's password variable is not set: only its own shard resolves it.
        let text = format!(
            "{}[[codec]]\nname = \"c2\"\nurl = \"ws://y/ws\"\npassword_env = \"NOPE\"\ntags = [\"far\"]\n[script.s]\ncodecs = [\"tag:far\", \"c0\"]\n",
            fleet(2)
        );
        let c = Config::parse_keeping(file, &text, &env, &keep).unwrap();
        assert_eq!(c.fleet_size, 3);
        let names: Vec<&str> = c.codecs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["c1"]);
        assert!(Config::parse(file, &text, &env).is_err());
        // A mistake in any table is every shard's error, at its line.
        let shard_error = |t: &str| {
            Config::parse_keeping(file, t, &env, &keep)
                .unwrap_err()
                .to_string()
        };
        let e = shard_error(&text.replace("url = \"ws://y/ws\"", "url = \"ws://y/ws\"\nbogus = 1"));
        assert!(
            e.starts_with("/etc/xmacro/xmacro.toml:12:1:") && e.contains("bogus"),
            "{e}"
        );
        let e = shard_error(&text.replace("\"c2\"", "\"c0\""));
        assert!(
            e.contains(":10:") && e.contains("duplicate codec name"),
            "{e}"
        );
    }

    #[test]
    fn codecs_as_tables_and_as_an_array_at_once_are_refused() {
        let e = err(&format!("codec = [{{ name = \"z\" }}]\n{}", fleet(1)));
        assert!(
            e.contains("both as codec = [...] and as [[codec]] tables"),
            "{e}"
        );
        let c = parse(
            "codec = [{ name = \"z\", url = \"ws://z/ws\" }]\n[defaults]\npassword_env = \"CODEC_PASSWORD\"\n",
        )
        .unwrap();
        assert_eq!(c.codecs[0].name, "z");
    }
}
