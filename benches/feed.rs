//! Feedback bursts and the idle footprint (issue #17, Must show 2 and 3),
//! each next to its floor and to jsxapi 6 in this one run, written to the
//! "Feedback and footprint" section of BENCHMARKS.md.
//!
//!     cargo bench --bench feed            # a few minutes after the build
//!     cargo bench --bench feed -- --quick # smaller counts, a smoke run
//!     cargo bench --bench feed -- --footprint # footprint rows only, printed
//!     cargo bench --bench feed -- --xmacro 10 # only the script's bursts:
//!         rate, events delivered and host CPU per event, per round (for
//!         comparing two builds or profiling with `perf record -p`)
//!     cargo bench --bench feed -- --jsxapi 10 # only jsxapi's bursts, with
//!         Node's CPU per event (the same figures for the other client)
//!
//! Burst: an unpaced burst of events from one `xmacro sim` process to a
//! bare tokio-tungstenite client, to jsxapi 6 (Node, installed under
//! target/ by [`common::peers`]) and to an xmacro script with the default
//! limits (a mailbox of 8192, fed by the connection task), each on its own event
//! path, in alternating order over several rounds; while each burst runs, a
//! flood of `Status Audio Volume` changes reaches jsxapi and the script.
//! Throughput is events delivered over the time from the trigger to the
//! last event's callback; "status lost" counts rounds whose last volume
//! never arrived.
//!
//! Footprint: child processes, each measuring its own resident memory
//! growth, threads and idle CPU: bare connections, an xmacro host with
//! codecs only, and the same host with three scripts per codec.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use xmacro::config::CodecEntry;
use xmacro::host::{self, HostHandle, HostOptions};
use xmacro::xows::CodecConfig;

use common::peers::{Peer, Peers, process_cpu_ticks};
use common::{Ws, connect_admin, start_sim_process};

const REPORT: &str = "fn report(x) { xapi.Command.Message.Send(#{ Text: `${x}` }); }\n";

/// The script under test: counts its events, remembers the last volume.
const XM_SCRIPT: &str = r#"
let n = 0; let last = 0; let vol = ();
xapi.Event.Bench.Xm.on(|e| {
    if e.Done != () { report(`xm ${n} ${last} ${vol}`); n = 0; } else { n += 1; last = now_us(); }
});
xapi.Status.Audio.Volume.on(|v| vol = v);
report("xm ready");
"#;

/// The jsxapi peer: the same, printing a JSON line on `Done`.
const JS_PEER: &str = r#"
'use strict';
const jsxapi = require('jsxapi');
const xapi = jsxapi.connect(process.argv[2], { username: 'admin', password: '' });
// The wall clock read now, as the benchmark reads it for the trigger (an
// origin fixed when Node started goes stale when the clock is corrected).
const now = () => Date.now() * 1000;
let n = 0, last = 0, vol = null;
xapi.on('error', (e) => { console.error('jsxapi: ' + e); process.exit(1); });
xapi.on('ready', () => {
  xapi.Event.Bench.Js.on((e) => {
    if (e.Done !== undefined) { console.log(JSON.stringify({ n, last, vol })); n = 0; }
    else { n += 1; last = now(); }
  });
  xapi.Status.Audio.Volume.on((v) => { vol = v; });
  setTimeout(() => console.log(JSON.stringify({ ready: true })), 500);
});
"#;

struct Row {
    name: String,
    value: String,
    baseline: String,
    jsxapi: String,
    goal: String,
}

/// Threads of this process now.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        return child(&args[i + 1], &args[i + 2], args[i + 3].parse().unwrap());
    }
    let quick = args.iter().any(|a| a == "--quick");
    if args.iter().any(|a| a == "--footprint") {
        // Only the footprint rows, printed and not written to BENCHMARKS.md.
        let sim = start_sim_process();
        for r in footprint_rows(&sim.url, if quick { 200 } else { 1000 }, quick) {
            println!("{}: {} | {} | {}", r.name, r.value, r.baseline, r.goal);
        }
        return;
    }
    let (events, rounds, fleet) = if quick {
        (20_000u64, 2, 200)
    } else {
        (100_000, 10, 1000)
    };
    // The benchmark's own connections run here, apart from the host's
    // runtime, so the host's CPU is the process's less these threads'.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name(DRIVE_THREAD)
        .enable_all()
        .build()
        .unwrap();
    if let Some(i) = args.iter().position(|a| a == "--xmacro") {
        // Only the script's bursts, printed: no peers, no rows.
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(5);
        let sim = start_sim_process();
        return rt.block_on(xmacro_only(&sim, events, n));
    }
    let peers = Peers::install();
    if let Some(i) = args.iter().position(|a| a == "--jsxapi") {
        // Only jsxapi's bursts, printed: no rows.
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(5);
        let sim = start_sim_process();
        return rt.block_on(jsxapi_only(&sim, &peers, events, n));
    }
    let sim = start_sim_process();
    let started = Instant::now();
    let mut rows = rt.block_on(burst_rows(&sim.url, &peers, events, rounds));
    drop(rt);
    rows.extend(footprint_rows(&sim.url, fleet, quick));
    write_section(&rows, quick, started.elapsed());
}

/// Sends `xSim/Burst` of `count` events on `path` and returns when the
/// simulator has queued them all.
async fn trigger(ws: &mut Ws, path: &str, count: u64) {
    let req = json!({"jsonrpc":"2.0","id":1,"method":"xSim/Burst",
        "params":{"Count": count, "Path": path}});
    ws.send(Message::text(req.to_string())).await.unwrap();
}

/// Pipelines `count` volume changes ending at `last`; returns once all are
/// answered.
async fn status_flood(ws: &mut Ws, count: u64, last: u64) {
    for i in 0..count {
        let v = (last + 101 - (count - 1 - i) % 101) % 101;
        let req = json!({"jsonrpc":"2.0","id":100 + i,"method":"xSim/SetStatus",
            "params":{"Path": "Status Audio Volume", "Value": v}});
        ws.feed(Message::text(req.to_string())).await.unwrap();
    }
    ws.flush().await.unwrap();
}

/// Reads answers (and anything else) until `n` answers with an id came.
async fn drain_answers(ws: &mut Ws, mut n: u64) {
    while n > 0 {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("the simulator closed the driving connection")
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        if v.get("id").is_some() {
            n -= 1;
        }
    }
}

struct Burst {
    /// Events per second, trigger to last callback.
    rate: f64,
    /// The client process's CPU per event sent, in microseconds.
    cpu: f64,
    delivered: u64,
    /// The last volume seen equals the last one set.
    status_ok: bool,
}

async fn bare_burst(url: &str, events: u64) -> Burst {
    let mut floor = connect_admin(url).await;
    let sub = r#"{"jsonrpc":"2.0","id":1,"method":"xFeedback/Subscribe","params":{"Query":["Event","Bench","Bare"]}}"#;
    floor.send(Message::text(sub)).await.unwrap();
    let _ = floor.next().await;
    let mut drive = connect_admin(url).await;
    let t = Instant::now();
    trigger(&mut drive, "Event Bench Bare", events).await;
    let mut got = 0;
    while got < events {
        if let Some(Ok(Message::Text(t))) = floor.next().await
            && t.contains("\"Seq\"")
        {
            got += 1;
        }
    }
    Burst {
        rate: events as f64 / t.elapsed().as_secs_f64(),
        cpu: 0.0,
        delivered: got,
        status_ok: true,
    }
}

/// Asks for `Done` on `path` until `ask` yields an answer.
async fn done<T>(drive: &mut Ws, path: &str, mut ask: impl AsyncFnMut() -> Option<T>) -> T {
    let emit = json!({"jsonrpc":"2.0","id":2,"method":"xSim/EmitEvent",
        "params":{"Path": path, "Value": {"Done": 1}}});
    for _ in 0..600 {
        drive.send(Message::text(emit.to_string())).await.unwrap();
        if let Some(v) = ask().await {
            return v;
        }
    }
    panic!("no answer to Done on {path}");
}

/// Starts a burst of `events` on `path` with a flood of volume changes
/// ending at `last_vol` beside it; returns once the simulator has sent all,
/// with the driving connection and the start time (us).
async fn burst_with_flood(url: &str, path: &str, events: u64, last_vol: u64) -> (Ws, u64) {
    let mut drive = connect_admin(url).await;
    let mut flood = connect_admin(url).await;
    let t0 = xmacro::clock::now_us();
    trigger(&mut drive, path, events).await;
    status_flood(&mut flood, 5000, last_vol).await;
    drain_answers(&mut flood, 5000).await;
    drain_answers(&mut drive, 1).await;
    (drive, t0)
}

async fn js_burst(url: &str, js: &mut Peer, events: u64, last_vol: u64) -> Burst {
    let c0 = process_cpu_ticks(js.pid());
    let (mut drive, t0) = burst_with_flood(url, "Event Bench Js", events, last_vol).await;
    let lines = &mut *js;
    let v = done(&mut drive, "Event Bench Js", async || {
        let v = tokio::task::block_in_place(|| lines.json(Duration::from_secs(120)));
        Some(v)
    })
    .await;
    let n = v["n"].as_u64().unwrap_or(0);
    let last = v["last"].as_u64().unwrap_or(t0);
    Burst {
        rate: n as f64 / ((last.saturating_sub(t0)) as f64 / 1e6).max(1e-6),
        cpu: per_event(process_cpu_ticks(js.pid()) - c0, events),
        delivered: n,
        status_ok: v["vol"].as_u64() == Some(last_vol),
    }
}

/// The script's reports arrive as Message Send events on this connection.
async fn next_report(probe: &mut Ws, wait: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let m = tokio::time::timeout_at(deadline, probe.next())
            .await
            .ok()??;
        if let Ok(Message::Text(t)) = m {
            let v: Value = serde_json::from_str(&t).ok()?;
            if let Some(s) = v["params"]["Event"]["Message"]["Send"]["Text"].as_str() {
                return Some(s.to_string());
            }
        }
    }
}

async fn xm_burst(url: &str, probe: &mut Ws, events: u64, last_vol: u64) -> Burst {
    // Answers to a previous round's repeated `Done`.
    while next_report(probe, Duration::from_millis(100))
        .await
        .is_some()
    {}
    let c0 = host_cpu();
    let (mut drive, t0) = burst_with_flood(url, "Event Bench Xm", events, last_vol).await;
    let text = done(&mut drive, "Event Bench Xm", async || {
        next_report(probe, Duration::from_secs(1)).await
    })
    .await;
    let f: Vec<&str> = text.split(' ').collect();
    let n: u64 = f[1].parse().unwrap_or(0);
    let last: u64 = f[2].parse().unwrap_or(t0);
    Burst {
        rate: n as f64 / ((last.saturating_sub(t0)) as f64 / 1e6).max(1e-6),
        cpu: per_event(host_cpu().saturating_sub(c0), events),
        delivered: n,
        status_ok: f[3] == last_vol.to_string(),
    }
}

/// The script's side of a burst run: a host running the counting script on
/// one codec, and the probe its reports arrive on.
struct XmRig {
    dir: std::path::PathBuf,
    probe: Ws,
    host: HostHandle,
    /// The host's own runtime (default thread names, as `xmacro run`).
    host_rt: tokio::runtime::Runtime,
}

impl XmRig {
    async fn start(url: &str) -> XmRig {
        let dir = std::env::temp_dir().join(format!("xmacro-feed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        std::fs::write(dir.join("scripts/xm.rhai"), format!("{REPORT}{XM_SCRIPT}")).unwrap();
        let mut probe = connect_admin(url).await;
        let sub = r#"{"jsonrpc":"2.0","id":1,"method":"xFeedback/Subscribe","params":{"Query":["Event","Message","Send"]}}"#;
        probe.send(Message::text(sub)).await.unwrap();
        let _ = probe.next().await;
        // Default limits: the documented bound is what is measured.
        let host_rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let (d, codecs) = (dir.clone(), vec![codec("xm", url)]);
        let host = host_rt
            .spawn(async move { host_for(&d, codecs, 0).await })
            .await
            .unwrap();
        assert_eq!(
            next_report(&mut probe, Duration::from_secs(30))
                .await
                .as_deref(),
            Some("xm ready")
        );
        XmRig {
            dir,
            probe,
            host,
            host_rt,
        }
    }

    async fn stop(self) {
        let host = self.host;
        let _ = self
            .host_rt
            .spawn(async move { host.shutdown().await })
            .await;
        self.host_rt.shutdown_background();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` bursts to the script alone, each printed with the host's CPU per
/// event (for comparing two builds, or profiling one with `perf record -p`)
/// and the simulator's.
async fn xmacro_only(sim: &common::SimProcess, events: u64, n: u64) {
    let mut rig = XmRig::start(&sim.url).await;
    eprintln!("bursts to the script only, process {}", std::process::id());
    let probe = &mut rig.probe;
    solo_bursts(sim, events, n, "xmacro", "host", async |round| {
        xm_burst(&sim.url, probe, events, round % 100).await
    })
    .await;
    rig.stop().await;
}

/// `n` bursts to jsxapi alone, each printed with Node's CPU per event and
/// the simulator's (the other side of [`xmacro_only`]).
async fn jsxapi_only(sim: &common::SimProcess, peers: &Peers, events: u64, n: u64) {
    let mut js = peers.node("feed", JS_PEER, &[&sim.url]);
    assert_eq!(js.json(Duration::from_secs(30))["ready"], json!(true));
    eprintln!("bursts to jsxapi only, node process {}", js.pid());
    let js = &mut js;
    solo_bursts(sim, events, n, "jsxapi", "Node", async |round| {
        js_burst(&sim.url, js, events, round % 100).await
    })
    .await;
}

/// Runs `n` bursts of one client and prints each with the client's CPU per
/// event (`whose`: which process that is) and the simulator's.
async fn solo_bursts(
    sim: &common::SimProcess,
    events: u64,
    n: u64,
    client: &str,
    whose: &str,
    mut burst: impl AsyncFnMut(u64) -> Burst,
) {
    for round in 0..n {
        let s0 = process_cpu_ticks(sim.pid());
        let b = burst(round).await;
        println!(
            "{client} {:.0} events/s, {} of {events} delivered, {:.2} us of {whose} CPU per event, simulator {:.2}",
            b.rate,
            b.delivered,
            b.cpu,
            per_event(process_cpu_ticks(sim.pid()) - s0, events)
        );
    }
}

async fn burst_rows(url: &str, peers: &Peers, events: u64, rounds: usize) -> Vec<Row> {
    let mut rig = XmRig::start(url).await;
    let mut js = peers.node("feed", JS_PEER, &[url]);
    assert_eq!(js.json(Duration::from_secs(30))["ready"], json!(true));

    let m = xmacro::telemetry::metrics();
    let (drop0, coal0) = (
        m.feedback_dropped_mailbox.get() + m.feedback_dropped_subscriber.get(),
        m.feedback_coalesced.get(),
    );
    let (mut bare, mut jsx, mut xm) = (Vec::new(), Vec::new(), Vec::new());
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let vol = |k: u64| (round as u64 * 17 + k * 5 + 3) % 101;
        // Alternate the order, so no client always goes first.
        let (b, j, x) = if round % 2 == 0 {
            let b = bare_burst(url, events).await;
            let j = js_burst(url, &mut js, events, vol(1)).await;
            let x = xm_burst(url, &mut rig.probe, events, vol(2)).await;
            (b, j, x)
        } else {
            let x = xm_burst(url, &mut rig.probe, events, vol(2)).await;
            let j = js_burst(url, &mut js, events, vol(1)).await;
            let b = bare_burst(url, events).await;
            (b, j, x)
        };
        eprintln!(
            "round {round}: bare {:.0}/s, jsxapi {:.0}/s ({} delivered, status {}, {:.2} us CPU/event), xmacro {:.0}/s ({} delivered, status {}, {:.2} us CPU/event)",
            b.rate,
            j.rate,
            j.delivered,
            j.status_ok,
            j.cpu,
            x.rate,
            x.delivered,
            x.status_ok,
            x.cpu
        );
        ratios.push(x.rate / j.rate.max(1.0));
        bare.push(b);
        jsx.push(j);
        xm.push(x);
    }
    let dropped = m.feedback_dropped_mailbox.get() + m.feedback_dropped_subscriber.get() - drop0;
    let coalesced = m.feedback_coalesced.get() - coal0;
    rig.stop().await;

    let rate = |v: &[Burst]| median(v.iter().map(|b| b.rate).collect());
    let cpu = |v: &[Burst]| median(v.iter().map(|b| b.cpu).collect());
    let lost = |v: &[Burst]| v.iter().filter(|b| !b.status_ok).count();
    let min_delivered = |v: &[Burst]| v.iter().map(|b| b.delivered).min().unwrap_or(0);
    vec![
        Row {
            name: format!("2. {events}-event burst, throughput (median of {rounds} rounds)"),
            value: format!("{:.0} events/s", rate(&xm)),
            baseline: format!("bare: {:.0} events/s", rate(&bare)),
            jsxapi: format!(
                "{:.0} events/s; xmacro/jsxapi per round, median {:.2}x",
                rate(&jsx),
                median(ratios)
            ),
            goal: ">= jsxapi".into(),
        },
        Row {
            name: format!("2. CPU per event of a burst (median of {rounds} rounds)"),
            value: format!(
                "{:.2} us (host: the process less the benchmark's own connections)",
                cpu(&xm)
            ),
            baseline: String::new(),
            jsxapi: format!("{:.2} us (Node process)", cpu(&jsx)),
            goal: "<= jsxapi".into(),
        },
        Row {
            name: "2. status paths whose last value was lost (5000 changes during each burst)"
                .into(),
            value: format!("{} of {rounds} rounds", lost(&xm)),
            baseline: String::new(),
            jsxapi: format!("{} of {rounds} rounds", lost(&jsx)),
            goal: "0".into(),
        },
        Row {
            name: "2. events delivered per burst (fewest), dropped and merged in all".into(),
            value: format!(
                "{} of {events}; {dropped} events dropped, {coalesced} status changes merged",
                min_delivered(&xm)
            ),
            baseline: "bound: 8192 events waiting per instance".into(),
            jsxapi: format!("{} of {events}", min_delivered(&jsx)),
            goal: "no drop below the bound".into(),
        },
    ]
}

fn codec(name: &str, url: &str) -> CodecEntry {
    let mut config = CodecConfig::from_url(url).unwrap();
    config.name = name.into();
    CodecEntry {
        name: name.into(),
        tags: vec![],
        config,
    }
}

/// A host over `codecs`; waits until `instances` top levels have run.
async fn host_for(dir: &Path, codecs: Vec<CodecEntry>, instances: u64) -> HostHandle {
    let opts = HostOptions::new(dir.join("scripts"), dir.join("state"), codecs);
    let ok0 = xmacro::telemetry::metrics().callbacks_ok.get();
    let host = host::start(opts).await.unwrap();
    let t = Instant::now();
    while xmacro::telemetry::metrics().callbacks_ok.get() - ok0 < instances {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "instances did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    host
}

/// Microseconds of `cpu` per event of a burst of `events`.
fn per_event(cpu: Duration, events: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / events as f64
}

/// The name of the threads that run the benchmark's own connections.
const DRIVE_THREAD: &str = "bench-drive";

/// CPU time of this process so far (user + system), counting threads that
/// ended (idle script workers leave during the window, and the per-thread
/// schedstat sum would drop their time).
fn cpu_time() -> Duration {
    process_cpu_ticks(std::process::id())
}

/// CPU time of the host so far: this process's, less the threads that run
/// the benchmark's own connections (they live as long as the process).
fn host_cpu() -> Duration {
    let drive: Duration = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == DRIVE_THREAD)
        })
        .map(|t| common::peers::stat_cpu(&t.path().join("stat")))
        .sum();
    cpu_time().saturating_sub(drive)
}

/// In a child process: resident memory growth (KiB), threads and idle CPU
/// (% of a core) of `n` idle connections of one `kind`, on one line.
fn child(kind: &str, url: &str, n: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("xmacro-feed-child-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        let scripts = kind == "scripts";
        if scripts {
            for (name, body) in [
                ("guard", "xapi.Status.Audio.Volume.on(|v| if v > 90 { xapi.Command.Audio.Volume.Set(#{ Level: 90 }); });"),
                ("counter", "let n = 0; xapi.Event.Bench.Fleet.on(|e| n += 1);"),
                ("storm", "xapi.Event.Bench.Storm.on(|e| log(`storm ${e.N}`));"),
            ] {
                std::fs::write(dir.join(format!("scripts/{name}.rhai")), body).unwrap();
            }
        }
        // The baseline: runtime up, code paged in by one connection.
        let warm = connect_admin(url).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = common::peers::process_rss_kib(std::process::id()) as f64;
        let mut bare = Vec::new();
        let mut host = None;
        if kind == "bare" {
            for _ in 0..n {
                bare.push(connect_admin(url).await);
            }
        } else {
            let codecs = (0..n).map(|i| codec(&format!("c{i:04}"), url)).collect();
            let h = host_for(&dir, codecs, if scripts { 3 * n as u64 } else { 0 }).await;
            // Every codec connected.
            let t = Instant::now();
            while !h.codecs().borrow().values().all(|c| c.state().is_connected()) {
                assert!(t.elapsed() < Duration::from_secs(60), "codecs did not connect");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            host = Some(h);
        }
        // Settle (idle extra script workers leave), then measure.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rss = ((common::peers::process_rss_kib(std::process::id()) as f64) - before).max(0.0);
        let (cpu0, wall0) = (cpu_time(), Instant::now());
        tokio::time::sleep(Duration::from_secs(10)).await;
        let cpu = (cpu_time() - cpu0).as_secs_f64() / wall0.elapsed().as_secs_f64() * 100.0;
        println!("{rss:.0} {} {cpu:.2}", threads());
        drop((warm, bare));
        if let Some(h) = host {
            h.shutdown().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
}

fn measure(kind: &str, url: &str, n: usize) -> (f64, u64, f64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--child", kind, url, &n.to_string()])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let f: Vec<&str> = text.split_whitespace().collect();
    assert!(
        f.len() >= 3,
        "child {kind} printed {text:?}; its stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        f[0].parse().unwrap(),
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
    )
}

fn footprint_rows(url: &str, n: usize, quick: bool) -> Vec<Row> {
    let runs = if quick { 1 } else { 3 };
    let (mut bare, mut one, mut codecs, mut scripts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        bare.push(measure("bare", url, n));
        one.push(measure("codecs", url, 1));
        codecs.push(measure("codecs", url, n));
        scripts.push(measure("scripts", url, n));
    }
    let med =
        |v: &[(f64, u64, f64)], f: fn(&(f64, u64, f64)) -> f64| median(v.iter().map(f).collect());
    let kib = |v: &[(f64, u64, f64)]| med(v, |m| m.0);
    // Above the host's own baseline: the same host with one codec.
    let per_conn = (kib(&codecs) - kib(&one)) / (n - 1) as f64;
    let per_instance = (kib(&scripts) - kib(&codecs)) / (3 * n) as f64;
    vec![
        Row {
            name: format!("3. memory per idle connection ({n} codecs, median of {runs})"),
            value: format!(
                "{per_conn:.1} KiB (host with one codec: {:.1} MiB)",
                kib(&one) / 1024.0
            ),
            baseline: format!("bare: {:.1} KiB", kib(&bare) / n as f64),
            jsxapi: String::new(),
            goal: "<= 16 KiB".into(),
        },
        Row {
            name: format!("3. memory per idle script instance ({n} codecs x 3 scripts)"),
            value: format!("{per_instance:.1} KiB"),
            baseline: format!(
                "the same host without scripts: {:.1} MiB in all",
                kib(&codecs) / 1024.0
            ),
            jsxapi: String::new(),
            goal: "<= 8 KiB".into(),
        },
        Row {
            name: format!("3. threads and idle CPU, {n} codecs x 3 scripts"),
            value: format!(
                "{:.0} threads, {:.2} % of a core",
                med(&scripts, |m| m.1 as f64),
                med(&scripts, |m| m.2)
            ),
            baseline: format!(
                "bare: {:.0} threads, {:.2} %",
                med(&bare, |m| m.1 as f64),
                med(&bare, |m| m.2)
            ),
            jsxapi: String::new(),
            goal: "< 32 threads, < 1 %".into(),
        },
    ]
}

const BEGIN: &str = "<!-- feed:begin -->";
const END: &str = "<!-- feed:end -->";

fn write_section(rows: &[Row], quick: bool, took: Duration) {
    let mut t = format!(
        "{BEGIN}\n## Feedback and footprint\n\nWritten by `cargo bench --bench feed`{} on {}; the run took {:.0} s.\n\n",
        if quick { " -- --quick" } else { "" },
        chrono::Local::now().format("%Y-%m-%d %H:%M %:z"),
        took.as_secs_f64()
    );
    t.push_str("| measure | xmacro | floor | jsxapi 6 | goal |\n| --- | --- | --- | --- | --- |\n");
    for r in rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.name, r.value, r.baseline, r.jsxapi, r.goal
        ));
    }
    t.push_str(&format!("\n{END}"));
    println!("{t}");
    if quick {
        return;
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&file).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(a), Some(b)) if b > a => format!("{}{t}{}", &old[..a], &old[b + END.len()..]),
        _ => format!("{}\n{t}\n", old.trim_end()),
    };
    std::fs::write(file, new).unwrap();
}
