//! `xmacro test`, what a test sees and does (issue 26): a refused command
//! and every command's outcome, a person answering, declining and placing
//! calls, a widget's value, a script restarted with its store, HTTP times
//! on the test's clock, a default schema for `sim()`, constants in a test
//! file's functions, and a test file that does not compile reported as its
//! own error while the others run.

use xmacro::testrun::report::Outcome;

use crate::common::rig::TempDir;
use crate::testrun::{assert_all_passed, failures, run_dir, write, xmacro_test};

/// The outcome text of the test `name` (panics when it passed).
fn failure_of(s: &xmacro::testrun::report::Summary, name: &str) -> String {
    let r = s
        .results
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no test {name:?}: {}", failures(s)));
    match &r.outcome {
        Outcome::Failed(why) | Outcome::Error(why) => why.clone(),
        Outcome::Passed => panic!("{name:?} passed"),
    }
}

#[test]
fn a_refused_send_and_every_command_s_outcome_are_visible_to_a_test() {
    let dir = TempDir::new("testrun-refused");
    write(
        &dir,
        "sloppy.rhai",
        r#"xapi.send("Standby Dectivate");
xapi.Command.Audio.Volume.Set.send(#{ Level: 500 });
xapi.Command.Audio.Volume.Set(#{ Level: 30 });
xapi.Status.Audio.Volume.on(|v| { if v == 31 { throw "thirty-one"; } });
"#,
    );
    write(
        &dir,
        "sloppy.test.rhai",
        r#"
test("refusals and errors are logged with their place", || {
    let room = sim();
    room.load("sloppy");
    let logs = room.logs();
    assert_eq(logs.len(), 2, `${logs}`);
    assert(logs[0].starts_with("sloppy.rhai:1:6: command Standby Dectivate (sent without waiting) failed: -32601"), logs[0]);
    assert(logs[1].starts_with("sloppy.rhai:2:31: command Audio Volume Set (sent without waiting) failed: -32602"), logs[1]);
    room.status("Audio Volume", 31);
    assert_eq(room.logs()[2], "callback failed: sloppy.rhai:4:48: thirty-one");
});

test("every command is listed with its outcome", || {
    let room = sim();
    room.load("sloppy");
    let sent = room.commands();
    assert_eq(sent.len(), 3, `${sent}`);
    assert_eq(sent[0].path, "Standby Dectivate");
    assert_eq(sent[0].error.code, -32601);
    assert_eq(sent[1].path, "Audio Volume Set");
    assert_eq(sent[1].params, #{ Level: 500 });
    assert_eq(sent[1].error.code, -32602);
    assert(sent[1].error.message.contains("Level"), sent[1].error.message);
    assert(!sent[1].contains("result"));
    assert_eq(sent[2].params, #{ Level: 30 });
    assert(sent[2].contains("result"));
    assert(!sent[2].contains("error"));
});
"#,
    );
    assert_all_passed(&run_dir(&dir.scripts(), None), 2);
}

const CALLS: &str = r#"
xapi.Event.IncomingCallIndication.on(|e| print(`ringing ${e.CallId}`));
xapi.Event.OutgoingCallIndication.on(|e| print(`outgoing ${e.CallId}`));
xapi.Event.CallSuccessful.on(|e| print(`connected ${e.CallId} ${e.Direction}`));
xapi.Event.CallDisconnect.on(|e| print(`ended ${e.CallId} ${e.CauseType} ${e.Duration}s`));
"#;

#[test]
fn a_person_in_the_room_answers_declines_and_places_calls() {
    let dir = TempDir::new("testrun-person");
    write(&dir, "calls.rhai", CALLS);
    write(
        &dir,
        "calls.test.rhai",
        r#"
test("a person answers", || {
    let room = sim();
    room.load("calls");
    let id = room.incoming_call("alice@example.com");
    assert_eq(room.answer(), id);
    let c = room.get("Status Call")[0];
    assert_eq(c.Status, "Connected");
    assert_eq(c.AnswerState, "Answered");
    assert_eq(room.get("Status SystemUnit State NumberOfActiveCalls"), 1);
    assert_eq(room.logs(), [`ringing ${id}`, `connected ${id} Incoming`]);
    assert_eq(room.commands(), [], "a person is not a script");
    advance("5m");
    room.hangup();
    assert(room.logs().contains(`ended ${id} RemoteDisconnect 300s`), "the call lasted 5 minutes of the test's clock");
});

test("a person declines", || {
    let room = sim();
    room.load("calls");
    let id = room.incoming_call("bob@example.com");
    assert_eq(room.reject(), id);
    assert_eq(room.get("Status SystemUnit State NumberOfInProgressCalls"), 0);
    assert_eq(room.logs(), [`ringing ${id}`, `ended ${id} LocalReject 0s`]);
    assert_eq(room.commands(), []);
});

test("nothing rings", || { sim().answer(); });
test("nothing rings to decline", || { sim().reject(); });

test("a person places a call", || {
    let room = sim();
    room.load("calls");
    let id = room.dial("carol@example.com");
    let c = room.get("Status Call")[0];
    assert_eq(c.Status, "Connected");
    assert_eq(c.Direction, "Outgoing");
    assert_eq(c.RemoteNumber, "carol@example.com");
    let logs = room.logs();
    assert_eq(logs.len(), 2, `${logs}`);
    assert(logs.contains(`outgoing ${id}`), `${logs}`);
    assert(logs.contains(`connected ${id} Outgoing`), `${logs}`);
    assert_eq(room.commands(), []);
});

test("an empty number is refused", || { sim().dial(" "); });
"#,
    );
    let s = run_dir(&dir.scripts(), None);
    assert_eq!(s.passed(), 3, "{}", failures(&s));
    assert!(
        failure_of(&s, "nothing rings").contains("room.answer(): no call is ringing"),
        "{}",
        failures(&s)
    );
    assert!(
        failure_of(&s, "nothing rings to decline").contains("room.reject(): no call is ringing"),
        "{}",
        failures(&s)
    );
    assert!(
        failure_of(&s, "an empty number is refused").contains("room.dial(\" \"): "),
        "{}",
        failures(&s)
    );
}

#[test]
fn a_widget_value_reaches_the_event_and_the_widget_s_status() {
    let dir = TempDir::new("testrun-widget");
    write(
        &dir,
        "panel.rhai",
        "xapi.Event.UserInterface.Extensions.Widget.Action.on(|e| print(`${e.WidgetId} ${e.Type} ${e.Value}`));\n",
    );
    write(
        &dir,
        "panel.test.rhai",
        r#"
fn value_of(room, id) {
    room.get("Status UserInterface Extensions Widget").filter(|w| w.WidgetId == id)[0].Value
}

test("a slider and a toggle", || {
    let room = sim();
    room.load("panel");
    room.widget("volume", "changed", 128);
    room.widget("mute", "changed", true);
    room.widget("mode", "released", "auto");
    assert_eq(room.logs(), ["volume changed 128", "mute changed on", "mode released auto"]);
    assert_eq(value_of(room, "volume"), "128");
    assert_eq(value_of(room, "mute"), "on");
});
"#,
    );
    assert_all_passed(&run_dir(&dir.scripts(), None), 1);
}

#[test]
fn a_script_restarts_keeping_its_store_and_a_second_load_is_refused() {
    let dir = TempDir::new("testrun-restart");
    write(
        &dir,
        "counter.rhai",
        r#"
let n = (store.get("starts") ?? 0) + 1;
store.set("starts", n);
print(`start ${n}`);
fn on_unload() { print("unloading"); }
"#,
    );
    write(
        &dir,
        "counter.test.rhai",
        r#"
test("restart", || {
    let room = sim();
    room.load("counter");
    assert_eq(room.store("counter"), #{ starts: 1 });
    room.restart("counter");
    assert_eq(room.logs(), ["start 1", "unloading", "start 2"]);
    assert_eq(room.store("counter"), #{ starts: 2 });
});

test("loaded twice", || {
    let room = sim();
    room.load("counter");
    room.load("counter");
});

test("restart what is not loaded", || { sim().restart("counter"); });
test("the store of what was never loaded", || { sim().store("counter"); });
"#,
    );
    let s = run_dir(&dir.scripts(), None);
    assert_eq!(s.passed(), 1, "{}", failures(&s));
    let twice = failure_of(&s, "loaded twice");
    assert!(
        twice.contains("counter.test.rhai:14:10: room.load(\"counter\"): counter is already running on room-1; use room.restart(\"counter\") to start it again"),
        "{twice}"
    );
    assert!(
        !twice.contains("start 2"),
        "no second instance ran: {twice}"
    );
    assert!(
        failure_of(&s, "restart what is not loaded")
            .contains("room.restart(\"counter\"): no script named counter was loaded on room-1"),
        "{}",
        failures(&s)
    );
    assert!(
        failure_of(&s, "the store of what was never loaded")
            .contains("room.store(\"counter\"): no script named counter was loaded on room-1"),
        "{}",
        failures(&s)
    );
}

#[test]
fn http_request_times_are_read_on_the_test_s_clock() {
    let dir = TempDir::new("testrun-http-time");
    write(
        &dir,
        "poll.rhai",
        r#"
xapi.Config.HttpClient.Mode.set("On");
set_interval(|| xapi.Command.HttpClient.Post(#{ Url: "https://api.example.com/tick" }, "x"), 3600000);
"#,
    );
    write(
        &dir,
        "poll.test.rhai",
        r#"
test("two requests an hour apart", || {
    set_time("2031-06-01 12:00");
    let room = sim();
    room.load("poll");
    advance("2h");
    let times = room.http_requests().map(|r| r.Time);
    assert_eq(times, ["2031-06-01T13:00:00Z", "2031-06-01T14:00:00Z"]);
});
"#,
    );
    assert_all_passed(&run_dir(&dir.scripts(), None), 1);
}

#[test]
fn schema_and_product_given_on_the_command_line_are_what_sim_starts() {
    let Some(schema) = crate::common::cisco_schema_file() else {
        return;
    };
    let dir = TempDir::new("testrun-schema-flag");
    write(
        &dir,
        "rooms.test.rhai",
        r#"
test("the default room", || {
    let room = sim();
    assert_eq(room.get("Configuration Audio Input MicrophoneMode"), "Focused");
    assert_eq(room.get("Configuration Audio Ethernet SAPDiscovery Mode"), ());
});
test("a product of the same schema", || {
    let room = sim(#{ product: "barents" });
    assert_eq(room.get("Configuration Audio Ethernet SAPDiscovery Mode"), "Off");
    assert_eq(room.get("Configuration Audio Input MicrophoneMode"), ());
});
"#,
    );
    let schema = schema.display().to_string();
    let out = xmacro_test(
        &dir.scripts(),
        &["--schema", &schema, "--product", "octavio"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().last(), Some("2 passed, 0 failed"));
}

#[test]
fn a_constant_is_read_inside_a_test_file_s_functions() {
    let dir = TempDir::new("testrun-const");
    write(
        &dir,
        "consts.test.rhai",
        r#"
const LIMIT = 60;
const ROOMS = ["a", "b"];
fn limit() { LIMIT }
fn rooms(extra) { ROOMS + [extra] }
fn shadowed(LIMIT) { LIMIT }
test("in a function", || { assert_eq(limit(), 60); });
test("in a function with arguments", || { assert_eq(rooms("c"), ["a", "b", "c"]); });
test("a parameter of the same name wins", || { assert_eq(shadowed(5), 5); });
"#,
    );
    assert_all_passed(&run_dir(&dir.scripts(), None), 3);
}

#[test]
fn a_test_file_that_does_not_compile_is_that_file_s_error_while_the_others_run() {
    let dir = TempDir::new("testrun-file-error");
    write(&dir, "a.test.rhai", "test(\"a\", || { assert(true); });\n");
    write(&dir, "b.test.rhai", "test(\"b\", || { let x = ; });\n");
    write(
        &dir,
        "c.test.rhai",
        "test(\"c\", || { assert(true); });\nthrow \"at the top\";\n",
    );
    write(&dir, "d.test.rhai", "test(\"d\", || { assert(true); });\n");
    let out = xmacro_test(&dir.scripts(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("ok     a.test.rhai > a"), "{stdout}");
    assert!(stdout.contains("ok     d.test.rhai > d"), "{stdout}");
    assert!(stdout.contains("ERROR  b.test.rhai"), "{stdout}");
    assert!(stdout.contains("b.test.rhai:1:24: "), "{stdout}");
    assert!(stdout.contains("ERROR  c.test.rhai"), "{stdout}");
    assert!(stdout.contains("c.test.rhai:2:1: at the top"), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("2 passed, 2 failed"),
        "{stdout}"
    );

    let out = xmacro_test(&dir.scripts(), &["--format", "junit"]);
    assert_eq!(out.status.code(), Some(2));
    let xml = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the JUnit output is XML");
    let root = doc.root_element();
    assert_eq!(root.attribute("tests"), Some("4"), "{xml}");
    assert_eq!(root.attribute("errors"), Some("2"), "{xml}");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite") && n.attribute("name") == Some("b.test.rhai"))
        .expect("a testsuite for the file that does not compile");
    assert_eq!(suite.attribute("errors"), Some("1"), "{xml}");
    let error = suite
        .descendants()
        .find(|n| n.has_tag_name("error"))
        .expect("an <error> for it");
    assert!(
        error
            .text()
            .unwrap_or_default()
            .contains("b.test.rhai:1:24: "),
        "{xml}"
    );
}
