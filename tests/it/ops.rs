//! The status server of a running `xmacro run` (a real process) against
//! an in-process simulator: `/api/status` follows a codec going down and
//! coming back and a script failing and being fixed, `/metrics` parses and
//! its counters move, `/readyz` says 503 until every codec was tried, a
//! public address without a token is refused, and no response ever holds
//! the codec password or the token.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use xmacro::ops::http::{Answer, get};
use xmacro::sim::SimOptions;

use crate::common::rig::TempDir;
use crate::common::{Auth, Raw, Sim, try_connect, within};

const CODEC_PASSWORD: &str = "codec-pw-hunter2-do-not-show";
const TOKEN: &str = "status-token-0f1e2d3c4b5a69788796";

/// A running `xmacro run` with its status server; killed on drop.
pub struct Host {
    /// Killed when the test ends.
    _child: tokio::process::Child,
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base: String,
    pub token: Option<String>,
    /// Every body fetched, to look for credentials at the end.
    pub seen: String,
}

impl Host {
    /// Starts `xmacro run ARGS` and reads the status page URL it prints.
    pub async fn start(args: &[&str], env: &[(&str, &str)], token: Option<&str>) -> Host {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"));
        cmd.arg("run")
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = within("the status page URL", lines.next_line())
            .await
            .unwrap()
            .expect("xmacro run printed its status page URL");
        let base = line
            .strip_prefix("status page on ")
            .unwrap_or_else(|| panic!("first line: {line}"))
            .trim_end_matches('/')
            .to_string();
        Host {
            _child: child,
            base,
            token: token.map(String::from),
            seen: String::new(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let a = within(
            path,
            get(
                &format!("{}{path}", self.base),
                self.token.as_deref(),
                Duration::from_secs(5),
            ),
        )
        .await
        .unwrap();
        self.seen.push_str(&a.body);
        a
    }

    pub async fn status(&mut self) -> Value {
        let a = self.get("/api/status").await;
        assert_eq!(a.status, 200, "{}", a.body);
        serde_json::from_str(&a.body).unwrap()
    }

    /// Polls `/api/status` until `f` holds (liveness bound 30 s).
    pub async fn wait_status(&mut self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.status().await;
            if f(&s) {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; last status:\n{s:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn metrics(&mut self) -> Metrics {
        let a = self.get("/metrics").await;
        assert_eq!(a.status, 200);
        promtool_check(&a.body);
        Metrics::parse(&a.body)
    }
}

/// Sample values by `name{labels}` as written.
pub struct Metrics(Vec<(String, f64)>);

impl Metrics {
    /// A strict reading of the text format: every line a comment or
    /// `name{labels} value`, every sample's family declared by `# TYPE`.
    pub fn parse(text: &str) -> Metrics {
        let mut typed = Vec::new();
        let mut out = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut w = rest.split(' ');
                typed.push(w.next().unwrap().to_string());
                let kind = w.next().unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line:?}"));
            let name = key.split('{').next().unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line:?}"
            );
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| typed.iter().any(|t| t == f))
                })
                .unwrap_or(name);
            assert!(typed.iter().any(|t| t == family), "no # TYPE for {line:?}");
            out.push((key.to_string(), value));
        }
        Metrics(out)
    }

    pub fn get(&self, key: &str) -> f64 {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no sample {key}"))
            .1
    }
}

/// `promtool check metrics` when promtool is installed (.ci/run installs
/// Debian's prometheus package in CI; elsewhere the parse above stands).
pub fn promtool_check(text: &str) {
    use std::io::Write;
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing in CI: .ci/run installs prometheus"
        );
        eprintln!("note: promtool not installed; checked with the built-in parser only");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn script<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no script {name} in {status:#}"))
}

fn codec<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["codecs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no codec {name} in {status:#}"))
}

/// A config with one codec behind a password and the status server on a
/// free loopback port behind a token.
pub fn fleet_config(dir: &TempDir, sim: &Sim) -> std::path::PathBuf {
    std::fs::write(dir.0.join("http-token"), format!("{TOKEN}\n")).unwrap();
    let config = dir.0.join("xmacro.toml");
    std::fs::write(
        &config,
        format!(
            r#"scripts = "scripts"
state = "state"

[http]
listen = "127.0.0.1:0"
token_file = "http-token"

[[codec]]
name = "room-1"
url = "{}"
password_env = "OPS_TEST_PASSWORD"
request_timeout = "2s"
tags = ["floor3"]
"#,
            sim.url()
        ),
    )
    .unwrap();
    config
}

pub const WIDGET_SCRIPT: &str = r#"
xapi.Event.UserInterface.Extensions.Widget.Action.on(|e| {
    if e.WidgetId == "break" {
        throw "the widget broke";
    }
    let volume = xapi.Status.Audio.Volume.get();
    print(`widget ${e.WidgetId} at volume ${volume}`);
});
"#;

pub async fn click(raw: &mut Raw, widget: &str) {
    raw.ok(
        "xSim/EmitEvent",
        json!({"Path": "Event UserInterface Extensions Widget Action",
               "Value": {"WidgetId": widget, "Type": "clicked", "Value": ""}}),
    )
    .await;
}

async fn status_command(base: &str, token_file: &Path) -> (i32, String) {
    let file = token_file.to_str().unwrap();
    xmacro_status(&["--http", base, "--token-file", file]).await
}

/// Runs `xmacro status ARGS`: (exit code, stdout).
async fn xmacro_status(args: &[&str]) -> (i32, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
            .arg("status")
            .args(args)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn the_status_follows_a_script_failing_and_fixed_and_a_codec_down_and_back() {
    let sim = Sim::start(SimOptions {
        password: CODEC_PASSWORD.into(),
        ..Default::default()
    })
    .await;
    let dir = TempDir::new("ops-status");
    std::fs::write(dir.scripts().join("widgets.rhai"), WIDGET_SCRIPT).unwrap();
    let config = fleet_config(&dir, &sim);
    let mut host = Host::start(
        &["--config", config.to_str().unwrap()],
        &[("OPS_TEST_PASSWORD", CODEC_PASSWORD)],
        Some(TOKEN),
    )
    .await;

    // Every endpoint wants the token.
    for path in ["/", "/api/status", "/metrics", "/healthz", "/readyz"] {
        let a = get(
            &format!("{}{path}", host.base),
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(a.status, 401, "{path} without a token");
        let a = get(
            &format!("{}{path}", host.base),
            Some("wrong-token-0000000000"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(a.status, 401, "{path} with a wrong token");
    }
    assert_eq!(host.get("/healthz").await.status, 200);

    let s = host
        .wait_status("the script running on a connected codec", |s| {
            s["ready"] == true
                && codec(s, "room-1")["state"] == "connected"
                && script(s, "widgets")["instances"][0]["state"] == "running"
        })
        .await;
    assert_eq!(host.get("/readyz").await.status, 200);
    assert_eq!(s["health"], "ok");
    assert_eq!(codec(&s, "room-1")["tags"], json!(["floor3"]));
    let v1 = script(&s, "widgets")["version"].clone();
    let (code, table) = status_command(&host.base, &dir.0.join("http-token")).await;
    assert_eq!(code, 0, "{table}");
    assert!(
        table.contains("room-1") && table.contains("connected"),
        "{table}"
    );
    assert!(
        table.contains("widgets") && table.contains("1 running"),
        "{table}"
    );

    let m0 = host.metrics().await;
    let failed = r#"xmacro_callbacks_total{outcome="failed"}"#;
    let ok = r#"xmacro_callbacks_total{outcome="ok"}"#;

    // A callback throws: the script is failing, with file:line:col.
    let mut raw = try_connect(&sim.url(), Auth::Basic("admin", CODEC_PASSWORD))
        .await
        .unwrap();
    click(&mut raw, "fine").await;
    click(&mut raw, "break").await;
    let s = host
        .wait_status("the script failing", |s| {
            script(s, "widgets")["state"] == "failing"
        })
        .await;
    let w = script(&s, "widgets");
    let msg = w["last_error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("widgets.rhai:4:"), "{msg}");
    assert!(msg.contains("the widget broke"), "{msg}");
    assert_eq!(w["last_error"]["codec"], "room-1");
    assert_eq!(w["instances"][0]["errors"], 1);
    assert_eq!(s["health"], "degraded");
    assert!(
        w["logs"].as_array().unwrap().iter().any(|l| l["text"]
            .as_str()
            .unwrap()
            .starts_with("widget fine at volume")),
        "{w:#}"
    );
    let m1 = host.metrics().await;
    assert_eq!(m1.get(failed), m0.get(failed) + 1.0);
    assert!(m1.get(ok) > m0.get(ok), "the fine click ran");
    assert!(m1.get("xmacro_feedback_events_total") >= m0.get("xmacro_feedback_events_total") + 2.0);
    let requests = r#"xmacro_requests_total{outcome="ok"}"#;
    assert!(m1.get(requests) > m0.get(requests), "the fine click's get");
    let (code, table) = status_command(&host.base, &dir.0.join("http-token")).await;
    assert_eq!(code, 1, "a failing script is not healthy:\n{table}");
    assert!(table.contains("the widget broke"), "{table}");

    // Fixed: a new version runs, clean.
    std::fs::write(
        dir.scripts().join("widgets.rhai"),
        WIDGET_SCRIPT.replace("throw \"the widget broke\";", "print(\"mended\");"),
    )
    .unwrap();
    let s = host
        .wait_status("the fixed version running", |s| {
            let w = script(s, "widgets");
            w["version"] != v1 && w["state"] == "ok" && w["instances"][0]["state"] == "running"
        })
        .await;
    assert_eq!(s["reloads"][0]["script"], "widgets");
    assert_eq!(s["reloads"][0]["outcome"], "reloaded");
    assert_eq!(script(&s, "widgets")["errors"], 1, "the history stays");
    let m2 = host.metrics().await;
    let reloaded = r#"xmacro_script_reloads_total{outcome="reloaded"}"#;
    assert_eq!(m2.get(reloaded), m1.get(reloaded) + 1.0);
    click(&mut raw, "break").await;
    host.wait_status("the mended callback logging", |s| {
        script(s, "widgets")["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"] == "mended")
    })
    .await;

    // The codec goes down for two seconds and comes back.
    raw.ok("xSim/Reboot", json!({"Down": 2})).await;
    let s = host
        .wait_status("the codec down", |s| {
            codec(s, "room-1")["state"] != "connected"
        })
        .await;
    let c = codec(&s, "room-1");
    assert!(
        c["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{c:#}"
    );
    assert!(c["connected_since"].is_null(), "{c:#}");
    assert_eq!(s["health"], "degraded");
    let down = host.metrics().await;
    assert_eq!(down.get("xmacro_codecs_connected"), 0.0);
    assert_eq!(down.get(r#"xmacro_codec_up{codec="room-1"}"#), 0.0);
    let s = host
        .wait_status("the codec back", |s| {
            codec(s, "room-1")["state"] == "connected"
                && script(s, "widgets")["instances"][0]["state"] == "running"
        })
        .await;
    assert_eq!(codec(&s, "room-1")["reconnects"], 1);
    let up = host.metrics().await;
    assert_eq!(up.get("xmacro_codecs_connected"), 1.0);
    assert_eq!(up.get("xmacro_codec_reconnects_total"), 1.0);
    assert!(up.get("xmacro_request_duration_seconds_count") >= 1.0);

    // Nothing served holds a credential.
    host.get("/").await;
    host.get("/api/status?codec=room").await;
    for secret in [CODEC_PASSWORD, TOKEN] {
        assert!(!host.seen.contains(secret), "{secret} was served");
    }
}

#[tokio::test]
async fn readyz_says_503_until_every_codec_was_tried_once() {
    // A "codec" that accepts and then says nothing: the first attempt hangs.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", silent.local_addr().unwrap());
    let state = TempDir::new("ops-ready");
    let mut host = Host::start(
        &[
            state.scripts().to_str().unwrap(),
            "--state",
            state.state().to_str().unwrap(),
            "--codec",
            &url,
            "--http",
            "127.0.0.1:0",
        ],
        &[],
        None,
    )
    .await;
    let (held, _) = within("the first attempt", silent.accept()).await.unwrap();
    let s = host
        .wait_status("the host started", |s| {
            s["ready_reason"]
                .as_str()
                .unwrap()
                .contains("not tried yet")
        })
        .await;
    assert_eq!(s["ready"], false);
    assert_eq!(s["health"], "starting");
    let a = host.get("/readyz").await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(a.body.contains("not tried yet"), "{}", a.body);
    let (code, out) = xmacro_status(&["--ready", "--http", &host.base]).await;
    assert_eq!(code, 1, "{out}");
    assert_eq!(host.get("/healthz").await.status, 200, "alive all the same");
    let m = host.metrics().await;
    assert_eq!(m.get("xmacro_ready"), 0.0);

    // The attempt fails: tried once, so ready (though not connected).
    drop(held);
    drop(silent);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let a = host.get("/readyz").await;
        if a.status == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", a.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, out) = xmacro_status(&["--ready", "--http", &host.base]).await;
    assert_eq!((code, out.as_str()), (0, "ready\n"));
    let s = host.status().await;
    assert_eq!(s["ready"], true);
    assert_ne!(s["codecs"][0]["state"], "connected");
    assert_eq!(s["health"], "degraded");
}

#[tokio::test]
async fn a_public_address_without_a_token_is_refused_at_start() {
    let state = TempDir::new("ops-public");
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
            .args(["run", "--sim", "--http", "0.0.0.0:0", "--state"])
            .arg(state.state())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("refused at once, not served")
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("0.0.0.0:0") && err.contains("--http-token-file"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "nothing served"
    );
}

#[tokio::test]
async fn run_sim_serves_the_status_page_on_a_free_port() {
    let state = TempDir::new("ops-sim");
    let mut host = Host::start(
        &["--sim", "--state", state.state().to_str().unwrap()],
        &[],
        None,
    )
    .await;
    let page = host.get("/").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<table id=\"codecs\">"), "{}", page.body);
    let s = host
        .wait_status("the bundled scripts running", |s| {
            s["ready"] == true
                && s["scripts"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(|x| x["state"] == "ok"))
        })
        .await;
    assert_eq!(codec(&s, "sim")["state"], "connected");
    assert!(script(&s, "speed-dial")["version"].is_string());
}

#[tokio::test]
async fn status_says_how_it_failed_in_its_exit_code() {
    // Nothing listens on port 1: unreachable is exit 3.
    let (code, _) = xmacro_status(&["--http", "http://127.0.0.1:1"]).await;
    assert_eq!(code, 3);
    let (code, _) = xmacro_status(&["--http", "https://127.0.0.1:1"]).await;
    assert_eq!(code, 2, "only http:// is spoken");
}

/// Every key of a JSON value, recursively.
fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                keys(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_ops_guide_names_every_metric_and_every_status_field() {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ops.md")).unwrap();
    // A status with one of everything, from a running host.
    let sim = Sim::start(SimOptions::default()).await;
    let dir = TempDir::new("ops-guide");
    std::fs::write(dir.scripts().join("widgets.rhai"), WIDGET_SCRIPT).unwrap();
    let mut host = Host::start(
        &[
            dir.scripts().to_str().unwrap(),
            "--state",
            dir.state().to_str().unwrap(),
            "--codec",
            &sim.url(),
            "--http",
            "127.0.0.1:0",
        ],
        &[],
        None,
    )
    .await;
    let mut raw = Raw::connect(&sim.url()).await;
    host.wait_status("the script running", |s| {
        s["scripts"][0]["instances"][0]["state"] == "running"
    })
    .await;
    click(&mut raw, "break").await;
    let s = host
        .wait_status("an error", |s| !s["scripts"][0]["last_error"].is_null())
        .await;
    let mut all = Vec::new();
    keys(&s, &mut all);
    assert!(all.len() > 40, "{all:?}");
    for k in all {
        assert!(
            guide.contains(&format!("\"{k}\"")) || guide.contains(&format!("`{k}`")),
            "docs/ops.md does not mention the status field {k}"
        );
    }
    let metrics = host.get("/metrics").await.body;
    assert!(metrics.matches("# TYPE ").count() >= 15, "{metrics}");
    for line in metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = line.split(' ').next().unwrap();
        assert!(
            guide.contains(&format!("`{name}")),
            "docs/ops.md does not list the metric {name}"
        );
    }
}
