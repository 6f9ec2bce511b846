//! `xmacro lsp` speed: the time from a change to its diagnostics on a
//! 2,000-line script, as an editor sees it (the release binary spawned, a
//! client on stdio, each change a new version with a misspelt path in
//! another place, timed until the diagnostics of that version arrive).
//! Beside it, the floor: the server's debounce plus the check alone, in
//! process (the same `diagnose` the server runs); and how long a
//! completion takes when it is asked for right after a change, while the
//! check runs. Median of 30 rounds, with the built-in model and with
//! Cisco's schema when ../shared has it.
//!
//! `cargo bench --bench lsp` writes its section of BENCHMARKS.md;
//! `cargo bench --bench lsp -- --quick` (5 rounds) only prints.

mod common;

#[path = "../tests/it/common/lsp.rs"]
#[allow(dead_code)]
mod lsp_client;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lsp_client::{Client, uri};
use serde_json::json;

/// Blocks of the script; each is 20 lines.
const BLOCKS: usize = 100;

/// One block: a handler, feedback, an event with a string-style command, a
/// timer, a configuration and a string-path get.
fn block(i: usize) -> String {
    format!(
        "// block {i}\n\
         fn handler_{i}(v) {{\n\
         \x20   if v > {max} {{\n\
         \x20       xapi.Command.Audio.Volume.Set(#{{ Level: {level} }});\n\
         \x20       xapi.Command.UserInterface.Message.Alert.Display(#{{ Text: `Volume ${{v}}`, Duration: 3 }});\n\
         \x20   }}\n\
         \x20   let s = xapi.Status.Standby.State.get();\n\
         \x20   store.set(\"last_{i}\", #{{ volume: v, standby: s }});\n\
         }}\n\
         xapi.Status.Audio.Volume.on(|v| handler_{i}(v));\n\
         xapi.Event.UserInterface.Extensions.Widget.Action.on(|e| {{\n\
         \x20   if e.WidgetId == \"w{i}\" && e.Type == \"clicked\" {{\n\
         \x20       xapi.command(\"Audio Volume Set\", #{{ Level: 50 }});\n\
         \x20   }}\n\
         }});\n\
         let t_{i} = set_timeout(|| print(\"tick {i}\"), {ms});\n\
         xapi.Config.Audio.DefaultVolume.set(50);\n\
         let connected_{i} = xapi.get(\"Status Video Input Connector 1 Connected\");\n\
         let volume_{i} = xapi.Status.Audio.Volume.get();\n\
         print(`block {i}: ${{volume_{i}}} ${{connected_{i}}}`);\n",
        max = 60 + i % 40,
        level = i % 100,
        ms = 1000 + i,
    )
}

/// The script with the standby path of block `typo` misspelt.
fn script(typo: Option<usize>) -> String {
    (0..BLOCKS)
        .map(|i| {
            let b = block(i);
            if Some(i) == typo {
                b.replace("Standby.State", "Standby.Stat")
            } else {
                b
            }
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

struct Row {
    model: String,
    change: Duration,
    worst: Duration,
    floor: Duration,
    check: Duration,
    completion: Duration,
}

fn run(schema: Option<&Path>, rounds: usize) -> Row {
    let dir = std::env::temp_dir().join(format!(
        "xmacro-bench-lsp-{}-{}",
        std::process::id(),
        schema.is_some()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    let file = dir.join("scripts/big.rhai");
    let text = script(None);
    assert_eq!(text.lines().count(), BLOCKS * 20);
    std::fs::write(&file, &text).unwrap();
    let mut args: Vec<String> = Vec::new();
    if let Some(s) = schema {
        args.extend([
            "--schema".into(),
            s.display().to_string(),
            "--product".into(),
            "barents".into(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = Client::start(&dir, &args);
    c.initialize(&dir);
    let u = uri(&file);
    c.open(&u, &text);
    let first = c.diagnostics(&u, 1);
    assert!(first.is_empty(), "the script is clean: {first:?}");

    // The server's view: change to diagnostics.
    let mut times = Vec::new();
    let mut completions = Vec::new();
    for round in 0..rounds {
        let version = round as i64 + 2;
        let typo = (round * 37) % BLOCKS;
        let edited = script(Some(typo));
        let started = Instant::now();
        c.change(&u, version, &edited);
        // Asked at once, while the change waits for its check.
        let line = (BLOCKS * 20 - 2) as u32;
        let asked = Instant::now();
        let answer = c.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": u}, "position": {"line": line, "character": 33}}),
        );
        completions.push(asked.elapsed());
        assert!(
            answer["result"]["items"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "{answer}"
        );
        let d = c.diagnostics(&u, version);
        times.push(started.elapsed());
        assert_eq!(d.len(), 1, "one misspelt path: {d:?}");
        assert_eq!(
            d[0]["range"]["start"]["line"],
            (typo * 20 + 6) as i64,
            "{d:?}"
        );
    }
    assert_eq!(c.shutdown_and_exit().code(), Some(0));

    // The floor: the same check in process.
    let options = xmacro::lsp::Options {
        schema: schema.map(Path::to_path_buf),
        product: schema.map(|_| "barents".to_string()),
        config: None,
    };
    let (ws, _) = xmacro::lsp::workspace::Workspace::new(&options, dir.clone());
    let place = ws.place(&u.parse().unwrap());
    let mut engines = HashMap::new();
    let model = ws.model();
    let mut checks = Vec::new();
    for round in 0..rounds {
        let edited = script(Some((round * 37) % BLOCKS));
        let started = Instant::now();
        let d = xmacro::lsp::diagnostics::diagnose(&ws, &place, &edited, &mut engines);
        checks.push(started.elapsed());
        assert_eq!(d.len(), 1);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let check = median(checks);
    Row {
        model: if schema.is_some() {
            format!(
                "Cisco's schema ({})",
                model.name.rsplit('/').next().unwrap_or("")
            )
        } else {
            "the built-in model".into()
        },
        worst: *times.iter().max().unwrap(),
        change: median(times),
        floor: xmacro::lsp::diagnostics::DEBOUNCE + check,
        check,
        completion: median(completions),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 5 } else { 30 };
    let started = Instant::now();
    // Cisco's schema, when XMACRO_SCHEMA names it (as the tests find it).
    let cisco = std::env::var_os("XMACRO_SCHEMA").map(PathBuf::from);
    let mut rows = vec![run(None, rounds)];
    match cisco.filter(|f| f.is_file()) {
        Some(cisco) => rows.push(run(Some(&cisco), rounds)),
        None => {
            eprintln!("no row with Cisco's schema: set XMACRO_SCHEMA=/path/to/roomos-schema.json")
        }
    }
    let mut table = String::from(
        "| measure | xmacro lsp | floor | ratio | goal |\n| --- | --- | --- | ---: | --- |\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "| change to diagnostics, 2,000-line script, {} (median of {rounds}; slowest) | {} ({}) | debounce {} + check in process {} = {} | {:.2}x | well under 1 s |\n",
            r.model,
            ms(r.change),
            ms(r.worst),
            ms(xmacro::lsp::diagnostics::DEBOUNCE),
            ms(r.check),
            ms(r.floor),
            r.change.as_secs_f64() / r.floor.as_secs_f64(),
        ));
        table.push_str(&format!(
            "| completion asked right after a change, while it is checked, {} (median) | {} | check in process: {} | {:.2}x | never waits for the check |\n",
            r.model,
            ms(r.completion),
            ms(r.check),
            r.completion.as_secs_f64() / r.check.as_secs_f64(),
        ));
    }
    print!("{table}");
    println!(
        "The whole run took {:.0} s.",
        started.elapsed().as_secs_f64()
    );
    if !quick {
        common::write_section("lsp", "## Editor: `xmacro lsp`", &table);
    }
}
