//! `xmacro test`: the bundled scripts' tests, a broken script's failure
//! (file:line:col, both values, exit 1, JUnit that parses), the virtual
//! clock's order (timeouts, intervals, daily across midnight and DST), idle
//! detection through chained callbacks, replay of a recording, and one
//! test run 1000 times in a loop.

use std::path::Path;
use std::process::Output;
use std::sync::mpsc;
use std::time::Duration;

use xmacro::testrun::report::{Outcome, Summary};
use xmacro::testrun::{TestOptions, run};

use crate::common::rig::TempDir;

/// Liveness bound of one run (far above what it needs).
pub(crate) const LIMIT: Duration = Duration::from_secs(300);

/// Runs the tests in `dir` in-process, on a thread bounded by [`LIMIT`].
pub(crate) fn run_dir(dir: &Path, filter: Option<&str>) -> Summary {
    let mut opts = TestOptions::new(dir);
    opts.filter = filter.map(str::to_string);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run(&opts, |_| {}).map_err(|e| e.to_string()));
    });
    rx.recv_timeout(LIMIT)
        .expect("the test run ended in time")
        .expect("the tests ran")
}

pub(crate) fn failures(s: &Summary) -> String {
    s.results
        .iter()
        .filter(|r| r.outcome != Outcome::Passed)
        .map(|r| format!("{} > {}: {:?}", r.file, r.name, r.outcome))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn assert_all_passed(s: &Summary, at_least: usize) {
    assert_eq!(s.failed(), 0, "{}", failures(s));
    assert!(
        s.passed() >= at_least,
        "only {} test(s) ran, expected {at_least}",
        s.passed()
    );
}

/// Runs a command, bounded by [`LIMIT`].
pub(crate) fn output_within(mut cmd: std::process::Command) -> Output {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(cmd.output());
    });
    rx.recv_timeout(LIMIT)
        .expect("xmacro ended in time")
        .unwrap()
}

pub(crate) fn xmacro_test(dir: &Path, extra: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_xmacro"));
    cmd.arg("test").arg(dir).args(extra).env("NO_COLOR", "1");
    output_within(cmd)
}

pub(crate) fn write(dir: &TempDir, rel: &str, text: &str) {
    std::fs::write(dir.scripts().join(rel), text).unwrap();
}

#[test]
fn the_bundled_scripts_pass_their_own_tests_with_one_or_more_per_script() {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    for entry in std::fs::read_dir(&scripts).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if xmacro::script::files::is_script_file(&name) {
            let test = scripts.join(name.replace(".rhai", ".test.rhai"));
            assert!(test.is_file(), "{name} has no {}", test.display());
        }
    }
    let out = xmacro_test(&scripts, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with(" passed, 0 failed"), "{stdout}");
    for script in ["daily-reboot", "call-survey"] {
        assert!(
            stdout.contains(&format!("ok     {script}.test.rhai >")),
            "{stdout}"
        );
    }
}

const WATCH: &str = r#"
let max = args.max ?? 70;
xapi.Status.Audio.Volume.on(|volume| {
    if volume > max {
        print(`turning ${volume} down`);
        xapi.Command.Audio.Volume.Set(#{ Level: max + 1 });
    }
});
"#;

const WATCH_TEST: &str = r#"
test("a loud room is turned down", || {
    let room = sim();
    room.load("watch", #{ max: 60 });
    room.status("Audio Volume", 85);
    assert_eq(room.get("Status Audio Volume"), 60);
});

test("a quiet room is left alone", || {
    let room = sim();
    room.load("watch", #{ max: 60 });
    room.status("Audio Volume", 20);
    assert_eq(room.commands().len(), 0);
});
"#;

#[test]
fn a_broken_script_fails_its_test_with_the_place_and_both_values() {
    let dir = TempDir::new("testrun-broken");
    write(&dir, "watch.rhai", WATCH);
    write(&dir, "watch.test.rhai", WATCH_TEST);
    let out = xmacro_test(&dir.scripts(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("watch.test.rhai:6:5: assertion failed"),
        "{stdout}"
    );
    assert!(stdout.contains("actual:   61"), "{stdout}");
    assert!(stdout.contains("expected: 60"), "{stdout}");
    assert!(
        stdout.contains("turning 85 down"),
        "the script's log: {stdout}"
    );
    assert!(
        stdout.contains("ok     watch.test.rhai > a quiet room"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("1 passed, 1 failed"));

    let out = xmacro_test(&dir.scripts(), &["--format", "junit"]);
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the JUnit output is XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("2"));
    assert_eq!(root.attribute("failures"), Some("1"));
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("a <failure>");
    assert!(failure.text().unwrap_or_default().contains("expected: 60"));

    let out = xmacro_test(&dir.scripts(), &["--filter", "quiet"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().last(), Some("1 passed, 0 failed"));
}

#[test]
fn a_script_that_does_not_compile_exits_2_and_says_where() {
    let dir = TempDir::new("testrun-compile");
    write(&dir, "watch.rhai", "let x = ;\n");
    write(&dir, "watch.test.rhai", WATCH_TEST);
    let out = xmacro_test(&dir.scripts(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("watch.rhai:1:"), "{stdout}");
    write(&dir, "watch.test.rhai", "test(\"x\", || { let a = ; });\n");
    let out = xmacro_test(&dir.scripts(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("watch.test.rhai:1:24: "), "{stdout}");
    let out = xmacro_test(&dir.scripts().join("missing"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

#[test]
fn timeouts_and_intervals_fire_in_time_order_on_the_virtual_clock() {
    let dir = TempDir::new("testrun-order");
    write(
        &dir,
        "timers.rhai",
        r#"
set_timeout(|| print("t300"), 300);
set_timeout(|| print("t100"), 100);
set_timeout(|| print("t100b"), 100);
let n = 0;
let h = set_interval(|| { n += 1; print(`i${n}`); }, 250);
set_timeout(|| { h.cancel(); print("stop"); }, 800);
"#,
    );
    write(
        &dir,
        "timers.test.rhai",
        r#"
test("timers fire in order and only when the clock moves", || {
    let room = sim();
    room.load("timers");
    assert_eq(room.logs(), []);
    advance(99);
    assert_eq(room.logs(), []);
    advance("1s");
    assert_eq(room.logs(), ["t100", "t100b", "i1", "t300", "i2", "i3", "stop"]);
    advance("1h");
    assert_eq(room.logs().len(), 7);
});
"#,
    );
    assert_all_passed(&run_dir(&dir.scripts(), None), 1);
}

#[test]
fn daily_fires_across_midnight_and_daylight_saving_changes_once_a_day() {
    let dir = TempDir::new("testrun-daily");
    write(
        &dir,
        "daily.rhai",
        r#"
daily(args.at, || print(now().format("%Y-%m-%d %H:%M")));
"#,
    );
    write(
        &dir,
        "daily.test.rhai",
        r#"
test("across midnight", || {
    set_time("2026-03-02 23:50");
    let room = sim();
    room.load("daily", #{ at: "00:05" });
    advance("14m");
    assert_eq(room.logs(), []);
    advance("1m");
    assert_eq(room.logs(), ["2026-03-03 00:05"]);
    advance("2d");
    assert_eq(room.logs(), ["2026-03-03 00:05", "2026-03-04 00:05", "2026-03-05 00:05"]);
});

test("a time the spring-forward change skips fires at the end of the gap", || {
    set_zone("Europe/Oslo");
    set_time("2026-03-28 12:00");
    let room = sim();
    room.load("daily", #{ at: "02:30" });
    advance("2d");
    assert_eq(room.logs(), ["2026-03-29 03:00", "2026-03-30 02:30"]);
});

test("a time the fall-back change repeats fires once", || {
    set_zone("Europe/Oslo");
    set_time("2026-10-24 12:00");
    let room = sim();
    room.load("daily", #{ at: "02:30" });
    advance("2d");
    assert_eq(room.logs(), ["2026-10-25 02:30", "2026-10-26 02:30"]);
});

test("setting the time skips what lies between", || {
    set_time("2026-03-02 07:00");
    let room = sim();
    room.load("daily", #{ at: "08:00" });
    set_time("2026-03-02 09:00");
    assert_eq(room.logs(), []);
    advance("23h");
    assert_eq(room.logs(), ["2026-03-03 08:00"]);
});
"#,
    );
    assert_all_passed(&run_dir(&dir.scripts(), None), 4);
}

const CHAIN: &str = r#"
xapi.Status.Audio.Volume.on(|v| {
    xapi.Config.Audio.DefaultVolume.set(v);
});
xapi.Config.Audio.DefaultVolume.on(|v| {
    set_timeout(|| {
        xapi.Command.Audio.Microphones.Mute();
        let level = xapi.Status.Audio.Volume.get();
        set_timeout(|| xapi.Command.Message.Send(#{ Text: `done ${level}` }), 0);
    }, 0);
});
"#;

const CHAIN_TEST: &str = r#"
fn check() {
    let room = sim();
    room.load("chain");
    room.status("Audio Volume", 33);
    assert_eq(room.get("Configuration Audio DefaultVolume"), 33);
    let paths = room.commands().map(|c| c.path);
    assert_eq(paths.len(), 2);
    assert(paths[0].contains("Mute"), `first ${paths[0]}`);
    assert_eq(room.commands()[1].params.Text, "done 33");
}

test("one action waits for every chained callback", || check());
"#;

#[test]
fn an_action_returns_only_when_chained_callbacks_are_done() {
    let dir = TempDir::new("testrun-chain");
    write(&dir, "chain.rhai", CHAIN);
    write(&dir, "chain.test.rhai", CHAIN_TEST);
    assert_all_passed(&run_dir(&dir.scripts(), None), 1);
}

#[test]
fn the_same_test_passes_1000_times_in_a_loop() {
    let dir = TempDir::new("testrun-repeat");
    write(&dir, "chain.rhai", CHAIN);
    write(
        &dir,
        "chain.test.rhai",
        &format!("{CHAIN_TEST}\nfor i in 0..1000 {{ test(`run ${{i}}`, || check()); }}\n"),
    );
    let s = run_dir(&dir.scripts(), Some("run "));
    assert_all_passed(&s, 1000);
}

#[test]
fn a_recorded_feedback_file_replays_into_a_test_at_clock_speed_or_at_once() {
    let dir = TempDir::new("testrun-replay");
    // What `xmacro feedback ... --record` writes.
    let path = dir.scripts().join("morning.jsonl");
    let mut rec = xmacro::testrun::record::Recorder::create(&path).unwrap();
    rec.write(&serde_json::json!({"Status": {"Audio": {"Volume": 80}}}))
        .unwrap();
    rec.write(&serde_json::json!({"Event": {"UserInterface": {"Extensions": {"Panel": {"Clicked": {"PanelId": "p"}}}}}}))
        .unwrap();
    drop(rec);
    let text = std::fs::read_to_string(&path).unwrap();
    // Spread the two in time, as a real recording would be.
    let lines: Vec<&str> = text.lines().collect();
    let second = lines[1].replacen(
        &format!(
            "\"ms\":{}",
            serde_json::from_str::<serde_json::Value>(lines[1]).unwrap()["ms"]
        ),
        "\"ms\":60000",
        1,
    );
    std::fs::write(&path, format!("{}\n{second}\n", lines[0])).unwrap();
    write(
        &dir,
        "react.rhai",
        r#"
xapi.Status.Audio.Volume.on(|v| print(`volume ${v}`));
xapi.Event.UserInterface.Extensions.Panel.Clicked.on(|e| print(`clicked ${e.PanelId}`));
set_interval(|| print("tick"), 30000);
"#,
    );
    write(
        &dir,
        "react.test.rhai",
        r#"
test("at once", || {
    let room = sim();
    room.load("react");
    assert_eq(room.replay("morning.jsonl"), 2);
    assert_eq(room.logs(), ["volume 80", "clicked p"]);
    assert_eq(room.get("Status Audio Volume"), 80);
});

test("at clock speed, timers interleave", || {
    let room = sim();
    room.load("react");
    room.replay("morning.jsonl", #{ timed: true });
    assert_eq(room.logs(), ["volume 80", "tick", "tick", "clicked p"]);
});
"#,
    );
    assert_all_passed(&run_dir(&dir.scripts(), None), 2);
}

#[test]
fn the_testing_guide_examples_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("docs/testing.md")).unwrap();
    let dir = TempDir::new("testrun-guide");
    // The guide's first example tests a bundled script.
    std::fs::copy(
        root.join("scripts/volume-limit.rhai"),
        dir.scripts().join("volume-limit.rhai"),
    )
    .unwrap();
    std::fs::copy(
        root.join("scripts/lib/ui.rhai"),
        dir.scripts().join("lib/ui.rhai"),
    )
    .unwrap();
    let mut current: Option<(String, String)> = None;
    let mut files = 0;
    for line in guide.lines() {
        match (&mut current, line.trim_end()) {
            (None, l) if l.starts_with("```rhai file=") => {
                current = Some((l["```rhai file=".len()..].to_string(), String::new()));
            }
            (Some((name, code)), "```") => {
                write(&dir, name, code);
                files += 1;
                current = None;
            }
            (Some((_, code)), l) => {
                code.push_str(l);
                code.push('\n');
            }
            _ => {}
        }
    }
    assert!(files >= 7, "only {files} example files in docs/testing.md");
    assert_all_passed(&run_dir(&dir.scripts(), None), 8);
}

#[tokio::test]
async fn feedback_recorded_from_a_codec_replays_in_a_test() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let sim = crate::common::Sim::start(xmacro::sim::SimOptions::default()).await;
    let dir = TempDir::new("testrun-record");
    let file = dir.scripts().join("rec.jsonl");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .args([
            "feedback",
            &sim.url(),
            "Status",
            "Audio",
            "Volume",
            "--record",
        ])
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut raw = crate::common::Raw::connect(&sim.url()).await;
    // The recorder is subscribed once the simulator counts its subscription.
    crate::common::within("the recorder's subscription", async {
        while raw.ok("xSim/Inspect", serde_json::json!({})).await["Subscriptions"] == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    raw.ok(
        "xSim/SetStatus",
        serde_json::json!({ "Path": "Status Audio Volume", "Value": 77 }),
    )
    .await;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let printed = crate::common::within("the printed feedback", lines.next_line())
        .await
        .unwrap()
        .expect("a feedback line");
    assert!(printed.contains("77"), "{printed}");
    child.kill().await.unwrap();
    let entries = xmacro::testrun::record::read(&file).unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].feedback["Status"]["Audio"]["Volume"], 77);

    write(
        &dir,
        "loud.rhai",
        "xapi.Status.Audio.Volume.on(|v| if v > 70 { xapi.Command.Audio.Volume.Set(#{ Level: 70 }); });\n",
    );
    write(
        &dir,
        "loud.test.rhai",
        r#"
test("the recorded volume is capped", || {
    let room = sim();
    room.load("loud");
    room.replay("rec.jsonl");
    assert_eq(room.get("Status Audio Volume"), 70);
});
"#,
    );
    let scripts = dir.scripts();
    let s = tokio::task::spawn_blocking(move || run_dir(&scripts, None))
        .await
        .unwrap();
    assert_all_passed(&s, 1);
}

#[test]
fn the_example_init_writes_passes_its_test() {
    let dir = TempDir::new("testrun-init");
    let project = dir.0.join("demo");
    let mut init = std::process::Command::new(env!("CARGO_BIN_EXE_xmacro"));
    init.arg("init").arg(&project);
    let out = output_within(init);
    assert!(out.status.success(), "{out:?}");
    let out = xmacro_test(&project.join("scripts"), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("2 passed, 0 failed"));
    // Without a directory, the config in the current directory says where.
    let mut here = std::process::Command::new(env!("CARGO_BIN_EXE_xmacro"));
    here.arg("test")
        .current_dir(&project)
        .env_remove("XMACRO_CONFIG");
    let out = output_within(here);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().last(), Some("2 passed, 0 failed"), "{out:?}");
}

#[test]
fn a_room_from_the_public_schema_runs_scripts_and_rejects_unknown_options() {
    let Some(schema) = crate::common::cisco_schema_file() else {
        return;
    };
    let dir = TempDir::new("testrun-schema");
    write(
        &dir,
        "cap.rhai",
        "xapi.Status.Audio.Volume.on(|v| if v > 60 { xapi.Command.Audio.Volume.Set(#{ Level: 60 }); });\n",
    );
    let test = r#"
test("a schema room", || {
    let room = sim(#{ schema: "SCHEMA", product: "barents" });
    room.load("cap");
    room.status("Audio Volume", 85);
    assert_eq(room.get("Status Audio Volume"), 60);
    assert_eq(room.get("Status SystemUnit ProductId"), "Cisco Codec Pro");
});
test("a second one reuses the loaded schema", || {
    let room = sim(#{ schema: "SCHEMA", product: "barents" });
    assert_eq(room.get("Status SystemUnit ProductId"), "Cisco Codec Pro");
});
test("a misspelt option", || { sim(#{ nme: "x" }); });
"#
    .replace("SCHEMA", &schema.display().to_string());
    write(&dir, "cap.test.rhai", &test);
    let s = run_dir(&dir.scripts(), None);
    assert_eq!(s.passed(), 2, "{}", failures(&s));
    let Outcome::Failed(why) = &s.results[2].outcome else {
        panic!("{:?}", s.results[2]);
    };
    assert!(
        why.contains("cap.test.rhai:13:32: sim(#{...}): unknown option \"nme\""),
        "{why}"
    );
}
