//! Who may ask: a public address needs a token, and a token, once set, is
//! checked on every request. Tokens come from a file so they never sit on
//! a command line or in the config text.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, header};
use base64::Engine as _;

use crate::config::HttpConfig;

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(
        "--http {0} is not a loopback address: anyone who reaches it could read the fleet's status; give a token with --http-token-file FILE (or [http] token_file), or listen on 127.0.0.1"
    )]
    NeedsToken(SocketAddr),
    #[error("token file {0}: {1}")]
    TokenFile(String, String),
    #[error("--http-token-file without --http (or [http] listen): nothing to protect")]
    TokenWithoutListen,
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, String),
}

/// Where to listen and the token, if any.
#[derive(Clone)]
pub struct HttpOptions {
    pub listen: SocketAddr,
    pub token: Option<String>,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl HttpOptions {
    /// Where `run` serves, from its flags and the config: `--http` wins
    /// over `[http] listen`, and `--sim` alone serves on a free loopback
    /// port; `None` when nothing asks for the server. The token file is
    /// read now, and a public address without a token refused.
    pub fn choose(
        flag: Option<SocketAddr>,
        token_flag: Option<PathBuf>,
        config: Option<&HttpConfig>,
        sim: bool,
    ) -> Result<Option<HttpOptions>, OpsError> {
        let listen = flag
            .or_else(|| config.and_then(|c| c.listen))
            .or_else(|| sim.then(|| SocketAddr::from(([127, 0, 0, 1], 0))));
        let Some(listen) = listen else {
            if token_flag.is_some() {
                return Err(OpsError::TokenWithoutListen);
            }
            return Ok(None);
        };
        let token_file = token_flag.or_else(|| config.and_then(|c| c.token_file.clone()));
        let token = token_file.as_deref().map(read_token_file).transpose()?;
        let opts = HttpOptions { listen, token };
        opts.check()?;
        Ok(Some(opts))
    }

    /// Refuses a non-loopback address without a token.
    pub fn check(&self) -> Result<(), OpsError> {
        if !self.listen.ip().is_loopback() && self.token.is_none() {
            return Err(OpsError::NeedsToken(self.listen));
        }
        Ok(())
    }

    /// Checks, then binds.
    pub async fn bind(&self) -> Result<tokio::net::TcpListener, OpsError> {
        self.check()?;
        tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|e| OpsError::Bind(self.listen, e.to_string()))
    }
}

/// Reads a token file (one line; surrounding whitespace ignored), bounded
/// and type-checked as password files are: a FIFO or a device is refused
/// at once, not waited on or read without end.
pub fn read_token_file(path: &Path) -> Result<String, OpsError> {
    let bad = |why: String| OpsError::TokenFile(path.display().to_string(), why);
    let bytes = crate::files::read_bounded(path, crate::files::MAX_PASSWORD_BYTES)
        .map_err(|e| bad(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("it is not UTF-8 text".into()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if token.len() < 16 {
        return Err(bad(
            "the token is shorter than 16 characters; make a long random one (openssl rand -hex 32)"
                .into(),
        ));
    }
    Ok(token.to_string())
}

/// Whether the request presents `token`, as `Bearer TOKEN` or as the
/// password of HTTP Basic (any user name). The scheme is read in any case
/// (RFC 9110: auth schemes are case-insensitive).
pub fn presents(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, rest)) = given.trim_start().split_once(' ') else {
        return false;
    };
    let presented = if scheme.eq_ignore_ascii_case("bearer") {
        rest.trim().to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .unwrap_or_default();
        decoded
            .split_once(':')
            .map(|(_, p)| p.to_string())
            .unwrap_or_default()
    } else {
        return false;
    };
    constant_time_eq(presented.as_bytes(), token.as_bytes())
}

/// Whether the request's `Host` names this machine's loopback: `localhost`
/// (any case, a trailing dot allowed) or a loopback address (`127.x.y.z`,
/// `[::1]`), with any port. Without a token only such requests are
/// answered: a browser sends a page's own name, so a page whose name
/// resolves to 127.0.0.1 (DNS rebinding) is refused.
pub fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, port)) if port.is_empty() || port.starts_with(':') => addr,
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            Some(_) => return false,
            None => host,
        },
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_address_without_a_token_is_refused() {
        let public = HttpOptions {
            listen: "0.0.0.0:9090".parse().unwrap(),
            token: None,
        };
        let e = public.check().unwrap_err().to_string();
        assert!(e.contains("--http-token-file"), "{e}");
        let with_token = HttpOptions {
            token: Some("0123456789abcdef0123".into()),
            ..public.clone()
        };
        assert!(with_token.check().is_ok());
        assert!(!format!("{with_token:?}").contains("0123456789abcdef"));
        let loopback = HttpOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            token: None,
        };
        assert!(loopback.check().is_ok());
        let v6 = HttpOptions {
            listen: "[::1]:0".parse().unwrap(),
            token: None,
        };
        assert!(v6.check().is_ok());
    }

    #[test]
    fn a_short_or_empty_token_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("xmacro-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "short\n").unwrap();
        assert!(read_token_file(&f).unwrap_err().to_string().contains("16"));
        std::fs::write(&f, "\n").unwrap();
        assert!(
            read_token_file(&f)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        std::fs::write(&f, "0123456789abcdef0123\n").unwrap();
        assert_eq!(read_token_file(&f).unwrap(), "0123456789abcdef0123");
        let e = read_token_file(&dir.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn auth_schemes_are_read_in_any_case() {
        let token = "s3cret-token-0123456789";
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            presents(&h, token)
        };
        for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
            assert!(with(&format!("{scheme} {token}")), "{scheme}");
            assert!(with(&format!("{scheme}   {token}")), "{scheme} and spaces");
        }
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("ops:{token}"));
        for scheme in ["basic", "BASIC", "Basic"] {
            assert!(with(&format!("{scheme} {basic}")), "{scheme}");
        }
        assert!(!with(&format!("bearer{token}")), "no space, no scheme");
        assert!(!with(&format!("Token {token}")));
    }

    #[test]
    fn a_token_file_that_is_a_device_or_a_fifo_is_refused_unread() {
        let e = crate::files::testing::within(5, || read_token_file(Path::new("/dev/zero")))
            .expect("/dev/zero was read on and on")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/dev/zero") && e.contains("not a regular file"),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("xmacro-token-fifo-{}", std::process::id()));
        let fifo = crate::files::testing::fifo(&dir, "token");
        let e = crate::files::testing::within(5, move || read_token_file(&fifo))
            .expect("the token file's reader waited for a writer on a FIFO")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("token") && e.contains("not a regular file"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_token_is_presented_as_bearer_or_basic_password() {
        let token = "s3cret-token-0123456789";
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            presents(&h, token)
        };
        assert!(with("Bearer s3cret-token-0123456789"));
        assert!(!with("Bearer s3cret-token-012345678"));
        let basic = base64::engine::general_purpose::STANDARD.encode("ops:s3cret-token-0123456789");
        assert!(with(&format!("Basic {basic}")));
        assert!(!with("Basic bm9wZTpub3Bl"));
        assert!(!presents(&HeaderMap::new(), token));
    }
}
