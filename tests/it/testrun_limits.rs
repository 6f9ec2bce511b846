//! `xmacro test` under a hostile test file (issue 33, items 15-18): a clock
//! moved past its range, a test file that doubles a string or nests an
//! array 100,000 deep, a test that runs forever or advances a busy clock by
//! a day, and names XML cannot carry. Each ends as that test's failure, the
//! tests after it still run, and the JUnit report parses with every test.
//! And the virtual clock's pace: timers that make no codec call cost no
//! round trip to the room.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use xmacro::clock::vclock::VirtualClock;
use xmacro::testrun::TestOptions;
use xmacro::testrun::report::Summary;
use xmacro::testrun::room::{Launch, Logs, Room};
use xmacro::testrun::state::{Schemas, TestState};

use crate::common::rig::TempDir;
use crate::testrun::{output_within, write};

/// `xmacro test DIR ARGS --format junit` with its address space capped, so
/// a test file that asks for all the memory there is fails here instead of
/// taking the machine's.
fn junit_capped(dir: &Path, extra: &[&str]) -> Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 8000000; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_xmacro"))
        .arg("test")
        .arg(dir)
        .args(["--format", "junit"])
        .args(extra)
        .env("NO_COLOR", "1");
    output_within(cmd)
}

/// One testcase of a JUnit report: its name, `passed`, `failure` or
/// `error`, and the text of the failure.
#[derive(Debug)]
struct Case {
    name: String,
    kind: String,
    text: String,
}

fn cases(out: &Output) -> Vec<Case> {
    let xml = String::from_utf8_lossy(&out.stdout);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| {
        panic!(
            "the JUnit report does not parse ({e}):\n{xml}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    doc.descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| {
            let outcome = n
                .children()
                .find(|c| c.has_tag_name("failure") || c.has_tag_name("error"));
            Case {
                name: n.attribute("name").unwrap_or_default().to_string(),
                kind: outcome
                    .map_or("passed", |o| o.tag_name().name())
                    .to_string(),
                text: outcome
                    .and_then(|o| o.text())
                    .unwrap_or_default()
                    .to_string(),
            }
        })
        .collect()
}

fn case<'a>(all: &'a [Case], name: &str) -> &'a Case {
    all.iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no testcase {name:?} in {all:#?}"))
}

#[test]
fn a_clock_moved_past_its_range_fails_that_test_and_the_others_still_run() {
    let dir = TempDir::new("testrun-range");
    write(
        &dir,
        "rec.jsonl",
        "{\"ms\": 0, \"feedback\": {\"Status\": {\"Audio\": {\"Volume\": 40}}}}\n\
         {\"ms\": 9000000000000000000, \"feedback\": {\"Status\": {\"Audio\": {\"Volume\": 50}}}}\n",
    );
    write(
        &dir,
        "watch.rhai",
        "xapi.Status.Audio.Volume.on(|v| print(`volume ${v}`));\n",
    );
    write(
        &dir,
        "range.test.rhai",
        r#"
test("a hundred billion days", || { advance("100000000000d"); now(); });
test("the largest number of ms", || { advance(9223372036854775807); });
test("a recording from the far future", || {
    let room = sim();
    room.load("watch");
    room.replay("rec.jsonl", #{ timed: true });
});
test("a year is fine", || {
    advance("365d");
    assert_eq(now().format("%Y-%m-%d"), "2027-01-05");
});
"#,
    );
    let out = junit_capped(&dir.scripts(), &[]);
    let all = cases(&out);
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(out.status.code(), Some(1), "{all:#?}");
    let days = case(&all, "a hundred billion days");
    assert_eq!(days.kind, "failure");
    assert!(
        days.text
            .contains("range.test.rhai:2:37: advance(\"100000000000d\")"),
        "{}",
        days.text
    );
    assert!(
        days.text.contains("beyond the test clock's range"),
        "{}",
        days.text
    );
    let most = case(&all, "the largest number of ms");
    assert!(
        most.text.contains("advance(9223372036854775807)"),
        "{}",
        most.text
    );
    let far = case(&all, "a recording from the far future");
    assert_eq!(far.kind, "failure");
    assert!(far.text.contains("rec.jsonl:2"), "{}", far.text);
    assert!(far.text.contains("9000000000000000000"), "{}", far.text);
    assert!(
        far.text.contains("volume 40"),
        "what came before still played: {}",
        far.text
    );
    assert_eq!(case(&all, "a year is fine").kind, "passed");
}

#[test]
fn test_files_run_in_the_sandbox_scripts_have() {
    let dir = TempDir::new("testrun-sandbox");
    write(
        &dir,
        "greedy.test.rhai",
        r#"
fn down(n) { down(n + 1) }
test("a string doubled 40 times", || {
    let s = "xx";
    for i in 0..40 { s += s; }
});
test("an array nested 100,000 deep", || {
    let a = [];
    for i in 0..100000 { a = [take(a)]; }
});
test("an array nested 200 deep is printed", || {
    let a = [];
    for i in 0..200 { a = [take(a)]; }
    print(a);
});
test("more than the memory budget", || {
    let big = "y";
    for i in 0..19 { big += big; }
    let m = #{};
    for i in 0..300 { m[`k${i}`] = big + i; }
});
test("recursion without end", || { down(0); });
test("the next test runs", || { assert_eq(1 + 1, 2); });
"#,
    );
    // Each level costs a walk of the whole value (Rhai checks the sizes of
    // nested arrays after every change), so 100,000 levels take minutes.
    let out = junit_capped(&dir.scripts(), &["--test-timeout", "5s"]);
    let all = cases(&out);
    assert_eq!(all.len(), 6, "{all:#?}");
    assert_eq!(out.status.code(), Some(1), "{all:#?}");
    let doubled = case(&all, "a string doubled 40 times");
    assert_eq!(doubled.kind, "failure");
    assert!(
        doubled.text.starts_with("greedy.test.rhai"),
        "{}",
        doubled.text
    );
    assert!(
        doubled.text.to_lowercase().contains("too large"),
        "{}",
        doubled.text
    );
    let deep = case(&all, "an array nested 100,000 deep");
    assert_eq!(deep.kind, "failure");
    assert!(deep.text.contains("time limit of 5s"), "{}", deep.text);
    let printed = case(&all, "an array nested 200 deep is printed");
    assert!(
        printed
            .text
            .contains("nested deeper than 100 levels cannot be printed"),
        "{}",
        printed.text
    );
    let budget = case(&all, "more than the memory budget");
    assert!(budget.text.contains("memory budget"), "{}", budget.text);
    let recursion = case(&all, "recursion without end");
    assert!(
        recursion.text.to_lowercase().contains("stack overflow"),
        "{}",
        recursion.text
    );
    assert_eq!(case(&all, "the next test runs").kind, "passed");
}

#[test]
fn a_test_past_its_time_limit_fails_saying_why_and_the_next_runs() {
    let dir = TempDir::new("testrun-timeout");
    write(
        &dir,
        "tick.rhai",
        "let n = 0;\nset_interval(|| { n += 1; }, 10);\n",
    );
    write(
        &dir,
        "slow.test.rhai",
        r#"
// Each turn builds a 100 KB string: few operations, real time, so the
// time limit is what stops it on any machine (an empty `loop {}` can reach
// the operations limit first on a fast one).
test("a test that loops", || { loop { let s = ""; s.pad(100000, "x"); } });
test("a busy clock moved by ten years", || {
    let room = sim();
    room.load("tick");
    advance("3650d");
});
test("the next test runs", || { assert(true); });
"#,
    );
    let out = junit_capped(&dir.scripts(), &["--test-timeout", "2s"]);
    let all = cases(&out);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert_eq!(out.status.code(), Some(1), "{all:#?}");
    for name in ["a test that loops", "a busy clock moved by ten years"] {
        let c = case(&all, name);
        assert_eq!(c.kind, "failure", "{c:?}");
        assert!(
            c.text
                .contains("ran past its time limit of 2s (--test-timeout)"),
            "{c:?}"
        );
    }
    assert!(
        case(&all, "a busy clock moved by ten years")
            .text
            .contains("advance(\"3650d\")"),
        "{all:#?}"
    );
    assert_eq!(case(&all, "the next test runs").kind, "passed");
}

#[test]
fn names_and_failures_with_characters_xml_forbids_keep_the_junit_report_parseable() {
    let dir = TempDir::new("testrun-xml");
    write(
        &dir,
        "odd.test.rhai",
        "test(\"odd \u{FFFE} name\", || { assert(false, \"odd \u{FFFF} text \u{1}\"); });\n\
         test(\"plain\", || { assert(true); });\n",
    );
    let out = junit_capped(&dir.scripts(), &[]);
    let all = cases(&out);
    assert_eq!(all.len(), 2, "{all:#?}");
    let odd = all
        .iter()
        .find(|c| c.name.starts_with("odd "))
        .expect("the odd test");
    assert_eq!(odd.kind, "failure");
    assert!(odd.name.contains("\\u{fffe}"), "{odd:?}");
    assert!(odd.text.contains("odd \\u{ffff} text \\u{1}"), "{odd:?}");
    assert_eq!(case(&all, "plain").kind, "passed");
}

/// A test's state with one room running `script` (as `tick.rhai`).
fn one_room(script: &str) -> (TestState, Arc<Room>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "xmacro-state-{}-{}",
        std::process::id(),
        script.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tick.rhai"), script).unwrap();
    let rt = Arc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
    let engine = xmacro::script::engine::build(dir.clone(), 1_000_000);
    let start =
        chrono::NaiveDateTime::parse_from_str(xmacro::testrun::START, "%Y-%m-%d %H:%M").unwrap();
    let clock = Arc::new(VirtualClock::new(start, chrono_tz::Tz::UTC));
    let room = Arc::new(
        rt.block_on(Room::start("room-1", xmacro::sim::DeviceOptions::default()))
            .unwrap(),
    );
    let program = xmacro::script::loader::program(&engine, &dir, "tick.rhai")
        .unwrap()
        .program;
    let t = TestState {
        rt: rt.clone(),
        clock: clock.clone(),
        rooms: vec![room.clone()],
        logs: Logs::default(),
        dir: dir.clone(),
        engine,
        stores: Arc::default(),
        schemas: Schemas::default(),
        default_schema: None,
        limits: xmacro::script::limits::Limits::default(),
        harness: Arc::default(),
        script_error: false,
        panels: None,
        deadline: Default::default(),
    };
    let launch = Launch {
        program,
        args: rhai::Map::new(),
        clock,
        limits: xmacro::script::limits::Limits::default(),
        logs: t.logs.clone(),
        codecs: Arc::default(),
    };
    {
        let _rt = rt.enter();
        room.load("tick", launch, t.stores.clone()).unwrap();
    }
    (t, room, dir)
}

#[test]
fn timers_that_make_no_codec_call_cost_no_round_trip_to_the_room() {
    let (t, room, dir) = one_room("let n = 0;\nset_interval(|| { n += 1; }, 10);\n");
    t.settle().unwrap();
    let before = room.round_trips();
    t.advance_to(10_000).unwrap();
    assert_eq!(t.clock.elapsed_ms(), 10_000);
    assert_eq!(room.round_trips(), before, "1000 ticks, no round trip");
    t.block(room.stop());
    let _ = std::fs::remove_dir_all(dir);

    // A tick that sends a command is waited for with a round trip.
    let (t, room, dir) =
        one_room("set_interval(|| xapi.Command.Audio.Volume.Set(#{ Level: 20 }), 1000);\n");
    t.settle().unwrap();
    let before = room.round_trips();
    t.advance_to(10_000).unwrap();
    assert!(room.round_trips() >= before + 10, "{}", room.round_trips());
    assert_eq!(room.commands().len(), 10);
    t.block(room.stop());
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs the tests in `dir` in-process under `limits`.
fn run_with_limits(dir: &Path, limits: xmacro::script::limits::Limits) -> Summary {
    let mut opts = TestOptions::new(dir);
    opts.limits = limits;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(xmacro::testrun::run(&opts, |_| {}).map_err(|e| e.to_string()));
    });
    rx.recv_timeout(crate::testrun::LIMIT)
        .expect("the test run ended in time")
        .expect("the tests ran")
}

#[test]
fn scripts_under_test_run_within_the_limits_the_runner_is_given() {
    let dir = TempDir::new("testrun-given-limits");
    // About 300,000 operations at the top level: within the defaults.
    write(
        &dir,
        "busy.rhai",
        "let n = 0;\nfor i in 0..100000 { n += i; }\nprint(`done ${n}`);\n",
    );
    write(
        &dir,
        "busy.test.rhai",
        r#"
test("the busy script finishes", || {
    let room = sim();
    room.load("busy");
    assert(room.logs().some(|l| l.starts_with("done")), `logs: ${room.logs()}`);
});
"#,
    );
    let defaults = xmacro::script::limits::Limits::default();
    let summary = run_with_limits(&dir.scripts(), defaults.clone());
    crate::testrun::assert_all_passed(&summary, 1);

    // The same test under the limits a host with 10,000 operations per
    // callback applies: the script stops there, so the test fails.
    let tight = xmacro::script::limits::Limits {
        max_operations: 10_000,
        ..defaults
    };
    let summary = run_with_limits(&dir.scripts(), tight);
    assert_eq!(
        summary.failed(),
        1,
        "{}",
        crate::testrun::failures(&summary)
    );
    let text = crate::testrun::failures(&summary);
    assert!(text.contains("Too many operations"), "{text}");
}
