//! Issue 27, must show 2: per-room settings. `codec.settings` is a
//! codec's `settings` over `[defaults] settings`; a change of one codec's
//! settings restarts the scripts on that codec only; `check --config`
//! names a codec that lacks a setting a script reads.

use crate::common::rig::{self, Reports, TempDir};
use crate::common::within;

const ROOM: &str = r#"report(`${codec.settings.room_name} seats ${codec.settings.capacity} in ${codec.settings.building}`);"#;

fn config_text(oslo: &str, bergen: &str, oslo_name: &str) -> String {
    format!(
        "scripts = \"scripts\"\nstate = \"state\"\n\n[defaults]\npassword_file = \"pw\"\nsettings = {{ capacity = 4, building = \"HQ\" }}\n\n[[codec]]\nname = \"st-oslo\"\nurl = \"{oslo}\"\nsettings = {{ room_name = \"{oslo_name}\", capacity = 8 }}\n\n[[codec]]\nname = \"st-bergen\"\nurl = \"{bergen}\"\nsettings = {{ room_name = \"Bergen\" }}\n"
    )
}

#[tokio::test]
async fn each_codec_reads_its_settings_and_a_change_restarts_only_its_scripts() {
    Box::pin(two_rooms()).await;
}

async fn two_rooms() {
    let (oslo, bergen) = (rig::sim().await, rig::sim().await);
    let (mut ro, mut rb) = (Reports::new(&oslo).await, Reports::new(&bergen).await);
    let dir = TempDir::new("settings");
    let config = dir.0.join("xmacro.toml");
    std::fs::write(dir.0.join("pw"), "").unwrap();
    std::fs::write(&config, config_text(&oslo.url(), &bergen.url(), "Oslo")).unwrap();
    dir.write("room.rhai", ROOM);
    let cfg = xmacro::config::Config::load(&config).unwrap();
    let mut opts = rig::options(&dir, cfg.codecs.clone());
    opts.settings = cfg.settings.clone();
    opts.config = Some(xmacro::host::ConfigSeen::of(&cfg));
    let host = rig::start(opts).await;
    ro.expect("Oslo seats 8 in HQ").await;
    rb.expect("Bergen seats 4 in HQ").await;

    std::fs::write(
        &config,
        config_text(&oslo.url(), &bergen.url(), "Oslo Fjord"),
    )
    .unwrap();
    ro.expect("Oslo Fjord seats 8 in HQ").await;
    rb.idle(&host).await;
    assert_eq!(
        rb.seen,
        ["Bergen seats 4 in HQ"],
        "bergen's script restarted"
    );
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn check_config_names_the_codec_that_lacks_a_setting_a_script_reads() {
    let dir = TempDir::new("settings-check");
    let config = dir.0.join("xmacro.toml");
    std::fs::write(dir.0.join("pw"), "").unwrap();
    let text = config_text("ws://127.0.0.1:1/ws", "ws://127.0.0.1:2/ws", "Oslo")
        .replace("settings = { room_name = \"Bergen\" }\n", "")
        + "\n[script.room]\ncodecs = [\"st-oslo\", \"st-bergen\"]\n";
    std::fs::write(&config, text).unwrap();
    dir.write("room.rhai", ROOM);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output();
    let out = within("xmacro check", out).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("st-bergen"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("room.rhai:2:")
            && line.contains("\"room_name\"")
            && line.contains("script room"),
        "{line}"
    );
    assert!(!stdout.contains("\"st-oslo\""), "{stdout}");
}
