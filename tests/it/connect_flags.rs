//! `run --codec URL` takes the connection flags the one-shots take (one
//! shared `ConnectArgs`, applied by the same function as a `[[codec]]`
//! table): a CA file, the auth sub-protocol, legacy mode and a password
//! reach a TLS simulator, and a CA that is no certificate is refused by
//! its flag before anything connects.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use xmacro::sim::{Identity, SimOptions};

use crate::common::rig::{self, TempDir};
use crate::common::{Sim, within};

#[tokio::test]
async fn run_connects_with_a_ca_file_the_auth_subprotocol_legacy_mode_and_a_password() {
    let id = Identity::self_signed().unwrap();
    let sim = Sim::start(SimOptions {
        tls: Some(id.clone()),
        password: "s3cret".into(),
        ..Default::default()
    })
    .await;
    let dir = TempDir::new("run-flags");
    let ca = dir.0.join("ca.pem");
    std::fs::write(&ca, &id.cert_pem).unwrap();
    dir.write(
        "probe.rhai",
        r#"store.set("volume", xapi.Status.Audio.Volume.get());"#,
    );
    let url = format!("wss://{}/ws", sim.addr);
    let mut child = rig::xmacro_run(&dir, &url)
        .arg("--ca")
        .arg(&ca)
        .args(["--auth", "subprotocol", "--legacy", "-p", "s3cret"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // `run --codec` names the codec by host and port.
    let codec = sim.addr.to_string();
    let volume = within("the script to store what it read", async {
        loop {
            let v = rig::stored(&dir.state(), &codec, "probe", "volume");
            if v != Value::Null {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(volume, json!("50"), "legacy mode reads every value as text");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn run_refuses_a_ca_that_is_no_certificate_by_its_flag() {
    let dir = TempDir::new("run-bad-ca");
    dir.write("idle.rhai", "");
    let not_pem = dir.0.join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let out = rig::xmacro_run(&dir, "wss://127.0.0.1:9/ws")
        .arg("--ca")
        .arg(&not_pem)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let out = within("run to refuse", out).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--ca") && stderr.contains("no PEM certificate"),
        "{stderr}"
    );
}
