//! The simulator with the public schema (`--schema`): value spaces and
//! required parameters are enforced as a codec enforces them, every
//! Configuration of the product exists with its default, and the built-in
//! model's effects still happen.

use std::sync::Arc;

use crate::common::{Raw, Sim, cisco_schema};
use serde_json::{Value, json};
use xmacro::schema::Schema;
use xmacro::sim::{DeviceOptions, SimOptions};

/// A simulator of Cisco's schema (`None`: the schema is not at hand, the
/// test is skipped).
async fn sim_with_schema() -> Option<(Sim, Arc<Schema>)> {
    let schema = cisco_schema("barents")?;
    let sim = Sim::start(SimOptions {
        device: DeviceOptions {
            schema: Some(schema.clone()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    Some((sim, schema))
}

#[tokio::test]
async fn out_of_range_integer_is_refused() {
    let Some((s, _)) = sim_with_schema().await else {
        return;
    };
    let mut c = Raw::connect(&s.url()).await;
    let e = c
        .err("xCommand/Audio/Volume/Set", json!({"Level":101}))
        .await;
    assert_eq!(e["code"], -32602);
    assert_eq!(
        e["message"],
        "Bad usage: Bad argument to parameter \"Level\"."
    );
    let e = c
        .err(
            "xSet",
            json!({"Path":["Configuration","Standby","Delay"],"Value":481}),
        )
        .await;
    assert_eq!(e["code"], -32602, "{e}");
}

#[tokio::test]
async fn unknown_literal_is_refused() {
    let Some((s, _)) = sim_with_schema().await else {
        return;
    };
    let mut c = Raw::connect(&s.url()).await;
    let e = c
        .err(
            "xCommand/Dial",
            json!({"Number":"x@example.com","Protocol":"Carrier-Pigeon"}),
        )
        .await;
    assert_eq!(
        e["message"],
        "Bad usage: Bad argument to parameter \"Protocol\"."
    );
    let e = c
        .err(
            "xSet",
            json!({"Path":["Configuration","Standby","Control"],"Value":"Sometimes"}),
        )
        .await;
    assert_eq!(e["code"], -32602);
    assert!(e["data"].as_str().unwrap().contains("Sometimes"), "{e}");
    // Literals are matched without regard to case and stored as the schema spells them.
    c.ok(
        "xSet",
        json!({"Path":["Configuration","Standby","Control"],"Value":"off"}),
    )
    .await;
    assert_eq!(c.get("Configuration Standby Control").await, "Off");
}

#[tokio::test]
async fn missing_required_parameter_is_refused() {
    let Some((s, _)) = sim_with_schema().await else {
        return;
    };
    let mut c = Raw::connect(&s.url()).await;
    let e = c.err("xCommand/Dial", json!({"Protocol":"Sip"})).await;
    assert_eq!(e["code"], -32602);
    assert_eq!(e["message"], "Bad usage: Missing or invalid parameter(s).");
    assert!(e["data"].as_str().unwrap().contains("Number"), "{e}");
    let e = c
        .err(
            "xCommand/UserInterface/Extensions/Panel/Save",
            json!({"body":"<x/>"}),
        )
        .await;
    assert!(e["data"].as_str().unwrap().contains("PanelId"), "{e}");
}

#[tokio::test]
async fn unknown_commands_and_paths_answer_method_not_found() {
    let Some((s, _)) = sim_with_schema().await else {
        return;
    };
    let mut c = Raw::connect(&s.url()).await;
    assert_eq!(
        c.err("xCommand/Audio/Volume/Explode", json!({})).await["code"],
        -32601
    );
    let e = c
        .err(
            "xSet",
            json!({"Path":["Configuration","Audio","NoSuchSetting"],"Value":1}),
        )
        .await;
    assert_eq!(e["code"], -32601);
    // A command the schema knows but the built-in model does not model still answers OK.
    let r = c
        .ok(
            "xCommand/Cameras/AutoFocus/Diagnostics/Start",
            json!({"CameraId": 1}),
        )
        .await;
    assert_eq!(r["status"], "OK");
}

/// Every concrete Configuration path of the product, with its typed default.
fn concrete_defaults(prefix: &mut Vec<Value>, node: &Value, out: &mut Vec<(Value, Value)>) {
    match node {
        Value::Object(m) => {
            for (k, v) in m {
                prefix.push(json!(k));
                concrete_defaults(prefix, v, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for item in items {
                let id = item["id"].clone();
                prefix.push(id);
                let mut rest = item.clone();
                rest.as_object_mut().unwrap().remove("id");
                concrete_defaults(prefix, &rest, out);
                prefix.pop();
            }
        }
        leaf => out.push((Value::Array(prefix.clone()), leaf.clone())),
    }
}

#[tokio::test]
async fn every_configuration_answers_xget_with_its_default() {
    let Some((s, schema)) = sim_with_schema().await else {
        return;
    };
    let mut paths = Vec::new();
    concrete_defaults(
        &mut vec![json!("Configuration")],
        &schema.default_configuration(),
        &mut paths,
    );
    assert!(
        paths.len() > 1000,
        "only {} configuration paths",
        paths.len()
    );
    let mut c = Raw::connect(&s.url()).await;
    for (path, default) in &paths {
        let got = c.ok("xGet", json!({ "Path": path })).await;
        assert_eq!(&got, default, "xGet {path}");
    }
    // Spot checks against the schema text itself.
    assert_eq!(c.get("Configuration Audio DefaultVolume").await, 50);
    assert_eq!(c.get("Configuration Standby Delay").await, 10);
    assert_eq!(
        c.get("Configuration NetworkServices Websocket").await,
        "FollowHTTPService"
    );
}

#[tokio::test]
async fn builtin_effects_still_happen_with_the_schema() {
    let Some((s, _)) = sim_with_schema().await else {
        return;
    };
    let mut c = Raw::connect(&s.url()).await;
    let id = c.subscribe("Status Audio Volume").await;
    c.ok("xCommand/Audio/Volume/Set", json!({"Level":30})).await;
    assert_eq!(
        c.next_feedback().await,
        json!({"Status":{"Audio":{"Volume":30}},"Id":id})
    );
    c.ok("xCommand/Audio/Microphones/Mute", json!({})).await;
    assert_eq!(c.get("Status Audio Microphones Mute").await, "On");
    let dial = c.ok("xCommand/Dial", json!({"Number":"a@b.c"})).await;
    assert!(dial["CallId"].is_u64());
    c.ok(
        "xSet",
        json!({"Path":["Configuration","Audio","DefaultVolume"],"Value":"65"}),
    )
    .await;
    assert_eq!(
        c.get("Configuration Audio DefaultVolume").await,
        65,
        "stored as an integer"
    );
    c.ok("xCommand/Audio/Volume/SetToDefault", json!({})).await;
    assert_eq!(c.get("Status Audio Volume").await, 65);
}

#[tokio::test]
async fn every_status_path_of_the_product_exists_with_a_plausible_value() {
    let Some((s, schema)) = sim_with_schema().await else {
        return;
    };
    let mut c = Raw::connect(&s.url()).await;
    // Call[n] paths exist while a call does, as on a device.
    c.ok("xCommand/Dial", json!({"Number": "x@example.com"}))
        .await;
    // So do a presentation's, a widget's and a web view's.
    c.ok("xCommand/Presentation/Start", json!({})).await;
    c.ok(
        "xCommand/UserInterface/WebView/Display",
        json!({"Url": "https://a.test/"}),
    )
    .await;
    c.ok(
        "xCommand/UserInterface/Extensions/Widget/SetValue",
        json!({"WidgetId": "w", "Value": "1"}),
    )
    .await;
    let paths = xmacro::sim::status::paths(&schema, "Status");
    assert!(paths.len() > 500, "only {} status paths", paths.len());
    let mut missing = Vec::new();
    let mut implausible = Vec::new();
    for path in &paths {
        let a = c.call("xGet", json!({ "Path": path.to_json() })).await;
        let Some(value) = a.get("result") else {
            missing.push(path.to_string());
            continue;
        };
        let Ok(node) = schema.lookup(path) else {
            continue;
        };
        if let Some(xmacro::schema::Entry::Status { valuespace }) = &node.entry {
            // Leaves under arrays come back per element: check each.
            let mut leaves = Vec::new();
            scalars(value, &mut leaves);
            for leaf in leaves {
                if let Err(why) = valuespace.check(leaf) {
                    implausible.push(format!("{path}: {why}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} Status paths missing: {missing:?}",
        missing.len(),
        paths.len()
    );
    assert!(implausible.is_empty(), "{implausible:#?}");
    eprintln!(
        "every one of the {} Status paths of barents answers xGet",
        paths.len()
    );
}

#[tokio::test]
async fn every_event_path_of_the_product_can_be_emitted() {
    let Some((s, schema)) = sim_with_schema().await else {
        return;
    };
    let mut c = Raw::connect(&s.url()).await;
    c.subscribe("Event").await;
    let paths = xmacro::sim::status::paths(&schema, "Event");
    assert!(paths.len() > 100, "only {} event paths", paths.len());
    for path in &paths {
        c.ok("xSim/Event", json!({ "Path": path.to_json() })).await;
        let f = c.next_feedback().await;
        let mut at = &f;
        for seg in path.to_json().as_array().unwrap() {
            at = &at[seg.as_str().unwrap()];
        }
        assert!(!at.is_null(), "{path}: {f}");
    }
    eprintln!(
        "every one of the {} event paths of barents was emitted",
        paths.len()
    );
    let f = {
        c.ok("xSim/Event", json!({ "Path": "Event CallSuccessful" }))
            .await;
        c.next_feedback().await
    };
    let payload = &f["Event"]["CallSuccessful"];
    for field in ["CallId", "Protocol", "Direction", "RemoteURI", "CallRate"] {
        assert!(!payload[field].is_null(), "{field} filled in: {f}");
    }
}

#[tokio::test]
async fn xdoc_serves_the_products_schema() {
    let Some((s, _)) = sim_with_schema().await else {
        return;
    };
    let mut c = Raw::connect(&s.url()).await;
    let d = c
        .ok(
            "xDoc",
            json!({"Path": ["Status", "Standby", "State"], "Type": "Schema"}),
        )
        .await;
    assert_eq!(
        d["ValueSpace"],
        json!({"type": "Literal", "Value": ["Standby", "EnteringStandby", "Halfwake", "Off"]})
    );
}

/// Every scalar in `v` except element ids.
fn scalars<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| *k != "id")
            .for_each(|(_, v)| scalars(v, out)),
        Value::Array(items) => items.iter().for_each(|v| scalars(v, out)),
        leaf => out.push(leaf),
    }
}

#[tokio::test]
async fn omitted_command_parameters_take_the_schemas_defaults() {
    let Some((s, _)) = sim_with_schema().await else {
        return;
    };
    let mut c = Raw::connect(&s.url()).await;
    c.ok(
        "xSet",
        json!({"Path": ["Configuration", "HttpClient", "Mode"], "Value": "On"}),
    )
    .await;
    c.ok(
        "xSim/HttpResponse",
        json!({"Url": "https://api.test/*", "Body": "hello"}),
    )
    .await;
    // The schema: ResultBody defaults to PlainText for Get, None for Post.
    let get = c
        .ok(
            "xCommand/HttpClient/Get",
            json!({"Url": "https://api.test/a"}),
        )
        .await;
    assert_eq!(get["Body"], "hello", "{get}");
    let post = c
        .ok(
            "xCommand/HttpClient/Post",
            json!({"Url": "https://api.test/a", "body": "x"}),
        )
        .await;
    assert!(post.get("Body").is_none(), "{post}");
    // The log keeps what was sent, not the defaults.
    let inspect = c.ok("xSim/Inspect", json!({})).await;
    let sent = inspect["Commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Command"] == "HttpClient Get")
        .unwrap()
        .clone();
    assert_eq!(sent["Params"], json!({"Url": "https://api.test/a"}));
    // CallId's default (0) means the call there is.
    c.ok("xCommand/Dial", json!({"Number": "a@b.c"})).await;
    c.ok("xCommand/Call/Disconnect", json!({})).await;
    assert_eq!(
        c.get("Status SystemUnit State NumberOfActiveCalls").await,
        0
    );
}

/// Every command under `node` with its parameters, by path.
fn commands<'a>(
    node: &'a xmacro::schema::Node,
    at: &mut Vec<String>,
    out: &mut Vec<(String, &'a [xmacro::schema::Param])>,
) {
    if let Some(xmacro::schema::Entry::Command { params, .. }) = &node.entry {
        out.push((at.join(" "), params));
    }
    for (name, child) in &node.children {
        at.push(name.clone());
        commands(child, at, out);
        at.pop();
    }
}

#[test]
fn the_builtin_model_has_the_schemas_parameter_defaults() {
    let Some(product) = cisco_schema("barents") else {
        return;
    };
    let builtin = xmacro::sim::builtin::schema();
    let mut modelled = Vec::new();
    commands(
        &builtin.root.children["Command"],
        &mut Vec::new(),
        &mut modelled,
    );
    assert!(modelled.len() > 40, "{}", modelled.len());
    let mut checked = 0;
    for (path, params) in modelled {
        let (theirs, _) = product
            .command(&xmacro::xows::path::Path::parse(&path).unwrap())
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        for p in params {
            // The model is a Codec Pro's; a few parameters are other products'.
            let Some(schema_param) = theirs.iter().find(|t| t.name == p.name) else {
                continue;
            };
            assert_eq!(
                p.default, schema_param.default,
                "{path} {}: the built-in model's default differs from the schema's",
                p.name
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

/// The payload of the next feedback's event at `name` (under `Event`).
async fn event_fields(c: &mut Raw, words: &[&str]) -> Value {
    let f = c.next_feedback().await;
    let mut at = &f["Event"];
    for w in words {
        at = &at[*w];
    }
    at.clone()
}

/// Sends an event through `xSim/Event` and `xSim/EmitEvent` with text where
/// the schema says int and a literal in the wrong case; the device's types
/// come out either way.
async fn events_come_out_in_the_schemas_types(mut c: Raw) {
    c.subscribe("Event UserInterface Message Prompt Response")
        .await;
    let words = ["UserInterface", "Message", "Prompt", "Response"];
    for method in ["xSim/Event", "xSim/EmitEvent"] {
        c.ok(
            method,
            json!({"Path": "Event UserInterface Message Prompt Response",
                   "Value": {"FeedbackId": 12, "OptionId": "3", "Origin": "controller"}}),
        )
        .await;
        let e = event_fields(&mut c, &words).await;
        assert_eq!(e["OptionId"], json!(3), "{method}: {e}");
        assert_eq!(e["FeedbackId"], json!("12"), "{method}: {e}");
        assert_eq!(e["Origin"], json!("Controller"), "{method}: {e}");
    }
}

#[tokio::test]
async fn event_fields_are_sent_in_the_schemas_types() {
    let Some((s, _)) = sim_with_schema().await else {
        return;
    };
    events_come_out_in_the_schemas_types(Raw::connect(&s.url()).await).await;
}

#[tokio::test]
async fn event_fields_are_sent_in_the_built_in_models_types() {
    let s = Sim::start(SimOptions::default()).await;
    events_come_out_in_the_schemas_types(Raw::connect(&s.url()).await).await;
}

#[tokio::test]
async fn webview_display_and_clear_show_in_the_products_status() {
    let Some((s, _)) = sim_with_schema().await else {
        return;
    };
    crate::sim_device::web_views_show_in_status(&s.url()).await;
}
