//! A newcomer's first hour, through the real binary: `init` then `run
//! --sim`, log colour and formats, config discovery and its mistakes, the
//! password prompt, single-file run and check, the simulator's exit code
//! for a busy port, one-shot refusals, feedback lines, completions and the
//! man page.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

use crate::common::Out;
use crate::common::rig::TempDir;
use crate::common::{Auth, Sim, try_connect};

/// How long a wait on the binary may take (builds are debug, CI is shared).
pub(crate) const LONG: Duration = Duration::from_secs(30);

/// Cisco's schema as an argument (`None`: not at hand; what needs it is
/// skipped).
fn schema() -> Option<String> {
    crate::common::cisco_schema_file().map(|f| f.display().to_string())
}

/// `xmacro` with a clean environment for these tests.
pub(crate) fn xmacro(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xmacro"));
    cmd.current_dir(dir)
        .env_remove("XMACRO_CONFIG")
        .env_remove("XMACRO_PASSWORD")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

pub(crate) async fn finish(mut cmd: Command) -> Out {
    let out = tokio::time::timeout(LONG, cmd.output())
        .await
        .expect("xmacro did not finish")
        .unwrap();
    Out::from(out)
}

pub(crate) async fn output(dir: &Path, args: &[&str]) -> Out {
    let mut cmd = xmacro(dir);
    cmd.args(args);
    finish(cmd).await
}

/// A long-running xmacro whose stderr is read line by line.
pub(crate) struct Running {
    child: Child,
    lines: Lines<BufReader<ChildStderr>>,
    seen: Vec<String>,
}

impl Running {
    pub(crate) fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd.spawn().unwrap();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads until a line contains `needle`; returns that line.
    pub(crate) async fn until(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| {
                    panic!("no line with {needle:?}; saw:\n{}", self.seen.join("\n"))
                })
                .unwrap()
                .unwrap_or_else(|| {
                    panic!(
                        "xmacro exited before {needle:?}; saw:\n{}",
                        self.seen.join("\n")
                    )
                });
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// SIGTERM, then the exit code.
    pub(crate) async fn stop(mut self) -> i32 {
        let pid = self.child.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        tokio::time::timeout(LONG, self.child.wait())
            .await
            .expect("stops on SIGTERM")
            .unwrap()
            .code()
            .unwrap_or(-1)
    }
}

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[tokio::test]
async fn init_then_run_sim_in_the_new_folder_shows_the_example_reacting() {
    let tmp = TempDir::new("init");
    let out = output(&tmp.0, &["init", "demo"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("cd demo && xmacro run --sim"),
        "{}",
        out.stdout
    );
    let demo = tmp.0.join("demo");
    for f in [
        "xmacro.toml",
        "scripts/volume-watch.rhai",
        "scripts/volume-watch.test.rhai",
        ".gitignore",
    ] {
        assert!(demo.join(f).is_file(), "{f} missing");
    }
    // Not twice: nothing is overwritten.
    let again = output(&tmp.0, &["init", "demo"]).await;
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    let mut cmd = xmacro(&demo);
    cmd.args(["run", "--sim"]);
    let mut run = Running::spawn(cmd);
    let reaction = run.until("volume 85 is above 70: turning it down").await;
    assert!(reaction.contains("script=volume-watch"), "{reaction}");
    let seen = run.seen.clone();
    assert_eq!(run.stop().await, 0);
    assert_eq!(count(&seen, "connected to"), 1, "{seen:#?}");
    assert_eq!(count(&seen, "started"), 1, "one line per script: {seen:#?}");
    assert_eq!(count(&seen, "loaded on"), 0, "{seen:#?}");
    assert_eq!(count(&seen, "config xmacro.toml"), 1, "{seen:#?}");
    assert_eq!(
        count(&seen, "volume-watch.test"),
        0,
        "tests are not scripts"
    );
    assert_eq!(count(&seen, "WARN"), 0, "{seen:#?}");
    assert_eq!(count(&seen, "ERROR"), 0, "{seen:#?}");
}

#[tokio::test]
async fn logs_are_plain_off_a_terminal_coloured_on_request_local_time_and_json_lines() {
    let dir = TempDir::new("logfmt");
    let start = |args: &[&str], tz: Option<&str>| {
        let mut cmd = xmacro(&dir.0);
        cmd.args(["sim", "--listen", "127.0.0.1:0"]).args(args);
        if let Some(tz) = tz {
            cmd.env("TZ", tz);
        }
        Running::spawn(cmd)
    };
    // Not a terminal: no escape codes, no module path, local time with its offset.
    let mut plain = start(&[], Some("XMT-5"));
    let line = plain.until("simulator ready").await;
    assert!(!line.contains('\x1b'), "{line:?}");
    assert!(!line.contains("xmacro::"), "{line:?}");
    assert!(line.contains("+05:00  INFO simulator ready"), "{line:?}");
    plain.stop().await;
    // Into a log file: the same plain text.
    let file = dir.0.join("xmacro.log");
    let mut cmd = xmacro(&dir.0);
    cmd.args(["sim", "--listen", "127.0.0.1:0"])
        .stderr(std::fs::File::create(&file).unwrap());
    let mut child = cmd.spawn().unwrap();
    let text = tokio::time::timeout(LONG, async {
        loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if text.contains("simulator ready") {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a log line in the file");
    assert!(!text.contains('\x1b'), "{text:?}");
    child.kill().await.unwrap();
    // --color always forces colour, also after the command.
    let mut colour = start(&["--color", "always"], None);
    let line = colour.until("simulator ready").await;
    assert!(line.contains("\x1b["), "{line:?}");
    colour.stop().await;
    // --log-format json: every line is one object.
    let mut json = start(&["--log-format", "json"], Some("XMT-5"));
    json.until("simulator ready").await;
    for line in &json.seen {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["level"], "INFO", "{v}");
        assert!(v["timestamp"].as_str().unwrap().ends_with("+05:00"), "{v}");
    }
    assert!(
        json.seen
            .iter()
            .any(|l| l.contains("\"message\":\"simulator ready"))
    );
    json.stop().await;
}

/// A folder with the init project in it.
pub(crate) async fn project(tag: &str) -> (TempDir, PathBuf) {
    let tmp = TempDir::new(tag);
    let out = output(&tmp.0, &["init", "proj"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let proj = tmp.0.join("proj");
    (tmp, proj)
}

#[tokio::test]
async fn config_is_found_in_the_folder_or_through_xmacro_config() {
    let sim = Sim::start(Default::default()).await;
    let (_tmp, proj) = project("discover").await;
    std::fs::write(
        proj.join("xmacro.toml"),
        format!(
            "[[codec]]\nname = \"room\"\nurl = \"{}\"\npassword_env = \"ROOM_PW\"\n",
            sim.url()
        ),
    )
    .unwrap();
    // A one-shot with a codec name, in the folder.
    let mut cmd = xmacro(&proj);
    cmd.args(["get", "room", "Status", "Audio", "Volume"])
        .env("ROOM_PW", "");
    let out = finish(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "50");
    // Elsewhere, through XMACRO_CONFIG.
    let mut cmd = xmacro(Path::new(env!("CARGO_MANIFEST_DIR")));
    cmd.args(["get", "room", "Status", "Audio", "Volume"])
        .env("ROOM_PW", "")
        .env("XMACRO_CONFIG", proj.join("xmacro.toml"));
    let out = finish(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    // A misspelt name gets a suggestion.
    let mut cmd = xmacro(&proj);
    cmd.args(["get", "rom", "Status", "Audio", "Volume"])
        .env("ROOM_PW", "");
    let out = finish(cmd).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("no codec named \"rom\" (did you mean \"room\"?)"),
        "{}",
        out.stderr
    );
    // `run` in the folder uses it too: no [[codec]] in the init config.
    let (_tmp2, fresh) = project("discover-run").await;
    let out = output(&fresh, &["run"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("xmacro.toml has no [[codec]] table"),
        "{}",
        out.stderr
    );
    // ... and XMACRO_CONFIG from elsewhere (its scripts are found next to it).
    let mut cmd = xmacro(Path::new(env!("CARGO_MANIFEST_DIR")));
    cmd.arg("run")
        .env("XMACRO_CONFIG", fresh.join("xmacro.toml"));
    let out = finish(cmd).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!(
            "{} has no [[codec]] table",
            fresh.join("xmacro.toml").display()
        )),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn unknown_script_codec_and_tag_names_are_refused_with_a_suggestion() {
    let (_tmp, proj) = project("names").await;
    let cfg = proj.join("xmacro.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("[script.volume-watch]", "[script.volume-wach]"),
    )
    .unwrap();
    let out = output(&proj, &["run", "--sim"]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    let line = text
        .lines()
        .position(|l| l == "[script.volume-watch]")
        .unwrap()
        + 1;
    assert!(
        out.stderr
            .contains(&format!("xmacro.toml:{line}:1: [script.volume-wach]")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("(did you mean \"volume-watch\"?)"),
        "{}",
        out.stderr
    );
    let codecs = "[defaults]\npassword_env = \"HOME\"\n[[codec]]\nname = \"boardroom\"\nurl = \"ws://127.0.0.1:9/ws\"\ntags = [\"floor3\"]\n";
    for (sel, hint) in [
        ("bordroom", "did you mean \"boardroom\"?"),
        ("tag:flor3", "did you mean \"floor3\"?"),
    ] {
        std::fs::write(
            &cfg,
            format!("{codecs}[script.volume-watch]\ncodecs = [\"{sel}\"]\n"),
        )
        .unwrap();
        let out = output(&proj, &["run"]).await;
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("xmacro.toml:8:1:"), "{}", out.stderr);
        assert!(out.stderr.contains(hint), "{}", out.stderr);
    }
}

#[tokio::test]
async fn config_mistakes_are_reported_where_they_are() {
    let (_tmp, proj) = project("where").await;
    let cfg = proj.join("xmacro.toml");
    std::fs::write(
        &cfg,
        "[defaults]\nusername = \"integrator\"\npassword_env = \"XMACRO_TEST_SURELY_UNSET\"\n\n[[codec]]\nname = \"a\"\nurl = \"ws://127.0.0.1:9/ws\"\n",
    )
    .unwrap();
    let out = output(&proj, &["run"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("xmacro.toml:3:1:")
            && out.stderr.contains("from [defaults]")
            && out.stderr.contains("XMACRO_TEST_SURELY_UNSET is not set"),
        "{}",
        out.stderr
    );
    let out = output(&proj, &["run", "--config", "nosuch.toml"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("nosuch.toml: the config file does not exist"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(":0:0"), "{}", out.stderr);
    std::fs::write(
        &cfg,
        "[[codec]]\nname = \"a\"\npassword_env = \"HOME\"\nurl = \"10.0.0.5/ws\"\n",
    )
    .unwrap();
    let out = output(&proj, &["run"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("xmacro.toml:4:1:") && out.stderr.contains("expected ws:// or wss://"),
        "{}",
        out.stderr
    );
    let out = output(&proj, &["get", "10.0.0.5/ws", "Status", "Audio", "Volume"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("expected ws:// or wss://"),
        "{}",
        out.stderr
    );
}

/// Runs a command on a pseudo-terminal (util-linux `script`), so it sees a
/// terminal on stdin and stdout.
fn on_a_terminal(cwd: &Path, command: &str) -> Child {
    Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(cwd)
        .env_remove("XMACRO_PASSWORD")
        .env_remove("XMACRO_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Reads a child's stdout until it contains `needle`.
async fn read_until(child: &mut Child, needle: &str) -> String {
    let out = child.stdout.as_mut().unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(LONG, async {
        while !text.contains(needle) {
            let n = out.read(&mut buf).await.unwrap();
            assert!(n > 0, "ended before {needle:?}: {text:?}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in {text:?}"));
    text
}

#[tokio::test]
async fn the_password_prompt_says_enter_means_empty_and_a_url_without_user_never_prompts() {
    let sim = Sim::start(Default::default()).await;
    let bin = env!("CARGO_BIN_EXE_xmacro");
    let dir = TempDir::new("prompt");
    let with_user = sim.url().replace("ws://", "ws://admin@");
    let mut child = on_a_terminal(
        &dir.0,
        &format!("{bin} get {with_user} Status Audio Volume"),
    );
    read_until(&mut child, "(Enter for an empty password): ").await;
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"\n")
        .await
        .unwrap();
    read_until(&mut child, "50").await;
    let status = tokio::time::timeout(LONG, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    // The help's own example: no user in the URL, no prompt, no stall.
    let mut child = on_a_terminal(
        &dir.0,
        &format!("{bin} get {} Status Audio Volume", sim.url()),
    );
    let text = read_until(&mut child, "50").await;
    assert!(!text.contains("Password"), "{text:?}");
    let status = tokio::time::timeout(LONG, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    // A codec that wants a password: the error says how to give one.
    let locked = Sim::start(xmacro::sim::SimOptions {
        password: "pw".into(),
        ..Default::default()
    })
    .await;
    let out = output(&dir.0, &["get", &locked.url(), "Status", "Audio", "Volume"]).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("admin with an empty password was tried: give -p PASSWORD"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn feedback_prints_json_lines_on_a_terminal_and_refuses_a_path_that_does_not_exist() {
    let sim = Sim::start(Default::default()).await;
    let bin = env!("CARGO_BIN_EXE_xmacro");
    let dir = TempDir::new("feedback");
    let mut child = on_a_terminal(
        &dir.0,
        &format!("{bin} feedback {} Status Audio Volume --current", sim.url()),
    );
    let text = read_until(&mut child, "}}}").await;
    let line = text.lines().find(|l| l.contains('{')).unwrap().trim();
    assert_eq!(
        serde_json::from_str::<Value>(line).unwrap(),
        json!({"Status": {"Audio": {"Volume": 50}}}),
        "one object on one line: {text:?}"
    );
    child.kill().await.unwrap();
    let out = output(
        &dir.0,
        &["feedback", &sim.url(), "Status", "Audio", "Volumee"],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("Status Audio Volumee does not exist")
            && out.stderr.contains("did you mean \"Volume\"?"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn one_shot_refusals_say_it_once_and_name_the_path() {
    let sim = Sim::start(Default::default()).await;
    let dir = TempDir::new("refusal");
    let u = sim.url();
    let out = output(
        &dir.0,
        &["command", &u, "Audio", "Volume", "Set", "Level=500"],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        out.stderr
            .to_lowercase()
            .matches("argument to parameter")
            .count(),
        1,
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("500 is outside 0..100"),
        "{}",
        out.stderr
    );
    let out = output(
        &dir.0,
        &["command", &u, "Audio", "Volume", "Sett", "Level=5"],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("Audio Volume Sett") && out.stderr.contains("Method not found"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_single_script_file_runs_and_checks_alone() {
    let (_tmp, proj) = project("single").await;
    std::fs::write(
        proj.join("scripts/other.rhai"),
        "print(\"other script started\");\n",
    )
    .unwrap();
    std::fs::write(proj.join("scripts/broken.rhai"), "let a = ;\n").unwrap();
    let out = output(&proj, &["check", "scripts/volume-watch.rhai"]).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("1 script(s)"), "{}", out.stdout);
    let out = output(&proj, &["check", "scripts/broken.rhai"]).await;
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("broken.rhai:1:"), "{}", out.stdout);
    let out = output(&proj, &["check", "scripts/nosuch.rhai"]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no such script file"), "{}", out.stderr);
    // run FILE: that script alone, here with JSON log lines.
    let mut cmd = xmacro(&proj);
    cmd.args([
        "run",
        "scripts/volume-watch.rhai",
        "--sim",
        "--log-format",
        "json",
    ]);
    let mut run = Running::spawn(cmd);
    let line = run.until("turning it down").await;
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["span"]["script"], "volume-watch", "{v}");
    assert_eq!(v["span"]["codec"], "sim", "{v}");
    let seen = run.seen.clone();
    assert_eq!(run.stop().await, 0);
    assert_eq!(count(&seen, "other script"), 0, "{seen:#?}");
    assert_eq!(count(&seen, "broken"), 0, "{seen:#?}");
}

#[tokio::test]
async fn run_with_a_schema_warns_of_unknown_paths_and_a_refused_subscription_is_logged() {
    let dir = TempDir::new("subs");
    std::fs::write(
        dir.scripts().join("typo.rhai"),
        "xapi.Status.Audio.Volumee.on(|v| print(v));\nprint(\"typo loaded\");\n",
    )
    .unwrap();
    // With Cisco's schema (when it is at hand), the typo is a warning.
    if let Some(schema) = schema() {
        let mut cmd = xmacro(&dir.0);
        cmd.args(["run", "scripts", "--sim", "--schema", &schema]);
        let mut run = Running::spawn(cmd);
        let warn = run.until("Volumee").await;
        assert!(
            warn.contains("WARN") && warn.contains("typo.rhai:1:") && warn.contains("Volume"),
            "{warn}"
        );
        run.stop().await;
    }
    // Without a schema, a codec that refuses the subscription is reported.
    let sim = Sim::start(Default::default()).await;
    let mut raw = try_connect(&sim.url(), Auth::Basic("admin", ""))
        .await
        .unwrap();
    raw.ok(
        "xSim/Refuse",
        json!({"Method": "xFeedback/Subscribe", "Code": -32602, "Message": "No match on Query argument"}),
    )
    .await;
    let mut cmd = xmacro(&dir.0);
    cmd.args(["run", "scripts/typo.rhai", "--codec", &sim.url()]);
    let mut run = Running::spawn(cmd);
    // The client warns, and the script's top level fails with the same
    // refusal; the two lines may come in either order.
    let line = run.until("subscribe to Status Audio Volumee refused").await;
    assert!(
        line.contains("WARN") && line.contains("No match on Query argument"),
        "{line}"
    );
    run.stop().await;
}

#[tokio::test]
async fn sim_exits_2_on_a_busy_port_and_listens_on_a_host_name() {
    let dir = TempDir::new("simport");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = output(&dir.0, &["sim", "--listen", &addr]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("cannot listen on {addr}")),
        "{}",
        out.stderr
    );
    // With JSON logs the final error is a JSON line too.
    let out = output(&dir.0, &["--log-format", "json", "sim", "--listen", &addr]).await;
    assert_eq!(out.code, 2);
    let v: Value =
        serde_json::from_str(out.stderr.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stderr));
    assert_eq!(
        (v["level"].as_str(), v["exit_code"].as_i64()),
        (Some("ERROR"), Some(2)),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("cannot listen"),
        "{v}"
    );
    let mut cmd = xmacro(&dir.0);
    cmd.args(["sim", "--listen", "localhost:0"]);
    let mut child = cmd.spawn().unwrap();
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    tokio::time::timeout(LONG, stdout.read_line(&mut first))
        .await
        .unwrap()
        .unwrap();
    assert!(first.starts_with("listening on ws://"), "{first}");
    child.kill().await.unwrap();
    let help = output(&dir.0, &["sim", "--help"]).await.stdout;
    assert!(!help.contains("module docs"), "{help}");
    assert!(help.contains("exits with code 2"), "{help}");
    let help = output(&dir.0, &["--help"]).await.stdout;
    assert!(help.contains("2 usage or config"), "{help}");
}

#[tokio::test]
async fn completions_for_bash_zsh_and_fish_and_a_man_page() {
    let dir = TempDir::new("complete");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = output(&dir.0, &["completions", shell]).await;
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        for word in ["xmacro", "feedback", "log-format"] {
            assert!(out.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    let out = output(&dir.0, &["completions", "tcsh"]).await;
    assert_eq!(out.code, 2);
    let out = output(&dir.0, &["man"]).await;
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.starts_with(".ie") || out.stdout.contains(".TH xmacro 1"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("run"), "{}", out.stdout);
}
