//! The config file as written: the TOML tables serde reads (an unknown key
//! is refused by name), with each `[[codec]]` table read on its own
//! ([`super::split`]), and the places in the text a mistake is reported
//! at. Nothing here is checked beyond its TOML types: [`super::resolve`]
//! turns what is read into the validated [`super::Config`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::split::{self, CodecTable};

/// The text of a config file and its name, to place mistakes in it.
pub struct Source<'a> {
    /// The file as shown in messages.
    pub name: String,
    pub text: &'a str,
}

impl Source<'_> {
    /// A mistake at a byte offset of the text.
    pub fn err_at(&self, offset: usize, message: String) -> ConfigError {
        let (line, col) = self.line_col(offset);
        ConfigError {
            file: self.name.clone(),
            line,
            col,
            message,
        }
    }

    /// Turns a byte offset into a 1-based line and column.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        (line, col)
    }

    /// The offset of `key = ...` in the table whose header starts at
    /// `table` (up to the next table header), if it is written there.
    pub fn key_offset(&self, table: usize, key: &str) -> Option<usize> {
        let text = self.text;
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
}

/// Everything but the `[[codec]]` tables, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub scripts: Option<String>,
    pub state: Option<String>,
    pub store_quota: Option<Spanned<String>>,
    /// `connect_rate = 500`: connection attempts per second, host-wide
    /// (any TOML value, so a mistake's message names the key).
    pub connect_rate: Option<Spanned<toml::Value>>,
    /// `ping_rate = 150`: keepalive pings per second, host-wide.
    pub ping_rate: Option<Spanned<toml::Value>>,
    pub store: Option<Spanned<super::store::RawStore>>,
    pub defaults: Option<Spanned<RawCodec>>,
    /// Codecs given inline (`codec = [...]`), the other way to write them.
    #[serde(default)]
    pub codec: Vec<Spanned<RawCodec>>,
    #[serde(default)]
    pub script: BTreeMap<String, Spanned<RawScript>>,
    pub http: Option<Spanned<RawHttp>>,
    pub schema: Option<String>,
    pub rollout: Option<Spanned<super::rollout::RawRollout>>,
    /// `panels = "DIR"`: the UI extension panels (see [`super::panels`]).
    pub panels: Option<Spanned<String>>,
    #[serde(default)]
    pub panel: BTreeMap<String, Spanned<RawPanel>>,
    /// `audit_keep = "30d"`: how long audit records are kept.
    pub audit_keep: Option<Spanned<String>>,
    /// `audit_max_records = 1000000`: how many audit records are kept.
    pub audit_max_records: Option<Spanned<i64>>,
}

/// The `[http]` table as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<String>,
    pub token_file: Option<String>,
}

/// A `[[codec]]` table (or `[defaults]`) as written.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawCodec {
    pub name: Option<String>,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
    /// Refused with advice: passwords do not belong in the file.
    pub password: Option<toml::Value>,
    pub request_timeout: Option<String>,
    /// A ping after this much silence.
    pub keepalive: Option<String>,
    /// How long the answer to a ping may take.
    pub keepalive_timeout: Option<String>,
    pub fingerprint: Option<String>,
    pub ca: Option<String>,
    pub insecure: Option<bool>,
    pub auth: Option<String>,
    pub legacy: Option<bool>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Per-room values scripts read as `codec.settings`.
    pub settings: Option<toml::Table>,
}

/// A `[panel.NAME]` table as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPanel {
    pub codecs: Option<Vec<String>>,
}

/// A `[script.NAME]` table as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawScript {
    pub codecs: Option<Vec<String>>,
    /// The xAPI the script may touch (see [`crate::script::allow`]).
    pub allow: Option<Vec<String>>,
    #[serde(default)]
    pub args: toml::Table,
}

impl RawCodec {
    /// Whether this table sets `key` itself (None: not a codec key).
    pub fn has(&self, key: &str) -> Option<bool> {
        Some(match key {
            "url" => self.url.is_some(),
            "username" => self.username.is_some(),
            "password_env" => self.password_env.is_some(),
            "password_file" => self.password_file.is_some(),
            "password" => self.password.is_some(),
            "request_timeout" => self.request_timeout.is_some(),
            "keepalive" => self.keepalive.is_some(),
            "keepalive_timeout" => self.keepalive_timeout.is_some(),
            "fingerprint" => self.fingerprint.is_some(),
            "ca" => self.ca.is_some(),
            "insecure" => self.insecure.is_some(),
            "auth" => self.auth.is_some(),
            "legacy" => self.legacy.is_some(),
            _ => return None,
        })
    }

    /// This table's `settings`, its keys over those of `defaults`.
    pub fn settings_over(&self, defaults: &RawCodec) -> toml::Table {
        let mut out = defaults.settings.clone().unwrap_or_default();
        for (k, v) in self.settings.clone().unwrap_or_default() {
            out.insert(k, v);
        }
        out
    }

    /// This table with what it leaves unset taken from `defaults`.
    pub fn over(&self, defaults: &RawCodec) -> RawCodec {
        macro_rules! pick {
            ($($f:ident),*) => { RawCodec { $($f: self.$f.clone().or_else(|| defaults.$f.clone()),)* } };
        }
        pick!(
            name,
            url,
            username,
            password_env,
            password_file,
            password,
            request_timeout,
            keepalive,
            keepalive_timeout,
            fingerprint,
            ca,
            insecure,
            auth,
            legacy,
            tags,
            settings
        )
    }
}

/// A config file read: its tables but the codecs, and where each
/// `[[codec]]` table is, to be read one at a time.
pub struct Read {
    pub file: RawFile,
    pub tables: Vec<CodecTable>,
}

/// Reads the text: refuses more than `max_codecs` codec tables (at the
/// first one too many, before any is parsed), too deep a nesting, and
/// codecs written both inline and as tables.
pub fn read(src: &Source, max_codecs: usize) -> Result<Read, ConfigError> {
    let split = split::split(src.text, max_codecs).map_err(|(at, why)| src.err_at(at, why))?;
    let file: RawFile = toml::from_str(&split.rest).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        src.err_at(offset, e.message().trim().to_string())
    })?;
    if let (Some(inline), Some(table)) = (file.codec.first(), split.tables.first()) {
        return Err(src.err_at(
            table.header.max(inline.span().start),
            "codecs are given both as codec = [...] and as [[codec]] tables; use one".into(),
        ));
    }
    Ok(Read {
        file,
        tables: split.tables,
    })
}

impl Read {
    /// Every codec, in file order, each with the offset of its table:
    /// inline ones as read, tables parsed one at a time as they are asked
    /// for (a fleet's config never holds the parse of every table at once).
    pub fn codecs<'a>(
        &'a self,
        src: &'a Source<'a>,
    ) -> impl Iterator<Item = Result<(usize, RawCodec), ConfigError>> + 'a {
        let inline = self
            .file
            .codec
            .iter()
            .map(|s| Ok((s.span().start, s.get_ref().clone())));
        let tables = self.tables.iter().map(move |t| {
            toml::from_str::<RawCodec>(&src.text[t.body.clone()])
                .map(|c| (t.header, c))
                .map_err(|e| {
                    let offset = t.body.start + e.span().map_or(0, |s| s.start);
                    src.err_at(offset, e.message().trim().to_string())
                })
        });
        inline.chain(tables)
    }
}
