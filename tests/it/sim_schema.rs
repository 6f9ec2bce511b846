//! The simulator with the public schema (`--schema`): value spaces and
//! required parameters are enforced as a codec enforces them, every
//! Configuration of the product exists with its default, and the built-in
//! model's effects still happen.

use std::sync::Arc;

use crate::common::{Raw, Sim};
use serde_json::{Value, json};
use xmacro::schema::Schema;
use xmacro::sim::{DeviceOptions, SimOptions};

fn schema_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/xapi-schema/roomos-26.4.1.json")
}

async fn sim_with_schema() -> (Sim, Arc<Schema>) {
    let schema = Arc::new(Schema::load(&schema_file(), Some("barents")).unwrap());
    let sim = Sim::start(SimOptions {
        device: DeviceOptions {
            schema: Some(schema.clone()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    (sim, schema)
}

#[tokio::test]
async fn out_of_range_integer_is_refused() {
    let (s, _) = sim_with_schema().await;
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
    let (s, _) = sim_with_schema().await;
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
    let (s, _) = sim_with_schema().await;
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
    let (s, _) = sim_with_schema().await;
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
    let (s, schema) = sim_with_schema().await;
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
    let (s, _) = sim_with_schema().await;
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
