//! A library calls back into the script later, in the shape of Cisco's GMM
//! messaging library (`GMM.Event.Receiver.on(cb)`): the library registers
//! a feedback callback that calls what the script handed it (a named `fn`
//! and a closure) when a message arrives, and hands the script a closure
//! of its own, which the script calls at the top level and later in a
//! callback.

use serde_json::json;

use crate::common::rig::{self, Reports, TempDir};
use crate::common::within;

const LIBRARY: &str = r#"
// Messages travel as `Message Send` texts starting with this.
fn tag() { "gmm:" }

fn on_message(cb) {
    xapi.Event.Message.Send.on(|e| {
        if e.Text.starts_with(tag()) {
            cb.call(e.Text.sub_string(tag().len()));
        }
    });
}

fn send(text) {
    xapi.Command.Message.Send(#{ Text: `${tag()}${text}` });
}

fn decorate(suffix) {
    |text| `${text}${suffix}`
}
"#;

const SCRIPT: &str = r#"
import "lib/gmm" as gmm;

fn shout(text) { report(`shout ${text}`); }

gmm::on_message(shout);
gmm::on_message(|text| report(`closure ${text}`));
let exclaim = gmm::decorate("!");
report(exclaim.call("at once"));
xapi.Event.Sim.Go.on(|e| {
    report(exclaim.call("later"));
    gmm::send("hello");
});
report("ready");
"#;

#[tokio::test]
async fn a_library_calls_the_scripts_function_and_closure_when_a_message_arrives() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("library-callbacks");
    dir.write("lib/gmm.rhai", LIBRARY);
    dir.write("messenger.rhai", SCRIPT);
    let host = rig::start(rig::options(&dir, vec![rig::codec("gmm-room", &sim)])).await;
    reports.expect("ready").await;
    assert!(
        reports.seen.iter().any(|s| s == "at once!"),
        "a library's closure called at the top level: {:?}",
        reports.seen
    );

    rig::emit(reports.raw(), "Go", json!({})).await;
    let seen = reports.idle(&host).await;
    for want in ["later!", "shout hello", "closure hello"] {
        assert!(seen.iter().any(|s| s == want), "no {want:?} among {seen:?}");
    }
    let errors = rig::logs().lock().unwrap().clone();
    assert!(
        !errors
            .lines()
            .any(|l| l.contains("script=messenger") && l.contains("ERROR")),
        "{errors}"
    );
    within("shutdown", host.shutdown()).await;
}
