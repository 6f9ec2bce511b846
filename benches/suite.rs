//! The benchmark suite: every row of the benchmarks issue, each measured in
//! this one run next to its baseline, printed as a table and written to
//! BENCHMARKS.md with the machine and date.
//!
//!     cargo bench --bench suite            # about three minutes after the build
//!     cargo bench --bench suite -- --quick # smaller counts, for a smoke run
//!
//! The simulator runs as a separate `xmacro sim` process, so the host's
//! memory and CPU figures are its own. Rows 1-3 and 5a use one codec; rows
//! 4, 5b and 6 a fleet of 1000 codecs (sessions on the simulator) with three
//! scripts each, all in this process.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use xmacro::config::CodecEntry;
use xmacro::host::{self, HostHandle, HostOptions};
use xmacro::xows::CodecConfig;

use common::{Ws, connect_admin, start_sim_process as start_sim};

const REPORT: &str = "fn report(x) { xapi.Command.Message.Send(#{ Text: `${x}` }); }\n";

/// A raw client: sends requests, collects what scripts report.
struct Probe {
    ws: Ws,
    next: u64,
    /// Reports that arrived while [`Probe::call`] waited for its answer.
    aside: std::collections::VecDeque<String>,
}

impl Probe {
    async fn new(url: &str) -> Probe {
        let mut p = Probe {
            ws: connect_admin(url).await,
            next: 1,
            aside: Default::default(),
        };
        p.call(
            "xFeedback/Subscribe",
            json!({"Query": ["Event", "Message", "Send"]}),
        )
        .await;
        p
    }

    async fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next;
        self.next += 1;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.ws.send(Message::text(req.to_string())).await.unwrap();
        id
    }

    /// Sends a request and waits for its answer, keeping reports aside.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params).await;
        loop {
            let v = self.frame().await;
            if v["id"] == json!(id) {
                return v["result"].clone();
            }
            // A script's report can overtake the answer: the simulator
            // queues the event, a callback reports, and that report may
            // reach this session's queue before the event call's answer.
            if let Some(t) = report_text(&v) {
                self.aside.push_back(t);
            }
        }
    }

    async fn frame(&mut self) -> Value {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("probe connection ended: {other:?}"),
            }
        }
    }

    /// The next report text (within `wait`).
    async fn report(&mut self, wait: Duration) -> Option<String> {
        if let Some(t) = self.aside.pop_front() {
            return Some(t);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let v = tokio::time::timeout_at(deadline, self.frame()).await.ok()?;
            if let Some(t) = report_text(&v) {
                return Some(t);
            }
        }
    }

    /// Waits for a report starting with `prefix`.
    async fn expect(&mut self, prefix: &str, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(t) = self.report(Duration::from_millis(200)).await
                && t.starts_with(prefix)
            {
                return t;
            }
        }
        panic!("no report starting with {prefix:?} within {wait:?}");
    }

    async fn emit(&mut self, path: &str, value: Value) {
        self.call("xSim/EmitEvent", json!({"Path": path, "Value": value}))
            .await;
    }
}

/// The text of a script's report (a `Message Send` event), if `v` is one.
fn report_text(v: &Value) -> Option<String> {
    v["params"]["Event"]["Message"]["Send"]["Text"]
        .as_str()
        .map(str::to_string)
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// CPU time of this process so far (user + system).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / 100.0)
}

fn codec(name: &str, url: &str) -> CodecEntry {
    let mut config = CodecConfig::from_url(url).unwrap();
    config.name = name.into();
    config.feedback_buffer = 1 << 17;
    CodecEntry {
        name: name.into(),
        tags: vec![],
        config,
    }
}

async fn host_for(dir: &Path, codecs: Vec<CodecEntry>) -> HostHandle {
    let mut opts = HostOptions::new(dir.join("scripts"), dir.join("state"), codecs);
    opts.limits.mailbox = 1 << 17;
    host::start(opts).await.unwrap()
}

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join("scripts").join(name), format!("{REPORT}{body}")).unwrap();
}

struct Row {
    name: String,
    value: String,
    baseline: String,
    ratio: String,
    goal: String,
}

fn row(name: &str, value: String, baseline: String, ratio: f64, goal: &str) -> Row {
    Row {
        name: name.into(),
        value,
        baseline,
        // No meaningful ratio (the floor is zero): leave the cell empty.
        ratio: if ratio.is_finite() && ratio > 0.0 {
            format!("{ratio:.2}x")
        } else {
            String::new()
        },
        goal: goal.into(),
    }
}

/// In a child process: RSS growth of `n` idle bare connections (KiB) and
/// their CPU over `idle` seconds (percent of a core), on one line.
fn bare_memory_child(url: &str, n: usize, idle: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let warm = connect_admin(url).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = common::peers::process_rss_kib(std::process::id());
        let mut keep = Vec::new();
        for _ in 0..n {
            keep.push(connect_admin(url).await);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = common::peers::process_rss_kib(std::process::id()).saturating_sub(before);
        let (cpu0, wall0) = (cpu_time(), Instant::now());
        tokio::time::sleep(Duration::from_secs(idle)).await;
        let cpu = (cpu_time() - cpu0).as_secs_f64() / wall0.elapsed().as_secs_f64() * 100.0;
        println!("{rss} {cpu:.2}");
        drop((warm, keep));
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--bare-memory") {
        return bare_memory_child(
            &args[i + 1],
            args[i + 2].parse().unwrap(),
            args[i + 3].parse().unwrap(),
        );
    }
    let quick = args.iter().any(|a| a == "--quick");
    let fleet: usize = if quick { 200 } else { 1000 };
    let events: u64 = if quick { 20_000 } else { 100_000 };
    let sim = start_sim();
    let work = std::env::temp_dir().join(format!("xmacro-suite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let one = work.join("one");
    let many = work.join("many");
    for d in [&one, &many] {
        std::fs::create_dir_all(d.join("scripts")).unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    let started = Instant::now();
    rt.block_on(async {
        // The fleet first, so its memory figure is not inflated by the
        // queues the bursts below leave allocated.
        let (fleet_rows, reload_all) = fleet_rows(&sim.url, &many, fleet, quick).await;
        let (one_rows, reload_one) = one_codec(&sim.url, &one, events, quick).await;
        rows.extend(one_rows);
        rows.push(row(
            &format!("5b. save to new version running on all {fleet} codecs"),
            format!("{:.0} ms", reload_all.as_secs_f64() * 1000.0),
            format!(
                "one codec (5a): {:.1} ms",
                reload_one.as_secs_f64() * 1000.0
            ),
            reload_all.as_secs_f64() / reload_one.as_secs_f64().max(0.000_001),
            "<= 1 s",
        ));
        rows.extend(fleet_rows);
    });
    let _ = std::fs::remove_dir_all(&work);
    print_and_write(&rows, quick, started.elapsed(), fleet);
}

async fn one_codec(url: &str, dir: &Path, events: u64, quick: bool) -> (Vec<Row>, Duration) {
    let mut rows = Vec::new();
    let mut probe = Probe::new(url).await;
    write(
        dir,
        "rtt.rhai",
        "xapi.Event.Bench.Rtt.on(|e| {\n  let t = [];\n  for i in 0..e.N { let s = now_us(); xapi.Status.Audio.Volume.get(); t.push(now_us() - s); }\n  report(`rtt ${t}`);\n});\nreport(\"rtt ready\");\n",
    );
    write(
        dir,
        "counter.rhai",
        &format!(
            "let n = 0; let lat = [];\nxapi.Event.Sim.Burst.on(|e| {{\n  n += 1;\n  if e.Seq % 10 == 0 {{ lat.push(now_us() - e.SentUs); }}\n  if e.Seq == {last} {{ lat.sort(); report(`burst ${{n}} ${{lat[lat.len() / 2]}} ${{lat[lat.len() * 99 / 100]}}`); n = 0; lat = []; }}\n}});\nreport(\"counter ready\");\n",
            last = events - 1
        ),
    );
    let fan_script = "let n = 0; let lat = [];\nxapi.Event.Bench.Fan.on(|e| {\n  n += 1; lat.push(now_us() - e.SentUs);\n  if e.Seq == 999 { lat.sort(); report(`fan ${n} ${lat[lat.len() * 99 / 100]}`); n = 0; lat = []; }\n});\nreport(\"fan ready\");\n";
    write(dir, "fan000.rhai", fan_script);
    let host = host_for(dir, vec![codec("one", url)]).await;
    let mut ready = HashSet::new();
    while ready.len() < 3 {
        let t = probe
            .report(Duration::from_secs(20))
            .await
            .expect("the scripts start");
        ready.insert(t);
    }

    // Row 1: request round trip, interleaved with the floor.
    let (rounds, per) = if quick { (3, 300) } else { (6, 1000) };
    let mut script_us = Vec::new();
    let mut bare_us = Vec::new();
    let mut bare = connect_admin(url).await;
    let get =
        r#"{"jsonrpc":"2.0","id":1,"method":"xGet","params":{"Path":["Status","Audio","Volume"]}}"#;
    for _ in 0..rounds {
        probe.emit("Event Bench Rtt", json!({"N": per})).await;
        let text = probe.expect("rtt ", Duration::from_secs(60)).await;
        script_us.extend(
            text.trim_start_matches("rtt [")
                .trim_end_matches(']')
                .split(',')
                .filter_map(|v| v.trim().parse::<u64>().ok()),
        );
        for _ in 0..per {
            let t = Instant::now();
            bare.send(Message::text(get)).await.unwrap();
            while !matches!(bare.next().await, Some(Ok(Message::Text(_)))) {}
            bare_us.push(t.elapsed().as_micros() as u64);
        }
    }
    drop(bare);
    script_us.sort();
    bare_us.sort();
    rows.push(row(
        "1. request round trip, median (script get vs bare xGet)",
        format!("{} us", pct(&script_us, 0.5)),
        format!("{} us", pct(&bare_us, 0.5)),
        pct(&script_us, 0.5) as f64 / pct(&bare_us, 0.5).max(1) as f64,
        "<= 1.3x",
    ));
    rows.push(row(
        "1. request round trip, p99",
        format!("{} us", pct(&script_us, 0.99)),
        format!("{} us", pct(&bare_us, 0.99)),
        pct(&script_us, 0.99) as f64 / pct(&bare_us, 0.99).max(1) as f64,
        "",
    ));

    // Row 2: feedback to callback. Throughput with an unpaced burst; latency
    // with a burst paced at the goal rate (an unpaced burst measures queueing).
    // The floor is a bare client receiving the same bursts.
    let goal_rate = 100_000;
    let (floor_rate, _) = floor_burst(url, events, None).await;
    let (_, floor_lat) = floor_burst(url, events, Some(goal_rate)).await;
    // The floor's bursts also reached the script: let it finish them.
    probe.expect("burst ", Duration::from_secs(120)).await;
    probe.expect("burst ", Duration::from_secs(120)).await;
    let mut trigger = connect_admin(url).await;
    let (rate, counted, _, _) = script_burst(&mut probe, &mut trigger, events, None).await;
    let (_, _, p50, p99) = script_burst(&mut probe, &mut trigger, events, Some(goal_rate)).await;
    let gentle = 10_000;
    let (_, gentle_floor) = floor_burst(url, events, Some(gentle)).await;
    probe.expect("burst ", Duration::from_secs(120)).await;
    let (_, _, g50, g99) = script_burst(&mut probe, &mut trigger, events, Some(gentle)).await;
    rows.push(row(
        &format!("2. feedback to callback, one codec, {events} events"),
        format!("{rate:.0} events/s, {} dropped", events - counted),
        format!("{floor_rate:.0} events/s"),
        rate / floor_rate,
        ">= 100000 events/s, 0 dropped",
    ));
    rows.push(row(
        &format!("2. send to callback start at {goal_rate} events/s, p99 (median)"),
        format!("{p99} us ({p50} us)"),
        format!("{} us ({} us)", pct(&floor_lat, 0.99), pct(&floor_lat, 0.5)),
        p99 as f64 / pct(&floor_lat, 0.99).max(1) as f64,
        "< 1000 us",
    ));
    rows.push(row(
        &format!("2. send to callback start at {gentle} events/s, p99 (median)"),
        format!("{g99} us ({g50} us)"),
        format!(
            "{} us ({} us)",
            pct(&gentle_floor, 0.99),
            pct(&gentle_floor, 0.5)
        ),
        g99 as f64 / pct(&gentle_floor, 0.99).max(1) as f64,
        "< 1000 us",
    ));

    // Row 3: fan-out to 100 scripts, next to the same event stream to one.
    let (one_rate, _) = fan(&mut probe, 1, None).await;
    let (_, one_p99) = fan(&mut probe, 1, Some(1000)).await;
    for i in 1..100 {
        write(dir, &format!("fan{i:03}.rhai"), fan_script);
    }
    let mut ready = 0;
    while ready < 99 {
        probe.expect("fan ready", Duration::from_secs(30)).await;
        ready += 1;
    }
    let (hundred_rate, _) = fan(&mut probe, 100, None).await;
    let (_, hundred_p99) = fan(&mut probe, 100, Some(1000)).await;
    rows.push(row(
        "3. fan-out: 1000 events to 100 scripts on one codec, deliveries/s",
        format!("{hundred_rate:.0}/s"),
        format!("1 script: {one_rate:.0}/s"),
        hundred_rate / one_rate,
        "",
    ));
    rows.push(row(
        "3. fan-out at 1000 events/s (100000 deliveries/s), worst script's p99",
        format!("{hundred_p99} us"),
        format!("1 script: {one_p99} us"),
        hundred_p99 as f64 / one_p99.max(1) as f64,
        "",
    ));

    // Row 5a: save to running on one codec, next to the watcher's own delay.
    let mut times = Vec::new();
    for k in 0..if quick { 5 } else { 15 } {
        let t = Instant::now();
        write(dir, "reloaded.rhai", &format!("report(\"version {k}\");\n"));
        probe
            .expect(&format!("version {k}"), Duration::from_secs(10))
            .await;
        times.push(t.elapsed().as_micros() as u64);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    times.sort();
    // The floor of any debounced reloader: the watcher's own delay plus the
    // quiet window that lets an editor's burst of writes settle.
    let floor =
        notify_floor(dir).await + HostOptions::new(PathBuf::new(), PathBuf::new(), vec![]).debounce;
    rows.push(row(
        "5a. save to new version running, one codec (median)",
        format!("{:.1} ms", pct(&times, 0.5) as f64 / 1000.0),
        format!(
            "watcher + 25 ms debounce: {:.1} ms",
            floor.as_secs_f64() * 1000.0
        ),
        pct(&times, 0.5) as f64 / floor.as_micros().max(1) as f64,
        "<= 100 ms",
    ));
    host.shutdown().await;
    (rows, Duration::from_micros(pct(&times, 0.5)))
}

/// A bare client receiving a burst: events per second and sampled latencies.
async fn floor_burst(url: &str, events: u64, rate: Option<u64>) -> (f64, Vec<u64>) {
    let mut floor = connect_admin(url).await;
    floor
        .send(Message::text(
            r#"{"jsonrpc":"2.0","id":1,"method":"xFeedback/Subscribe","params":{"Query":["Event","Sim","Burst"]}}"#,
        ))
        .await
        .unwrap();
    let _ = floor.next().await;
    let mut params = json!({"Count": events});
    if let Some(r) = rate {
        params["RatePerSec"] = json!(r);
    }
    let mut trigger = connect_admin(url).await;
    let t = Instant::now();
    trigger
        .send(Message::text(
            json!({"jsonrpc":"2.0","id":9,"method":"xSim/Burst","params": params}).to_string(),
        ))
        .await
        .unwrap();
    let (mut got, mut lat) = (0u64, Vec::new());
    while got < events {
        if let Some(Ok(Message::Text(t))) = floor.next().await {
            let now = xmacro::clock::now_us();
            let v: Value = serde_json::from_str(&t).unwrap();
            let b = &v["params"]["Event"]["Sim"]["Burst"];
            if let Some(seq) = b["Seq"].as_u64() {
                got += 1;
                if seq % 10 == 0 {
                    lat.push(now.saturating_sub(b["SentUs"].as_u64().unwrap_or(0)));
                }
            }
        }
    }
    let r = events as f64 / t.elapsed().as_secs_f64();
    lat.sort();
    (r, lat)
}

/// A burst to the counter script: events/s, events counted, p50, p99.
async fn script_burst(
    probe: &mut Probe,
    trigger: &mut Ws,
    events: u64,
    rate: Option<u64>,
) -> (f64, u64, u64, u64) {
    let mut params = json!({"Count": events});
    if let Some(r) = rate {
        params["RatePerSec"] = json!(r);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    trigger
        .send(Message::text(
            json!({"jsonrpc":"2.0","id":10,"method":"xSim/Burst","params": params}).to_string(),
        ))
        .await
        .unwrap();
    let text = probe.expect("burst ", Duration::from_secs(120)).await;
    let r = events as f64 / t.elapsed().as_secs_f64();
    let f: Vec<u64> = text
        .split(' ')
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    (r, f[0], f[1], f[2])
}

/// Bursts 1000 events to `Event Bench Fan` and waits for every fan-out
/// script's report: deliveries per second and the worst p99.
async fn fan(probe: &mut Probe, scripts: usize, rate: Option<u64>) -> (f64, u64) {
    let t = Instant::now();
    let mut params = json!({"Count": 1000, "Path": "Event Bench Fan"});
    if let Some(r) = rate {
        params["RatePerSec"] = json!(r);
    }
    probe.call("xSim/Burst", params).await;
    let mut p99s = Vec::new();
    while p99s.len() < scripts {
        let text = probe.expect("fan ", Duration::from_secs(60)).await;
        let f: Vec<u64> = text
            .split(' ')
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        assert_eq!(f[0], 1000, "every event reaches every fan-out script");
        p99s.push(f[1]);
    }
    p99s.sort();
    (
        (scripts * 1000) as f64 / t.elapsed().as_secs_f64(),
        *p99s.last().unwrap(),
    )
}

/// How long the file watcher itself takes to report a write (median of 5).
async fn notify_floor(dir: &Path) -> Duration {
    use notify::Watcher;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut w = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        let _ = tx.send(Instant::now());
    })
    .unwrap();
    let probe_dir = dir.join("watch-floor");
    std::fs::create_dir_all(&probe_dir).unwrap();
    w.watch(&probe_dir, notify::RecursiveMode::NonRecursive)
        .unwrap();
    let mut times = Vec::new();
    for k in 0..5 {
        while rx.try_recv().is_ok() {}
        let t = Instant::now();
        std::fs::write(probe_dir.join("x.rhai"), format!("{k}")).unwrap();
        let seen = rx.recv().await.unwrap();
        times.push(seen.duration_since(t));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    times.sort();
    times[times.len() / 2]
}

async fn fleet_rows(url: &str, dir: &Path, fleet: usize, quick: bool) -> (Vec<Row>, Duration) {
    let mut rows = Vec::new();
    write(
        dir,
        "guard.rhai",
        "xapi.Status.Audio.Volume.on(|v| if v > 90 { xapi.Command.Audio.Volume.Set(#{ Level: 90 }); });\nreport(`up guard ${codec.name}`);\n",
    );
    write(
        dir,
        "counter.rhai",
        "xapi.Event.Bench.Fleet.on(|e| report(`fleet ${codec.name} ${e.N}`));\nreport(`up counter ${codec.name}`);\n",
    );
    let storm = |v: &str| {
        format!(
            "xapi.Event.Bench.Storm.on(|e| report(`storm ${{codec.name}} ${{e.N}}`));\nreport(`up storm {v} ${{codec.name}}`);\n"
        )
    };
    write(dir, "storm.rhai", &storm("v1"));
    let mut probe = Probe::new(url).await;
    let codecs: Vec<CodecEntry> = (0..fleet)
        .map(|i| codec(&format!("c{i:04}"), url))
        .collect();
    let rss_before = common::peers::process_rss_kib(std::process::id());
    let t = Instant::now();
    let host = host_for(dir, codecs).await;
    let mut up = HashSet::new();
    while up.len() < fleet * 3 {
        let text = probe
            .report(Duration::from_secs(30))
            .await
            .expect("every instance starts");
        if text.starts_with("up ") {
            up.insert(text);
        }
    }
    let start_time = t.elapsed();
    // Settle, then measure resident memory and idle CPU.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = common::peers::process_rss_kib(std::process::id());
    let idle_window = if quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(10)
    };
    let cpu0 = cpu_time();
    let wall0 = Instant::now();
    tokio::time::sleep(idle_window).await;
    let idle_cpu = (cpu_time() - cpu0).as_secs_f64() / wall0.elapsed().as_secs_f64() * 100.0;
    let (bare_kib, bare_cpu) = {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--bare-memory",
                url,
                &fleet.to_string(),
                &idle_window.as_secs().to_string(),
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut f = text.split_whitespace();
        (
            f.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0),
            f.next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0),
        )
    };
    let bare_connect = {
        let t = Instant::now();
        let all = futures_util::future::join_all((0..fleet).map(|_| connect_admin(url))).await;
        let d = t.elapsed();
        drop(all);
        d
    };
    rows.push(row(
        &format!(
            "4. fleet: {fleet} codecs x 3 scripts, time until all {} instances run",
            fleet * 3
        ),
        format!("{:.2} s", start_time.as_secs_f64()),
        format!(
            "{fleet} bare connects at once: {:.2} s",
            bare_connect.as_secs_f64()
        ),
        start_time.as_secs_f64() / bare_connect.as_secs_f64().max(0.001),
        "<= 10 s",
    ));
    rows.push(row(
        "4. fleet: resident memory of the host process",
        format!(
            "{:.1} MiB ({:.1} MiB added; {} script threads)",
            rss as f64 / 1024.0,
            rss.saturating_sub(rss_before) as f64 / 1024.0,
            xmacro::script::pool::Pool::global().workers()
        ),
        format!(
            "{fleet} bare idle connections: {:.1} MiB",
            bare_kib as f64 / 1024.0
        ),
        rss.saturating_sub(rss_before) as f64 / bare_kib.max(1) as f64,
        "<= 128 MiB",
    ));
    rows.push(row(
        "4. fleet: idle CPU",
        format!("{idle_cpu:.2} % of a core"),
        format!("{fleet} bare idle connections: {bare_cpu:.2} %"),
        if bare_cpu >= 0.01 {
            idle_cpu / bare_cpu
        } else {
            f64::NAN
        },
        "< 2 %",
    ));

    // Exactly once: one event on every session reaches every matching callback once.
    probe.emit("Event Bench Fleet", json!({"N": 1})).await;
    let mut counts: HashMap<String, u32> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while counts.len() < fleet && Instant::now() < deadline {
        if let Some(t) = probe.report(Duration::from_millis(500)).await
            && let Some(rest) = t.strip_prefix("fleet ")
        {
            *counts.entry(rest.to_string()).or_default() += 1;
        }
    }
    while let Some(t) = probe.report(Duration::from_millis(500)).await {
        if let Some(rest) = t.strip_prefix("fleet ") {
            *counts.entry(rest.to_string()).or_default() += 1;
        }
    }
    let exactly_once = counts.len() == fleet && counts.values().all(|c| *c == 1);
    rows.push(row(
        "4. fleet: one event, every session, every matching callback",
        format!(
            "{} of {fleet} callbacks ran, {}",
            counts.len(),
            if exactly_once {
                "each exactly once"
            } else {
                "NOT exactly once"
            }
        ),
        "".into(),
        0.0,
        "exactly once",
    ));

    // Row 5b: a reload of a script bound to every codec.
    let t = Instant::now();
    write(dir, "storm.rhai", &storm("v2"));
    let mut seen = HashSet::new();
    while seen.len() < fleet {
        let text = probe
            .report(Duration::from_secs(30))
            .await
            .expect("reloaded everywhere");
        if text.starts_with("up storm v2 ") {
            seen.insert(text);
        }
    }
    let reload_all = t.elapsed();

    // Row 6: reconnect storm, next to the same number of bare connects at once.
    let before = probe.call("xSim/Inspect", json!({})).await["Upgrades"]
        .as_array()
        .map_or(0, |a| a.len());
    let t0_ms = xmacro::clock::now_us() / 1000;
    let t0 = Instant::now();
    let _ = probe.send("xSim/DropSessions", json!({})).await;
    drop(probe);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut probe = Probe::new(url).await;
    let mut back = HashSet::new();
    let mut n = 0;
    while back.len() < fleet && t0.elapsed() < Duration::from_secs(60) {
        n += 1;
        probe.emit("Event Bench Storm", json!({"N": n})).await;
        let until = Instant::now() + Duration::from_millis(100);
        while Instant::now() < until {
            if let Some(t) = probe.report(Duration::from_millis(20)).await
                && let Some(rest) = t.strip_prefix("storm ")
            {
                back.insert(rest.split(' ').next().unwrap_or("").to_string());
            }
        }
    }
    let storm_time = t0.elapsed();
    let upgrades: Vec<u64> = probe.call("xSim/Inspect", json!({})).await["Upgrades"]
        .as_array()
        .map(|a| a.iter().skip(before).filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let mut hist: BTreeMap<u64, usize> = BTreeMap::new();
    for u in &upgrades {
        *hist.entry(u.saturating_sub(t0_ms) / 50 * 50).or_default() += 1;
    }
    let peak = hist.values().copied().max().unwrap_or(0);
    let histogram = hist
        .iter()
        .map(|(ms, c)| format!("{ms}:{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    rows.push(row(
        &format!(
            "6. reconnect storm: all {fleet} sessions dropped, every subscription delivering again"
        ),
        format!(
            "{:.2} s ({} of {fleet} back)",
            storm_time.as_secs_f64(),
            back.len()
        ),
        format!(
            "{fleet} bare connects at once: {:.2} s",
            bare_connect.as_secs_f64()
        ),
        storm_time.as_secs_f64() / bare_connect.as_secs_f64().max(0.001),
        "",
    ));
    rows.push(row(
        "6. reconnect attempts per 50 ms after the drop (ms:count)",
        format!(
            "{histogram}; largest 50 ms bucket {peak} of {}",
            upgrades.len()
        ),
        "".into(),
        0.0,
        "no synchronized spike",
    ));
    host.shutdown().await;
    (rows, reload_all)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    format!(
        "{cpu}, {cores} cores, {:.0} GiB",
        mem as f64 / 1024.0 / 1024.0
    )
}

fn print_and_write(rows: &[Row], quick: bool, took: Duration, fleet: usize) {
    let date = chrono::Local::now().format("%Y-%m-%d %H:%M %Z");
    let mut out = String::new();
    out.push_str(
        "| measure | xmacro | baseline | ratio | goal |\n| --- | --- | --- | ---: | --- |\n",
    );
    for r in rows {
        let ratio = if r.baseline.is_empty() {
            ""
        } else {
            r.ratio.as_str()
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.name, r.value, r.baseline, ratio, r.goal
        ));
    }
    println!("{out}");
    println!(
        "({} run, {fleet} codecs in the fleet, {:.0} s)",
        if quick { "quick" } else { "full" },
        took.as_secs_f64()
    );
    if quick {
        return;
    }
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&file).unwrap_or_default();
    let notes = old
        .split_once("\n## Notes\n")
        .map(|(_, n)| format!("\n## Notes\n{n}"))
        .unwrap_or_default();
    let text = format!(
        "# Benchmarks\n\nWritten by `cargo bench --bench suite` on {date}.\n\nMachine: {}.\n\n{out}\nThe whole run took {:.0} s.\n{notes}",
        machine(),
        took.as_secs_f64()
    );
    std::fs::write(&file, text).unwrap();
    println!("written to {}", file.display());
}
