//! From what a config says ([`super::raw`]) to what it means, one step per
//! part of the file: `[defaults]`, the store, each codec (defaults merged,
//! paths relative to the config, passwords read, TLS files checked), the
//! `[script.NAME]` tables (each selector picks some codec), and `[http]`.
//! Each step places its mistakes at the file, line and key at fault.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use super::codec::{Choices, apply_choices, parse_auth};
use super::raw::{RawCodec, Read, Source};
use super::store::PgSettings;
use super::{
    CodecEntry, ConfigError, HttpConfig, KeyError, ScriptConfig, Selector, bounds, did_you_mean,
    parse_duration,
};
use crate::xows::{CodecConfig, Password};

/// What the steps share: the text (to place mistakes), what was read, the
/// config's folder (relative paths start there) and the environment.
pub struct Resolver<'a> {
    pub src: &'a Source<'a>,
    pub read: &'a Read,
    base: PathBuf,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Whether codecs' passwords are read (`password_env`,
    /// `password_file`); off when the command line gives the password.
    pub passwords: bool,
}

/// The codecs a config names: those kept (resolved), and every name and
/// tag (kept or not), which `[script.NAME]` selectors are checked against.
pub struct Fleet {
    pub kept: Vec<CodecEntry>,
    pub names: HashSet<String>,
    pub tags: BTreeSet<String>,
    /// Each kept codec's `settings` (see [`super::panels`]).
    pub settings: BTreeMap<String, toml::Table>,
}

impl<'a> Resolver<'a> {
    pub fn new(
        file: &Path,
        src: &'a Source<'a>,
        read: &'a Read,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Self {
        Resolver {
            src,
            read,
            base: file.parent().unwrap_or(Path::new(".")).to_path_buf(),
            env,
            passwords: true,
        }
    }

    /// A path as written, relative to the config's folder.
    pub fn rel(&self, p: &str) -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }

    /// `[defaults]`: any codec key but `name` and `url`.
    pub fn defaults(&self) -> Result<RawCodec, ConfigError> {
        let Some(d) = &self.read.file.defaults else {
            return Ok(RawCodec::default());
        };
        if d.get_ref().name.is_some() || d.get_ref().url.is_some() {
            return Err(self.src.err_at(
                d.span().start,
                "[defaults]: name and url belong in a [[codec]] table".into(),
            ));
        }
        Ok(d.get_ref().clone())
    }

    /// `store_quota = "10MB"`.
    pub fn store_quota(&self) -> Result<Option<u64>, ConfigError> {
        let Some(q) = &self.read.file.store_quota else {
            return Ok(None);
        };
        crate::store::parse_quota(q.get_ref())
            .map(Some)
            .map_err(|why| {
                self.src
                    .err_at(q.span().start, format!("key store_quota: {why}"))
            })
    }

    /// `audit_keep = "30d"` and `audit_max_records = 1000000`.
    pub fn audit(&self) -> Result<crate::audit::Retention, ConfigError> {
        let mut r = crate::audit::Retention::default();
        let file = &self.read.file;
        if let Some(k) = &file.audit_keep {
            r.keep = crate::audit::parse_age(k.get_ref()).map_err(|e| {
                self.src
                    .err_at(k.span().start, format!("key audit_keep: {e}"))
            })?;
        }
        if let Some(n) = &file.audit_max_records {
            r.max_records = u64::try_from(*n.get_ref())
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    self.src.err_at(
                        n.span().start,
                        format!(
                            "key audit_max_records: {} is not a count of records (more than 0)",
                            n.get_ref()
                        ),
                    )
                })?;
        }
        Ok(r)
    }

    /// `connect_rate = 500`: connection attempts a second, host-wide
    /// (the default when absent).
    pub fn connect_rate(&self) -> Result<u32, ConfigError> {
        use crate::xows::pace::{DEFAULT_CONNECT_RATE, MAX_CONNECT_RATE};
        let r = self.read.file.connect_rate.as_ref();
        self.rate(
            r,
            "connect_rate",
            "connection attempts",
            DEFAULT_CONNECT_RATE,
            MAX_CONNECT_RATE,
        )
    }

    /// `ping_rate = 150`: keepalive pings a second, host-wide (the
    /// default when absent).
    pub fn ping_rate(&self) -> Result<u32, ConfigError> {
        use crate::xows::pinger::{DEFAULT_PING_RATE, MAX_PING_RATE};
        let r = self.read.file.ping_rate.as_ref();
        self.rate(
            r,
            "ping_rate",
            "keepalive pings",
            DEFAULT_PING_RATE,
            MAX_PING_RATE,
        )
    }

    /// A whole number of `what` per second, 1 to `max`.
    fn rate(
        &self,
        value: Option<&toml::Spanned<toml::Value>>,
        key: &str,
        what: &str,
        default: u32,
        max: u32,
    ) -> Result<u32, ConfigError> {
        let Some(r) = value else {
            return Ok(default);
        };
        let n = r.get_ref().as_integer().and_then(|n| u32::try_from(n).ok());
        match n {
            Some(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(self.src.err_at(
                r.span().start,
                format!(
                    "key {key}: {} is not a rate: give {what} per second as a whole number from 1 to {max} (default {default})",
                    r.get_ref()
                ),
            )),
        }
    }

    /// A PostgreSQL store: `state = "postgres://..."` or `[store]`.
    pub fn postgres(&self) -> Result<Option<PgSettings>, ConfigError> {
        let raw = &self.read.file;
        let store_at = raw.store.as_ref().map_or(0, |s| s.span().start);
        super::store::resolve(
            raw.state.as_deref(),
            raw.store.as_ref().map(|s| s.get_ref()),
            &|p| self.rel(p),
            self.env,
        )
        .map_err(|KeyError { key, why }| {
            let at = if key == "state" { 0 } else { store_at };
            let table = if key == "state" { "" } else { "[store]: " };
            self.src.err_at(
                self.src.key_offset(at, key).unwrap_or(at),
                format!("{table}key {key}: {why}"),
            )
        })
    }

    /// Every codec table, one at a time: each checked (its keys, its name
    /// unique), and resolved and kept only if `keep` accepts its name.
    pub fn codecs(
        &self,
        defaults: &RawCodec,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Fleet, ConfigError> {
        if let Some(extra) = self.read.file.codec.get(bounds::MAX_CODECS) {
            return Err(self.src.err_at(
                extra.span().start,
                format!(
                    "[[codec]] #{}: one config names at most {} codecs",
                    bounds::MAX_CODECS + 1,
                    bounds::MAX_CODECS
                ),
            ));
        }
        let mut fleet = Fleet {
            kept: Vec::new(),
            names: HashSet::new(),
            tags: BTreeSet::new(),
            settings: BTreeMap::new(),
        };
        for (i, table) in self.read.codecs(self.src).enumerate() {
            let (at, c) = table?;
            let what = format!(
                "[[codec]] #{} {}",
                i + 1,
                c.name
                    .as_deref()
                    .map(|n| format!("{n:?}"))
                    .unwrap_or_default()
            );
            let fail = |KeyError { key, why }| self.codec_mistake(&what, at, &c, key, why);
            let name = c
                .name
                .clone()
                .ok_or_else(|| fail(KeyError::new("name", "missing")))?;
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(fail(KeyError::new(
                    "name",
                    format!("{name:?} must be one word"),
                )));
            }
            crate::store::check_codec_name(&name)
                .map_err(|why| fail(KeyError::new("name", why.to_string())))?;
            if !fleet.names.insert(name.clone()) {
                return Err(fail(KeyError::new(
                    "name",
                    format!("duplicate codec name {name:?}"),
                )));
            }
            let codec_tags = c.tags.as_ref().or(defaults.tags.as_ref());
            fleet.tags.extend(codec_tags.into_iter().flatten().cloned());
            if !keep(&name) {
                continue;
            }
            let merged = c.over(defaults);
            let settings = c.settings_over(defaults);
            fleet.settings.insert(name.clone(), settings);
            let config = self.codec_settings(&name, &merged).map_err(fail)?;
            fleet.kept.push(CodecEntry {
                name,
                tags: merged.tags.unwrap_or_default(),
                config,
            });
        }
        Ok(fleet)
    }

    /// A codec key's mistake, placed at the key's own line: in its table,
    /// else in `[defaults]` when the value came from there.
    fn codec_mistake(
        &self,
        what: &str,
        at: usize,
        c: &RawCodec,
        key: &str,
        why: String,
    ) -> ConfigError {
        let here = self.src.key_offset(at, key);
        let place = here
            .or_else(|| {
                self.read
                    .file
                    .defaults
                    .as_ref()
                    .and_then(|d| self.src.key_offset(d.span().start, key))
                    .filter(|_| c.has(key) == Some(false))
            })
            .unwrap_or(at);
        let from = if place != at && here.is_none() {
            " (from [defaults])"
        } else {
            ""
        };
        self.src
            .err_at(place, format!("{what}: key {key}{from}: {why}"))
    }

    /// One codec's client settings, from its table merged with `[defaults]`.
    fn codec_settings(&self, name: &str, c: &RawCodec) -> Result<CodecConfig, KeyError> {
        let url = c.url.as_deref().ok_or(KeyError::new("url", "missing"))?;
        let mut cfg =
            CodecConfig::from_url(url).map_err(|e| KeyError::new("url", e.to_string()))?;
        cfg.name = name.to_string();
        if c.password.is_some() {
            return Err(KeyError::new(
                "password",
                "passwords do not go in the config file; use password_env = \"VAR\" or password_file = \"FILE\"",
            ));
        }
        let rel = |p: &str| self.rel(p);
        let password = if self.passwords {
            bounds::password_from(
                c.password_env.as_ref(),
                c.password_file.as_ref(),
                &rel,
                self.env,
            )?
            .ok_or(KeyError::new(
                "password_env",
                "no password source: set password_env or password_file (here or in [defaults])",
            ))?
        } else {
            String::new()
        };
        let duration = |key: &'static str, text: &Option<String>| {
            text.as_deref()
                .map(|t| parse_duration(t).map_err(|e| KeyError::new(key, e.to_string())))
                .transpose()
        };
        let choices = Choices {
            username: c.username.clone(),
            password: Some(Password(password)),
            request_timeout: duration("request_timeout", &c.request_timeout)?,
            keepalive: duration("keepalive", &c.keepalive)?,
            keepalive_timeout: duration("keepalive_timeout", &c.keepalive_timeout)?,
            fingerprint: c.fingerprint.clone(),
            ca: c.ca.as_deref().map(rel),
            insecure: c.insecure == Some(true),
            auth: c.auth.as_deref().map(parse_auth).transpose()?,
            legacy: c.legacy,
        };
        apply_choices(&mut cfg, &choices)?;
        Ok(cfg)
    }

    /// The `[script.NAME]` tables, each with where it starts; every codec
    /// selector must pick some codec of the fleet.
    #[allow(clippy::type_complexity)]
    pub fn scripts(
        &self,
        fleet: &Fleet,
    ) -> Result<
        (
            BTreeMap<String, ScriptConfig>,
            BTreeMap<String, (usize, usize)>,
        ),
        ConfigError,
    > {
        let mut script = BTreeMap::new();
        let mut script_at = BTreeMap::new();
        for (sname, s) in &self.read.file.script {
            let at = s.span().start;
            script_at.insert(sname.clone(), self.src.line_col(at));
            let r = s.get_ref();
            for sel in r.codecs.iter().flatten() {
                if let Some(hint) = unmatched(sel, fleet) {
                    let place = self.src.key_offset(at, "codecs").unwrap_or(at);
                    return Err(self.src.err_at(
                        place,
                        format!(
                            "[script.{sname}]: key codecs: {sel:?} matches no configured codec: {hint}"
                        ),
                    ));
                }
            }
            let allow = r
                .allow
                .as_deref()
                .map(crate::script::allow::AllowList::parse)
                .transpose()
                .map_err(|e| {
                    let place = self.src.key_offset(at, "allow").unwrap_or(at);
                    self.src.err_at(place, format!("[script.{sname}]: key {e}"))
                })?;
            script.insert(
                sname.clone(),
                ScriptConfig {
                    codecs: r.codecs.clone(),
                    args: r.args.clone(),
                    allow,
                },
            );
        }
        Ok((script, script_at))
    }

    /// `[http]`: the status server's address and token file.
    pub fn http(&self) -> Result<HttpConfig, ConfigError> {
        let mut http = HttpConfig::default();
        let Some(h) = &self.read.file.http else {
            return Ok(http);
        };
        if let Some(l) = &h.get_ref().listen {
            let addr = l.parse().map_err(|_| {
                self.src.err_at(
                    h.span().start,
                    format!("[http]: key listen: {l:?} is not an address like \"127.0.0.1:9090\""),
                )
            })?;
            http.listen = Some(addr);
        }
        http.token_file = h.get_ref().token_file.as_deref().map(|p| self.rel(p));
        Ok(http)
    }
}

impl Resolver<'_> {
    /// `[rollout]`: canary selectors must pick some codec of the fleet, the
    /// soak is a duration, the window local hours.
    pub fn rollout(
        &self,
        fleet: &Fleet,
    ) -> Result<Option<super::rollout::RolloutConfig>, ConfigError> {
        let Some(r) = &self.read.file.rollout else {
            return Ok(None);
        };
        let at = r.span().start;
        let pick = |sel: &str| unmatched(sel, fleet).map_or(Ok(()), Err);
        r.get_ref()
            .resolve(&pick)
            .map(Some)
            .map_err(|KeyError { key, why }| {
                let place = self.src.key_offset(at, key).unwrap_or(at);
                self.src
                    .err_at(place, format!("[rollout]: key {key}: {why}"))
            })
    }
}

/// Why a selector picks no codec of the fleet (with the nearest name or
/// tag), or `None` when it picks some.
pub(super) fn unmatched(sel: &str, fleet: &Fleet) -> Option<String> {
    match Selector::parse(sel) {
        Selector::Tag(tag) if !fleet.tags.contains(tag) => Some(format!(
            "no codec has the tag {tag:?}{}",
            did_you_mean(tag, fleet.tags.iter())
        )),
        Selector::Name(name) if !fleet.names.contains(name) => Some(format!(
            "no codec is named {name:?}{}",
            did_you_mean(name, fleet.names.iter())
        )),
        _ => None,
    }
}
