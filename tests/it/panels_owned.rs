//! Issue 27, must show 4: the record of which panels a host saved where
//! survives a host restart (the state directory's database) and follows
//! a codec to another host (PostgreSQL): a panel whose file was deleted
//! meanwhile is still removed, and only where it was saved.

use serde_json::json;

use crate::common::rig::{self, TempDir};
use crate::common::{Raw, within};
use crate::panels::{count, panel_xml, panels_on};
use crate::shard::{Host, fresh_database, host, write_config};

#[tokio::test]
async fn ownership_survives_a_host_restart() {
    Box::pin(restart()).await;
}

async fn restart() {
    let sim = rig::sim().await;
    let dir = TempDir::new("panels-restart");
    let panels = dir.0.join("panels");
    std::fs::create_dir_all(&panels).unwrap();
    let mine = panel_xml("mine", "Mine", "go");
    std::fs::write(panels.join("mine.xml"), &mine).unwrap();
    let theirs = panel_xml("theirs", "Theirs", "their_button");
    Raw::connect(&sim.url())
        .await
        .ok(
            "xCommand/UserInterface/Extensions/Panel/Save",
            json!({"PanelId": "theirs", "body": theirs}),
        )
        .await;
    let opts = || {
        let mut o = rig::options(&dir, vec![rig::codec("po-room", &sim)]);
        o.panels = Some(panels.clone());
        o
    };
    let host = rig::start(opts()).await;
    within("the first save", host.idle()).await;
    assert_eq!(panels_on(&sim).await.get("mine"), Some(&mine));
    host.shutdown().await;

    // Restarted with nothing changed: nothing saved again.
    let host = rig::start(opts()).await;
    within("the sync after a restart", host.idle()).await;
    assert_eq!(count(&sim, "Save").await, 2, "the hand save and ours, once");
    host.shutdown().await;

    // Deleted while no host ran: the next host removes it, and only it.
    std::fs::remove_file(panels.join("mine.xml")).unwrap();
    let host = rig::start(opts()).await;
    within("the removal after a restart", host.idle()).await;
    let now = panels_on(&sim).await;
    assert!(!now.contains_key("mine"), "{now:?}");
    assert_eq!(now.get("theirs"), Some(&theirs));
    assert_eq!(count(&sim, "Remove").await, 1);
    host.shutdown().await;
}

#[tokio::test]
async fn ownership_follows_a_codec_to_another_host_on_postgres() {
    Box::pin(shard_move()).await;
}

async fn shard_move() {
    let Some(db) = fresh_database("panels") else {
        return;
    };
    let (one, two) = (rig::sim().await, rig::sim().await);
    let dir = TempDir::new("panels-shard");
    let panels = dir.0.join("panels");
    std::fs::create_dir_all(&panels).unwrap();
    let mine = panel_xml("mine", "Mine", "go");
    std::fs::write(panels.join("mine.xml"), &mine).unwrap();
    // Two codecs, each on a simulator of its own.
    let config = write_config(&dir, &db, &[], "", "");
    let mut text = std::fs::read_to_string(&config).unwrap();
    for (name, sim) in [("po-one", &one), ("po-two", &two)] {
        text.push_str(&format!(
            "\n[[codec]]\nname = \"{name}\"\nurl = \"{}\"\n",
            sim.url()
        ));
    }
    std::fs::write(&config, text).unwrap();

    // Two shards, each saving the panel on the codec it serves.
    let hosts: Vec<Host> = (0..2)
        .map(|i| Host::spawn(host(&config, Some(&format!("{i}/2")))))
        .collect();
    for sim in [&one, &two] {
        until("the panel to be saved", async || {
            panels_on(sim).await.contains_key("mine")
        })
        .await;
    }
    for h in hosts {
        h.kill().await;
    }
    // The file goes while no host serves either codec; one host takes
    // both over (each codec moved from its shard's host).
    std::fs::remove_file(panels.join("mine.xml")).unwrap();
    let mut solo = Host::spawn(host(&config, Some("0/1")));
    for sim in [&one, &two] {
        until("the panel to be removed by the new host", async || {
            !panels_on(sim).await.contains_key("mine")
        })
        .await;
    }
    solo.expect(&["panel \"mine\" removed"]).await;
    for sim in [&one, &two] {
        assert_eq!(count(sim, "Save").await, 1);
        assert_eq!(count(sim, "Remove").await, 1);
    }
    solo.kill().await;
}

/// Waits until `ok` holds, polling (a host process starting up, on a
/// busy machine, takes longer than the rig's usual wait).
async fn until(what: &str, ok: impl AsyncFn() -> bool) {
    let start = std::time::Instant::now();
    while !ok().await {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(180),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
