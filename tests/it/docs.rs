//! Every `rhai` example in docs/scripting.md compiles with the engine
//! scripts run in (the bundled scripts/ directory resolves its imports).

use std::path::Path;

#[test]
fn the_guide_examples_compile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("docs/scripting.md")).unwrap();
    let engine = xmacro::script::engine::build(root.join("scripts"), 1_000_000);
    let mut blocks = 0;
    let mut line = 0;
    let mut current: Option<(usize, String)> = None;
    for text in guide.lines() {
        line += 1;
        match (&mut current, text.trim_end()) {
            (None, "```rhai") => current = Some((line + 1, String::new())),
            (Some((start, code)), "```") => {
                let at = format!("docs/scripting.md (the example from line {start})");
                if let Err(e) = xmacro::script::loader::compile_text(&engine, &at, code) {
                    panic!("the example at {at} does not compile: {}", e.message);
                }
                blocks += 1;
                current = None;
            }
            (Some((_, code)), t) => {
                code.push_str(t);
                code.push('\n');
            }
            _ => {}
        }
    }
    assert!(current.is_none(), "an unterminated ```rhai block");
    assert!(blocks >= 20, "only {blocks} examples found");
}

#[test]
fn the_guide_lists_every_error_code_and_global() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("docs/scripting.md")).unwrap();
    for code in [
        "-32700", "-32600", "-32601", "-32602", "-32603", "-32099", "| 1 |", "-31999", "-31998",
        "-31997", "-32000", "-32001", "-32002", "-32003",
    ] {
        assert!(
            guide.contains(code),
            "error code {code} missing from the guide"
        );
    }
    for name in [
        "`xapi`",
        "`codec`",
        "`codecs`",
        "`args`",
        "`store`",
        "set_timeout",
        "set_interval",
        "daily",
        "`print(x)`",
        "on_unload",
        "on_connection",
    ] {
        assert!(guide.contains(name), "{name} missing from the guide");
    }
}

#[test]
fn the_reliability_table_names_real_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/reliability.md")).unwrap();
    let mut named = 0;
    for piece in doc.split('`') {
        let Some((file, test)) = piece.split_once("::") else {
            continue;
        };
        if !(file.starts_with("tests/") || file.starts_with("src/")) || !file.ends_with(".rs") {
            continue;
        }
        let source = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("docs/reliability.md names {file}: {e}"));
        assert!(
            source.contains(&format!("fn {test}(")),
            "docs/reliability.md names {file}::{test}, which does not exist"
        );
        named += 1;
    }
    assert!(named >= 30, "only {named} tests named");
}
