//! What the status server costs a 1000-codec host: the same `xmacro run`
//! (1000 codecs on one `xmacro sim` process, two scripts each) started
//! with and without `--http`, alternately, five times each; once every
//! instance runs (and, with the server, after one `/api/status` and one
//! `/metrics`), resident memory and idle CPU over 10 s are read from /proc.
//! Prints a markdown table; BENCHMARKS.md quotes it.
//!
//! `cargo bench --bench ops` (`-- --quick`: 200 codecs, one run each).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Sample {
    rss_kib: u64,
    cpu_pct: f64,
}

fn write_fleet(dir: &Path, url: &str, fleet: usize) {
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::write(
        dir.join("scripts/guard.rhai"),
        "xapi.Status.Audio.Volume.on(|v| if v > 90 { xapi.Command.Audio.Volume.Set(#{ Level: 90 }); });\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("scripts/buttons.rhai"),
        "xapi.Event.UserInterface.Extensions.Widget.Action.on(|e| print(e.WidgetId));\n",
    )
    .unwrap();
    let mut cfg = String::from(
        "scripts = \"scripts\"\nstate = \"state\"\n[defaults]\npassword_env = \"BENCH_PW\"\n",
    );
    for i in 0..fleet {
        cfg.push_str(&format!("[[codec]]\nname = \"c{i:04}\"\nurl = \"{url}\"\n"));
    }
    std::fs::write(dir.join("xmacro.toml"), cfg).unwrap();
}

struct Run {
    child: Child,
    base: Option<String>,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the host and returns once every instance has started.
fn start(dir: &Path, fleet: usize, http: bool) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xmacro"));
    cmd.args(["run", "--config"])
        .arg(dir.join("xmacro.toml"))
        .env("BENCH_PW", "")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if http {
        cmd.args(["--http", "127.0.0.1:0"]);
    }
    let mut child = cmd.spawn().unwrap();
    let base = if http {
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Some(
            line.trim()
                .strip_prefix("status page on ")
                .unwrap()
                .trim_end_matches('/')
                .to_string(),
        )
    } else {
        None
    };
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut started = 0;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.ends_with(": started") {
                started += 1;
                if started == 2 * fleet {
                    let _ = tx.send(());
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("every instance starts");
    Run { child, base }
}

struct Measured {
    idle: Sample,
    /// With the server: resident memory before the first request, and
    /// after three requests and a settle.
    served: Option<(u64, u64)>,
}

fn measure(dir: &Path, fleet: usize, http: bool, window: Duration) -> Measured {
    let run = start(dir, fleet, http);
    let pid = run.child.id();
    std::thread::sleep(Duration::from_secs(3));
    let mut served = None;
    if let Some(base) = &run.base {
        let before = common::peers::process_rss_kib(pid);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for path in ["/api/status", "/metrics", "/"] {
                let url = format!("{base}{path}");
                let a = xmacro::ops::http::get(&url, None, Duration::from_secs(30))
                    .await
                    .unwrap();
                assert_eq!(a.status, 200, "{path}");
            }
        });
        std::thread::sleep(Duration::from_secs(3));
        served = Some((before, common::peers::process_rss_kib(pid)));
    }
    let rss_kib = common::peers::process_rss_kib(pid);
    let (cpu0, wall0) = (common::peers::process_cpu_ticks(pid), Instant::now());
    std::thread::sleep(window);
    let cpu_pct = (common::peers::process_cpu_ticks(pid) - cpu0).as_secs_f64()
        / wall0.elapsed().as_secs_f64()
        * 100.0;
    Measured {
        idle: Sample { rss_kib, cpu_pct },
        served,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (fleet, runs, window) = if quick {
        (200, 1, Duration::from_secs(3))
    } else {
        (1000, 5, Duration::from_secs(10))
    };
    let sim = common::start_sim_process();
    let dir = std::env::temp_dir().join(format!("xmacro-bench-ops-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write_fleet(&dir, &sim.url, fleet);
    let (mut without, mut with, mut served) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let a = measure(&dir, fleet, false, window);
        let b = measure(&dir, fleet, true, window);
        let (before, after) = b.served.unwrap();
        eprintln!(
            "run {}: without {} KiB {:.2} %; with {} KiB {:.2} % ({before} KiB before the first request, {after} KiB after three)",
            i + 1,
            a.idle.rss_kib,
            a.idle.cpu_pct,
            b.idle.rss_kib,
            b.idle.cpu_pct
        );
        without.push(a.idle);
        with.push(b.idle);
        served.push(after as f64 - before as f64);
    }
    let rss = |s: &[Sample]| median(s.iter().map(|x| x.rss_kib as f64).collect()) / 1024.0;
    let cpu = |s: &[Sample]| median(s.iter().map(|x| x.cpu_pct).collect());
    let all = |s: &[Sample]| {
        s.iter()
            .map(|x| format!("{} {:.2}", x.rss_kib, x.cpu_pct))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("| {fleet}-codec host, 2 scripts each | without --http | with --http | added |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| resident memory, median of {runs} runs (separate processes) | {:.1} MiB | {:.1} MiB | {:+.2} MiB |",
        rss(&without),
        rss(&with),
        rss(&with) - rss(&without)
    );
    println!(
        "| resident memory grown by serving /api/status, /metrics and / once (same process), median | | | {:+.2} MiB |",
        median(served.clone()) / 1024.0
    );
    println!(
        "| idle CPU over {} s, median of {runs} runs | {:.2} % | {:.2} % | {:+.2} points |",
        window.as_secs(),
        cpu(&without),
        cpu(&with),
        cpu(&with) - cpu(&without)
    );
    println!(
        "\nevery run (KiB, % of a core): without [{}], with [{}]; grown by serving (KiB): {served:?}",
        all(&without),
        all(&with)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
