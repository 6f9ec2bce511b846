//! The scripting control methods tests and demos rely on, by their names:
//! `xSim/CommandResult`, `xSim/HttpResponse` with `xSim/HttpRequests`,
//! `xSim/SetStatus`, `xSim/Event` and `xSim/UiLog`.

use crate::common::{Raw, Sim};
use serde_json::json;
use xmacro::sim::SimOptions;

async fn client() -> (Sim, Raw) {
    let sim = Sim::start(SimOptions::default()).await;
    let raw = Raw::connect(&sim.url()).await;
    (sim, raw)
}

#[tokio::test]
async fn command_result_replaces_what_a_command_answers_until_cleared() {
    let (_s, mut c) = client().await;
    c.ok(
        "xSim/CommandResult",
        json!({"Command": ["Bookings", "List"], "Result": {"status": "OK", "Booking": []}}),
    )
    .await;
    assert_eq!(
        c.ok("xCommand/Bookings/List", json!({})).await,
        json!({"status": "OK", "Booking": []})
    );
    c.ok(
        "xSim/CommandResult",
        json!({"Command": "Dial", "Error": {"Cause": 4, "Reason": "Busy"}}),
    )
    .await;
    let e = c.err("xCommand/Dial", json!({"Number": "a@b.c"})).await;
    assert_eq!(e["data"], json!({"Cause": 4, "Reason": "Busy"}));
    assert_eq!(e["message"], "Busy");
    c.ok(
        "xSim/CommandResult",
        json!({"Command": ["Bookings", "List"]}),
    )
    .await;
    let own = c.ok("xCommand/Bookings/List", json!({})).await;
    assert_eq!(own["ResultInfo"]["TotalRows"], 2, "its own answer again");
    let e = c
        .err(
            "xSim/CommandResult",
            json!({"Command": ["No", "Such"], "Result": {}}),
        )
        .await;
    assert_eq!(e["code"], -32602, "unknown commands are named: {e}");
}

#[tokio::test]
async fn http_response_answers_matching_requests_and_the_log_keeps_them() {
    let (_s, mut c) = client().await;
    c.ok(
        "xSet",
        json!({"Path": ["Configuration", "HttpClient", "Mode"], "Value": "On"}),
    )
    .await;
    c.ok(
        "xSim/HttpResponse",
        json!({"Method": "GET", "Url": "https://api.test/price*", "StatusCode": 200,
               "Headers": {"Content-Type": "application/json"}, "Body": "{\"eur\":0.12}"}),
    )
    .await;
    c.ok(
        "xSim/HttpResponse",
        json!({"Url": "https://api.test/missing", "StatusCode": 404, "Body": "no such thing"}),
    )
    .await;
    let r = c
        .ok(
            "xCommand/HttpClient/Get",
            json!({"Url": "https://api.test/prices?day=1", "ResultBody": "PlainText",
                   "Header": ["Accept: application/json"]}),
        )
        .await;
    assert_eq!(r["StatusCode"], 200);
    assert_eq!(r["Body"], "{\"eur\":0.12}");
    assert_eq!(
        r["Headers"],
        json!([{"id": 1, "Key": "Content-Type", "Value": "application/json"}])
    );
    // Left out, ResultBody is what the schema says: PlainText for Get,
    // None for the others.
    let r = c
        .ok(
            "xCommand/HttpClient/Get",
            json!({"Url": "https://api.test/prices"}),
        )
        .await;
    assert_eq!(
        r["Body"], "{\"eur\":0.12}",
        "Get's default is PlainText: {r}"
    );
    let r = c
        .ok(
            "xCommand/HttpClient/Get",
            json!({"Url": "https://api.test/prices", "ResultBody": "None"}),
        )
        .await;
    assert!(r.get("Body").is_none(), "no body with ResultBody None: {r}");
    let r = c
        .ok(
            "xCommand/HttpClient/Post",
            json!({"Url": "https://api.test/prices", "body": "{}"}),
        )
        .await;
    assert!(r.get("Body").is_none(), "Post's default is None: {r}");
    let e = c
        .err(
            "xCommand/HttpClient/Post",
            json!({"Url": "https://api.test/missing", "ResultBody": "PlainText", "body": "x"}),
        )
        .await;
    assert_eq!(e["code"], 1);
    assert_eq!(e["data"]["StatusCode"], 404, "{e}");
    assert_eq!(e["data"]["Body"], "no such thing");
    // The method filter: a POST to the price URL is not the GET rule's.
    let r = c
        .ok(
            "xCommand/HttpClient/Post",
            json!({"Url": "https://api.test/prices", "ResultBody": "PlainText", "body": "{}"}),
        )
        .await;
    assert_eq!(r["Body"], "");
    for verb in ["Put", "Patch", "Delete"] {
        c.ok(
            &format!("xCommand/HttpClient/{verb}"),
            json!({"Url": "https://api.test/any"}),
        )
        .await;
    }
    let log = c.ok("xSim/HttpRequests", json!({"Clear": true})).await["Requests"].clone();
    let methods: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        [
            "GET", "GET", "GET", "POST", "POST", "POST", "PUT", "PATCH", "DELETE"
        ]
    );
    assert_eq!(log[0]["Headers"], json!(["Accept: application/json"]));
    assert_eq!(log[4]["Body"], "x");
    let empty = c.ok("xSim/HttpRequests", json!({})).await;
    assert_eq!(empty["Requests"], json!([]));
    c.ok(
        "xSet",
        json!({"Path": ["Configuration", "HttpClient", "AllowHTTP"], "Value": "False"}),
    )
    .await;
    let e = c
        .err(
            "xCommand/HttpClient/Get",
            json!({"Url": "http://api.test/plain"}),
        )
        .await;
    assert!(
        e["data"]["Reason"].as_str().unwrap().contains("AllowHTTP"),
        "{e}"
    );
}

#[tokio::test]
async fn set_status_and_event_reach_subscribers() {
    let (_s, mut c) = client().await;
    let id = c.subscribe("Status RoomAnalytics").await;
    c.ok(
        "xSim/SetStatus",
        json!({"Path": "Status RoomAnalytics AmbientNoise Level A", "Value": 55}),
    )
    .await;
    assert_eq!(
        c.next_feedback().await,
        json!({"Status": {"RoomAnalytics": {"AmbientNoise": {"Level": {"A": 55}}}}, "Id": id})
    );
    let ev = c.subscribe("Event CallDisconnect").await;
    c.ok(
        "xSim/Event",
        json!({"Path": ["Event", "CallDisconnect"], "Value": {"CauseType": "RemoteBusy"}}),
    )
    .await;
    let f = c.next_feedback().await;
    let payload = &f["Event"]["CallDisconnect"];
    assert_eq!(f["Id"], ev);
    assert_eq!(payload["CauseType"], "RemoteBusy");
    assert_eq!(
        payload["CallId"], 0,
        "fields not given get plausible values: {f}"
    );
    assert_eq!(payload["CauseOrigin"], "Internal");
    let e = c
        .err(
            "xSim/Event",
            json!({"Path": "Status Audio Volume", "Value": 1}),
        )
        .await;
    assert_eq!(e["code"], -32602);
}

#[tokio::test]
async fn the_ui_log_holds_what_the_room_showed_in_order() {
    let (_s, mut c) = client().await;
    c.ok(
        "xCommand/UserInterface/Message/Alert/Display",
        json!({"Title": "Hi", "Text": "Welcome", "Duration": 5}),
    )
    .await;
    c.ok(
        "xCommand/UserInterface/Message/Prompt/Display",
        json!({"Text": "Rate the call", "FeedbackId": "q", "Option.1": "Good", "Option.2": "Bad"}),
    )
    .await;
    c.ok(
        "xCommand/UserInterface/Message/TextLine/Display",
        json!({"Text": "Meeting ends in 5 minutes"}),
    )
    .await;
    c.ok("xCommand/UserInterface/Message/Alert/Clear", json!({}))
        .await;
    let log = c.ok("xSim/UiLog", json!({"Clear": true})).await["Entries"].clone();
    let kinds: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["Kind"].as_str().unwrap().to_string(),
                e["Action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("Alert".into(), "Display".into()),
            ("Prompt".into(), "Display".into()),
            ("TextLine".into(), "Display".into()),
            ("Alert".into(), "Clear".into()),
        ]
    );
    assert_eq!(log[0]["Text"], "Welcome");
    assert_eq!(log[1]["Option.2"], "Bad");
    assert_eq!(
        c.ok("xSim/UiLog", json!({})).await["Entries"],
        json!([]),
        "cleared"
    );
}

#[tokio::test]
async fn http_response_headers_are_kept_in_every_form_including_the_devices_own() {
    let (_s, mut c) = client().await;
    c.ok(
        "xSet",
        json!({"Path": ["Configuration", "HttpClient", "Mode"], "Value": "On"}),
    )
    .await;
    let forms = [
        json!({"Location": "/incident/1"}),
        json!(["Location: /incident/1"]),
        // As the device reports them (what a port copies from a trace).
        json!([{"id": 1, "Key": "Location", "Value": "/incident/1"}]),
    ];
    for (i, headers) in forms.into_iter().enumerate() {
        let url = format!("https://api.test/{i}");
        c.ok(
            "xSim/HttpResponse",
            json!({"Url": url, "StatusCode": 201, "Headers": headers}),
        )
        .await;
        let r = c
            .ok(
                "xCommand/HttpClient/Post",
                json!({"Url": url, "body": "{}"}),
            )
            .await;
        assert_eq!(
            r["Headers"],
            json!([{"id": 1, "Key": "Location", "Value": "/incident/1"}]),
            "form {i}: {r}"
        );
    }
    let e = c
        .err(
            "xSim/HttpResponse",
            json!({"Url": "https://api.test/x", "Headers": [{"Name": "Location"}]}),
        )
        .await;
    assert_eq!(e["code"], -32602);
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("Headers") && msg.contains("Key"), "{msg}");
    let e = c
        .err(
            "xSim/HttpResponse",
            json!({"Url": "https://api.test/x", "Headers": "Location: /x"}),
        )
        .await;
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("\"Key: Value\" strings"), "{msg}");
    assert!(msg.contains("as the device reports them"), "{msg}");
}

#[tokio::test]
async fn control_methods_refuse_unknown_keys_and_wrong_types_instead_of_ignoring_them() {
    let (_s, mut c) = client().await;
    // (method, params, words the error must name)
    let refused = [
        ("People", json!({"Cont": 3}), vec!["Cont", "Count"]),
        ("People", json!({"Count": "three"}), vec!["Count", "three"]),
        ("People", json!({"Count": -1}), vec!["Count"]),
        (
            "HttpResponse",
            json!({"Url": "https://a.test/", "Status": 404}),
            vec!["Status", "StatusCode"],
        ),
        (
            "HttpResponse",
            json!({"Url": "https://a.test/", "StatusCode": "404"}),
            vec!["StatusCode"],
        ),
        (
            "HttpResponse",
            json!({"Clear": true, "Url": "https://a.test/"}),
            vec!["Url", "Clear"],
        ),
        ("HttpRequests", json!({"Clear": "yes"}), vec!["Clear"]),
        ("UiLog", json!({"clear": true}), vec!["clear", "Clear"]),
        ("WidgetAction", json!({"WidgetId": 5}), vec!["WidgetId"]),
        (
            "WidgetAction",
            json!({"WidgetId": "w", "Valeu": "1"}),
            vec!["Valeu", "Value"],
        ),
        ("PanelClick", json!({}), vec!["PanelId", "missing"]),
        ("Hangup", json!({"CallId": "1"}), vec!["CallId"]),
        ("IncomingCall", json!({"Name": "Bob"}), vec!["Name"]),
        ("IncomingCall", json!({}), vec!["Number", "missing"]),
        (
            "SetStatus",
            json!({"Path": "Status Audio Volume"}),
            vec!["Value"],
        ),
        (
            "Event",
            json!({"Path": "Event CallSuccessful", "Value": 3}),
            vec!["Value"],
        ),
        ("Reboot", json!({"Down": "2"}), vec!["Down"]),
        ("Reboot", json!({"Donw": 2}), vec!["Donw", "Down"]),
        ("Delay", json!({"Ms": -5}), vec!["Ms"]),
        ("Freeze", json!({"Seconds": 1}), vec!["Seconds", "Ms"]),
        (
            "Refuse",
            json!({"Method": "xGet", "Code": "x"}),
            vec!["Code"],
        ),
        (
            "Refuse",
            json!({"Method": "xGet", "Code": 1, "Times": 2}),
            vec!["Times"],
        ),
        (
            "DropSessions",
            json!({"CloseCode": 70000}),
            vec!["CloseCode"],
        ),
        (
            "Configure",
            json!({"MaxSubscriptions": "9"}),
            vec!["MaxSubscriptions"],
        ),
        (
            "Configure",
            json!({"Pasword": "x"}),
            vec!["Pasword", "Password"],
        ),
        (
            "Burst",
            json!({"Count": 2, "Rate": 5}),
            vec!["Rate", "RatePerSec"],
        ),
        (
            "SendRaw",
            json!({"Kind": "text", "Txt": "x"}),
            vec!["Txt", "Text"],
        ),
        (
            "CommandResult",
            json!({"Command": "Dial", "Error": {"Cuase": 4}}),
            vec!["Cuase", "Cause"],
        ),
        (
            "CommandResult",
            json!({"Command": "Dial", "Result": {}, "Error": {}}),
            vec!["Error", "Result"],
        ),
        ("Inspect", json!({"All": true}), vec!["All"]),
        ("Inspect", json!([1]), vec!["object"]),
    ];
    for (method, params, words) in refused {
        let e = c.err(&format!("xSim/{method}"), params.clone()).await;
        assert_eq!(e["code"], -32602, "{method} {params}: {e}");
        let msg = e["message"].as_str().unwrap();
        for w in words {
            assert!(msg.contains(w), "{method} {params}: {msg:?} lacks {w:?}");
        }
    }
    // Nothing of the refused calls happened.
    assert_eq!(c.get("Status RoomAnalytics PeopleCount Current").await, 0);
    let inspect = c.ok("xSim/Inspect", json!({})).await;
    assert_eq!(inspect["Sessions"], 1, "no session was dropped: {inspect}");
    c.ok("xCommand/Audio/Volume/Set", json!({"Level": 20}))
        .await;
    assert_eq!(
        c.get("Status Audio Volume").await,
        20,
        "no refusal, no delay"
    );
}

#[tokio::test]
async fn a_reboot_or_freeze_past_a_day_is_refused_and_the_session_lives() {
    let (_s, mut c) = client().await;
    for (method, params) in [
        ("Reboot", json!({"Down": 1e300})),
        ("Reboot", json!({"Down": 1, "NotReady": 1e20})),
        ("Freeze", json!({"Ms": u64::MAX})),
        ("Delay", json!({"Ms": 1e12})),
    ] {
        let e = c.err(&format!("xSim/{method}"), params.clone()).await;
        assert_eq!(e["code"], -32602, "{method} {params}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains("out of range")
                || e["message"].as_str().unwrap().contains("must be"),
            "{e}"
        );
        // The same session still answers, at once.
        c.ok("xCommand/Audio/Volume/Set", json!({"Level": 30}))
            .await;
    }
    assert_eq!(c.ok("xSim/Inspect", json!({})).await["Sessions"], 1);
}

#[tokio::test]
async fn room_http_response_in_xmacro_test_takes_the_devices_header_form_and_refuses_others() {
    let dir = crate::common::rig::TempDir::new("http-headers-test");
    std::fs::write(
        dir.0.join("ticket.rhai"),
        r#"
xapi.Config.HttpClient.Mode.set("On");
let r = xapi.Command.HttpClient.Post(#{ Url: "https://itsm.test/incident" }, "{}");
print(`created at ${r.Headers[0].Key}: ${r.Headers[0].Value}`);
"#,
    )
    .unwrap();
    std::fs::write(
        dir.0.join("ticket.test.rhai"),
        r#"
test("the Location header of the device's form reaches the script", || {
    let room = sim();
    room.http_response(#{ Url: "https://itsm.test/*", StatusCode: 201,
        Headers: [#{ Key: "Location", Value: "/incident/7" }] });
    room.load("ticket");
    assert(room.logs().some(|l| l.contains("created at Location: /incident/7")));
});

test("headers in no known form are refused, naming the forms", || {
    let room = sim();
    let refused = false;
    try {
        room.http_response(#{ Url: "https://itsm.test/*", Headers: 5 });
    } catch (e) {
        refused = `${e}`.contains("\"Key: Value\" strings");
    }
    assert(refused);
});
"#,
    )
    .unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .arg("test")
        .arg(&dir.0)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("xmacro test ended in time")
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("2 passed"), "{text}");
}
