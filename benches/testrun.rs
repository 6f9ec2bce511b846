//! `xmacro test` speed: a file of 50 tests (each a fresh room, a script
//! loaded, a status change, an assertion) against the bundled
//! volume-limit script. Prints the median of 5 runs; the goal is under 5 s.
//! Then the virtual clock's pace: one script with a 10 ms interval that
//! makes no codec call, `advance("10m")` (60,000 ticks), as ticks per
//! second of wall time (median of 3).
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
    ticks();
    println!(
        "xmacro test, 50 tests in one file: median {:.2} s (min {:.2} s, max {:.2} s; goal < 5 s)",
        times[2].as_secs_f64(),
        times[0].as_secs_f64(),
        times[4].as_secs_f64()
    );
}

/// Ticks per second of one 10 ms interval under `advance`.
fn ticks() {
    let dir = std::env::temp_dir().join(format!("xmacro-bench-ticks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tick.rhai"),
        "let n = 0;\nset_interval(|| { n += 1; }, 10);\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("tick.test.rhai"),
        "test(\"ten minutes\", || { let room = sim(); room.load(\"tick\"); advance(\"10m\"); });\n",
    )
    .unwrap();
    let opts = xmacro::testrun::TestOptions::new(dir.clone());
    let mut rates: Vec<f64> = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let summary = xmacro::testrun::run(&opts, |_| {}).unwrap();
        assert_eq!(summary.line(), "1 passed, 0 failed");
        rates.push(60_000.0 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "advance(\"10m\") over a 10 ms interval: median {:.0} ticks/s (min {:.0}, max {:.0})",
        rates[1], rates[0], rates[2]
    );
}
