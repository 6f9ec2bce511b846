//! Issue 27, must show 1: UI extension panels saved where they belong,
//! owned, kept in line, and only what is owned removed, against three
//! simulators with tags and a `[panel.NAME]` scope.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use xmacro::config::panels::PanelConfig;

use crate::common::rig::{self, TempDir, wait_log};
use crate::common::{Raw, Sim, within};

/// A panel file as the UI Extensions Editor exports it.
pub fn panel_xml(id: &str, name: &str, widget: &str) -> String {
    format!(
        "<Extensions>\n  <Version>1.11</Version>\n  <Panel>\n    <Order>1</Order>\n    <PanelId>{id}</PanelId>\n    <Type>Statusbar</Type>\n    <Icon>Lightbulb</Icon>\n    <Name>{name}</Name>\n    <Page>\n      <Name>{name}</Name>\n      <Row>\n        <Name>Row</Name>\n        <Widget>\n          <WidgetId>{widget}</WidgetId>\n          <Name>Go</Name>\n          <Type>Button</Type>\n          <Options>size=2</Options>\n        </Widget>\n      </Row>\n    </Page>\n  </Panel>\n</Extensions>\n"
    )
}

/// What a simulator says it has and was sent.
pub async fn inspect(sim: &Sim) -> Value {
    Raw::connect(&sim.url())
        .await
        .ok("xSim/Inspect", json!({}))
        .await
}

/// The panels a simulator holds: PanelId to body.
pub async fn panels_on(sim: &Sim) -> BTreeMap<String, String> {
    serde_json::from_value(inspect(sim).await["Panels"].clone()).unwrap()
}

/// How many `UserInterface Extensions Panel <what>` commands a simulator got.
pub async fn count(sim: &Sim, what: &str) -> usize {
    let name = format!("UserInterface Extensions Panel {what}");
    inspect(sim).await["Commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["Command"] == name.as_str())
        .count()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

#[tokio::test]
async fn panels_follow_their_files_to_the_codecs_in_scope_and_only_owned_ones_are_removed() {
    // One step at a time, each on the heap: the story as one future is
    // deeper than a test thread's stack in a debug build.
    let mut r = Box::pin(Rooms::start()).await;
    Box::pin(r.saved_on_connect_where_in_scope()).await;
    Box::pin(r.an_edit_reaches_every_codec_in_scope()).await;
    Box::pin(r.a_deleted_file_is_removed_where_it_was_saved()).await;
    Box::pin(r.a_reconnect_with_nothing_changed_saves_nothing()).await;
    Box::pin(r.a_factory_fresh_codec_gets_its_panels_back()).await;
    Box::pin(r.a_malformed_file_is_refused_by_name_and_the_rest_stays()).await;
    Box::pin(r.the_panel_someone_else_saved_was_never_touched()).await;
    r.host.shutdown().await;
}

/// Three rooms: two tagged huddle (a, b), one board room (c); the panels
/// of huddle.xml go to tag:huddle, those of everywhere.xml everywhere.
struct Rooms {
    a: Sim,
    b: Sim,
    c: Sim,
    dir: TempDir,
    panels: std::path::PathBuf,
    host: xmacro::host::HostHandle,
    lights: String,
    huddle: String,
    theirs: String,
}

impl Rooms {
    async fn start() -> Rooms {
        let (a, b, c) = (rig::sim().await, rig::sim().await, rig::sim().await);
        let dir = TempDir::new("panels-three");
        let panels = dir.0.join("panels");
        let lights = panel_xml("lights", "Lights", "lights_on");
        let huddle = panel_xml("huddle-call", "Call", "quickdial");
        write(&panels, "everywhere.xml", &lights);
        write(&panels, "huddle.xml", &huddle);
        // Someone saved a panel of their own on b and c by hand.
        let theirs = panel_xml("theirs", "Theirs", "their_button");
        for s in [&b, &c] {
            Raw::connect(&s.url())
                .await
                .ok(
                    "xCommand/UserInterface/Extensions/Panel/Save",
                    json!({"PanelId": "theirs", "body": theirs}),
                )
                .await;
        }
        let mut codecs = vec![
            rig::codec("pa-huddle-1", &a),
            rig::codec("pa-huddle-2", &b),
            rig::codec("pa-board", &c),
        ];
        codecs[0].tags = vec!["huddle".into()];
        codecs[1].tags = vec!["huddle".into()];
        let mut opts = rig::options(&dir, codecs);
        opts.panels = Some(panels.clone());
        opts.panel.insert(
            "huddle".into(),
            PanelConfig {
                codecs: Some(vec!["tag:huddle".into()]),
                at: (1, 1),
            },
        );
        let host = rig::start(opts).await;
        within("the panels to be saved", host.idle()).await;
        Rooms {
            a,
            b,
            c,
            dir,
            panels,
            host,
            lights,
            huddle,
            theirs,
        }
    }

    async fn saves(&self) -> (usize, usize, usize) {
        (
            count(&self.a, "Save").await,
            count(&self.b, "Save").await,
            count(&self.c, "Save").await,
        )
    }

    async fn saved_on_connect_where_in_scope(&mut self) {
        for s in [&self.a, &self.b] {
            let p = panels_on(s).await;
            assert_eq!(p.get("lights"), Some(&self.lights), "XML intact");
            assert_eq!(p.get("huddle-call"), Some(&self.huddle));
        }
        let on_c = panels_on(&self.c).await;
        assert_eq!(on_c.get("lights"), Some(&self.lights));
        assert!(!on_c.contains_key("huddle-call"), "out of scope: {on_c:?}");
        assert_eq!(
            self.saves().await,
            (2, 3, 2),
            "b and c count the hand-saved panel too"
        );
        // The status page and /api/status show each codec's panels.
        let handles = self.host.codecs().borrow().clone();
        let status =
            xmacro::ops::snapshot::codec_status("pa-huddle-1", &handles["pa-huddle-1"], "", &[]);
        assert_eq!(status.panels.in_sync, ["huddle-call", "lights"]);
        assert!(status.panels.failing.is_empty());
        assert!(xmacro::telemetry::panels::panels().saves_ok.get() >= 5);
    }

    async fn an_edit_reaches_every_codec_in_scope(&mut self) {
        self.lights = panel_xml("lights", "Lights and blinds", "lights_on");
        write(&self.panels, "everywhere.xml", &self.lights);
        self.host.rescan();
        within("the edit to be saved", self.host.idle()).await;
        for s in [&self.a, &self.b, &self.c] {
            assert_eq!(panels_on(s).await.get("lights"), Some(&self.lights));
        }
        assert_eq!(
            self.saves().await,
            (3, 4, 3),
            "only the edited panel saved again"
        );
    }

    async fn a_deleted_file_is_removed_where_it_was_saved(&mut self) {
        std::fs::remove_file(self.panels.join("huddle.xml")).unwrap();
        self.host.rescan();
        within("the removal", self.host.idle()).await;
        for s in [&self.a, &self.b] {
            assert!(!panels_on(s).await.contains_key("huddle-call"));
            assert_eq!(count(s, "Remove").await, 1);
        }
        assert_eq!(count(&self.c, "Remove").await, 0, "c never had it");
    }

    async fn a_reconnect_with_nothing_changed_saves_nothing(&mut self) {
        let before = self.saves().await;
        let handles = self.host.codecs().borrow().clone();
        let connects = handles["pa-board"].connects();
        // Every session goes, this one too: the answer never comes.
        Raw::connect(&self.c.url())
            .await
            .send_text(r#"{"jsonrpc":"2.0","id":1,"method":"xSim/DropSessions","params":{}}"#)
            .await;
        within("the reconnect", async {
            while handles["pa-board"].connects() == connects {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await;
        within("the sync after the reconnect", self.host.idle()).await;
        assert_eq!(
            self.saves().await,
            before,
            "a reconnect with nothing changed saved something"
        );
    }

    async fn a_factory_fresh_codec_gets_its_panels_back(&mut self) {
        let addr = self.a.addr;
        // The old simulator stops; a new one, with nothing saved, takes its port.
        let placeholder = rig::sim().await;
        drop(std::mem::replace(&mut self.a, placeholder));
        self.a = Sim::start_on(free_again(addr).await, Default::default());
        within("the fresh codec's panels", async {
            while !panels_on(&self.a).await.contains_key("lights") {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
        within("the sync of the fresh codec", self.host.idle()).await;
        assert_eq!(panels_on(&self.a).await.get("lights"), Some(&self.lights));
        assert_eq!(count(&self.a, "Save").await, 1);
    }

    async fn a_malformed_file_is_refused_by_name_and_the_rest_stays(&mut self) {
        write(
            &self.panels,
            "everywhere.xml",
            "<Extensions>\n  <Panel>\n    <PanelId>lights</PanelId>\n  </Pane>\n</Extensions>\n",
        );
        let blinds = panel_xml("blinds", "Blinds", "blinds_up");
        write(&self.panels, "blinds.xml", &blinds);
        self.host.rescan();
        let line = wait_log(&["panel file refused", "everywhere.xml:4:"]).await;
        assert!(line.contains("not well-formed"), "{line}");
        within("the good file to be saved", self.host.idle()).await;
        for s in [&self.a, &self.b, &self.c] {
            let p = panels_on(s).await;
            assert_eq!(
                p.get("lights"),
                Some(&self.lights),
                "the last good version stays"
            );
            assert_eq!(p.get("blinds"), Some(&blinds));
        }
        assert_eq!(count(&self.c, "Remove").await, 0);
        let _ = &self.dir;
    }

    async fn the_panel_someone_else_saved_was_never_touched(&mut self) {
        for s in [&self.b, &self.c] {
            assert_eq!(panels_on(s).await.get("theirs"), Some(&self.theirs));
            let removes = inspect(s).await["Commands"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["Params"]["PanelId"] == "theirs")
                .count();
            assert_eq!(removes, 1, "only the hand save of it");
        }
    }
}

/// A listener on `addr` once the simulator that had it has let it go.
async fn free_again(addr: std::net::SocketAddr) -> tokio::net::TcpListener {
    within("the port to be free again", async {
        loop {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => return l,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    })
    .await
}
