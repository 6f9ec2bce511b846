//! `xmacro.toml` read into a validated [`Config`]. Every mistake is reported
//! with the file, line and key at fault; passwords come from an environment
//! variable or a file, never from the config text, and never reach a log.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::xows::{CodecConfig, Password};

pub mod bounds;
pub mod codec;
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

/// One `[script.NAME]` table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptConfig {
    /// Codec names and `tag:x` selectors; `None` means every codec.
    pub codecs: Option<Vec<String>>,
    /// The script's `args` map.
    pub args: toml::Table,
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
    pub postgres: Option<crate::config::store::PgSettings>,
    /// `store_quota`: bytes each instance's store may hold, if set.
    pub store_quota: Option<u64>,
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
}

/// The `[http]` table: where `xmacro run` serves its status page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpConfig {
    /// `listen = "127.0.0.1:9090"`.
    pub listen: Option<std::net::SocketAddr>,
    /// `token_file = "FILE"` (relative to the config file).
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    scripts: Option<String>,
    state: Option<String>,
    store_quota: Option<Spanned<String>>,
    store: Option<Spanned<crate::config::store::RawStore>>,
    defaults: Option<Spanned<RawCodec>>,
    #[serde(default)]
    codec: Vec<Spanned<RawCodec>>,
    #[serde(default)]
    script: BTreeMap<String, Spanned<RawScript>>,
    http: Option<Spanned<RawHttp>>,
    schema: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<String>,
    token_file: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawCodec {
    name: Option<String>,
    url: Option<String>,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
    /// Refused with advice: passwords do not belong in the file.
    password: Option<toml::Value>,
    request_timeout: Option<String>,
    fingerprint: Option<String>,
    ca: Option<String>,
    insecure: Option<bool>,
    auth: Option<String>,
    legacy: Option<bool>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawScript {
    codecs: Option<Vec<String>>,
    #[serde(default)]
    args: toml::Table,
}

/// Turns a byte offset into a 1-based line and column.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Reads a duration such as `10s`, `500ms`, `2m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("{text:?} has no unit (use ms, s, m or h)"))?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        u => return Err(format!("{text:?}: unknown unit {u:?} (use ms, s, m or h)")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("{text:?} must be more than zero"));
    }
    // A week is already absurd for any timeout here; more is a typo.
    if secs > 7.0 * 24.0 * 3600.0 {
        return Err(format!("{text:?} is longer than a week"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a duration"))
}

impl Config {
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
        let text =
            String::from_utf8(bytes).map_err(|e| unreadable(format!("not UTF-8 text: {e}")))?;
        let keep = |name: &str| shard.is_none_or(|s| s.serves(name));
        Config::parse_keeping(file, &text, &|k| std::env::var(k).ok(), &keep)
    }

    /// Parses config text; `env` looks up environment variables.
    pub fn parse(
        file: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse_keeping(file, text, env, &|_| true)
    }

    /// Parses config text, keeping (and resolving) only the codecs whose
    /// name `keep` accepts.
    pub fn parse_keeping(
        file: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Config, ConfigError> {
        let name = file.display().to_string();
        let err_at = |offset: usize, message: String| {
            let (line, col) = line_col(text, offset);
            ConfigError {
                file: name.clone(),
                line,
                col,
                message,
            }
        };
        let split = crate::config::split::split(text, bounds::MAX_CODECS)
            .map_err(|(at, why)| err_at(at, why))?;
        let raw: RawFile = toml::from_str(&split.rest).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            err_at(offset, e.message().trim().to_string())
        })?;
        if let (Some(inline), Some(table)) = (raw.codec.first(), split.tables.first()) {
            return Err(err_at(
                table.header.max(inline.span().start),
                "codecs are given both as codec = [...] and as [[codec]] tables; use one".into(),
            ));
        }
        let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let rel = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { base.join(p) }
        };
        let (defaults, defaults_at) = match &raw.defaults {
            Some(d) => (d.get_ref().clone(), d.span().start),
            None => (RawCodec::default(), 0),
        };
        if defaults.name.is_some() || defaults.url.is_some() {
            return Err(err_at(
                defaults_at,
                "[defaults]: name and url belong in a [[codec]] table".into(),
            ));
        }
        if let Some(extra) = raw.codec.get(bounds::MAX_CODECS) {
            return Err(err_at(
                extra.span().start,
                format!(
                    "[[codec]] #{}: one config names at most {} codecs",
                    bounds::MAX_CODECS + 1,
                    bounds::MAX_CODECS
                ),
            ));
        }
        let store_quota = match &raw.store_quota {
            Some(q) => Some(
                crate::store::parse_quota(q.get_ref())
                    .map_err(|why| err_at(q.span().start, format!("key store_quota: {why}")))?,
            ),
            None => None,
        };
        let store_at = raw.store.as_ref().map_or(0, |s| s.span().start);
        let postgres = crate::config::store::resolve(
            raw.state.as_deref(),
            raw.store.as_ref().map(|s| s.get_ref()),
            &rel,
            env,
            &parse_duration,
        )
        .map_err(|(key, why)| {
            let at = if key == "state" { 0 } else { store_at };
            let table = if key == "state" { "" } else { "[store]: " };
            err_at(
                key_offset(text, at, key).unwrap_or(at),
                format!("{table}key {key}: {why}"),
            )
        })?;
        let mut codecs = Vec::new();
        let mut seen = HashSet::new();
        let mut tags = BTreeSet::new();
        // Codec tables one at a time: each parsed, checked, and dropped
        // unless kept.
        let inline = raw
            .codec
            .iter()
            .map(|s| Ok((s.span().start, s.get_ref().clone())));
        let tables = split.tables.iter().map(|t| {
            toml::from_str::<RawCodec>(&text[t.body.clone()])
                .map(|c| (t.header, c))
                .map_err(|e| {
                    let offset = t.body.start + e.span().map_or(0, |s| s.start);
                    err_at(offset, e.message().trim().to_string())
                })
        });
        for (i, table) in inline.chain(tables).enumerate() {
            let (at, c) = table?;
            let c = &c;
            let what = format!(
                "[[codec]] #{} {}",
                i + 1,
                c.name
                    .as_deref()
                    .map(|n| format!("{n:?}"))
                    .unwrap_or_default()
            );
            // A key's own line: in this table, else in [defaults] when it came from there.
            let fail = |key: &str, why: String| {
                let place = key_offset(text, at, key)
                    .or_else(|| {
                        raw.defaults
                            .as_ref()
                            .and_then(|d| key_offset(text, d.span().start, key))
                            .filter(|_| c.has(key) == Some(false))
                    })
                    .unwrap_or(at);
                let from = if place != at && key_offset(text, at, key).is_none() {
                    " (from [defaults])"
                } else {
                    ""
                };
                err_at(place, format!("{what}: key {key}{from}: {why}"))
            };
            let name = c
                .name
                .clone()
                .ok_or_else(|| fail("name", "missing".into()))?;
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(fail("name", format!("{name:?} must be one word")));
            }
            crate::store::check_codec_name(&name).map_err(|why| fail("name", why))?;
            if !seen.insert(name.clone()) {
                return Err(fail("name", format!("duplicate codec name {name:?}")));
            }
            let codec_tags = c.tags.as_ref().or(defaults.tags.as_ref());
            tags.extend(codec_tags.into_iter().flatten().cloned());
            if !keep(&name) {
                continue;
            }
            let merged = merge(&defaults, c);
            let config =
                resolve_codec(&name, &merged, &rel, env).map_err(|(k, why)| fail(k, why))?;
            codecs.push(CodecEntry {
                name,
                tags: merged.tags.unwrap_or_default(),
                config,
            });
        }
        let fleet_size = seen.len();
        let mut script = BTreeMap::new();
        let mut script_at = BTreeMap::new();
        for (sname, s) in &raw.script {
            let at = s.span().start;
            script_at.insert(sname.clone(), line_col(text, at));
            let r = s.get_ref();
            if let Some(list) = &r.codecs {
                for sel in list {
                    let hint = match Selector::parse(sel) {
                        Selector::Tag(tag) if !tags.iter().any(|t| t == tag) => Some(format!(
                            "no codec has the tag {tag:?}{}",
                            did_you_mean(tag, tags.iter())
                        )),
                        Selector::Name(name) if !seen.contains(name) => Some(format!(
                            "no codec is named {name:?}{}",
                            did_you_mean(name, seen.iter())
                        )),
                        _ => None,
                    };
                    if let Some(hint) = hint {
                        let place = key_offset(text, at, "codecs").unwrap_or(at);
                        return Err(err_at(
                            place,
                            format!(
                                "[script.{sname}]: key codecs: {sel:?} matches no configured codec: {hint}"
                            ),
                        ));
                    }
                }
            }
            script.insert(
                sname.clone(),
                ScriptConfig {
                    codecs: r.codecs.clone(),
                    args: r.args.clone(),
                },
            );
        }
        let mut http = HttpConfig::default();
        if let Some(h) = &raw.http {
            if let Some(l) = &h.get_ref().listen {
                let addr = l.parse().map_err(|_| {
                    err_at(
                        h.span().start,
                        format!(
                            "[http]: key listen: {l:?} is not an address like \"127.0.0.1:9090\""
                        ),
                    )
                })?;
                http.listen = Some(addr);
            }
            http.token_file = h.get_ref().token_file.as_deref().map(rel);
        }
        Ok(Config {
            http,
            file: file.to_path_buf(),
            scripts: rel(raw.scripts.as_deref().unwrap_or(DEFAULT_SCRIPTS)),
            state: rel(raw.state.as_deref().unwrap_or(DEFAULT_STATE)),
            postgres,
            store_quota,
            codecs,
            fleet_size,
            script,
            script_at,
            schema: raw.schema.as_deref().map(rel),
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

/// The offset of `key = ...` in the table whose header starts at `table`
/// (up to the next table header), if it is written there.
fn key_offset(text: &str, table: usize, key: &str) -> Option<usize> {
    let start = table.min(text.len());
    let mut offset = start
        + text[start..]
            .find('\n')
            .map_or(text.len() - start, |i| i + 1);
    for line in text[offset.min(text.len())..].split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') {
            return None;
        }
        if let Some(rest) = t.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(offset + (line.len() - t.len()));
        }
        offset += line.len();
    }
    None
}

impl RawCodec {
    /// Whether this table sets `key` itself (None: not a codec key).
    fn has(&self, key: &str) -> Option<bool> {
        Some(match key {
            "url" => self.url.is_some(),
            "username" => self.username.is_some(),
            "password_env" => self.password_env.is_some(),
            "password_file" => self.password_file.is_some(),
            "password" => self.password.is_some(),
            "request_timeout" => self.request_timeout.is_some(),
            "fingerprint" => self.fingerprint.is_some(),
            "ca" => self.ca.is_some(),
            "insecure" => self.insecure.is_some(),
            "auth" => self.auth.is_some(),
            "legacy" => self.legacy.is_some(),
            _ => return None,
        })
    }
}

fn merge(defaults: &RawCodec, c: &RawCodec) -> RawCodec {
    macro_rules! pick {
        ($($f:ident),*) => { RawCodec { $($f: c.$f.clone().or_else(|| defaults.$f.clone()),)* } };
    }
    pick!(
        name,
        url,
        username,
        password_env,
        password_file,
        password,
        request_timeout,
        fingerprint,
        ca,
        insecure,
        auth,
        legacy,
        tags
    )
}

type KeyError = (&'static str, String);

fn resolve_codec(
    name: &str,
    c: &RawCodec,
    rel: &dyn Fn(&str) -> PathBuf,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CodecConfig, KeyError> {
    let url = c.url.as_deref().ok_or(("url", "missing".to_string()))?;
    let mut cfg = CodecConfig::from_url(url).map_err(|e| ("url", e.to_string()))?;
    cfg.name = name.to_string();
    if c.password.is_some() {
        return Err((
            "password",
            "passwords do not go in the config file; use password_env = \"VAR\" or password_file = \"FILE\"".into(),
        ));
    }
    let password =
        match bounds::password_from(c.password_env.as_ref(), c.password_file.as_ref(), rel, env)? {
            Some(p) => Password(p),
            None => {
                return Err((
                    "password_env",
                    "no password source: set password_env or password_file (here or in [defaults])"
                        .into(),
                ));
            }
        };
    let choices = crate::config::codec::Choices {
        username: c.username.clone(),
        password: Some(password),
        request_timeout: match &c.request_timeout {
            Some(t) => Some(parse_duration(t).map_err(|e| ("request_timeout", e))?),
            None => None,
        },
        fingerprint: c.fingerprint.clone(),
        ca: c.ca.as_deref().map(rel),
        insecure: c.insecure == Some(true),
        auth: match &c.auth {
            Some(a) => Some(crate::config::codec::parse_auth(a).map_err(|e| (e.key, e.why))?),
            None => None,
        },
        legacy: c.legacy,
    };
    crate::config::codec::apply_choices(&mut cfg, &choices).map_err(|e| (e.key, e.why))?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
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
