//! A newcomer's first hour, second pass (issue 32), through the real
//! binary: the schema pulled from a codec, the built-in model's limits
//! said out loud, passwords as documented, `status` finding the host,
//! JavaScript habits met with hints, install steps (completions and man
//! pages, a closed pipe), and tests that cannot pass by accident.

use std::process::Stdio;

use crate::common::rig::TempDir;
use crate::first_hour::{LONG, output, xmacro};

/// Runs xmacro with its stdout read for one line, then closed: what
/// `xmacro ... | head -1` does. Gives the line and the exit code.
async fn first_line_then_close(args: &[&str]) -> (String, i32, String) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let dir = TempDir::new("pipe");
    let mut cmd = xmacro(&dir.0);
    cmd.args(args).stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(LONG, stdout.read_line(&mut line))
        .await
        .expect("a first line")
        .unwrap();
    drop(stdout);
    let mut stderr = String::new();
    let mut err = child.stderr.take().unwrap();
    let status = tokio::time::timeout(LONG, async {
        err.read_to_string(&mut stderr).await.unwrap();
        child.wait().await.unwrap()
    })
    .await
    .expect("xmacro ends once its reader has gone");
    (line, status.code().unwrap_or(-1), stderr)
}

#[tokio::test]
async fn output_into_a_pipe_closed_after_the_first_line_ends_quietly() {
    for args in [
        &["completions", "bash"][..],
        &["man"][..],
        &["completions", "zsh"][..],
    ] {
        let (line, code, stderr) = first_line_then_close(args).await;
        assert!(!line.is_empty(), "{args:?}");
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} said: {stderr}");
    }
}

/// A roff page's text with its hyphens plain (`xmacro\-run` → `xmacro-run`).
fn page_refs(roff: &str) -> Vec<String> {
    let text = roff.replace("\\-", "-");
    let mut refs: Vec<String> = text
        .match_indices("xmacro-")
        .filter_map(|(at, _)| {
            let rest = &text[at..];
            let end = rest.find("(1)")?;
            let name = &rest[..end];
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
                .then(|| name.to_string())
        })
        .collect();
    refs.sort();
    refs.dedup();
    refs
}

#[tokio::test]
async fn man_dir_writes_a_page_per_command_and_every_page_named_exists() {
    let tmp = TempDir::new("mandir");
    let dir = tmp.0.join("share/man/man1");
    let out = output(&tmp.0, &["man", "--dir", dir.to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for page in [
        "xmacro.1",
        "xmacro-run.1",
        "xmacro-check.1",
        "xmacro-sim-ctl.1",
    ] {
        assert!(dir.join(page).is_file(), "no {page}");
    }
    let mut named = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let page = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for r in page_refs(&page) {
            named += 1;
            assert!(
                dir.join(format!("{r}.1")).is_file(),
                "{r}(1) is named but not written"
            );
        }
    }
    assert!(named > 10, "the main page names the command pages");
    // Alone on stdout, the main page names no page it does not come with.
    let out = output(&tmp.0, &["man"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(page_refs(&out.stdout), Vec::<String>::new());
    assert!(out.stdout.contains("xmacro run"), "the commands are listed");
}

#[tokio::test]
async fn javascript_habits_get_a_hint_in_the_guides_words_with_the_place_of_the_cause() {
    let dir = TempDir::new("js-habits");
    let habits = [
        (
            "alert.rhai",
            "xapi.Command.UserInterface.Message.Alert.Display({ Text: \"hi\" });\n",
            "alert.rhai:1:",
            "`#{ }`",
        ),
        (
            "arrow.rhai",
            "xapi.Status.Audio.Volume.on((v) => {\n    print(v);\n});\n",
            "arrow.rhai:1:",
            "`|e| { ... }`",
        ),
        (
            "quote.rhai",
            "let s = 'hello';\n",
            "quote.rhai:1:",
            "double quotes or backticks",
        ),
        (
            "add.rhai",
            "function add(a, b) {\n    return a + b;\n}\n",
            "add.rhai:1:",
            "with `fn`",
        ),
        (
            "log.rhai",
            "let v = 1;\nconsole.log(v);\n",
            "log.rhai:2:1:",
            "is `print(x)`",
        ),
        (
            "strict.rhai",
            "let a = 1;\nif a === 1 { print(a); }\n",
            "strict.rhai:2:",
            "Should it be '=='?",
        ),
        (
            "brace.rhai",
            "let x = 1;\nif x > 0 {\n    if x > 1 {\n        print(\"a\");\n\n    print(\"b\");\n}\nfn f() {\n    1\n}\n",
            "brace.rhai:8:1:",
            "the `{` on line 3",
        ),
    ];
    for (file, text, _, _) in &habits {
        std::fs::write(dir.scripts().join(file), text).unwrap();
    }
    let out = output(&dir.0, &["check", "scripts"]).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    for (file, _, place, hint) in &habits {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(file))
            .unwrap_or_else(|| panic!("nothing on {file}:\n{}", out.stdout));
        assert!(line.starts_with(place), "{line}");
        assert!(line.contains(hint), "{file} lacks {hint:?}: {line}");
    }
}

/// A scripts folder with one script naming `Status Audio Volum`.
fn typo_project(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    std::fs::write(
        dir.scripts().join("typo.rhai"),
        "let v = xapi.Status.Audio.Volum.get();\nxapi.Command.Audio.Volume.Set(#{ Level: 10 });\n",
    )
    .unwrap();
    dir
}

/// `xmacro schema pull URL --out FILE`, then `check --schema FILE`
/// flagging the typo, and `sim --schema FILE` starting on it.
async fn pull_then_check(url: &str, dir: &TempDir) -> std::path::PathBuf {
    let file = dir.0.join("pulled/roomos.json");
    let out = output(
        &dir.0,
        &["schema", "pull", url, "--out", file.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("xAPI objects"), "{}", out.stdout);
    let out = output(
        &dir.0,
        &["check", "scripts", "--schema", file.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("typo.rhai:1:")
            && out
                .stdout
                .contains("no \"Volum\" under Status Audio (did you mean \"Volume\"?)"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "only the typo: {}",
        out.stdout
    );
    let mut sim = crate::first_hour::Running::spawn({
        let mut cmd = xmacro(&dir.0);
        cmd.args(["sim", "--listen", "127.0.0.1:0", "--schema"])
            .arg(&file)
            .args(["--product", "Room Kit Pro"]);
        cmd
    });
    sim.until("simulator ready").await;
    assert_eq!(sim.stop().await, 0);
    file
}

#[tokio::test]
async fn a_schema_pulled_from_the_built_in_simulator_checks_a_script() {
    let sim = crate::common::Sim::start(Default::default()).await;
    let dir = typo_project("pull-builtin");
    pull_then_check(&sim.url(), &dir).await;
}

#[tokio::test]
async fn a_schema_pulled_from_a_simulator_on_ciscos_schema_keeps_its_paths() {
    let Some(cisco) = crate::common::cisco_schema_file() else {
        return;
    };
    let dir = typo_project("pull-cisco");
    let (mut sim, url) = sim_binary(
        &dir,
        &[
            "--product",
            "Codec Pro",
            "--schema",
            cisco.to_str().unwrap(),
        ],
    )
    .await;
    std::fs::write(
        dir.scripts().join("custom.rhai"),
        "let m = xapi.Configuration.UserInterface.CustomMessage.get();\n",
    )
    .unwrap();
    let file = pull_then_check(&url, &dir).await;
    // A path only Cisco's schema has (not the built-in model) is in the file.
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("UserInterface CustomMessage"));
    sim.kill().await.unwrap();
}

/// `xmacro sim --listen 127.0.0.1:0 ARGS` and the URL it prints first.
async fn sim_binary(dir: &TempDir, args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut cmd = xmacro(&dir.0);
    cmd.args(["sim", "--listen", "127.0.0.1:0"]).args(args);
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(LONG, stdout.read_line(&mut line))
        .await
        .expect("the simulator says where it listens")
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"));
    (child, url.to_string())
}

#[tokio::test]
async fn check_without_a_schema_warns_of_paths_the_built_in_model_lacks() {
    let dir = typo_project("builtin-warn");
    let out = output(&dir.0, &["check", "scripts"]).await;
    assert_eq!(out.code, 0, "a warning, not a failure: {}", out.stderr);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("warning: typo.rhai:1:"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(line.contains("Status Audio Volum"), "{line}");
    assert!(
        line.contains("not in the built-in model; pass --schema for the full xAPI"),
        "{line}"
    );
}

#[tokio::test]
async fn check_against_a_live_codec_flags_the_typo() {
    let sim = crate::common::Sim::start(Default::default()).await;
    let dir = typo_project("check-codec");
    let out = output(&dir.0, &["check", "scripts", "--codec", &sim.url()]).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.contains("no \"Volum\" under Status Audio"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn a_wrong_product_lists_the_schemas_products_with_their_names() {
    let dir = typo_project("product");
    let schema =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-small.json");
    let schema = schema.to_str().unwrap();
    let out = output(
        &dir.0,
        &[
            "check",
            "scripts",
            "--schema",
            schema,
            "--product",
            "roomkitmini",
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("no object is marked for product \"roomkitmini\"")
            && out.stderr.contains("barents (Codec Pro, Room Kit Pro)"),
        "{}",
        out.stderr
    );
    // The name the issue tried is accepted, as is the codename.
    for product in ["roomkitpro", "Room Kit Pro", "barents"] {
        let out = output(
            &dir.0,
            &["check", "scripts", "--schema", schema, "--product", product],
        )
        .await;
        assert_eq!(out.code, 1, "{product}: {}", out.stderr);
        assert!(out.stdout.contains("Volum"), "{}", out.stdout);
    }
}

#[tokio::test]
async fn a_path_the_simulator_lacks_is_named_in_the_scripts_error() {
    let dir = TempDir::new("named-path");
    let file = dir.scripts().join("custom.rhai");
    std::fs::write(
        &file,
        "let m = xapi.Configuration.UserInterface.CustomMessage.get();\n",
    )
    .unwrap();
    let mut run = crate::first_hour::Running::spawn({
        let mut cmd = xmacro(&dir.0);
        cmd.arg("run")
            .arg(&file)
            .args(["--sim", "--state"])
            .arg(dir.state());
        cmd
    });
    let line = run.until("No match on Path argument").await;
    assert!(
        line.contains("custom.rhai:1:")
            && line.contains("Configuration UserInterface CustomMessage"),
        "{line}"
    );
    run.stop().await;
}

/// The built-in model's paths, per root, as docs/testing.md lists them
/// (generated here from the model, so the doc cannot drift).
fn builtin_model_listing() -> String {
    use xmacro::schema::Node;
    fn walk(node: &Node, at: &mut Vec<String>, out: &mut Vec<String>) {
        if node.entry.is_some() {
            out.push(at.join(" "));
        }
        for (name, child) in &node.children {
            let word = match child.index_range {
                Some(_) => format!("{name}[n]"),
                None => name.clone(),
            };
            at.push(word);
            walk(child, at, out);
            at.pop();
        }
    }
    let model = xmacro::sim::builtin::schema();
    let mut text = String::new();
    for root in ["Configuration", "Status", "Command", "Event"] {
        let mut paths = Vec::new();
        if let Some(node) = model.root.children.get(root) {
            walk(node, &mut Vec::new(), &mut paths);
        }
        let list: Vec<String> = paths.iter().map(|p| format!("`{p}`")).collect();
        text.push_str(&format!(
            "- **{root}** ({}): {}\n",
            paths.len(),
            list.join(", ")
        ));
    }
    text
}

#[test]
fn the_testing_guide_lists_what_the_built_in_model_covers() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/testing.md"),
    )
    .unwrap();
    let (start, end) = (
        "<!-- built-in model: start -->\n",
        "<!-- built-in model: end -->",
    );
    let from = doc.find(start).expect("the list's start marker") + start.len();
    let to = doc.find(end).expect("the list's end marker");
    let expected = builtin_model_listing();
    assert!(
        doc[from..to] == expected,
        "docs/testing.md's list of the built-in model is out of date; it should read:\n{expected}"
    );
}

#[tokio::test]
async fn an_unscripted_http_request_fails_the_test_naming_the_url() {
    let dir = TempDir::new("unscripted-http");
    std::fs::write(
        dir.scripts().join("notify.rhai"),
        "xapi.Config.HttpClient.Mode.set(\"On\");\n\
         xapi.Status.Audio.Volume.on(|v| {\n\
             xapi.Command.HttpClient.Post(#{ Url: \"https://hooks.example.com/volume\" }, `${v}`);\n\
             print(\"posted\");\n\
         });\n",
    )
    .unwrap();
    std::fs::write(
        dir.scripts().join("notify.test.rhai"),
        "test(\"a volume change is posted\", || {\n\
             let room = sim();\n\
             room.load(\"notify\");\n\
             room.status(\"Audio Volume\", 80);\n\
             advance(\"1s\");\n\
             assert_eq(room.http_requests().len(), 1);\n\
             assert_eq(room.logs().filter(|l| l.contains(\"posted\")).len(), 1);\n\
         });\n",
    )
    .unwrap();
    let out = output(&dir.0, &["test", "scripts"]).await;
    assert_eq!(
        out.code, 1,
        "the forgotten answer fails the test:\n{}{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("https://hooks.example.com/volume")
            && out.stdout.contains("no answer was scripted"),
        "{}",
        out.stdout
    );
}

/// An init project whose config names `boardroom` at `url`, its password
/// from a variable that is not set.
async fn fleet_project(tag: &str, url: &str) -> (TempDir, std::path::PathBuf) {
    let (tmp, proj) = crate::first_hour::project(tag).await;
    let config = std::fs::read_to_string(proj.join("xmacro.toml")).unwrap();
    let config = config
        .replace(
            "# [defaults]\n# username = \"integrator\"\n# password_env = \"CODEC_PASSWORD\"",
            "[defaults]\nusername = \"admin\"\npassword_env = \"XMACRO_TEST_UNSET_PASSWORD\"",
        )
        .replace(
            "# [[codec]]\n# name = \"boardroom\"\n# url = \"wss://10.0.0.5/ws\"",
            &format!("[[codec]]\nname = \"boardroom\"\nurl = \"{url}\""),
        );
    assert!(config.contains("name = \"boardroom\""), "{config}");
    std::fs::write(proj.join("xmacro.toml"), config).unwrap();
    (tmp, proj)
}

fn sim_with_password() -> xmacro::sim::SimOptions {
    xmacro::sim::SimOptions {
        password: "s3cret".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_password_on_the_command_line_wins_over_the_configs_source_for_a_one_shot() {
    let sim = crate::common::Sim::start(sim_with_password()).await;
    let (_tmp, proj) = fleet_project("p-wins", &sim.url()).await;
    let out = output(
        &proj,
        &[
            "get",
            "-p",
            "s3cret",
            "boardroom",
            "Status",
            "Audio",
            "Volume",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "50");
    let mut cmd = xmacro(&proj);
    cmd.args(["get", "boardroom", "Status", "Audio", "Volume"])
        .env("XMACRO_PASSWORD", "s3cret");
    let out = crate::first_hour::finish(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Without either, the config's source is what counts, and says so.
    let out = output(&proj, &["get", "boardroom", "Status", "Audio", "Volume"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("XMACRO_TEST_UNSET_PASSWORD"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn run_sim_in_a_project_never_asks_for_the_fleets_passwords() {
    let sim = crate::common::Sim::start(sim_with_password()).await;
    let (_tmp, proj) = fleet_project("sim-no-pw", &sim.url()).await;
    for args in [
        &["run", "--sim"][..],
        &["run", "scripts/volume-watch.rhai", "--sim"][..],
    ] {
        let mut run = crate::first_hour::Running::spawn({
            let mut cmd = xmacro(&proj);
            cmd.args(args);
            cmd
        });
        run.until("script{codec=sim script=volume-watch}").await;
        assert_eq!(run.stop().await, 0, "{args:?}");
    }
}

#[tokio::test]
async fn a_wrong_user_on_the_simulator_is_told_the_user_it_takes() {
    let sim = crate::common::Sim::start(Default::default()).await;
    let url = sim.url().replace("ws://", "ws://integrator@");
    let dir = TempDir::new("sim-user");
    let started = std::time::Instant::now();
    let out = output(
        &dir.0,
        &["get", &url, "-p", "x", "Status", "Audio", "Volume"],
    )
    .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("takes user \"admin\""),
        "{}",
        out.stderr
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a refused login is not retried"
    );
}

#[tokio::test]
async fn status_finds_the_host_run_sim_started_in_the_project() {
    let (_tmp, proj) = crate::first_hour::project("status-finds").await;
    let mut run = crate::first_hour::Running::spawn({
        let mut cmd = xmacro(&proj);
        cmd.args(["run", "--sim"]);
        cmd
    });
    let line = run.until("status page on http://").await;
    assert!(
        line.contains("`xmacro status` in this project finds it"),
        "{line}"
    );
    run.until("script{codec=sim script=volume-watch}").await;
    let out = output(&proj, &["status"]).await;
    assert!(
        out.stdout.contains("volume-watch"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("sim "), "{}", out.stdout);
    assert_eq!(run.stop().await, 0);
    let out = output(&proj, &["status"]).await;
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("no running host recorded"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn run_without_a_config_keeps_its_state_in_the_users_data_folder() {
    let dir = TempDir::new("xdg-state");
    std::fs::write(dir.scripts().join("hello.rhai"), "print(\"hello\");\n").unwrap();
    let data = dir.0.join("data-home");
    let mut run = crate::first_hour::Running::spawn({
        let mut cmd = xmacro(&dir.0);
        cmd.args(["run", "--sim"]).env("XDG_DATA_HOME", &data);
        cmd
    });
    run.until("hello").await;
    assert_eq!(run.stop().await, 0);
    assert!(
        !dir.0.join(".xmacro").exists(),
        "nothing left in the current folder"
    );
    let states: Vec<_> = std::fs::read_dir(data.join("xmacro/state"))
        .expect("the state is in the data folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(states.len(), 1, "{states:?}");
    assert!(states[0].starts_with("scripts-"), "{states:?}");
}
