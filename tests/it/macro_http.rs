//! A macro that calls an external HTTP API and shows the answer, run
//! against an answer scripted with `xSim/HttpResponse`: the UI log and the
//! simulator's log lines show what the room would show.

use std::time::Duration;

use crate::common::rig::{self, Reports, TempDir};
use crate::common::{Raw, within};
use serde_json::{Value, json};

const MACRO: &str = r#"
xapi.Config.HttpClient.Mode.set("On");
xapi.Event.UserInterface.Extensions.Widget.Action.on(|e| {
    if e.WidgetId != "energy-price" || e.Type != "clicked" { return; }
    try {
        let r = xapi.command("HttpClient Get", #{
            Url: "https://api.energy.test/price/now",
            Header: ["Accept: text/plain"],
            ResultBody: "PlainText",
        });
        xapi.Command.UserInterface.Message.Alert.Display(#{
            Title: "Energy price", Text: `Now: ${r.Body}`, Duration: 10,
        });
    } catch (err) {
        xapi.Command.UserInterface.Message.Alert.Display(#{
            Title: "Energy price", Text: `unavailable (HTTP ${err.data.StatusCode})`,
        });
    }
});
report("ready");
"#;

/// Waits until the UI log holds an alert with `text`.
async fn alert_shown(raw: &mut Raw, text: &str) -> Value {
    within(&format!("an alert {text:?}"), async {
        loop {
            let log = raw.ok("xSim/UiLog", json!({})).await["Entries"].clone();
            if let Some(e) = log
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["Kind"] == "Alert" && e["Text"] == text)
            {
                return e.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_macro_shows_what_a_scripted_http_api_answers() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let mut raw = Raw::connect(&sim.url()).await;
    raw.ok(
        "xSim/HttpResponse",
        json!({"Method": "GET", "Url": "https://api.energy.test/price/*",
               "Headers": {"Content-Type": "text/plain"}, "Body": "0.21 EUR/kWh"}),
    )
    .await;
    let dir = TempDir::new("macro-http");
    dir.write("energy.rhai", MACRO);
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    reports.expect("ready").await;

    raw.ok("xSim/WidgetAction", json!({"WidgetId": "energy-price"}))
        .await;
    let alert = alert_shown(&mut raw, "Now: 0.21 EUR/kWh").await;
    assert_eq!(alert["Title"], "Energy price");
    rig::wait_log(&["room: Alert shown: [Energy price] Now: 0.21 EUR/kWh"]).await;
    let requests = raw.ok("xSim/HttpRequests", json!({})).await["Requests"].clone();
    assert_eq!(requests[0]["Url"], "https://api.energy.test/price/now");
    assert_eq!(requests[0]["Headers"], json!(["Accept: text/plain"]));

    // The API fails: the macro's error path shows that instead.
    raw.ok(
        "xSim/HttpResponse",
        json!({"Url": "https://api.energy.test/*", "StatusCode": 503, "Body": "down"}),
    )
    .await;
    raw.ok("xSim/WidgetAction", json!({"WidgetId": "energy-price"}))
        .await;
    alert_shown(&mut raw, "unavailable (HTTP 503)").await;
    within("shutdown", host.shutdown()).await;
}
