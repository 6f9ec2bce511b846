//! The simulator reproduces every request/response shape of PROTOCOL.md.

use std::time::Duration;

use crate::common::{Auth, Raw, Sim, refused_status, try_connect, within};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use xmacro::sim::SimOptions;

async fn sim() -> Sim {
    Sim::start(SimOptions::default()).await
}

#[tokio::test]
async fn xget_is_relative_and_echoes_string_ids() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    c.send_text(r#"{"jsonrpc":"2.0","id":"a1336","method":"xGet","params":{"Path":["Status","SystemUnit","Uptime"]}}"#).await;
    let a = c.recv_answer().await;
    assert_eq!(a["id"], "a1336");
    assert!(a["result"].is_u64(), "{a}");
    let state = c.get("Status SystemUnit State").await;
    assert_eq!(
        state,
        json!({"NumberOfActiveCalls":0,"NumberOfInProgressCalls":0,"NumberOfSuspendedCalls":0})
    );
}

#[tokio::test]
async fn array_elements_are_selected_by_id() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    let fan = c
        .ok(
            "xGet",
            json!({"Path":["Status","SystemUnit","Hardware","Monitoring","Fan",2,"Status"]}),
        )
        .await;
    assert_eq!(fan, "locked on 3150 rpm");
    assert_eq!(
        c.get("Status Video Input Connector[1] Connected").await,
        "True"
    );
    let e = c
        .err(
            "xGet",
            json!({"Path":["Status","Video","Input","Connector",9]}),
        )
        .await;
    assert_eq!(e["code"], -32601);
}

#[tokio::test]
async fn xquery_wildcards_are_rooted() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    let r = c
        .ok("xQuery", json!({"Query":["Status","**","DisplayName"]}))
        .await;
    assert_eq!(
        r["Status"]["SystemUnit"]["Software"]["DisplayName"],
        "RoomOS 26.4.1 (simulated by xmacro)"
    );
    assert!(r["Status"].get("Audio").is_none(), "only matches: {r}");
    let whole = c.ok("xQuery", json!({"Query":["Configuration"]})).await;
    assert_eq!(whole["Configuration"]["Audio"]["DefaultVolume"], 50);
    let e = c.err("xQuery", json!({"Query":["**"]})).await;
    assert_eq!(e["code"], -32602);
}

#[tokio::test]
async fn xset_sets_one_configuration() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    let r = c
        .ok(
            "xSet",
            json!({"Path":["Configuration","SystemUnit","Name"],"Value":"my-codec"}),
        )
        .await;
    assert_eq!(r, true);
    assert_eq!(c.get("Configuration SystemUnit Name").await, "my-codec");
    let e = c
        .err(
            "xSet",
            json!({"Path":["Configuration","Audio","DefaultVolume"],"Value":200}),
        )
        .await;
    assert_eq!(e["code"], -32602);
    let e = c
        .err("xSet", json!({"Path":["Configuration","Nope"],"Value":1}))
        .await;
    assert_eq!(e["code"], -32601);
}

#[tokio::test]
async fn commands_answer_like_the_codec() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    let dial = c
        .ok(
            "xCommand/Dial",
            json!({"Number":"alice@example.com","Protocol":"Spark"}),
        )
        .await;
    assert!(
        dial["CallId"].is_u64() && dial["ConferenceId"].is_u64(),
        "{dial}"
    );
    assert_eq!(
        c.get("Status SystemUnit State NumberOfActiveCalls").await,
        1
    );
    let r = c.ok("xCommand/Audio/Volume/Set", json!({"Level":60})).await;
    assert_eq!(r, json!({"status":"OK"}));
    assert_eq!(c.get("Status Audio Volume").await, 60);
    let body = "<Extensions>\n  <Panel/>\n</Extensions>";
    c.ok(
        "xCommand/UserInterface/Extensions/Panel/Save",
        json!({"PanelId":"p1","body":body}),
    )
    .await;
    let inspect = c.ok("xSim/Inspect", json!({})).await;
    assert_eq!(inspect["Panels"]["p1"], body, "multi-line body kept");
    let e = c.err("xCommand/No/Such/Thing", json!({})).await;
    assert_eq!(e["code"], -32601);
    let e = c.err("xCommand/Dial", json!({})).await;
    assert_eq!(e["code"], -32602, "missing Number: {e}");
    let e = c
        .err("xCommand/Call/Disconnect", json!({"CallId": 999}))
        .await;
    assert_eq!(e["code"], 1, "command error: {e}");
}

#[tokio::test]
async fn feedback_subscribe_notify_and_unsubscribe() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    let id = c.subscribe("Status Audio Volume").await;
    c.ok("xCommand/Audio/Volume/Set", json!({"Level":60})).await;
    assert_eq!(
        c.next_feedback().await,
        json!({"Status":{"Audio":{"Volume":60}},"Id":id})
    );
    // No change, no feedback.
    c.ok("xCommand/Audio/Volume/Set", json!({"Level":60})).await;
    c.no_feedback().await;
    assert_eq!(c.ok("xFeedback/Unsubscribe", json!({"Id":id})).await, true);
    c.ok("xCommand/Audio/Volume/Set", json!({"Level":61})).await;
    c.no_feedback().await;
    let e = c.err("xFeedback/Unsubscribe", json!({"Id":id})).await;
    assert_eq!(
        e,
        json!({"code":-32602,"message":"Invalid params","data":"Unknown feedback ID."})
    );
}

#[tokio::test]
async fn notify_current_value_sends_at_once() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    let r = c
        .ok(
            "xFeedback/Subscribe",
            json!({"Query":["Status","Audio","Volume"],"NotifyCurrentValue":true}),
        )
        .await;
    let f = c.next_feedback().await;
    assert_eq!(f, json!({"Status":{"Audio":{"Volume":50}},"Id":r["Id"]}));
}

#[tokio::test]
async fn events_reach_event_subscriptions() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    let id = c
        .subscribe("Event UserInterface Extensions Widget Action")
        .await;
    c.ok(
        "xSim/EmitEvent",
        json!({"Path":"Event UserInterface Extensions Widget Action",
               "Value":{"WidgetId":"quickdial","Type":"clicked","Value":""}}),
    )
    .await;
    assert_eq!(
        c.next_feedback().await,
        json!({"Event":{"UserInterface":{"Extensions":{"Widget":{"Action":
            {"WidgetId":"quickdial","Type":"clicked","Value":""}}}}},"Id":id})
    );
    let msg = c.subscribe("Event Message Send").await;
    c.ok("xCommand/Message/Send", json!({"Text":"hi"})).await;
    assert_eq!(
        c.next_feedback().await,
        json!({"Event":{"Message":{"Send":{"Text":"hi"}}},"Id":msg})
    );
}

#[tokio::test]
async fn overlapping_subscriptions_each_get_a_copy() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    let a = c.subscribe("Status Audio").await;
    let b = c.subscribe("Status Audio Volume").await;
    let all = c.subscribe("**").await;
    c.ok("xCommand/Audio/Volume/Set", json!({"Level":42})).await;
    let mut ids = vec![];
    for _ in 0..3 {
        let f = c.next_feedback().await;
        assert_eq!(f["Status"]["Audio"]["Volume"], 42, "{f}");
        ids.push(f["Id"].as_u64().unwrap());
    }
    ids.sort();
    assert_eq!(ids, vec![a, b, all]);
    c.no_feedback().await;
}

#[tokio::test]
async fn changes_reach_every_session() {
    let s = sim().await;
    let mut watcher = Raw::connect(&s.url()).await;
    let mut actor = Raw::connect(&s.url()).await;
    let id = watcher.subscribe("Configuration SystemUnit Name").await;
    actor
        .ok(
            "xSet",
            json!({"Path":["Configuration","SystemUnit","Name"],"Value":"shared"}),
        )
        .await;
    assert_eq!(
        watcher.next_feedback().await,
        json!({"Configuration":{"SystemUnit":{"Name":"shared"}},"Id":id})
    );
    assert_eq!(actor.get("Configuration SystemUnit Name").await, "shared");
}

#[tokio::test]
async fn vanished_elements_arrive_once_as_ghosts() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    let id = c.subscribe("Status Call").await;
    let call = c
        .ok("xCommand/Dial", json!({"Number":"bob@example.com"}))
        .await;
    let call_id = call["CallId"].as_u64().unwrap();
    let added = c.next_feedback().await;
    assert_eq!(added["Status"]["Call"][0]["id"], call_id);
    assert_eq!(added["Status"]["Call"][0]["Status"], "Dialling");
    // Then Connecting, then Connected, as the far end answers.
    while c.next_feedback().await["Status"]["Call"][0]["Status"] != "Connected" {}
    c.ok("xCommand/Call/Disconnect", json!({"CallId":call_id}))
        .await;
    assert_eq!(
        c.next_feedback().await,
        json!({"Status":{"Call":[{"id":call_id,"ghost":"True"}]},"Id":id})
    );
    c.no_feedback().await;
}

#[tokio::test]
async fn requests_without_id_get_null_id_answers() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    c.send_text(
        r#"{"jsonrpc":"2.0","method":"xGet","params":{"Path":["Status","SystemUnit","State"]}}"#,
    )
    .await;
    let a = c.recv_answer().await;
    assert!(
        a["id"].is_null() && a.as_object().unwrap().contains_key("id"),
        "{a}"
    );
    assert_eq!(a["result"]["NumberOfActiveCalls"], 0);
}

#[tokio::test]
async fn protocol_errors_use_the_documented_codes() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    c.send_text("not json").await;
    let a = c.recv_answer().await;
    assert_eq!(
        (a["id"].clone(), a["error"]["code"].clone()),
        (json!(null), json!(-32700))
    );
    c.send_text(r#"{"jsonrpc":"1.0","id":4,"method":"xGet"}"#)
        .await;
    let a = c.recv_answer().await;
    assert_eq!(
        (a["id"].clone(), a["error"]["code"].clone()),
        (json!(4), json!(-32600))
    );
    let e = c.err("xNoSuchMethod", json!({})).await;
    assert_eq!(e["code"], -32601);
    let e = c.err("xGet", json!({})).await;
    assert_eq!(e["code"], -32602);
    c.ok(
        "xSim/Refuse",
        json!({"Method":"xCommand/Standby","Code":-31999,"Message":"Permission denied","Count":1}),
    )
    .await;
    let e = c.err("xCommand/Standby/Activate", json!({})).await;
    assert_eq!(e, json!({"code":-31999,"message":"Permission denied"}));
    c.ok("xCommand/Standby/Activate", json!({})).await;
}

#[tokio::test]
async fn subscriber_count_is_limited() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    c.ok("xSim/Configure", json!({"MaxSubscriptions":2})).await;
    c.subscribe("Status Audio").await;
    c.subscribe("Status Call").await;
    let e = c
        .err("xFeedback/Subscribe", json!({"Query":["Status","Standby"]}))
        .await;
    assert_eq!(e["code"], -31998);
}

#[tokio::test]
async fn legacy_mode_answers_strings() {
    let s = sim().await;
    let mut legacy = Raw::connect(&format!("{}?legacy", s.url())).await;
    assert_eq!(legacy.get("Status Audio Volume").await, "50");
    let id = legacy.subscribe("Status Audio Volume").await;
    let mut normal = Raw::connect(&s.url()).await;
    assert_eq!(normal.get("Status Audio Volume").await, 50);
    normal
        .ok("xCommand/Audio/Volume/Set", json!({"Level":70}))
        .await;
    assert_eq!(
        legacy.next_feedback().await,
        json!({"Status":{"Audio":{"Volume":"70"}},"Id":id})
    );
    let dial = legacy.ok("xCommand/Dial", json!({"Number":"x"})).await;
    assert!(dial["CallId"].is_string(), "{dial}");
}

#[tokio::test]
async fn both_auth_forms_and_403() {
    let s = Sim::start(SimOptions {
        username: "integrator".into(),
        password: "s3cret+/=".into(),
        ..Default::default()
    })
    .await;
    let mut basic = try_connect(&s.url(), Auth::Basic("integrator", "s3cret+/="))
        .await
        .unwrap();
    assert_eq!(basic.get("Status Audio Volume").await, 50);
    // tungstenite refuses a handshake whose sub-protocol is not echoed, so
    // this also proves the echo.
    let mut sub = try_connect(&s.url(), Auth::SubProtocol("integrator", "s3cret+/="))
        .await
        .unwrap();
    assert_eq!(sub.get("Status Audio Volume").await, 50);
    assert_eq!(
        refused_status(&s.url(), Auth::Basic("integrator", "wrong")).await,
        403
    );
    assert_eq!(
        refused_status(&s.url(), Auth::SubProtocol("admin", "")).await,
        403
    );
    assert_eq!(refused_status(&s.url(), Auth::None).await, 403);
    let other_path = format!("ws://{}/other", s.addr);
    assert_eq!(
        refused_status(&other_path, Auth::Basic("integrator", "s3cret+/=")).await,
        404
    );
}

#[tokio::test]
async fn reboot_cuts_then_502_then_not_ready_then_normal() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    c.ok("xCommand/Audio/Volume/Set", json!({"Level":80})).await;
    c.ok("xSim/Reboot", json!({"Down":0.6,"NotReady":0.6}))
        .await;
    // The session is cut without a close frame.
    loop {
        match c.recv().await {
            None => break,
            Some(Message::Close(f)) => panic!("a reboot sends no close frame: {f:?}"),
            Some(_) => continue,
        }
    }
    assert_eq!(
        refused_status(&s.url(), Auth::Basic("admin", "")).await,
        502
    );
    // After the Down phase: upgrades work, requests answer Not Ready.
    let mut c = crate::common::connect_when_up(&s.url()).await;
    let e = c
        .err("xGet", json!({"Path":["Status","Audio","Volume"]}))
        .await;
    assert_eq!(e["code"], -31997);
    let volume = within("the device to be ready", async {
        loop {
            let a = c
                .call("xGet", json!({"Path":["Status","Audio","Volume"]}))
                .await;
            if a.get("result").is_some() {
                break a["result"].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(volume, 50, "status starts afresh from the default volume");
}

#[tokio::test]
async fn systemunit_boot_reboots() {
    let mut options = SimOptions::default();
    options.device.boot_down = Duration::from_millis(300);
    options.device.boot_not_ready = Duration::from_millis(300);
    let s = Sim::start(options).await;
    let mut c = Raw::connect(&s.url()).await;
    c.ok("xCommand/SystemUnit/Boot", json!({"Action":"Restart"}))
        .await;
    assert!(matches!(c.recv().await, None | Some(Message::Close(_))));
    assert_eq!(
        refused_status(&s.url(), Auth::Basic("admin", "")).await,
        502
    );
}

#[tokio::test]
async fn control_drop_with_close_codes() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    c.send_text(r#"{"jsonrpc":"2.0","id":1,"method":"xSim/DropSessions","params":{"CloseCode":1001,"Reason":"going away"}}"#).await;
    let close = within("close frame", async {
        loop {
            match c.recv().await {
                Some(Message::Close(f)) => break f,
                Some(_) => continue,
                None => panic!("cut without a close frame"),
            }
        }
    })
    .await
    .expect("a close frame with a code");
    assert_eq!(u16::from(close.code), 1001);
}

#[tokio::test]
async fn control_raw_frames_and_delay() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    c.send_text(r#"{"jsonrpc":"2.0","id":1,"method":"xSim/SendRaw","params":{"Kind":"binary"}}"#)
        .await;
    assert!(matches!(c.recv().await, Some(Message::Binary(_))));
    assert_eq!(c.recv_answer().await["result"], true);
    c.ok("xSim/Delay", json!({"Ms":300})).await;
    let t = std::time::Instant::now();
    c.get("Status Audio Volume").await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    c.ok("xSim/Delay", json!({"Ms":0})).await;
}

#[tokio::test]
async fn burst_sends_count_events_with_timestamps() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    let id = c.subscribe("Event Sim Burst").await;
    c.send_text(r#"{"jsonrpc":"2.0","id":"b","method":"xSim/Burst","params":{"Count":500}}"#)
        .await;
    let answer = c.recv_answer().await;
    assert_eq!(answer["result"]["Sent"], 500);
    assert_eq!(c.feedback.len(), 500);
    for (i, f) in c.feedback.iter().enumerate() {
        let b = &f["params"]["Event"]["Sim"]["Burst"];
        assert_eq!(b["Seq"], i as u64);
        assert!(b["SentUs"].as_u64().unwrap() > 0);
        assert_eq!(f["params"]["Id"], id);
    }
}

#[tokio::test]
async fn incoming_calls_ring_and_can_be_answered() {
    let s = sim().await;
    let mut c = Raw::connect(&s.url()).await;
    let ev = c.subscribe("Event IncomingCallIndication").await;
    let r = c
        .ok("xSim/IncomingCall", json!({"Number":"carol@example.com"}))
        .await;
    let call = r["CallId"].as_u64().unwrap();
    let f = c.next_feedback().await;
    assert_eq!(f["Id"], ev);
    assert_eq!(f["Event"]["IncomingCallIndication"]["CallId"], call);
    assert_eq!(
        c.get(&format!("Status Call[{call}] Status")).await,
        "Ringing"
    );
    c.ok("xCommand/Call/Accept", json!({"CallId":call})).await;
    assert_eq!(
        c.get(&format!("Status Call[{call}] Status")).await,
        "Connected"
    );
}

/// `xQuery Status ** DisplayName` on an idle device, as in Cisco's XoWS
/// guide (D15427, p. 15): SIP CallForward's and the software's, nothing else.
async fn star_star_display_name_is_as_in_the_guide(url: &str) {
    let mut c = Raw::connect(url).await;
    let r = c
        .ok("xQuery", json!({"Query": ["Status", "**", "DisplayName"]}))
        .await;
    let software = r["Status"]["SystemUnit"]["Software"]["DisplayName"].clone();
    assert!(software.is_string(), "{r}");
    assert_eq!(
        r,
        json!({"Status": {
            "SIP": {"CallForward": {"DisplayName": ""}},
            "SystemUnit": {"Software": {"DisplayName": software}}
        }})
    );
}

#[tokio::test]
async fn the_star_star_query_answers_as_in_the_guides_transcript() {
    let s = sim().await;
    star_star_display_name_is_as_in_the_guide(&s.url()).await;
    // The same answer from a device of Cisco's schema, when it is at hand.
    let Some(schema) = crate::common::cisco_schema("barents") else {
        return;
    };
    let with_schema = Sim::start(xmacro::sim::SimOptions {
        device: xmacro::sim::DeviceOptions {
            schema: Some(schema),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    star_star_display_name_is_as_in_the_guide(&with_schema.url()).await;
}
