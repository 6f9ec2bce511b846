//! How to reach one codec: its URL, user, password, TLS mode, timeouts and
//! backoff, read from a URL the way a user means it. Plain data shared by
//! the handle ([`super::client`]) and the task that owns the socket
//! ([`super::connection`]).

use std::time::Duration;

use super::backoff::BackoffPolicy;
use super::error::ConnectError;
use super::tls::TlsMode;

/// A password that never shows in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// How credentials travel on the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// `Authorization: Basic ...`.
    #[default]
    Basic,
    /// `Sec-WebSocket-Protocol: auth-...`, as browsers and jsxapi do.
    SubProtocol,
}

/// Everything needed to reach one codec.
#[derive(Debug, Clone)]
pub struct CodecConfig {
    /// A name for logs (the configured name, or the host).
    pub name: String,
    /// `ws://host/ws` or `wss://host/ws`, without user info.
    pub url: url::Url,
    pub username: String,
    pub password: Password,
    pub auth: AuthMode,
    /// Use `/ws?legacy` (every value a string).
    pub legacy: bool,
    pub tls: TlsMode,
    /// Default timeout of one call.
    pub request_timeout: Duration,
    /// Timeout of one connection attempt (TCP, TLS and upgrade).
    pub connect_timeout: Duration,
    /// A WebSocket ping after this much silence (or longer, where the
    /// host has more links than its pinger's `ping_rate` covers in this
    /// time: [`super::pinger`]).
    pub keepalive: Duration,
    /// Nothing at all received within this of a ping (widened by this
    /// host's own lag) and the link is half-open: it is dropped and
    /// dialled again.
    pub keepalive_timeout: Duration,
    pub backoff: BackoffPolicy,
    /// Largest message accepted from the codec.
    pub max_message_size: usize,
    /// Calls that may wait for a connection; more fail at once.
    pub offline_queue: usize,
    /// Feedback documents waiting per [`super::Subscription`] one by one;
    /// past it a Status or Configuration change supersedes the waiting one
    /// with the same paths (latest value per path) and events are dropped
    /// and counted. Scripts do not use it: their feedback goes straight
    /// into the instance's mailbox, whose bound they see.
    pub feedback_buffer: usize,
    /// The host-wide limit on connection attempts this codec's attempts
    /// count against (`connect_rate`); `None`: unlimited, as a lone
    /// client needs.
    pub connect_pace: Option<super::pace::ConnectPace>,
    /// The task that keeps this codec's link alive, shared host-wide
    /// ([`super::pinger`]); `None`: the connection has its own.
    pub pinger: Option<super::pinger::Pinger>,
}

impl CodecConfig {
    /// Settings for a URL such as `wss://integrator@10.0.0.5/ws` (user
    /// `admin` when the URL names none; `/ws` when it has no path; `?legacy`
    /// selects legacy mode). The password is set separately.
    pub fn from_url(text: &str) -> Result<CodecConfig, ConnectError> {
        let parsed = url::Url::parse(text);
        // Never echo a password someone put in the URL.
        let shown = match &parsed {
            Ok(u) if u.password().is_some() => {
                let mut u = u.clone();
                let _ = u.set_password(Some("***"));
                crate::log::safe::shown_url(&u)
            }
            // Unparsable, yet it may still hold `user:password@`.
            _ => crate::log::safe::redact_url(text),
        };
        let bad = |why: &str| ConnectError::Config(format!("codec URL {shown:?}: {why}"));
        if !text.contains("://") {
            return Err(bad(
                "no scheme: expected ws:// or wss:// (as in wss://10.0.0.5/ws)",
            ));
        }
        let mut url = parsed.map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "ws" | "wss") {
            return Err(bad("the scheme must be ws:// or wss://"));
        }
        let host = url.host_str().ok_or_else(|| bad("no host"))?.to_string();
        if url.password().is_some() {
            return Err(bad(
                "put no password in the URL; use -p, XMACRO_PASSWORD or the config's password_env",
            ));
        }
        let username = match url.username() {
            "" => "admin".to_string(),
            u => percent_decode(u),
        };
        let _ = url.set_username("");
        if url.path().is_empty() || url.path() == "/" {
            url.set_path("/ws");
        }
        let legacy = url.query_pairs().any(|(k, _)| k == "legacy");
        Ok(CodecConfig {
            name: host,
            url,
            username,
            password: Password::default(),
            auth: AuthMode::Basic,
            legacy,
            tls: TlsMode::System,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(20),
            keepalive_timeout: Duration::from_secs(10),
            backoff: BackoffPolicy::default(),
            max_message_size: 16 << 20,
            offline_queue: 1024,
            feedback_buffer: 4096,
            connect_pace: None,
            pinger: None,
        })
    }

    /// The URL actually dialled (with `?legacy` when asked for).
    pub fn dial_url(&self) -> url::Url {
        let mut url = self.url.clone();
        if self.legacy && !url.query_pairs().any(|(k, _)| k == "legacy") {
            url.set_query(Some("legacy"));
        }
        url
    }

    /// [`Self::dial_url`] as logs, errors and the status page show it: a
    /// query string may carry a secret, so its values are `***`.
    pub fn shown_url(&self) -> String {
        crate::log::safe::shown_url(&self.dial_url())
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("u={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_like_a_user_means_them() {
        let c = CodecConfig::from_url("wss://integrator@10.0.0.5/ws").unwrap();
        assert_eq!(c.username, "integrator");
        assert_eq!(c.url.as_str(), "wss://10.0.0.5/ws");
        assert_eq!(c.name, "10.0.0.5");
        assert!(!c.legacy);
        let c = CodecConfig::from_url("ws://codec.local").unwrap();
        assert_eq!(c.url.as_str(), "ws://codec.local/ws");
        assert_eq!(c.username, "admin");
        let c = CodecConfig::from_url("ws://h/ws?legacy").unwrap();
        assert!(c.legacy);
        assert!(CodecConfig::from_url("http://h/ws").is_err());
        let e = CodecConfig::from_url("ws://u:secret@h/ws").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(CodecConfig::from_url("not a url").is_err());
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let mut c = CodecConfig::from_url("ws://h/ws").unwrap();
        c.password = Password("hunter2".into());
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
