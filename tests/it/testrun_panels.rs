//! Issue 27, must show 3: `xmacro test` saves the project's panels (found
//! beside the scripts directory) on each room; `room.panels()` lists them;
//! a click on a widget no panel defines fails naming the widget;
//! `sim(#{ settings: ... })` gives a room its `codec.settings`.

use crate::common::rig::TempDir;
use crate::testrun::{write, xmacro_test};

#[test]
fn xmacro_test_saves_the_projects_panels_and_refuses_a_widget_none_defines() {
    let dir = TempDir::new("testrun-panels");
    std::fs::create_dir_all(dir.0.join("panels")).unwrap();
    std::fs::write(
        dir.0.join("panels/lights.xml"),
        crate::panels::panel_xml("lights", "Lights", "lights_on"),
    )
    .unwrap();
    write(
        &dir,
        "room.rhai",
        "store.set(\"name\", codec.settings.room_name);\nxapi.Event.UserInterface.Extensions.Widget.Action.on(|e| store.set(\"clicked\", e.WidgetId));\n",
    );
    write(
        &dir,
        "room.test.rhai",
        r#"
test("the project's panels are on the room", || {
    let room = sim();
    assert_eq(room.panels(), ["lights"]);
});
test("a defined widget can be clicked", || {
    let room = sim(#{ settings: #{ room_name: "Oslo" } });
    room.load("room");
    room.widget("lights_on", "clicked");
    assert_eq(room.store("room").clicked, "lights_on");
    assert_eq(room.store("room").name, "Oslo");
});
test("a widget no panel defines", || {
    let room = sim();
    room.load("room");
    room.widget("lights_of", "clicked");
});
"#,
    );
    let out = xmacro_test(&dir.scripts(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("ok     room.test.rhai > the project's panels are on the room")
            && stdout.contains("ok     room.test.rhai > a defined widget can be clicked"),
        "{stdout}"
    );
    let failed = stdout
        .split("FAILED room.test.rhai > a widget no panel defines")
        .nth(1)
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        failed.contains("room.widget(\"lights_of\")")
            && failed.contains("defines the widget \"lights_of\"")
            && failed.contains("did you mean \"lights_on\"?"),
        "{stdout}"
    );
}
