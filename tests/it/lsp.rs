//! `xmacro lsp` driven as an editor drives it: the binary spawned, a small
//! LSP client on its stdin and stdout (`common::lsp`). Each test checks
//! what an editor would show: the capabilities, diagnostics at their
//! ranges (and gone once fixed), completions, hover, go to definition,
//! shutdown and exit, and that bad input is answered, never fatal. Tests
//! that need Cisco's descriptions read the public schema through
//! [`crate::common::cisco_schema_file`]; the rest use the built-in
//! model's paths.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::common::lsp::{Client, labels, uri};
use crate::common::rig::TempDir;

/// A project and a server started in it, initialized.
fn started(tag: &str, args: &[&str]) -> (TempDir, Client) {
    let dir = TempDir::new(tag);
    let mut c = Client::start(&dir.0, args);
    c.initialize(&dir.0);
    (dir, c)
}

fn range(d: &Value) -> (u64, u64, u64, u64) {
    let r = &d["range"];
    (
        r["start"]["line"].as_u64().unwrap(),
        r["start"]["character"].as_u64().unwrap(),
        r["end"]["line"].as_u64().unwrap(),
        r["end"]["character"].as_u64().unwrap(),
    )
}

#[test]
fn the_server_says_what_it_can_do_and_exits_cleanly_after_shutdown() {
    let dir = TempDir::new("lsp-init");
    let mut c = Client::start(&dir.0, &[]);
    let result = c.initialize(&dir.0);
    let caps = &result["capabilities"];
    assert_eq!(result["serverInfo"]["name"], "xmacro", "{result}");
    assert_eq!(caps["textDocumentSync"]["change"], 1, "full sync: {caps}");
    assert_eq!(caps["textDocumentSync"]["openClose"], true, "{caps}");
    assert_eq!(caps["hoverProvider"], true, "{caps}");
    assert_eq!(caps["definitionProvider"], true, "{caps}");
    assert_eq!(caps["positionEncoding"], "utf-16", "{caps}");
    let triggers = caps["completionProvider"]["triggerCharacters"].to_string();
    for t in [".", "\\\"", " "] {
        assert!(triggers.contains(&format!("\"{t}\"")), "{t} in {triggers}");
    }
    let status = c.shutdown_and_exit();
    assert_eq!(status.code(), Some(0), "exit after shutdown is a success");
}

#[test]
fn exit_without_shutdown_is_an_error_exit() {
    let (_dir, mut c) = started("lsp-exit", &[]);
    c.notify("exit", Value::Null);
    assert_eq!(c.wait().code(), Some(1));
}

#[test]
fn diagnostics_mark_each_problem_at_its_range_and_clear_when_fixed() {
    let (dir, mut c) = started("lsp-diag", &[]);
    let file = uri(&dir.scripts().join("room.rhai"));
    // A syntax error: the `;` where a value belongs.
    c.open(&file, "let a = 1;\nlet b = ;\n");
    let d = c.diagnostics(&file, 1);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["severity"], 1, "an error: {d:?}");
    assert_eq!(range(&d[0]), (1, 8, 1, 9), "{d:?}");
    // A misspelt path (after a non-ASCII string: ranges count UTF-16
    // units), and a value outside the parameter's value space.
    c.change(
        &file,
        2,
        "let s = \"😀\"; let v = xapi.Status.Audio.Volme.get();\nxapi.Command.Audio.Volume.Set(#{ Level: 101 });\n",
    );
    let d = c.diagnostics(&file, 2);
    assert_eq!(d.len(), 2, "{d:?}");
    let path = d
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("Volme"))
        .unwrap();
    assert!(
        path["message"]
            .as_str()
            .unwrap()
            .contains("did you mean \"Volume\""),
        "{path}"
    );
    // `let s = "😀"; let v = xapi.Status.Audio.` is 39 characters, the
    // emoji two UTF-16 units: Volme starts at unit 40.
    assert_eq!(range(path), (0, 40, 0, 45), "{path}");
    let value = d
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("101"))
        .unwrap();
    assert!(
        value["message"]
            .as_str()
            .unwrap()
            .contains("101 is outside 0..100"),
        "{value}"
    );
    assert_eq!(range(value), (1, 40, 1, 43), "{value}");
    // A missing required parameter marks the map.
    c.change(
        &file,
        3,
        "xapi.Command.Audio.Volume.Set(#{ Device: \"Internal\" });\n",
    );
    let d = c.diagnostics(&file, 3);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .contains("missing required parameter(s) Level"),
        "{d:?}"
    );
    assert_eq!(range(&d[0]), (0, 30, 0, 32), "{d:?}");
    // Fixed: the list is empty.
    c.change(
        &file,
        4,
        "let s = \"😀\"; let v = xapi.Status.Audio.Volume.get();\nxapi.Command.Audio.Volume.Set(#{ Level: 100 });\n",
    );
    assert_eq!(c.diagnostics(&file, 4), Vec::<Value>::new());
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": file}}),
    );
    let cleared = c.wait_for("cleared diagnostics on close", |m| {
        m["method"] == "textDocument/publishDiagnostics" && m["params"]["version"].is_null()
    });
    assert_eq!(cleared["params"]["diagnostics"], json!([]));
    assert_eq!(c.shutdown_and_exit().code(), Some(0));
}

#[test]
fn a_burst_of_changes_is_checked_once_and_no_stale_result_is_shown() {
    let (dir, mut c) = started("lsp-burst", &[]);
    let file = uri(&dir.scripts().join("room.rhai"));
    c.open(&file, "let a = 1;\n");
    assert!(c.diagnostics(&file, 1).is_empty());
    // Three versions in one write: well inside the debounce.
    let mut burst = Vec::new();
    for (version, text) in [
        (2, "let b = ;"),
        (3, "xapi.Status.Nope.get();"),
        (4, "xapi.Status.Audio.Volme.get();"),
    ] {
        let m = json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": file, "version": version}, "contentChanges": [{"text": text}]}});
        let m = m.to_string();
        burst.extend(format!("Content-Length: {}\r\n\r\n{m}", m.len()).into_bytes());
    }
    c.raw(&burst);
    let d = c.diagnostics(&file, 4);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0]["message"].as_str().unwrap().contains("Volme"), "{d:?}");
    // The server answers requests in order, so anything published before
    // this answer is in the stash: no result of versions 2 or 3.
    c.request("shutdown", Value::Null);
    c.notify("exit", Value::Null);
    assert_eq!(c.wait().code(), Some(0));
    let stale = c.stashed(|m| {
        m["method"] == "textDocument/publishDiagnostics"
            && (m["params"]["version"] == 2 || m["params"]["version"] == 3)
    });
    assert_eq!(stale, 0, "a stale version's findings were published");
}

#[test]
fn completion_offers_path_children_string_path_words_and_command_arguments() {
    let (dir, mut c) = started("lsp-complete", &[]);
    let file = uri(&dir.scripts().join("room.rhai"));
    let text = "let v = xapi.Status.Audio.\n\
                let w = xapi.get(\"Status Audio Vol\n\
                xapi.Command.Audio.Volume.Set(#{  });\n\
                xapi.command(\"Audio Volume Set\", #{ Level: 3, Device:  });\n\
                xapi.\n";
    c.open(&file, text);
    // After `xapi.Status.Audio.`: its children, and the methods of a path.
    let after_dot = labels(&c.at("textDocument/completion", &file, 0, 26));
    for want in ["Volume", "VolumeMute", "get", "on"] {
        assert!(
            after_dot.contains(&want.to_string()),
            "{want} in {after_dot:?}"
        );
    }
    // Inside a string path: the next word.
    let in_string = c.at("textDocument/completion", &file, 1, 34);
    assert!(
        labels(&in_string).contains(&"Volume".to_string()),
        "{in_string}"
    );
    let volume = in_string["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "Volume")
        .unwrap();
    assert_eq!(
        volume["textEdit"]["range"],
        json!({"start": {"line": 1, "character": 31}, "end": {"line": 1, "character": 34}}),
        "it replaces the word typed so far"
    );
    // Inside a command's argument map: its parameters, required first.
    let keys = c.at("textDocument/completion", &file, 2, 33);
    let mut items = keys["items"].as_array().unwrap().clone();
    items.sort_by_key(|i| i["sortText"].as_str().unwrap_or("").to_string());
    let names: Vec<&str> = items.iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(names, ["Level", "Device"], "{keys}");
    assert_eq!(items[0]["textEdit"]["newText"], "Level: ");
    // After `Device: `: the values of its value space, quoted.
    let values = c.at("textDocument/completion", &file, 3, 54);
    let got = labels(&values);
    assert!(got.contains(&"HeadsetUSB".to_string()), "{values}");
    let usb = values["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "HeadsetUSB")
        .unwrap();
    assert_eq!(usb["textEdit"]["newText"], "\"HeadsetUSB\"");
    // After `xapi.`: the roots and the API's methods.
    let roots = labels(&c.at("textDocument/completion", &file, 4, 5));
    for want in [
        "Status", "Config", "Command", "Event", "get", "command", "on",
    ] {
        assert!(roots.contains(&want.to_string()), "{want} in {roots:?}");
    }
    assert_eq!(c.shutdown_and_exit().code(), Some(0));
}

#[test]
fn completion_of_names_gives_the_standard_library_with_signatures() {
    let (dir, mut c) = started("lsp-names", &[]);
    let file = uri(&dir.scripts().join("room.rhai"));
    c.open(&file, "fn helper() {}\nset_t\nstore.\n");
    let names = c.at("textDocument/completion", &file, 1, 5);
    let timeout = names["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "set_timeout")
        .unwrap();
    assert_eq!(
        timeout["detail"], "set_timeout(f, ms) -> handle",
        "{timeout}"
    );
    assert!(
        labels(&names).contains(&"helper".to_string()),
        "the file's own fn"
    );
    let store = labels(&c.at("textDocument/completion", &file, 2, 6));
    assert_eq!(store, ["get", "set", "remove", "keys"]);
}

#[test]
fn completion_after_codec_settings_offers_the_keys_the_script_s_codecs_have() {
    let dir = TempDir::new("lsp-settings");
    std::fs::write(
        dir.0.join("xmacro.toml"),
        r#"scripts = "scripts"
[defaults]
password_env = "LSP_TEST_UNSET_PASSWORD"
settings = { building = "HQ" }

[[codec]]
name = "oslo"
url = "wss://oslo.example.invalid/ws"
settings = { room_name = "Oslo", capacity = 8 }

[[codec]]
name = "bergen"
url = "wss://bergen.example.invalid/ws"
settings = { room_name = "Bergen", floor = 2 }

[[codec]]
name = "lab"
url = "wss://lab.example.invalid/ws"
settings = { bench = true }

[script.room]
codecs = ["oslo", "bergen"]
"#,
    )
    .unwrap();
    let mut c = Client::start(&dir.0, &[]);
    c.initialize(&dir.0);
    let file = uri(&dir.scripts().join("room.rhai"));
    c.open(&file, "let n = codec.settings.\nlet m = codec.\n");
    let got = c.at("textDocument/completion", &file, 0, 23);
    assert_eq!(
        labels(&got),
        ["building", "capacity", "floor", "room_name"],
        "the keys of oslo and bergen, not lab's: {got}"
    );
    let item = |name: &str| {
        got["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["label"] == name)
            .unwrap()["detail"]
            .clone()
    };
    assert_eq!(
        item("room_name"),
        "= \"Oslo\" (config; set on every codec (2))"
    );
    assert_eq!(item("capacity"), "= 8 (config; set on 1 of 2 codecs)");
    let members = labels(&c.at("textDocument/completion", &file, 1, 14));
    assert!(members.contains(&"settings".to_string()), "{members:?}");
}

#[test]
fn hover_on_a_status_path_shows_the_schema_s_description() {
    let Some(schema) = crate::common::cisco_schema_file() else {
        return;
    };
    let schema = schema.to_str().unwrap();
    let (dir, mut c) = started("lsp-hover", &["--schema", schema, "--product", "barents"]);
    let file = uri(&dir.scripts().join("room.rhai"));
    c.open(
        &file,
        "let v = xapi.Status.Audio.Volume.get();\nxapi.command(\"Audio Volume Set\", #{ Level: 3 });\nset_timeout(|| (), 10);\n",
    );
    let h = c.at("textDocument/hover", &file, 0, 28);
    let text = h["contents"]["value"].as_str().unwrap();
    assert!(text.contains("**xStatus Audio Volume**"), "{text}");
    assert!(
        text.contains("Shows the volume level (dB) of the loudspeaker output."),
        "{text}"
    );
    assert_eq!(
        h["range"],
        json!({"start": {"line": 0, "character": 26}, "end": {"line": 0, "character": 32}})
    );
    // A command in a string path: its parameters.
    let h = c.at("textDocument/hover", &file, 1, 28);
    let text = h["contents"]["value"].as_str().unwrap();
    assert!(
        text.contains("`Level` (required): integer 0..100"),
        "{text}"
    );
    // A standard-library function: its documentation.
    let h = c.at("textDocument/hover", &file, 2, 3);
    assert!(
        h["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("Runs `f` once after `ms` milliseconds"),
        "{h}"
    );
    // With Cisco's schema the checks are Cisco's too.
    c.change(&file, 2, "xapi.Status.Audio.Volum.get();\n");
    let d = c.diagnostics(&file, 2);
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean \"Volume\""),
        "{d:?}"
    );
    assert_eq!(c.shutdown_and_exit().code(), Some(0));
}

#[test]
fn an_import_whose_library_fails_is_marked_at_the_import() {
    let (dir, mut c) = started("lsp-import", &[]);
    dir.write("lib/bad.rhai", "fn f() {\n  let = 2;\n}\n");
    let file = uri(&dir.scripts().join("room.rhai"));
    c.open(&file, "let a = 1;\nimport \"lib/bad\" as b;\n");
    let d = c.diagnostics(&file, 1);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(range(&d[0]), (1, 7, 1, 16), "the path of the import: {d:?}");
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("lib/bad.rhai:2:"),
        "{d:?}"
    );
    c.change(&file, 2, "import \"lib/missing\" as m;\n");
    let d = c.diagnostics(&file, 2);
    assert_eq!(range(&d[0]), (0, 7, 0, 20), "{d:?}");
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .contains("lib/missing.rhai"),
        "{d:?}"
    );
}

#[test]
fn go_to_definition_leads_from_an_import_to_the_library_and_its_functions() {
    let (dir, mut c) = started("lsp-definition", &[]);
    dir.write("lib/util.rhai", "// helpers\n\nfn double(x) { x * 2 }\n");
    let file = uri(&dir.scripts().join("room.rhai"));
    c.open(
        &file,
        "import \"lib/util\" as u;\nlet y = u::double(21);\nfn mine() {}\nmine();\n",
    );
    let lib = uri(&dir.scripts().join("lib/util.rhai"));
    let d = c.at("textDocument/definition", &file, 0, 10);
    assert_eq!(d["uri"], lib, "{d}");
    let d = c.at("textDocument/definition", &file, 1, 12);
    assert_eq!(d["uri"], lib, "{d}");
    assert_eq!(
        d["range"]["start"],
        json!({"line": 2, "character": 3}),
        "{d}"
    );
    let d = c.at("textDocument/definition", &file, 3, 1);
    assert_eq!(d["uri"], file);
    assert_eq!(
        d["range"]["start"],
        json!({"line": 2, "character": 3}),
        "{d}"
    );
    assert_eq!(c.shutdown_and_exit().code(), Some(0));
}

#[test]
fn malformed_messages_and_unknown_methods_are_answered_and_the_session_goes_on() {
    let dir = TempDir::new("lsp-robust");
    let mut c = Client::start(&dir.0, &[]);
    let early = c.request("textDocument/hover", json!({}));
    assert_eq!(early["error"]["code"], -32002, "before initialize: {early}");
    c.initialize(&dir.0);
    c.raw(b"Content-Length: 9\r\n\r\n{not json");
    let e = c.wait_for("a parse error", |m| m["error"]["code"] == -32700);
    assert_eq!(e["id"], Value::Null, "{e}");
    c.send(&json!({"jsonrpc": "2.0", "id": 77, "params": {}}));
    let e = c.wait_for("an invalid request", |m| m["id"] == 77);
    assert_eq!(e["error"]["code"], -32600, "{e}");
    c.raw(b"this is no header\r\n\r\n");
    let e = c.wait_for("a broken header reported", |m| {
        m["error"]["message"]
            .as_str()
            .is_some_and(|s| s.contains("header"))
    });
    assert_eq!(e["error"]["code"], -32700);
    let e = c.request("workspace/symbol", json!({"query": "x"}));
    assert_eq!(e["error"]["code"], -32601, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("workspace/symbol")
    );
    let e = c.request("textDocument/hover", json!({"textDocument": 3}));
    assert_eq!(e["error"]["code"], -32602, "{e}");
    // Still serving.
    let file = uri(&dir.scripts().join("a.rhai"));
    c.open(&file, "xapi.Status.Audio.Volme.get();");
    assert_eq!(c.diagnostics(&file, 1).len(), 1);
    assert_eq!(c.shutdown_and_exit().code(), Some(0));
}

#[test]
fn a_file_outside_the_scripts_folder_is_checked_and_says_where_it_is() {
    let (dir, mut c) = started("lsp-outside", &[]);
    std::fs::create_dir_all(dir.0.join("elsewhere")).unwrap();
    let file = uri(&dir.0.join("elsewhere/loose.rhai"));
    c.open(&file, "xapi.Status.Audio.Volme.get();\n");
    let d = c.diagnostics(&file, 1);
    let note = d
        .iter()
        .find(|d| d["severity"] == 3)
        .expect("an information note");
    assert!(
        note["message"]
            .as_str()
            .unwrap()
            .contains("outside the scripts folder"),
        "{note}"
    );
    assert!(
        d.iter()
            .any(|d| d["message"].as_str().unwrap().contains("Volme")),
        "{d:?}"
    );
    // An editor's unsaved buffer has no file at all.
    c.open("untitled:Untitled-1", "let a = ;");
    let d = c.diagnostics("untitled:Untitled-1", 1);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(range(&d[0]), (0, 8, 0, 9));
    assert_eq!(c.shutdown_and_exit().code(), Some(0));
}

#[test]
fn a_schema_that_fails_to_load_is_reported_and_the_built_in_model_is_used() {
    let dir = TempDir::new("lsp-badschema");
    std::fs::write(dir.0.join("broken.json"), "{ nope").unwrap();
    std::fs::write(dir.0.join("xmacro.toml"), "schema = \"broken.json\"\n").unwrap();
    let mut c = Client::start(&dir.0, &[]);
    c.initialize(&dir.0);
    let shown = c.wait_for("a message about the schema", |m| {
        m["method"] == "window/showMessage"
    });
    let text = shown["params"]["message"].as_str().unwrap();
    assert!(
        text.contains("broken.json") && text.contains("not JSON"),
        "{text}"
    );
    assert!(text.contains("built-in model"), "{text}");
    assert_eq!(shown["params"]["type"], 1, "an error");
    let file = uri(&dir.scripts().join("a.rhai"));
    c.open(&file, "xapi.Status.Audio.Volme.get();");
    assert_eq!(
        c.diagnostics(&file, 1).len(),
        1,
        "checked against the built-in model"
    );
    assert_eq!(c.shutdown_and_exit().code(), Some(0));
}

/// Neovim's own LSP client (`vim.lsp`), headless, driven by
/// tests/nvim/lsp.lua: the same checks through a real editor. Runs where
/// `nvim` (0.7 or later) is installed, as `.ci/run` installs it.
#[test]
fn neovim_s_lsp_client_shows_diagnostics_completion_hover_and_definition() {
    if std::process::Command::new("nvim")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: nvim is not installed (.ci/run installs it)");
        return;
    }
    let dir = TempDir::new("lsp-nvim");
    dir.write("lib/util.rhai", "fn double(x) { x * 2 }\n");
    std::fs::write(
        dir.scripts().join("room.rhai"),
        "let v = xapi.Status.Audio.Volme.get();\nimport \"lib/util\" as u;\nxapi.Command.Audio.Volume.Set(#{ Level: 101 });\n",
    )
    .unwrap();
    let lua = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/nvim/lsp.lua");
    let mut child = std::process::Command::new("nvim")
        .args(["--headless", "-u", "NONE", "-i", "NONE", "-n", "-c"])
        .arg(format!("luafile {}", lua.display()))
        .env("XMACRO_BIN", env!("CARGO_BIN_EXE_xmacro"))
        .env("PROJECT", &dir.0)
        .current_dir(&dir.0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("nvim did not finish");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let said = |prefix: &str| -> Vec<&str> {
        text.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .collect()
    };
    let context = format!(
        "stdout:\n{text}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diagnostics = said("diagnostic ");
    assert_eq!(diagnostics.len(), 2, "{context}");
    assert!(
        diagnostics
            .iter()
            .any(|d| d.starts_with("0:26-0:31 ") && d.contains("did you mean \"Volume\"")),
        "{context}"
    );
    assert!(
        diagnostics
            .iter()
            .any(|d| d.starts_with("2:40-2:43 ") && d.contains("101 is outside 0..100")),
        "{context}"
    );
    let completion = said("completion ");
    assert!(
        completion
            .first()
            .is_some_and(|c| c.split(' ').any(|w| w == "VolumeMute")),
        "{context}"
    );
    assert!(
        said("hover ")
            .first()
            .is_some_and(|h| h.contains("**xStatus Audio**")),
        "{context}"
    );
    let lib = uri(&dir.scripts().join("lib/util.rhai"));
    assert_eq!(said("definition "), [lib.as_str()], "{context}");
    assert_eq!(said("diagnostics after the fix "), ["0"], "{context}");
    assert_eq!(said("stopped "), ["true"], "{context}");
}
