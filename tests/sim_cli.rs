//! `xmacro sim` as a user runs it: the first stdout line gives the address
//! (port 0 allowed); with --tls, wss with a fresh self-signed certificate
//! whose fingerprint is the second line.

mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn spawn_sim(args: &[&str]) -> (tokio::process::Child, Vec<String>) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .arg("sim")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let want = if args.contains(&"--tls") { 2 } else { 1 };
    let mut out = Vec::new();
    for _ in 0..want {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("sim printed nothing")
            .unwrap()
            .expect("sim exited");
        out.push(line);
    }
    (child, out)
}

#[tokio::test]
async fn first_line_is_the_address() {
    let (_child, lines) = spawn_sim(&[]).await;
    let url = lines[0].strip_prefix("listening on ").unwrap();
    assert!(
        url.starts_with("ws://127.0.0.1:") && url.ends_with("/ws"),
        "{url}"
    );
    assert!(!url.contains(":0/"), "a real port is printed: {url}");
    let mut c = common::Raw::connect(url).await;
    assert_eq!(c.get("Status Audio Volume").await, 50);
}

/// Accepts exactly one certificate, by its fingerprint, and still checks the
/// handshake signature.
#[derive(Debug)]
struct Pin(String, Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Pin {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if xmacro::xows::tls::fingerprint(end_entity) == self.0 {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("fingerprint mismatch".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.1.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.1.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.1.signature_verification_algorithms.supported_schemes()
    }
}

#[tokio::test]
async fn tls_prints_the_fingerprint_and_serves_wss() {
    let (_child, lines) = spawn_sim(&["--tls", "--password", "pw"]).await;
    let url = lines[0].strip_prefix("listening on ").unwrap();
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    let fp = lines[1].strip_prefix("fingerprint ").unwrap().to_string();
    assert!(fp.starts_with("sha256:") && fp.len() == 7 + 95, "{fp}");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pin(fp, provider)))
        .with_no_client_auth();
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Basic YWRtaW46cHc=".parse().unwrap()); // admin:pw
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async_tls_with_config(
            req,
            None,
            false,
            Some(Connector::Rustls(Arc::new(config))),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    use futures_util::SinkExt;
    ws.send(
        r#"{"jsonrpc":"2.0","id":1,"method":"xGet","params":{"Path":["Status","Audio","Volume"]}}"#
            .into(),
    )
    .await
    .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        answer.to_text().unwrap(),
        r#"{"id":1,"jsonrpc":"2.0","result":50}"#
    );
}

#[tokio::test]
async fn bad_schema_is_a_usage_error_naming_the_file() {
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
            .args([
                "sim",
                "--listen",
                "127.0.0.1:0",
                "--schema",
                "/no/such/schema.json",
            ])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/no/such/schema.json"), "{err}");
}
