//! The README's main command and `xmacro check` on the bundled scripts.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// Cisco's schema as an argument (`None`: not at hand; what needs it is
/// skipped).
fn schema() -> Option<String> {
    crate::common::cisco_schema_file().map(|f| f.display().to_string())
}

#[tokio::test]
async fn run_sim_shows_the_bundled_scripts_reacting() {
    let state = crate::common::rig::TempDir::new("run-sim");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .args(["run", "--sim", "--state"])
        .arg(state.state())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut want = vec!["capped at 70", "speed dial: calling", "microphones muted"];
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    while !want.is_empty() {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("still waiting for {want:?}; saw:\n{}", seen.join("\n")))
            .unwrap()
            .expect("xmacro exited");
        assert!(!line.contains("ERROR"), "an error line: {line}");
        want.retain(|w| !line.contains(w));
        seen.push(line);
    }
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stops on SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

async fn check(args: &[&str]) -> (i32, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
            .arg("check")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn check_passes_on_the_bundled_scripts() {
    let (code, out) = check(&["scripts"]).await;
    assert_eq!(code, 0, "{out}");
    let Some(schema) = schema() else {
        return;
    };
    let (code, out) = check(&["scripts", "--schema", &schema]).await;
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn check_finds_errors_by_place_and_name() {
    let dir = crate::common::rig::TempDir::new("check");
    std::fs::write(dir.scripts().join("syntax.rhai"), "let a = 1;\nlet b = ;\n").unwrap();
    std::fs::write(
        dir.scripts().join("paths.rhai"),
        "let v = xapi.Status.Audio.Volum.get();\nxapi.Command.Dial(#{ Numbr: \"x\" });\nxapi.get(\"Configuration Audio DefaultVolum\");\n",
    )
    .unwrap();
    let scripts = dir.scripts();
    let s = scripts.to_str().unwrap();
    let (code, out) = check(&[s]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("syntax.rhai:2:9:"), "{out}");
    let Some(schema) = schema() else {
        return;
    };
    let (code, out) = check(&[s, "--schema", &schema]).await;
    assert_eq!(code, 1);
    assert!(
        out.contains("paths.rhai:1:9: unknown xAPI path Status Audio Volum"),
        "{out}"
    );
    assert!(out.contains("did you mean \"Volume\""), "{out}");
    assert!(
        out.contains(
            "paths.rhai:2:22: command Dial: unknown parameter \"Numbr\" (did you mean \"Number\"?)"
        ),
        "{out}"
    );
    assert!(
        out.contains("missing required parameter(s) Number"),
        "{out}"
    );
    assert!(
        out.contains("paths.rhai:3:10:") && out.contains("DefaultVolum"),
        "{out}"
    );
}

#[tokio::test]
async fn check_with_a_product_finds_what_that_device_lacks_and_skips_computed_paths() {
    let dir = crate::common::rig::TempDir::new("check-product");
    std::fs::write(
        dir.scripts().join("camera.rhai"),
        concat!(
            "xapi.Config.Cameras.Camera.ExposureCompensation.Level.set(-3);\n",
            "let p = \"Audio Volume\";\n",
            "let v = xapi.get(`Status ${p}`);\n",
            "let kind = \"Post\";\n",
            "try { xapi.command(\"HttpClient \" + kind, #{ Url: \"https://example.com\" }); } catch (e) {}\n",
        ),
    )
    .unwrap();
    let scripts = dir.scripts();
    let s = scripts.to_str().unwrap();
    let Some(schema) = schema() else {
        return;
    };
    let (code, out) = check(&[s, "--schema", &schema]).await;
    assert_eq!(
        code, 0,
        "any product has it, and computed paths pass: {out}"
    );
    let (code, out) = check(&[s, "--schema", &schema, "--product", "octavio"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = check(&[s, "--schema", &schema, "--product", "barents"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "camera.rhai:1:1: unknown xAPI path Configuration Cameras Camera ExposureCompensation"
        ),
        "{out}"
    );
    let (code, out) = check(&[s, "--product", "barents"]).await;
    assert_eq!(code, 2, "--product needs --schema: {out}");
}
