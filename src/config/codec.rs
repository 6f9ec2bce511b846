//! Codec settings from what a user gives, in one place: a `[[codec]]`
//! table (with `[defaults]`) and the command-line flags of `run --codec` and
//! the one-shots all become a [`CodecConfig`] through [`apply_choices`], so each
//! way of connecting accepts the same choices (user, password, TLS trust,
//! credentials form, legacy mode) and refuses the same mistakes.

use std::path::PathBuf;
use std::time::Duration;

use super::KeyError;
use crate::xows::tls::parse_pin;
use crate::xows::{AuthMode, CodecConfig, Password, TlsMode};

/// What the user chose on top of a codec URL; `None` (or `false`) keeps
/// what the URL or an earlier layer said.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    pub username: Option<String>,
    pub password: Option<Password>,
    pub request_timeout: Option<Duration>,
    /// A ping after this much silence (at least 1 s).
    pub keepalive: Option<Duration>,
    /// How long its answer may take (at least 1 s).
    pub keepalive_timeout: Option<Duration>,
    /// A certificate pin as written (`sha256:AB:CD:...`).
    pub fingerprint: Option<String>,
    /// A CA file (PEM), already resolved against the config's folder.
    pub ca: Option<PathBuf>,
    pub insecure: bool,
    pub auth: Option<AuthMode>,
    /// `Some(false)` turns off a `?legacy` in the URL.
    pub legacy: Option<bool>,
}

fn fail(key: &'static str, why: impl Into<String>) -> KeyError {
    KeyError::new(key, why)
}

/// Applies the user's choices to codec settings; a mistake names the
/// setting at fault (its config key, which is also its flag's name). A CA
/// file is read now (bounded), so a directory or a file without a PEM
/// certificate is refused here, naming its key, and not at the first
/// connect.
pub fn apply_choices(cfg: &mut CodecConfig, c: &Choices) -> Result<(), KeyError> {
    if let Some(u) = &c.username {
        cfg.username = u.clone();
    }
    if let Some(p) = &c.password {
        cfg.password = p.clone();
    }
    if let Some(t) = c.request_timeout {
        cfg.request_timeout = t;
    }
    let at_least_a_second = |key: &'static str, t: Duration| {
        if t < Duration::from_secs(1) {
            return Err(fail(key, format!("{t:?} is too short: at least 1s")));
        }
        Ok(t)
    };
    if let Some(t) = c.keepalive {
        cfg.keepalive = at_least_a_second("keepalive", t)?;
    }
    if let Some(t) = c.keepalive_timeout {
        cfg.keepalive_timeout = at_least_a_second("keepalive_timeout", t)?;
    }
    let modes = [c.fingerprint.is_some(), c.ca.is_some(), c.insecure];
    if modes.iter().filter(|m| **m).count() > 1 {
        return Err(fail(
            "fingerprint",
            "choose one of fingerprint, ca and insecure",
        ));
    }
    if let Some(fp) = &c.fingerprint {
        cfg.tls = TlsMode::Pin(parse_pin(fp).map_err(|e| fail("fingerprint", e.to_string()))?);
    } else if let Some(ca) = &c.ca {
        crate::files::read_bounded(ca, crate::files::MAX_CA_BYTES)
            .map_err(|e| fail("ca", e.to_string()))?;
        let mode = TlsMode::Ca(ca.clone());
        crate::xows::tls::client_config(&mode).map_err(|e| fail("ca", e.to_string()))?;
        cfg.tls = mode;
    } else if c.insecure {
        cfg.tls = TlsMode::Insecure;
    }
    if cfg.url.scheme() == "ws" && (c.fingerprint.is_some() || c.ca.is_some()) {
        return Err(fail("url", "fingerprint and ca need a wss:// URL"));
    }
    if let Some(a) = c.auth {
        cfg.auth = a;
    }
    if let Some(l) = c.legacy {
        cfg.legacy = l;
    }
    Ok(())
}

/// Reads an `auth` setting: `basic` or `subprotocol`.
pub fn parse_auth(text: &str) -> Result<AuthMode, KeyError> {
    match text {
        "basic" => Ok(AuthMode::Basic),
        "subprotocol" => Ok(AuthMode::SubProtocol),
        other => Err(fail(
            "auth",
            format!("{other:?}: use \"basic\" or \"subprotocol\""),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> CodecConfig {
        CodecConfig::from_url(url).unwrap()
    }

    #[test]
    fn choices_override_what_the_url_says() {
        let mut c = cfg("wss://integrator@10.0.0.5/ws?legacy");
        let choices = Choices {
            username: Some("admin".into()),
            password: Some(Password("pw".into())),
            insecure: true,
            auth: Some(AuthMode::SubProtocol),
            legacy: Some(false),
            ..Default::default()
        };
        apply_choices(&mut c, &choices).unwrap();
        assert_eq!(c.username, "admin");
        assert_eq!(c.password, Password("pw".into()));
        assert!(matches!(c.tls, TlsMode::Insecure));
        assert_eq!(c.auth, AuthMode::SubProtocol);
        assert!(!c.legacy);
        let mut c = cfg("ws://10.0.0.5/ws?legacy");
        apply_choices(&mut c, &Choices::default()).unwrap();
        assert!(c.legacy, "no choice keeps the URL's");
    }

    #[test]
    fn mistakes_name_the_setting_at_fault() {
        let two = Choices {
            fingerprint: Some("sha256:00".into()),
            insecure: true,
            ..Default::default()
        };
        assert_eq!(
            apply_choices(&mut cfg("wss://x/ws"), &two).unwrap_err().key,
            "fingerprint"
        );
        let bad_pin = Choices {
            fingerprint: Some("md5:00".into()),
            ..Default::default()
        };
        assert_eq!(
            apply_choices(&mut cfg("wss://x/ws"), &bad_pin)
                .unwrap_err()
                .key,
            "fingerprint"
        );
        let no_ca = Choices {
            ca: Some("/no/such/ca.pem".into()),
            ..Default::default()
        };
        let e = apply_choices(&mut cfg("wss://x/ws"), &no_ca).unwrap_err();
        assert!(e.key == "ca" && e.why.contains("/no/such/ca.pem"), "{e:?}");
        let pin = format!("sha256:{}01", "00:".repeat(31));
        let plain = Choices {
            fingerprint: Some(pin),
            ..Default::default()
        };
        assert_eq!(
            apply_choices(&mut cfg("ws://x/ws"), &plain)
                .unwrap_err()
                .key,
            "url"
        );
        assert_eq!(parse_auth("digest").unwrap_err().key, "auth");
        assert_eq!(parse_auth("basic"), Ok(AuthMode::Basic));
    }
}
