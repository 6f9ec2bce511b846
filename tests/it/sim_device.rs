//! Protocol details where the simulator must read like a device: xDoc,
//! trailing commas, `**` as a prefix, command errors with `Cause`, and a
//! Dial without a number refused.

use crate::common::{Raw, Sim};
use serde_json::{Value, json};
use xmacro::sim::SimOptions;

async fn client() -> (Sim, Raw) {
    let sim = Sim::start(SimOptions::default()).await;
    let raw = Raw::connect(&sim.url()).await;
    (sim, raw)
}

#[tokio::test]
async fn xdoc_describes_each_kind_of_path_from_the_built_in_model() {
    let (_s, mut c) = client().await;
    let vol = c
        .ok(
            "xDoc",
            json!({"Path": ["Configuration", "Audio", "DefaultVolume"], "Type": "Schema"}),
        )
        .await;
    assert_eq!(
        vol["ValueSpace"],
        json!({"type": "Integer", "Min": "0", "Max": "100"})
    );
    let status = c
        .ok("xDoc", json!({"Path": ["Status"], "Type": "Schema"}))
        .await;
    assert_eq!(
        status["Audio"]["Volume"]["ValueSpace"]["type"], "Integer",
        "{status}"
    );
    assert_eq!(
        status["Standby"]["State"]["ValueSpace"]["Value"],
        json!(["Standby", "EnteringStandby", "Halfwake", "Off"])
    );
    assert!(
        status["Call"].as_array().is_some_and(|a| a.len() == 1),
        "status arrays hold one element: {}",
        status["Call"]
    );
    let dial = c
        .ok(
            "xDoc",
            json!({"Path": ["Command", "Dial"], "Type": "Schema"}),
        )
        .await;
    assert_eq!(dial["command"], "True");
    assert_eq!(dial["Number"]["required"], "True");
    assert_eq!(
        dial["Protocol"]["ValueSpace"],
        json!({"type": "Literal", "Value": ["H323", "Sip", "Spark"]})
    );
    let ev = c
        .ok(
            "xDoc",
            json!({"Path": ["Event", "CallDisconnect"], "Type": "Schema"}),
        )
        .await;
    assert_eq!(ev["CauseType"], json!({"type": "string"}));
    let e = c
        .err(
            "xDoc",
            json!({"Path": ["Status", "Nothing"], "Type": "Schema"}),
        )
        .await;
    assert_eq!(e["code"], -32601);
}

#[tokio::test]
async fn a_trailing_comma_is_accepted_as_the_codec_accepts_it() {
    let (_s, mut c) = client().await;
    // The frame from Cisco's XoWS article, verbatim.
    c.send_text(r#"{ "jsonrpc": "2.0", "id": "a1400", "method": "xFeedback/Subscribe", "params": { "Query": ["Status", "Audio", "Volume"], "NotifyCurrentValue": false, } }"#)
        .await;
    let a = c.recv_answer().await;
    assert_eq!(a["id"], "a1400");
    assert!(a["result"]["Id"].is_u64(), "{a}");
    c.send_text(r#"{"jsonrpc":"2.0","id":2,"method":"xGet","params":{"Path":["Status","Audio","Volume",],}}"#)
        .await;
    assert_eq!(c.recv_answer().await["result"], 50);
    // Anything else that is not JSON is still a parse error.
    c.send_text(r#"{"jsonrpc":"2.0","id":3,"method":"xGet",,}"#)
        .await;
    assert_eq!(c.recv_answer().await["error"]["code"], -32700);
}

#[tokio::test]
async fn the_last_name_of_a_wildcard_query_matches_as_a_prefix() {
    let (_s, mut c) = client().await;
    let r = c
        .ok("xQuery", json!({"Query": ["Status", "**", "Volume"]}))
        .await;
    assert_eq!(r["Status"]["Audio"]["Volume"], 50);
    assert_eq!(r["Status"]["Audio"]["VolumeMute"], "Off", "{r}");
    let r = c
        .ok("xQuery", json!({"Query": ["Status", "Audio", "Volume"]}))
        .await;
    assert_eq!(
        r,
        json!({"Status": {"Audio": {"Volume": 50}}}),
        "no ** matches exactly"
    );
    let id = c.subscribe("Status ** Volume").await;
    c.ok("xCommand/Audio/Volume/Mute", json!({})).await;
    assert_eq!(
        c.next_feedback().await,
        json!({"Status": {"Audio": {"VolumeMute": "On"}}, "Id": id})
    );
}

#[tokio::test]
async fn command_errors_carry_a_cause_and_an_empty_dial_is_refused() {
    let (_s, mut c) = client().await;
    let e = c.err("xCommand/Dial", json!({"Number": ""})).await;
    assert_eq!(e["code"], 1, "{e}");
    assert_eq!(e["data"]["Cause"], 27, "illegal argument: {e}");
    assert!(e["message"].as_str().unwrap().contains("Number"), "{e}");
    let e = c.err("xCommand/Dial", json!({"Number": "   "})).await;
    assert_eq!(e["data"]["Cause"], 27);
    assert_eq!(
        c.get("Status SystemUnit State NumberOfInProgressCalls")
            .await,
        0,
        "no call was made"
    );
    let e = c
        .err("xCommand/Call/Disconnect", json!({"CallId": 77}))
        .await;
    assert_eq!(e["data"]["Cause"], 27);
    assert!(e["data"]["Reason"].as_str().unwrap().contains("77"), "{e}");
    let e = c.err("xCommand/Call/Accept", json!({})).await;
    assert!(e["data"]["Cause"].is_u64(), "{e}");
}

/// Waits for an event feedback under `Event` and returns its payload root.
async fn next_event(c: &mut Raw) -> Value {
    let f = c.next_feedback().await;
    f["Event"].clone()
}

#[tokio::test]
async fn an_outgoing_call_lives_its_life_cycle_with_events_in_order() {
    let (_s, mut c) = client().await;
    c.subscribe("Event").await;
    let dial = c
        .ok("xCommand/Dial", json!({"Number": "bob@example.com"}))
        .await;
    let id = dial["CallId"].clone();
    assert_eq!(
        next_event(&mut c).await,
        json!({"OutgoingCallIndication": {"CallId": id}})
    );
    let ok = next_event(&mut c).await;
    assert_eq!(ok["CallSuccessful"]["CallId"], id, "{ok}");
    assert_eq!(ok["CallSuccessful"]["Direction"], "Outgoing");
    assert_eq!(c.get("Status Call Status").await[0]["Status"], "Connected");
    assert_eq!(
        c.get("Status SystemUnit State NumberOfActiveCalls").await,
        1
    );
    c.ok("xCommand/Call/Disconnect", json!({"CallId": id}))
        .await;
    let end = next_event(&mut c).await;
    assert_eq!(end["CallDisconnect"]["CallId"], id, "{end}");
    assert_eq!(end["CallDisconnect"]["CauseType"], "LocalDisconnect");
    assert_eq!(end["CallDisconnect"]["OrigCallDirection"], "outgoing");
    assert_eq!(
        c.get("Status SystemUnit State NumberOfActiveCalls").await,
        0
    );
    let h = c.ok("xCommand/CallHistory/Get", json!({})).await;
    assert_eq!(h["status"], "OK");
    assert_eq!(h["ResultInfo"]["TotalRows"], 1, "{h}");
    assert_eq!(h["Entry"][0]["id"], 1);
    assert_eq!(h["Entry"][0]["OccurrenceType"], "Placed");
    assert_eq!(h["Entry"][0]["CallbackNumber"], "sip:bob@example.com");
}

#[tokio::test]
async fn the_call_status_goes_dialling_connecting_connected() {
    let (_s, mut c) = client().await;
    c.subscribe("Status Call Status").await;
    c.ok("xCommand/Dial", json!({"Number": "carol@example.com"}))
        .await;
    let mut seen = Vec::new();
    while seen.last() != Some(&json!("Connected")) {
        let f = c.next_feedback().await;
        seen.push(f["Status"]["Call"][0]["Status"].clone());
    }
    assert_eq!(
        seen,
        vec![json!("Dialling"), json!("Connecting"), json!("Connected")]
    );
}

#[tokio::test]
async fn an_incoming_call_rings_and_a_remote_hangup_has_its_cause() {
    let (_s, mut c) = client().await;
    c.subscribe("Event").await;
    let id = c
        .ok(
            "xSim/IncomingCall",
            json!({"Number": "dave@example.com", "DisplayName": "Dave"}),
        )
        .await["CallId"]
        .clone();
    let ring = next_event(&mut c).await;
    assert_eq!(ring["IncomingCallIndication"]["CallId"], id);
    assert_eq!(ring["IncomingCallIndication"]["DisplayNameValue"], "Dave");
    c.ok("xCommand/Call/Accept", json!({})).await;
    assert_eq!(next_event(&mut c).await["CallSuccessful"]["CallId"], id);
    c.ok("xSim/Hangup", json!({})).await;
    let end = next_event(&mut c).await;
    assert_eq!(end["CallDisconnect"]["CauseType"], "RemoteDisconnect");
    // A call that rings out unanswered is missed.
    c.ok("xSim/IncomingCall", json!({"Number": "erin@example.com"}))
        .await;
    next_event(&mut c).await;
    c.ok("xSim/Hangup", json!({})).await;
    let h = c
        .ok("xCommand/CallHistory/Get", json!({"Filter": "Missed"}))
        .await;
    assert_eq!(h["ResultInfo"]["TotalRows"], 1, "{h}");
    assert_eq!(h["Entry"][0]["DisplayName"], "erin@example.com");
}

#[tokio::test]
async fn presentation_selfview_standby_and_people_change_status() {
    let (_s, mut c) = client().await;
    let r = c
        .ok("xCommand/Presentation/Start", json!({"ConnectorId": 2}))
        .await;
    assert_eq!(r["Instance"], 1, "{r}");
    assert_eq!(
        c.get("Status Conference Presentation Mode").await,
        "Sending"
    );
    assert_eq!(
        c.get("Status Conference Presentation LocalInstance[1] Source")
            .await,
        2
    );
    let r = c.ok("xCommand/Presentation/Start", json!({})).await;
    assert_eq!(r["Instance"], 2);
    c.ok("xCommand/Presentation/Stop", json!({})).await;
    assert_eq!(c.get("Status Conference Presentation Mode").await, "Off");

    let id = c.subscribe("Status Video Selfview").await;
    c.ok(
        "xCommand/Video/Selfview/Set",
        json!({"Mode": "On", "FullscreenMode": "On"}),
    )
    .await;
    assert_eq!(
        c.next_feedback().await,
        json!({"Status": {"Video": {"Selfview": {"Mode": "On"}}}, "Id": id})
    );
    assert_eq!(
        c.next_feedback().await,
        json!({"Status": {"Video": {"Selfview": {"FullscreenMode": "On"}}}, "Id": id})
    );

    c.ok("xCommand/Standby/Activate", json!({})).await;
    c.ok("xSim/People", json!({"Count": 3})).await;
    assert_eq!(c.get("Status RoomAnalytics PeopleCount Current").await, 3);
    assert_eq!(c.get("Status RoomAnalytics PeoplePresence").await, "Yes");
    assert_eq!(
        c.get("Status Standby State").await,
        "Halfwake",
        "people wake a sleeping room"
    );
    c.ok("xSim/People", json!({"Count": 0})).await;
    assert_eq!(c.get("Status RoomAnalytics PeoplePresence").await, "No");
}

#[tokio::test]
async fn panels_are_listed_and_widget_values_kept() {
    let (_s, mut c) = client().await;
    c.ok(
        "xCommand/UserInterface/Extensions/Panel/Save",
        json!({"PanelId": "lights", "body": "<Extensions><Panel><Type>Statusbar</Type><Name>Lights</Name><Icon>Lightbulb</Icon></Panel></Extensions>"}),
    )
    .await;
    let list = c
        .ok("xCommand/UserInterface/Extensions/List", json!({}))
        .await;
    let panel = &list["Extensions"]["Panel"][0];
    assert_eq!(panel["PanelId"], "lights", "{list}");
    assert_eq!(panel["Name"], "Lights");
    assert_eq!(panel["Icon"], "Lightbulb");
    c.ok(
        "xCommand/UserInterface/Extensions/Widget/SetValue",
        json!({"WidgetId": "dimmer", "Value": "40"}),
    )
    .await;
    assert_eq!(
        c.get("Status UserInterface Extensions Widget[1] Value")
            .await,
        "40"
    );
    c.subscribe("Event UserInterface Extensions").await;
    c.ok("xSim/WidgetAction", json!({"WidgetId": "speed-dial"}))
        .await;
    let mut types = Vec::new();
    for _ in 0..3 {
        let f = c.next_feedback().await;
        types.push(f["Event"]["UserInterface"]["Extensions"]["Widget"]["Action"]["Type"].clone());
    }
    assert_eq!(
        types,
        vec![json!("pressed"), json!("released"), json!("clicked")]
    );
    c.ok("xSim/PanelClick", json!({"PanelId": "lights"})).await;
    let f = c.next_feedback().await;
    assert_eq!(
        f["Event"]["UserInterface"]["Extensions"]["Panel"]["Clicked"]["PanelId"],
        "lights"
    );
}

#[tokio::test]
async fn bookings_have_a_current_and_a_next_meeting() {
    let (_s, mut c) = client().await;
    let list = c.ok("xCommand/Bookings/List", json!({})).await;
    assert_eq!(list["ResultInfo"]["TotalRows"], 2, "{list}");
    let current = &list["Booking"][0];
    let id = current["Id"].as_str().unwrap().to_string();
    assert_eq!(c.get("Status Bookings Current Id").await, json!(id));
    assert_eq!(
        c.get("Status Bookings Availability Status").await,
        "BookedUntil"
    );
    let now = chrono::Utc::now();
    let t = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert!(t(&current["Time"]["StartTime"]) <= now && now < t(&current["Time"]["EndTime"]));
    assert!(
        t(&list["Booking"][1]["Time"]["StartTime"]) > now,
        "the next one is later"
    );
    let one = c.ok("xCommand/Bookings/Get", json!({"Id": id})).await;
    assert_eq!(one["Booking"]["Title"], current["Title"]);
    let e = c.err("xCommand/Bookings/Get", json!({"Id": "nope"})).await;
    assert_eq!(e["data"]["Cause"], 27);
}

#[tokio::test]
async fn camera_presets_are_stored_listed_and_activated() {
    let (_s, mut c) = client().await;
    c.ok(
        "xCommand/Camera/PositionSet",
        json!({"CameraId": 1, "Pan": 300, "Zoom": 100}),
    )
    .await;
    let r = c
        .ok(
            "xCommand/Camera/Preset/Store",
            json!({"CameraId": 1, "Name": "Table"}),
        )
        .await;
    let preset = r["PresetId"].clone();
    c.ok(
        "xCommand/Camera/PositionSet",
        json!({"CameraId": 1, "Pan": -200}),
    )
    .await;
    let list = c.ok("xCommand/Camera/Preset/List", json!({})).await;
    assert_eq!(list["Preset"][0]["Name"], "Table", "{list}");
    c.ok(
        "xCommand/Camera/Preset/Activate",
        json!({"PresetId": preset}),
    )
    .await;
    assert_eq!(c.get("Status Cameras Camera[1] Position Pan").await, 300);
    c.ok("xCommand/Camera/Preset/Remove", json!({"PresetId": preset}))
        .await;
    let e = c
        .err(
            "xCommand/Camera/Preset/Activate",
            json!({"PresetId": preset}),
        )
        .await;
    assert_eq!(e["data"]["Cause"], 27);
}

#[tokio::test]
async fn a_number_with_a_uri_scheme_keeps_it_and_gets_no_second_one() {
    let (_s, mut c) = client().await;
    c.subscribe("Event").await;
    c.ok(
        "xSim/IncomingCall",
        json!({"Number": "sip:alice@example.com", "DisplayName": "Alice"}),
    )
    .await;
    let ring = next_event(&mut c).await;
    assert_eq!(
        ring["IncomingCallIndication"]["RemoteURI"],
        "sip:alice@example.com"
    );
    assert_eq!(
        c.get("Status Call[1] CallbackNumber").await,
        "sip:alice@example.com"
    );
    c.ok("xSim/Hangup", json!({})).await;
    next_event(&mut c).await;
    let id = c
        .ok("xCommand/Dial", json!({"Number": "spark:bob@example.com"}))
        .await["CallId"]
        .clone();
    let path = format!("Status Call[{id}]");
    assert_eq!(
        c.get(&format!("{path} CallbackNumber")).await,
        "spark:bob@example.com"
    );
    assert_eq!(c.get(&format!("{path} Protocol")).await, "Spark");
    next_event(&mut c).await; // OutgoingCallIndication
    let ok = next_event(&mut c).await;
    assert_eq!(ok["CallSuccessful"]["RemoteURI"], "spark:bob@example.com");
    c.ok("xCommand/Call/Disconnect", json!({})).await;
    next_event(&mut c).await;
    // Without a scheme, the protocol's is added once.
    let id = c
        .ok("xCommand/Dial", json!({"Number": "carol@example.com"}))
        .await["CallId"]
        .clone();
    assert_eq!(
        c.get(&format!("Status Call[{id}] CallbackNumber")).await,
        "sip:carol@example.com"
    );
}

/// Shows two web views and closes them, checking Status and its feedback.
pub async fn web_views_show_in_status(url: &str) {
    let mut c = Raw::connect(url).await;
    let sub = c.subscribe("Status UserInterface WebView").await;
    c.ok(
        "xCommand/UserInterface/WebView/Display",
        json!({"Url": "https://chart.test/a", "Title": "Chart"}),
    )
    .await;
    let f = c.next_feedback().await;
    let view = &f["Status"]["UserInterface"]["WebView"][0];
    assert_eq!(f["Id"], sub);
    assert_eq!(view["id"], 1, "{f}");
    assert_eq!(view["Status"], "Visible", "{f}");
    assert_eq!(view["Type"], "Integration", "{f}");
    assert_eq!(view["URL"], "https://chart.test/a", "{f}");
    assert_eq!(
        c.get("Status UserInterface WebView[1] URL").await,
        "https://chart.test/a"
    );
    // Another target gets its own; the same target shows the new page.
    c.ok(
        "xCommand/UserInterface/WebView/Display",
        json!({"Url": "https://panel.test/", "Target": "Controller"}),
    )
    .await;
    c.next_feedback().await;
    c.ok(
        "xCommand/UserInterface/WebView/Display",
        json!({"Url": "https://chart.test/b"}),
    )
    .await;
    c.next_feedback().await;
    let all = c
        .ok(
            "xQuery",
            json!({"Query": ["Status", "UserInterface", "WebView"]}),
        )
        .await;
    let urls: Vec<&str> = all["Status"]["UserInterface"]["WebView"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["URL"].as_str().unwrap())
        .collect();
    assert_eq!(urls, ["https://chart.test/b", "https://panel.test/"]);
    // Clear with a target closes that one (its ghost is sent) ...
    c.ok(
        "xCommand/UserInterface/WebView/Clear",
        json!({"Target": "OSD"}),
    )
    .await;
    let f = c.next_feedback().await;
    assert_eq!(
        f["Status"]["UserInterface"]["WebView"][0],
        json!({"id": 1, "ghost": "True"}),
        "{f}"
    );
    // ... without one, every web view.
    c.ok("xCommand/UserInterface/WebView/Clear", json!({}))
        .await;
    c.next_feedback().await;
    let all = c
        .ok(
            "xQuery",
            json!({"Query": ["Status", "UserInterface", "WebView"]}),
        )
        .await;
    assert!(
        all["Status"]["UserInterface"]["WebView"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{all}"
    );
}

#[tokio::test]
async fn webview_display_and_clear_show_in_status() {
    let (s, _c) = client().await;
    web_views_show_in_status(&s.url()).await;
}
