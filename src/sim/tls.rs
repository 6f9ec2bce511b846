//! A self-signed certificate made at start for `xmacro sim --tls`, as a
//! factory-new codec presents one.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The simulator's certificate and key.
#[derive(Clone)]
pub struct Identity {
    pub cert_der: Vec<u8>,
    key_der: Vec<u8>,
    /// PEM of the certificate, for clients that trust it as a CA.
    pub cert_pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A new self-signed certificate for `localhost` and `127.0.0.1`.
    pub fn self_signed() -> Result<Identity, rcgen::Error> {
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])?;
        Ok(Identity {
            cert_der: ck.cert.der().to_vec(),
            key_der: ck.signing_key.serialize_der(),
            cert_pem: ck.cert.pem(),
        })
    }

    /// `sha256:AB:CD:...`, the form a pin takes in the config.
    pub fn fingerprint(&self) -> String {
        crate::xows::tls::fingerprint(&self.cert_der)
    }

    pub(crate) fn server_config(&self) -> std::io::Result<Arc<rustls::ServerConfig>> {
        let provider = crate::xows::tls::provider();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.with_no_client_auth().with_single_cert(
                    vec![CertificateDer::from(self.cert_der.clone())],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
                )
            })
            .map_err(std::io::Error::other)?;
        Ok(Arc::new(config))
    }
}
