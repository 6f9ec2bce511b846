//! The one-shot commands through the real binary, against the in-process
//! simulator: every command, every exit code, both auth forms, legacy mode,
//! --config names, and wss with a pin, a wrong pin, a CA and insecure mode.

use std::process::Stdio;
use std::time::Duration;

use crate::common::Out;
use crate::common::{Raw, Sim};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use xmacro::sim::{Identity, SimOptions};

async fn xmacro(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Out {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"));
    cmd.args(args)
        .env_remove("XMACRO_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("xmacro did not finish")
        .unwrap();
    Out::from(out)
}

async fn ok(args: &[&str]) -> Value {
    let out = xmacro(args, &[], None).await;
    assert_eq!(
        out.code, 0,
        "{args:?}\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

async fn sim_pw(password: &str) -> Sim {
    Sim::start(SimOptions {
        password: password.into(),
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn get_query_set_command() {
    let s = sim_pw("pw").await;
    let url = s.url();
    let u = url.as_str();
    assert_eq!(
        ok(&["get", u, "Status", "Audio", "Volume", "-p", "pw"]).await,
        50
    );
    assert_eq!(
        ok(&[
            "get",
            u,
            "Status/SystemUnit/Hardware/Monitoring/Fan[2]/Status",
            "-p",
            "pw"
        ])
        .await,
        "locked on 3150 rpm"
    );
    let q = ok(&["query", u, "Status", "**", "DisplayName", "-p", "pw"]).await;
    assert!(
        q["Status"]["SystemUnit"]["Software"]["DisplayName"].is_string(),
        "{q}"
    );
    assert_eq!(
        ok(&[
            "set",
            u,
            "Configuration",
            "SystemUnit",
            "Name",
            "Board Room",
            "-p",
            "pw"
        ])
        .await,
        true
    );
    assert_eq!(
        ok(&["get", u, "Configuration SystemUnit Name", "-p", "pw"]).await,
        "Board Room"
    );
    let dial = ok(&[
        "command",
        u,
        "Dial",
        "Number=alice@example.com",
        "Protocol=Spark",
        "-p",
        "pw",
    ])
    .await;
    assert!(dial["CallId"].is_u64(), "{dial}");
    ok(&["set", u, "Configuration HttpClient Mode", "On", "-p", "pw"]).await;
    let r = ok(&[
        "command",
        u,
        "HttpClient",
        "Post",
        "Url=https://example.com/survey",
        "Header=A: 1",
        "Header=B: 2",
        "--body",
        "-",
        "-p",
        "pw",
    ])
    .await;
    assert_eq!(r["StatusCode"], 200);
    let out = xmacro(
        &[
            "command",
            u,
            "HttpClient",
            "Post",
            "Url=https://example.com/x",
            "--body",
            "-",
            "-p",
            "pw",
        ],
        &[],
        Some("{\"answer\": 5}\n"),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut raw = crate::common::try_connect(&url, crate::common::Auth::Basic("admin", "pw"))
        .await
        .unwrap();
    let log = raw.ok("xSim/Inspect", json!({})).await["Commands"].clone();
    let posts: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["Command"] == "HttpClient Post")
        .collect();
    assert_eq!(
        posts[0]["Params"]["Header"],
        json!(["A: 1", "B: 2"]),
        "repeated names become an array"
    );
    assert_eq!(
        posts[1]["Params"]["body"], "{\"answer\": 5}\n",
        "--body - reads stdin"
    );
}

#[tokio::test]
async fn feedback_streams_until_sigterm() {
    let s = sim_pw("").await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .args([
            "feedback",
            &s.url(),
            "Status",
            "Audio",
            "Volume",
            "--current",
        ])
        .env_remove("XMACRO_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
            .await
            .expect("no feedback line")
            .unwrap()
            .expect("feedback ended");
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next().await, json!({"Status":{"Audio":{"Volume":50}}}));
    Raw::connect(&s.url())
        .await
        .ok("xCommand/Audio/Volume/Set", json!({"Level": 44}))
        .await;
    assert_eq!(next().await, json!({"Status":{"Audio":{"Volume":44}}}));
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("feedback did not stop on SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn exit_codes() {
    let s = sim_pw("pw").await;
    let u = s.url();
    // 1: the codec refused, with its code and message.
    let out = xmacro(
        &[
            "command",
            &u,
            "Audio",
            "Volume",
            "Set",
            "Level=200",
            "-p",
            "pw",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("-32602") && out.stderr.contains("Level"),
        "{}",
        out.stderr
    );
    // 2: usage and config errors.
    let out = xmacro(&["get", &u, "Audio", "Volume", "-p", "pw"], &[], None).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("must start with Status or Configuration"),
        "{}",
        out.stderr
    );
    let out = xmacro(
        &["get", "boardroom", "Status", "Audio", "Volume"],
        &[],
        None,
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = xmacro(
        &[
            "get",
            "boardroom",
            "Status",
            "Audio",
            "--config",
            "/no/such/xmacro.toml",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("/no/such/xmacro.toml"),
        "{}",
        out.stderr
    );
    let out = xmacro(&["frobnicate"], &[], None).await;
    assert_eq!(out.code, 2);
    // 3: authentication and connection failures.
    let out = xmacro(
        &["get", &u, "Status", "Audio", "Volume", "-p", "wrong"],
        &[],
        None,
    )
    .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("authentication failed"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("wrong"),
        "no password in the output: {}",
        out.stderr
    );
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let out = xmacro(
        &[
            "get",
            &format!("ws://{closed}/ws"),
            "Status",
            "Audio",
            "Volume",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains(&closed.to_string()),
        "names the URL: {}",
        out.stderr
    );
    // 4: timeout.
    crate::common::try_connect(&u, crate::common::Auth::Basic("admin", "pw"))
        .await
        .unwrap()
        .ok("xSim/Delay", json!({"Ms": 3000}))
        .await;
    let out = xmacro(
        &[
            "get",
            &u,
            "Status",
            "Audio",
            "Volume",
            "-p",
            "pw",
            "--timeout",
            "300ms",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(out.code, 4, "{}", out.stderr);
}

#[tokio::test]
async fn auth_forms_password_sources_and_legacy() {
    let s = sim_pw("s3cret").await;
    let u = s.url();
    let out = xmacro(
        &[
            "get",
            &u,
            "Status",
            "Audio",
            "Volume",
            "--auth",
            "subprotocol",
        ],
        &[("XMACRO_PASSWORD", "s3cret")],
        None,
    )
    .await;
    assert_eq!((out.code, out.stdout.trim()), (0, "50"), "{}", out.stderr);
    let legacy = format!("{u}?legacy");
    let out = xmacro(
        &["get", &legacy, "Status", "Audio", "Volume", "-p", "s3cret"],
        &[],
        None,
    )
    .await;
    assert_eq!(out.stdout.trim(), "\"50\"", "{}", out.stderr);
    let out = xmacro(
        &[
            "get", &u, "Status", "Audio", "Volume", "-p", "s3cret", "--legacy",
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(out.stdout.trim(), "\"50\"", "{}", out.stderr);
    // No terminal and no password: the factory-default empty password is tried.
    let out = xmacro(&["get", &u, "Status", "Audio", "Volume"], &[], None).await;
    assert_eq!(out.code, 3);
}

#[tokio::test]
async fn codec_names_from_the_config() {
    let s = sim_pw("from-env").await;
    let dir = std::env::temp_dir().join(format!(
        "xmacro-cli-{}-{}",
        std::process::id(),
        s.addr.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("xmacro.toml");
    std::fs::write(
        &file,
        format!(
            "[defaults]\npassword_env = \"ROOM_PW\"\n\n[[codec]]\nname = \"boardroom\"\nurl = \"{}\"\nusername = \"admin\"\n",
            s.url()
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let out = xmacro(
        &[
            "get",
            "boardroom",
            "Status",
            "Audio",
            "Volume",
            "--config",
            f,
        ],
        &[("ROOM_PW", "from-env")],
        None,
    )
    .await;
    assert_eq!((out.code, out.stdout.trim()), (0, "50"), "{}", out.stderr);
    let out = xmacro(
        &["get", "lobby", "Status", "Audio", "Volume", "--config", f],
        &[("ROOM_PW", "x")],
        None,
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no codec named \"lobby\"") && out.stderr.contains("boardroom"),
        "{}",
        out.stderr
    );
    let out = xmacro(
        &[
            "get",
            "boardroom",
            "Status",
            "Audio",
            "Volume",
            "--config",
            f,
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(
        // Blamed where it is written: the [defaults] line, not the codec.
        out.stderr.contains("ROOM_PW is not set") && out.stderr.contains(":2:1:"),
        "{}",
        out.stderr
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn wss_pin_wrong_pin_ca_and_insecure() {
    let id = Identity::self_signed().unwrap();
    let s = Sim::start(SimOptions {
        tls: Some(id.clone()),
        ..Default::default()
    })
    .await;
    let u = format!("wss://{}/ws", s.addr);
    let fp = id.fingerprint();
    let out = xmacro(
        &["get", &u, "Status", "Audio", "Volume", "--fingerprint", &fp],
        &[],
        None,
    )
    .await;
    assert_eq!((out.code, out.stdout.trim()), (0, "50"), "{}", out.stderr);
    let wrong = Identity::self_signed().unwrap().fingerprint();
    let out = xmacro(
        &[
            "get",
            &u,
            "Status",
            "Audio",
            "Volume",
            "--fingerprint",
            &wrong,
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains(&fp) && out.stderr.contains("mismatch"),
        "{}",
        out.stderr
    );
    let out = xmacro(&["get", &u, "Status", "Audio", "Volume"], &[], None).await;
    assert_eq!(out.code, 3, "system roots do not trust a self-signed codec");
    assert!(
        out.stderr.contains(&format!("--fingerprint {fp}")),
        "{}",
        out.stderr
    );
    let ca = std::env::temp_dir().join(format!(
        "xmacro-cli-ca-{}-{}.pem",
        std::process::id(),
        s.addr.port()
    ));
    std::fs::write(&ca, &id.cert_pem).unwrap();
    let out = xmacro(
        &[
            "get",
            &u,
            "Status",
            "Audio",
            "Volume",
            "--ca",
            ca.to_str().unwrap(),
        ],
        &[],
        None,
    )
    .await;
    assert_eq!((out.code, out.stdout.trim()), (0, "50"), "{}", out.stderr);
    let _ = std::fs::remove_file(&ca);
    let out = xmacro(
        &["get", &u, "Status", "Audio", "Volume", "--insecure"],
        &[],
        None,
    )
    .await;
    assert_eq!((out.code, out.stdout.trim()), (0, "50"), "{}", out.stderr);
    assert!(
        out.stderr.contains("TLS certificate checks are OFF"),
        "insecure is loud: {}",
        out.stderr
    );
}

#[tokio::test]
async fn every_command_has_help_with_an_example() {
    for cmd in ["get", "query", "set", "command", "feedback", "sim", "lsp"] {
        let out = xmacro(&[cmd, "--help"], &[], None).await;
        assert_eq!(out.code, 0);
        assert!(
            out.stdout.contains("Examples:"),
            "{cmd} --help:\n{}",
            out.stdout
        );
        assert!(
            out.stdout.contains(&format!("xmacro {cmd} ")),
            "{cmd} --help:\n{}",
            out.stdout
        );
    }
}

#[tokio::test]
async fn a_negative_number_is_a_value_not_a_flag() {
    let Some(schema) = crate::common::cisco_schema("octavio") else {
        return;
    };
    let s = Sim::start(SimOptions {
        device: xmacro::sim::DeviceOptions {
            schema: Some(schema),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let u = &s.url();
    let path = [
        "Configuration",
        "Cameras",
        "Camera",
        "ExposureCompensation",
        "Level",
    ];
    let mut set = vec!["set", u];
    set.extend(path);
    set.extend(["-3", "-p", ""]);
    assert_eq!(ok(&set).await, true);
    let mut get = vec!["get", u];
    get.extend(path);
    get.extend(["-p", ""]);
    assert_eq!(ok(&get).await, -3);
}
