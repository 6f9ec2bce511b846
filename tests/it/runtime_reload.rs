//! Hot reload, case by case, through a real host watching a directory.

use std::time::Duration;

use crate::common::rig::{self, Reports, TempDir, emit, wait_log};
use crate::common::within;
use serde_json::json;

/// A script version that answers pings, ticks, and says when it unloads.
fn version(tag: &str) -> String {
    format!(
        r#"
xapi.Event.Sim.Ping.on(|e| report(`{tag} ping`));
let t = set_interval(|| report("{tag} tick"), 40);
fn on_unload() {{ report("{tag} unload"); }}
report("{tag} started");
"#
    )
}

async fn host_with(dir: &TempDir, sim: &crate::common::Sim) -> xmacro::host::HostHandle {
    rig::start(rig::options(dir, vec![rig::codec("room", sim)])).await
}

#[tokio::test]
async fn an_edit_replaces_the_old_version_completely() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("reload-edit");
    dir.write("edited.rhai", &version("v1"));
    let host = host_with(&dir, &sim).await;
    r.expect("v1 started").await;
    r.expect("v1 tick").await;
    dir.write("edited.rhai", &version("v2"));
    r.expect("v1 unload").await;
    r.expect("v2 started").await;
    let started = r.seen.iter().position(|s| s == "v2 started").unwrap();
    let unload = r.seen.iter().position(|s| s == "v1 unload").unwrap();
    assert!(
        unload < started,
        "old version unloads before the new starts: {:?}",
        r.seen
    );
    emit(r.raw(), "Ping", json!({})).await;
    r.expect("v2 ping").await;
    r.idle(&host).await;
    let after: Vec<&String> = r.seen[started..]
        .iter()
        .filter(|s| s.starts_with("v1"))
        .collect();
    assert!(
        after.is_empty(),
        "nothing of v1 fires after v2 started: {after:?}"
    );
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn unchanged_content_does_nothing() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("reload-same");
    dir.write("same.rhai", r#"report("same started");"#);
    let host = host_with(&dir, &sim).await;
    r.expect("same started").await;
    dir.write("same.rhai", r#"report("same started");"#);
    host.rescan();
    let later = r.idle(&host).await;
    assert!(later.is_empty(), "{later:?}");
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_syntax_error_keeps_the_old_version_and_says_where() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("reload-error");
    dir.write("fragile.rhai", &version("good"));
    let host = host_with(&dir, &sim).await;
    r.expect("good started").await;
    // The prelude is line 1, so the broken line is line 3.
    dir.write("fragile.rhai", "let x = 1;\nlet y = ;\n");
    let line = wait_log(&["fragile", "compile error", "running version stays"]).await;
    assert!(line.contains("fragile.rhai:3:"), "{line}");
    emit(r.raw(), "Ping", json!({})).await;
    r.expect("good ping").await;
    assert!(!r.seen.iter().any(|s| s == "good unload"));
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_library_change_reloads_its_importers_only() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("reload-lib");
    dir.write("lib/tag.rhai", r#"fn tag() { "L1" }"#);
    dir.write(
        "importer.rhai",
        "import \"lib/tag\" as t;\nreport(`importer ${t::tag()}`);",
    );
    dir.write("bystander.rhai", r#"report("bystander started");"#);
    let host = host_with(&dir, &sim).await;
    r.expect("importer L1").await;
    r.expect("bystander started").await;
    dir.write("lib/tag.rhai", r#"fn tag() { "L2" }"#);
    r.expect("importer L2").await;
    r.idle(&host).await;
    assert_eq!(
        r.seen.iter().filter(|s| *s == "bystander started").count(),
        1
    );
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn delete_stops_and_create_starts() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("reload-delete");
    dir.write("doomed.rhai", &version("doomed"));
    let host = host_with(&dir, &sim).await;
    r.expect("doomed started").await;
    std::fs::remove_file(dir.scripts().join("doomed.rhai")).unwrap();
    r.expect("doomed unload").await;
    wait_log(&["doomed", "stopped: its file was removed"]).await;
    r.idle(&host).await;
    emit(r.raw(), "Ping", json!({})).await;
    let later = r.idle(&host).await;
    assert!(later.is_empty(), "{later:?}");
    dir.write("newborn.rhai", r#"report("newborn started");"#);
    r.expect("newborn started").await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn editor_files_renames_and_bursts_settle_on_the_final_content() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("reload-burst");
    let host = host_with(&dir, &sim).await;
    // Editor leftovers are not scripts.
    for name in [".burst.rhai.swp", "burst.rhai~", "#burst.rhai#"] {
        std::fs::write(dir.scripts().join(name), r#"report("editor junk ran");"#).unwrap();
    }
    // An atomic save: write elsewhere, rename over.
    let tmp = dir.scripts().join(".burst.rhai.tmp-123");
    std::fs::write(
        &tmp,
        format!("{}report(\"renamed started\");", rig::PRELUDE),
    )
    .unwrap();
    std::fs::rename(&tmp, dir.scripts().join("renamed.rhai")).unwrap();
    r.expect("renamed started").await;
    // A burst of saves, some half-written.
    for i in 1..=30 {
        let text = if i % 7 == 0 {
            format!("report(\"burst {i}")
        } else {
            format!("report(\"burst {i} started\");")
        };
        dir.write("burst.rhai", &text);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    r.expect("burst 30 started").await;
    r.idle(&host).await;
    assert_eq!(
        r.seen.iter().filter(|s| *s == "burst 30 started").count(),
        1,
        "{:?}",
        r.seen
    );
    assert!(!r.seen.iter().any(|s| s == "editor junk ran"));
    let last = r.seen.iter().rposition(|s| s.starts_with("burst")).unwrap();
    assert_eq!(
        r.seen[last], "burst 30 started",
        "the final content runs last: {:?}",
        r.seen
    );
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn an_args_change_in_the_config_reloads_that_script_alone() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("reload-config");
    let config = dir.0.join("xmacro.toml");
    let write_config = |x: i64| {
        std::fs::write(
            &config,
            format!(
                "scripts = \"scripts\"\nstate = \"state\"\n\n[defaults]\npassword_file = \"pw\"\n\n[[codec]]\nname = \"room\"\nurl = \"{}\"\n\n[script.tuned]\nargs = {{ x = {x} }}\n\n[script.steady]\nargs = {{ y = 1 }}\n",
                sim.url()
            ),
        )
        .unwrap();
    };
    std::fs::write(dir.0.join("pw"), "").unwrap();
    write_config(1);
    dir.write("tuned.rhai", r#"report(`tuned x=${args.x}`);"#);
    dir.write("steady.rhai", r#"report(`steady y=${args.y}`);"#);
    let cfg = xmacro::config::Config::load(&config).unwrap();
    let mut opts = rig::options(&dir, cfg.codecs.clone());
    opts.scripts = cfg.script.clone();
    opts.config = Some(xmacro::host::ConfigSeen::of(&cfg));
    let host = rig::start(opts).await;
    r.expect("tuned x=1").await;
    r.expect("steady y=1").await;
    write_config(2);
    r.expect("tuned x=2").await;
    r.idle(&host).await;
    assert_eq!(
        r.seen.iter().filter(|s| s.starts_with("steady")).count(),
        1,
        "{:?}",
        r.seen
    );
    within("shutdown", host.shutdown()).await;
}
