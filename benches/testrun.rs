//! `xmacro test` speed: a file of 50 tests (each a fresh room, a script
//! loaded, a status change, an assertion) against the bundled
//! volume-limit script. Prints the median of 5 runs; the goal is under 5 s.
//!
//! `cargo bench --bench testrun`

use std::path::Path;
use std::time::{Duration, Instant};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("xmacro-bench-testrun-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::copy(
        root.join("scripts/volume-limit.rhai"),
        dir.join("volume-limit.rhai"),
    )
    .unwrap();
    std::fs::copy(root.join("scripts/lib/ui.rhai"), dir.join("lib/ui.rhai")).unwrap();
    let mut tests = String::new();
    for i in 0..50 {
        tests.push_str(&format!(
            "test(\"cap {i}\", || {{\n    let room = sim();\n    room.load(\"volume-limit\", #{{ max: 60 }});\n    room.status(\"Audio Volume\", {});\n    assert_eq(room.get(\"Status Audio Volume\"), 60);\n}});\n",
            61 + i
        ));
    }
    std::fs::write(dir.join("many.test.rhai"), tests).unwrap();
    let opts = xmacro::testrun::TestOptions::new(dir.clone());
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let summary = xmacro::testrun::run(&opts, |_| {}).unwrap();
        times.push(started.elapsed());
        assert_eq!(summary.line(), "50 passed, 0 failed");
    }
    times.sort();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "xmacro test, 50 tests in one file: median {:.2} s (min {:.2} s, max {:.2} s; goal < 5 s)",
        times[2].as_secs_f64(),
        times[0].as_secs_f64(),
        times[4].as_secs_f64()
    );
}
