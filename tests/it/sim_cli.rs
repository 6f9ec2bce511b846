//! `xmacro sim` as a user runs it: the first stdout line gives the address
//! (port 0 allowed); with --tls, wss with a fresh self-signed certificate
//! whose fingerprint is the second line.

use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
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
    let mut c = crate::common::Raw::connect(url).await;
    assert_eq!(c.get("Status Audio Volume").await, 50);
}

#[tokio::test]
async fn tls_prints_the_fingerprint_and_serves_wss() {
    let (_child, lines) = spawn_sim(&["--tls", "--password", "pw"]).await;
    let url = lines[0].strip_prefix("listening on ").unwrap();
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    let fp = lines[1].strip_prefix("fingerprint ").unwrap().to_string();
    assert!(fp.starts_with("sha256:") && fp.len() == 7 + 95, "{fp}");
    // xmacro's own pinning verifier (it checks handshake signatures too).
    let pin = xmacro::xows::tls::parse_pin(&fp).unwrap();
    let config = xmacro::xows::tls::client_config(&xmacro::xows::TlsMode::Pin(pin)).unwrap();
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Basic YWRtaW46cHc=".parse().unwrap()); // admin:pw
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async_tls_with_config(
            req,
            None,
            false,
            Some(Connector::Rustls(config)),
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
