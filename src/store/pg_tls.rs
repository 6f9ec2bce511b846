//! TLS for the PostgreSQL store, with rustls as everywhere else in xmacro,
//! and `sslmode` and `sslrootcert` in the URL as libpq reads them, so a URL
//! that works with `psql` means the same here:
//!
//! | `sslmode` | the session |
//! | --- | --- |
//! | `disable` | never encrypted |
//! | `prefer` (the default) | encrypted when the server offers TLS; its certificate not checked |
//! | `require` | encrypted, or no session; its certificate not checked (checked as `verify-ca` when `sslrootcert` is given, as libpq does) |
//! | `verify-ca` | encrypted, the certificate signed by a trusted CA |
//! | `verify-full` | as `verify-ca`, and issued for the host name in the URL |
//!
//! The trusted CAs are the PEM file `sslrootcert` names (read bounded, so a
//! FIFO or a device is refused), or the system's roots when it is absent
//! or `system`. The client library knows neither `verify-*` nor
//! `sslrootcert`, so both are taken out of the URL here and the checks are
//! made by the rustls verifier.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::xows::tls::{client_config, load_ca, system_roots, verified_config};
use crate::xows::{ConnectError, TlsMode};

/// How the session is protected (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Why a store URL's TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PgTlsError {
    #[error("not a URL: {0}")]
    NotAUrl(url::ParseError),
    #[error("sslmode={0:?} is not one of disable, prefer, require, verify-ca, verify-full")]
    SslMode(String),
    #[error("sslrootcert: {0}")]
    RootCert(ConnectError),
    #[error("{0}")]
    Tls(ConnectError),
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, PgTlsError> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => return Err(PgTlsError::SslMode(other.into())),
        })
    }

    /// The client library's mode (it only asks for TLS or not).
    fn for_client(self) -> postgres::config::SslMode {
        match self {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        }
    }
}

/// The TLS settings of a store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTls {
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file of trusted CAs; `None` for the system's.
    pub root: Option<PathBuf>,
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL: the URL
/// the client library reads, and the TLS settings.
pub fn split_url(url: &str) -> Result<(String, PgTls), PgTlsError> {
    let mut parsed = url::Url::parse(url).map_err(PgTlsError::NotAUrl)?;
    let mut mode = SslMode::Prefer;
    let mut root = None;
    let mut kept = Vec::new();
    for (k, v) in parsed.query_pairs() {
        match &*k {
            "sslmode" => mode = SslMode::parse(&v)?,
            "sslrootcert" if v == "system" || v.is_empty() => root = None,
            "sslrootcert" => root = Some(PathBuf::from(&*v)),
            _ => kept.push((k.into_owned(), v.into_owned())),
        }
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(&kept);
    }
    // libpq: with a CA given, `require` checks the chain as `verify-ca`.
    if mode == SslMode::Require && root.is_some() {
        mode = SslMode::VerifyCa;
    }
    Ok((parsed.to_string(), PgTls { mode, root }))
}

/// `url` with a relative `sslrootcert` made absolute by `rel` (paths in a
/// config are relative to it) and the CA file checked now (bounded, PEM),
/// so a mistake is reported at load time, naming the file.
pub fn resolve_root(url: &str, rel: &dyn Fn(&str) -> PathBuf) -> Result<String, PgTlsError> {
    let (_, tls) = split_url(url)?;
    let Some(root) = tls.root else {
        return Ok(url.to_string());
    };
    let abs = rel(&root.to_string_lossy());
    load_ca(&abs).map_err(PgTlsError::RootCert)?;
    let mut parsed = url::Url::parse(url).map_err(PgTlsError::NotAUrl)?;
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "sslrootcert" {
                abs.to_string_lossy().into_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(&pairs);
    Ok(parsed.to_string())
}

/// What a log line says about a session's protection.
pub fn describe(tls: &PgTls) -> &'static str {
    match tls.mode {
        SslMode::Disable => "not encrypted (sslmode=disable)",
        SslMode::Prefer => {
            "encrypted when the server offers TLS, its certificate not checked (sslmode=prefer; verify-full with sslrootcert checks it)"
        }
        SslMode::Require => {
            "encrypted, its certificate not checked (sslmode=require; verify-full with sslrootcert checks it)"
        }
        SslMode::VerifyCa => {
            "encrypted, the certificate checked against the CA (sslmode=verify-ca)"
        }
        SslMode::VerifyFull => {
            "encrypted, the certificate checked against the CA and the host name (sslmode=verify-full)"
        }
    }
}

/// Applies `tls` to the client's settings and gives the connector.
pub fn connector(
    config: &mut postgres::Config,
    tls: &PgTls,
) -> Result<MakeRustlsConnect, PgTlsError> {
    config.ssl_mode(tls.mode.for_client());
    let client = match tls.mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => {
            // Encrypted without checking whom to, as libpq does for these.
            client_config(&TlsMode::Insecure).map_err(PgTlsError::Tls)?
        }
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = match &tls.root {
                Some(file) => load_ca(file).map_err(PgTlsError::RootCert)?,
                None => system_roots(),
            };
            verified_config(roots, tls.mode == SslMode::VerifyFull, explain)
                .map_err(PgTlsError::Tls)?
        }
    };
    Ok(MakeRustlsConnect::new(Arc::unwrap_or_clone(client)))
}

/// A refused database certificate, and what to do about it.
fn explain(name: &ServerName<'_>, _: &CertificateDer<'_>, e: rustls::Error) -> rustls::Error {
    use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
    rustls::Error::General(match e {
        rustls::Error::InvalidCertificate(NotValidForName | NotValidForNameContext { .. }) => {
            format!(
                "the database server's certificate is not valid for the name {} ({e}); connect by a name it holds, or use sslmode=verify-ca to check the CA only",
                name.to_str()
            )
        }
        e => format!(
            "the database server's certificate is not trusted ({e}); give the CA that signed it with sslrootcert=FILE"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_read_as_libpq_reads_them() {
        let (url, tls) = split_url("postgres://u@db:5433/x?application_name=a&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&options=-csearch_path%3Ds").unwrap();
        assert_eq!(
            url,
            "postgres://u@db:5433/x?application_name=a&options=-csearch_path%3Ds"
        );
        assert_eq!(
            tls,
            PgTls {
                mode: SslMode::VerifyFull,
                root: Some(PathBuf::from("/etc/ca.pem"))
            }
        );
        let (url, tls) = split_url("postgres://u@db/x").unwrap();
        assert_eq!(
            (url.as_str(), tls.mode, tls.root),
            ("postgres://u@db/x", SslMode::Prefer, None)
        );
        let (_, tls) = split_url("postgres://u@db/x?sslmode=require&sslrootcert=ca.pem").unwrap();
        assert_eq!(
            tls.mode,
            SslMode::VerifyCa,
            "require with a CA checks the chain"
        );
        let (_, tls) = split_url("postgres://u@db/x?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!(tls.root, None);
        let e = split_url("postgres://u@db/x?sslmode=allow")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"allow\"") && e.contains("verify-full"), "{e}");
    }

    #[test]
    fn a_relative_sslrootcert_is_found_beside_the_config_and_checked_at_once() {
        let dir = std::env::temp_dir().join(format!("xmacro-pg-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rel = |p: &str| dir.join(p);
        let e = resolve_root(
            "postgres://u@db/x?sslmode=verify-full&sslrootcert=nope.pem",
            &rel,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sslrootcert") && e.contains("nope.pem"), "{e}");
        let fifo = crate::files::testing::fifo(&dir, "ca.fifo");
        let e = crate::files::testing::within(5, move || {
            resolve_root(
                &format!("postgres://u@db/x?sslrootcert={}", fifo.display()),
                &|p: &str| std::path::Path::new(p).to_path_buf(),
            )
        })
        .expect("a FIFO as sslrootcert was waited on")
        .unwrap_err()
        .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let ca = rcgen::generate_simple_self_signed(vec!["db".into()]).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
        let url = resolve_root(
            "postgres://u@db/x?sslmode=verify-full&sslrootcert=ca.pem",
            &rel,
        )
        .unwrap();
        let (_, tls) = split_url(&url).unwrap();
        assert_eq!(tls.root, Some(dir.join("ca.pem")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
