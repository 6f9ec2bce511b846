//! TLS for codec connections, with rustls: the system's roots by default, a
//! custom CA file, a SHA-256 fingerprint pin for self-signed devices (the pin
//! replaces name checks; handshake signatures are still verified), or an
//! explicit insecure mode. A refused certificate fails closed with a message
//! that names what was presented and how to pin it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use super::error::ConnectError;

/// The SHA-256 fingerprint of a DER certificate as `sha256:AB:CD:...`, the
/// form users paste into a `fingerprint =` pin.
pub fn fingerprint(der: &[u8]) -> String {
    let hex: Vec<String> = Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    format!("sha256:{}", hex.join(":"))
}

/// A pin that is no SHA-256 fingerprint, as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a SHA-256 fingerprint (want sha256: and 32 hex bytes, e.g. sha256:4F:2A:...)"
)]
pub struct NotAPin(pub String);

/// Reads a pin as users write it (`sha256:AB:CD:...`, with or without the
/// prefix and colons, any case) into the canonical form.
pub fn parse_pin(text: &str) -> Result<String, NotAPin> {
    let t = text.trim();
    let t = t
        .strip_prefix("sha256:")
        .or_else(|| t.strip_prefix("SHA256:"))
        .unwrap_or(t);
    let hex: String = t.chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(NotAPin(text.to_string()));
    }
    let bytes: Vec<String> = hex
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Ok(format!("sha256:{}", bytes.join(":")))
}

/// How the codec's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// The operating system's trusted roots, with host name checks.
    #[default]
    System,
    /// Roots from this PEM file (a corporate CA), with host name checks.
    Ca(PathBuf),
    /// Exactly the certificate with this fingerprint (canonical form).
    Pin(String),
    /// Any certificate. Logged loudly on every connect.
    Insecure,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration for `mode`.
pub fn client_config(mode: &TlsMode) -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        TlsMode::System => Arc::new(Explained {
            webpki: webpki(system_roots(), &provider)?,
            names: true,
            explain: explain_codec,
        }),
        TlsMode::Ca(file) => Arc::new(Explained {
            webpki: webpki(load_ca(file)?, &provider)?,
            names: true,
            explain: explain_codec,
        }),
        TlsMode::Pin(pin) => Arc::new(Checked {
            check: CertCheck::Pin(pin.clone()),
            provider: provider.clone(),
        }),
        TlsMode::Insecure => Arc::new(Checked {
            check: CertCheck::Any,
            provider: provider.clone(),
        }),
    };
    config_with(provider, verifier)
}

/// How a refused certificate is told: the server's name, the certificate
/// it presented, and rustls's reason, made into what to do about it.
pub type Explain = fn(&ServerName<'_>, &CertificateDer<'_>, rustls::Error) -> rustls::Error;

/// A rustls client configuration that checks the server's certificate
/// chain against `roots`, its name too when `names`, and tells a refusal
/// with `explain` (for servers other than codecs, such as a database).
pub fn verified_config(
    roots: RootCertStore,
    names: bool,
    explain: Explain,
) -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    let provider = provider();
    let verifier = Arc::new(Explained {
        webpki: webpki(roots, &provider)?,
        names,
        explain,
    });
    config_with(provider, verifier)
}

fn config_with(
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What the codec presented and how to trust it.
fn explain_codec(
    _: &ServerName<'_>,
    end_entity: &CertificateDer<'_>,
    e: rustls::Error,
) -> rustls::Error {
    let fp = fingerprint(end_entity);
    rustls::Error::General(format!(
        "the codec's certificate is not trusted ({e}); it presented a certificate with \
         fingerprint {fp}. If that is your codec's own self-signed certificate, pin it: \
         fingerprint = \"{fp}\" (or --fingerprint {fp}); or give the CA that issued it \
         with ca = \"FILE\""
    ))
}

/// The operating system's trusted roots.
pub fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    roots
}

fn webpki(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, ConnectError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| ConnectError::Tls(format!("no usable trusted roots: {e}")))
}

/// The trusted roots in a PEM file (read bounded: a directory, a FIFO, or a
/// file without a certificate is refused, naming the file).
pub fn load_ca(file: &Path) -> Result<RootCertStore, ConnectError> {
    let shown = file.display();
    // Bounded and type-checked: a FIFO here must not hold a connection task.
    let pem = crate::files::read_bounded(file, crate::files::MAX_CA_BYTES)
        .map_err(|e| ConnectError::Config(format!("CA file: {e}")))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| ConnectError::Config(format!("CA file {shown}: {e}")))?;
    if certs.is_empty() {
        return Err(ConnectError::Config(format!(
            "CA file {shown}: no PEM certificate in it"
        )));
    }
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| ConnectError::Config(format!("CA file {shown}: {e}")))?;
    }
    Ok(roots)
}

/// A webpki check (the chain, and the name when `names`) whose refusal
/// says what was presented and how to trust it.
#[derive(Debug)]
struct Explained {
    webpki: Arc<WebPkiServerVerifier>,
    names: bool,
    explain: Explain,
}

impl ServerCertVerifier for Explained {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // webpki checks the chain before the name.
            Err(rustls::Error::InvalidCertificate(
                NotValidForName | NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            Err(e) => Err((self.explain)(server_name, end_entity, e)),
            ok => ok,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// What a verifier checks about the certificate itself; handshake
/// signatures are verified either way.
enum CertCheck {
    /// Exactly the certificate with this fingerprint (no name or date
    /// checks: the pin says which certificate is meant).
    Pin(String),
    /// Any certificate.
    Any,
}

#[derive(Debug)]
struct Checked {
    check: CertCheck,
    provider: Arc<CryptoProvider>,
}

impl std::fmt::Debug for CertCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertCheck::Pin(p) => write!(f, "Pin({p})"),
            CertCheck::Any => f.write_str("Any"),
        }
    }
}

impl ServerCertVerifier for Checked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.check {
            CertCheck::Any => Ok(ServerCertVerified::assertion()),
            CertCheck::Pin(pin) => {
                let presented = fingerprint(end_entity);
                if presented == *pin {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(rustls::Error::General(format!(
                        "certificate fingerprint mismatch: the codec presented {presented}, the pin is {pin}. \
                         If the codec's certificate was replaced on purpose, update the pin to \"{presented}\""
                    )))
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_format() {
        let f = fingerprint(b"abc");
        assert!(f.starts_with("sha256:BA:78:16:BF"), "{f}");
        assert_eq!(f.len(), "sha256:".len() + 32 * 3 - 1);
    }

    #[test]
    fn pins_are_read_in_any_spelling() {
        let canonical = fingerprint(b"abc");
        let bare: String = canonical[7..].replace(':', "").to_lowercase();
        assert_eq!(parse_pin(&bare).unwrap(), canonical);
        assert_eq!(parse_pin(&canonical).unwrap(), canonical);
        assert!(
            parse_pin("sha256:12:34")
                .unwrap_err()
                .to_string()
                .contains("not a SHA-256")
        );
    }

    #[test]
    fn missing_ca_file_names_it() {
        let e = client_config(&TlsMode::Ca("/no/such/ca.pem".into())).unwrap_err();
        assert!(e.to_string().contains("/no/such/ca.pem"), "{e}");
    }
}
