//! Every error a script can catch from the host is a map with `code` and
//! `message`, so the documented `catch (e) { print(e.message) }` works
//! whatever failed: the store, paths and commands, timers, values and the
//! standard library. (`store.set` used to throw a plain string, and
//! `e.message` then failed with "Unknown property 'message'".)

use crate::common::rig::{self, Reports, TempDir};

/// Reports what `f` throws: `code|message` for a map with a text
/// `message`, `plain|...` for anything else, `no error` when it returns.
const CAUGHT: &str = r#"
fn caught(f) {
    let out = "no error";
    try {
        f.call();
    } catch (e) {
        out = if type_of(e) == "map" && type_of(e.message) == "string" && e.message != "" {
            `${e.code}|${e.message}`
        } else {
            `plain|${e}`
        };
    }
    out
}
"#;

/// Runs each case (a name, and code that throws) in one script on a host
/// and returns, per case, what it threw as [`CAUGHT`] reports it.
async fn caught(cases: &[(&str, &str)], store_quota: Option<u64>) -> Vec<(String, String)> {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("errors");
    let mut body = CAUGHT.to_string();
    for (name, code) in cases {
        body.push_str(&format!("report(`{name}=${{caught(|| {{ {code} }})}}`);\n"));
    }
    body.push_str("report(\"done\");\n");
    dir.write("errors.rhai", &body);
    let mut opts = rig::options(&dir, vec![rig::codec("room", &sim)]);
    if let Some(q) = store_quota {
        opts.store_quota = q;
    }
    let host = rig::start(opts).await;
    r.expect("done").await;
    host.shutdown().await;
    let got: Vec<(String, String)> = r
        .seen
        .iter()
        .filter_map(|s| s.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got.len(), cases.len(), "{:?}", r.seen);
    got
}

/// Asserts every case threw a map whose code is the one expected.
fn assert_codes(got: &[(String, String)], want: &[(&str, &str)]) {
    for ((name, thrown), (want_name, code)) in got.iter().zip(want) {
        assert_eq!(name, want_name);
        let (got_code, message) = thrown.split_once('|').unwrap_or(("", thrown));
        assert_eq!(got_code, *code, "{name}: {thrown} (all: {got:?})");
        assert!(!message.is_empty(), "{name}: {thrown}");
    }
}

#[tokio::test]
async fn store_errors_are_maps_with_code_and_message() {
    let cases = [
        ("quota", r#"store.set("big", "x".pad_end(5000, "x"))"#),
        ("function", r#"store.set("f", || 1)"#),
        (
            "deep",
            r#"let a = []; for i in 0..120 { a = [a]; } store.set("deep", a)"#,
        ),
    ];
    let got = caught(&cases, Some(1000)).await;
    assert_codes(
        &got,
        &[("quota", "store"), ("function", "value"), ("deep", "value")],
    );
    assert!(got[0].1.contains("quota of 1000 bytes"), "{got:?}");
}

#[tokio::test]
async fn xapi_errors_are_maps_with_code_and_message() {
    let cases = [
        ("root", "xapi.Nope"),
        ("index", "xapi.Status.Video.Input.Connector[0]"),
        ("set", "xapi.Status.Audio.Volume.set(5)"),
        ("command", "xapi.Status.Audio.Mute()"),
        ("feedback", "xapi.Command.Dial.on(|x| 1)"),
        ("path", r#"xapi.get("Status Audio[")"#),
        ("codecs", r#"codecs["nope"]"#),
        ("send", "xapi.Status.Audio.send()"),
        ("refused", "xapi.Command.Audio.Volume.Set(#{ Level: 500 })"),
    ];
    let got = caught(&cases, None).await;
    let mut want: Vec<(&str, &str)> = cases[..8].iter().map(|(n, _)| (*n, "usage")).collect();
    want.push(("refused", "-32602"));
    assert_codes(&got, &want);
}

#[tokio::test]
async fn timer_errors_are_maps_with_code_and_message() {
    let cases = [
        ("timeout", "set_timeout(|| 1, -1)"),
        ("interval", "set_interval(|| 1, -5)"),
        ("daily", r#"daily("25:99", || 1)"#),
        ("sleep", "sleep(-1)"),
        ("steps", r#"steps([|| 1, "soon"])"#),
        ("cap", "for i in 0..300 { set_interval(|| 1, 60000); }"),
    ];
    let got = caught(&cases, None).await;
    assert_codes(
        &got,
        &[
            ("timeout", "usage"),
            ("interval", "usage"),
            ("daily", "usage"),
            ("sleep", "usage"),
            ("steps", "usage"),
            ("cap", "limit"),
        ],
    );
}

#[tokio::test]
async fn value_and_library_errors_are_maps_with_code_and_message() {
    let cases = [
        ("print", "let a = []; for i in 0..120 { a = [a]; } print(a)"),
        ("argument", "xapi.Command.Dial(#{ Number: || 1 })"),
        ("json", r#"json_parse("{")"#),
        ("regex", r#"regex("(")"#),
        ("time", r#"now().format("%Q")"#),
        ("limit", r#""x".pad_start(100000000, "0")"#),
    ];
    let got = caught(&cases, None).await;
    assert_codes(
        &got,
        &[
            ("print", "value"),
            ("argument", "value"),
            ("json", "json"),
            ("regex", "regex"),
            ("time", "time"),
            ("limit", "limit"),
        ],
    );
}

#[tokio::test]
async fn json_parse_past_the_limits_is_a_catchable_limit_error() {
    // A valid document of 100,001 numbers, one more than an array may hold.
    let cases = [(
        "many",
        r#"let t = "["; t.pad(200001, "0,"); t += "0]"; json_parse(t)"#,
    )];
    let got = caught(&cases, None).await;
    assert_codes(&got, &[("many", "limit")]);
    assert!(got[0].1.contains("more than 100000 array items"), "{got:?}");
}
