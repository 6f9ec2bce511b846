//! Sequential `get` round trip, side by side in one run against one
//! `xmacro sim`: a bare tokio-tungstenite client (the floor), a script in
//! an `xmacro run` host, Cisco's jsxapi 6 (Node) and pyxows (Python), plus
//! the floor and the host pinned to one CPU (`taskset -c 0`). Each contender
//! is a process of its own, so its CPU time per get is read from /proc
//! beside its latency. Rounds alternate the contenders (in a rotating
//! order) so drift on a shared machine hits all alike, and the figures are
//! medians of per-round ratios.
//!
//!     cargo bench --bench rtt             # 15 rounds of 2000 gets each
//!     cargo bench --bench rtt -- --quick  # 3 rounds of 300, not written
//!
//! With `XMACRO_RTT_BEFORE=/path/to/xmacro` (another build, such as the
//! commit before a change), that binary runs beside this one as "before"
//! and "before pinned"; `XMACRO_RTT_BEFORE_ENV="K=V ..."` sets its
//! environment (`XMACRO_CALL_SPIN_US=0` with this build measures it without
//! spinning). `XMACRO_RTT_NOSPIN=1` adds this build with spinning off.
//!
//! jsxapi and pyxows are installed under target/bench-peers/ on first use
//! (see `common/peers.rs`). The full run rewrites the side-by-side section
//! of BENCHMARKS.md.

mod common;

use std::io::BufRead;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use common::peers::{Peer, Peers, process_cpu, wrapped};
use common::{connect_admin, start_sim_process};

const GET: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"xGet","params":{"Path":["Status","Audio","Volume"]}}"#;

/// jsxapi 6: one line `N` in, `{"median_us","p99_us"}` out.
const JSXAPI: &str = r#"'use strict';
const jsxapi = require('jsxapi');
const readline = require('readline');
const xapi = jsxapi.connect(process.argv[2], { username: 'admin', password: '' });
xapi.on('error', (e) => { console.error('jsxapi: ' + e); process.exit(1); });
xapi.on('ready', () => {
  console.log(JSON.stringify({ ready: true }));
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    const n = parseInt(line, 10);
    const t = [];
    for (let i = 0; i < n; i++) {
      const s = process.hrtime.bigint();
      await xapi.Status.Audio.Volume.get();
      t.push(Number(process.hrtime.bigint() - s) / 1000);
    }
    t.sort((a, b) => a - b);
    console.log(JSON.stringify({ median_us: t[n >> 1], p99_us: t[Math.floor((n - 1) * 0.99)] }));
  });
  rl.on('close', () => process.exit(0));
});
"#;

/// pyxows: the same protocol.
const PYXOWS: &str = r#"import asyncio, json, sys, time
import xows

async def main():
    async with xows.XoWSClient(sys.argv[1], username='admin', password='') as client:
        print(json.dumps({'ready': True}), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            n = int(line)
            t = []
            for _ in range(n):
                s = time.perf_counter_ns()
                await client.xGet(['Status', 'Audio', 'Volume'])
                t.append((time.perf_counter_ns() - s) / 1000)
            t.sort()
            print(json.dumps({'median_us': t[n // 2], 'p99_us': t[int((n - 1) * 0.99)]}), flush=True)

asyncio.run(main())
"#;

/// The xmacro script: `Event Bench <name>` with N runs N gets and reports
/// through Message Send.
fn host_script(event: &str) -> String {
    format!(
        "xapi.Event.Bench.{event}.on(|e| {{\n  let t = [];\n  for i in 0..e.N {{ let s = now_us(); xapi.Status.Audio.Volume.get(); t.push(now_us() - s); }}\n  t.sort();\n  xapi.Command.Message.Send(#{{ Text: `{event} ${{e.Round}} ${{t[t.len() / 2]}} ${{t[(t.len() - 1) * 99 / 100]}}` }});\n}});\nxapi.Command.Message.Send(#{{ Text: \"{event} ready\" }});\n"
    )
}

/// In a child process: the floor, a bare tokio-tungstenite client on a
/// current-thread runtime, speaking the peers' line protocol.
fn floor_child(url: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut ws = connect_admin(url).await;
        println!("{}", json!({"ready": true}));
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(n) = line.unwrap_or_default().trim().parse::<usize>() else {
                return;
            };
            let mut t = Vec::with_capacity(n);
            for _ in 0..n {
                let s = Instant::now();
                ws.send(Message::text(GET)).await.unwrap();
                while !matches!(ws.next().await, Some(Ok(Message::Text(_)))) {}
                t.push(s.elapsed().as_secs_f64() * 1e6);
            }
            t.sort_by(f64::total_cmp);
            println!(
                "{}",
                json!({"median_us": t[n / 2], "p99_us": t[(n - 1) * 99 / 100]})
            );
        }
    });
}

/// The measuring client's connection to the simulator: triggers the host's
/// rounds and reads their reports.
struct Probe {
    rt: tokio::runtime::Runtime,
    ws: common::Ws,
}

impl Probe {
    fn new(url: &str) -> Probe {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut ws = rt.block_on(connect_admin(url));
        rt.block_on(async {
            ws.send(Message::text(
                json!({"jsonrpc":"2.0","id":1,"method":"xFeedback/Subscribe","params":{"Query":["Event","Message","Send"]}}).to_string(),
            ))
            .await
            .unwrap();
        });
        Probe { rt, ws }
    }

    fn emit(&mut self, path: &str, value: Value) {
        let req = json!({"jsonrpc":"2.0","id":2,"method":"xSim/EmitEvent","params":{"Path": path, "Value": value}});
        self.rt
            .block_on(self.ws.send(Message::text(req.to_string())))
            .unwrap();
    }

    /// The next Message Send text starting with `prefix`, within `wait`.
    fn expect(&mut self, prefix: &str, wait: Duration) -> String {
        let ws = &mut self.ws;
        self.rt.block_on(async {
            tokio::time::timeout(wait, common::message_where(ws, |t| t.starts_with(prefix)))
                .await
                .unwrap_or_else(|_| panic!("no report {prefix:?} within {wait:?}"))
        })
    }
}

/// An `xmacro run` host with one round-trip script, killed on drop.
struct Host {
    child: std::process::Child,
    event: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Host {
    fn start(
        bin: &str,
        env: &[(String, String)],
        url: &str,
        event: &str,
        wrap: &[&str],
        probe: &mut Probe,
    ) -> Host {
        let dir = std::env::temp_dir().join(format!("xmacro-rtt-{}-{event}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        std::fs::write(dir.join("scripts/rtt.rhai"), host_script(event)).unwrap();
        std::fs::write(
            dir.join("xmacro.toml"),
            format!(
                "scripts = \"scripts\"\nstate = \"state\"\n[defaults]\npassword_env = \"BENCH_PW\"\n[[codec]]\nname = \"sim\"\nurl = \"{url}\"\n"
            ),
        )
        .unwrap();
        let child = wrapped(wrap, bin)
            .args(["run", "--config"])
            .arg(dir.join("xmacro.toml"))
            .env("BENCH_PW", "")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("xmacro run starts");
        probe.expect(&format!("{event} ready"), Duration::from_secs(60));
        Host {
            child,
            event: event.to_string(),
            _dir: TempDir(dir),
        }
    }
}

/// One contender: a peer speaking the line protocol, or a host driven
/// through the simulator.
enum Who {
    Peer(Peer),
    Host(Host),
}

struct Contender {
    name: &'static str,
    who: Who,
    /// Per round: median, p99, CPU per get (all in us).
    rounds: Vec<(f64, f64, f64)>,
}

impl Contender {
    fn peer(name: &'static str, mut peer: Peer) -> Contender {
        let ready = peer.json(Duration::from_secs(60));
        assert_eq!(ready["ready"], true, "{name} connects");
        Contender {
            name,
            who: Who::Peer(peer),
            rounds: Vec::new(),
        }
    }

    fn pid(&self) -> u32 {
        match &self.who {
            Who::Peer(p) => p.pid(),
            Who::Host(h) => h.child.id(),
        }
    }

    /// Runs `n` sequential gets; returns (median, p99, CPU per get) in us.
    fn round(&mut self, probe: &mut Probe, round: usize, n: usize) -> (f64, f64, f64) {
        let cpu0 = process_cpu(self.pid());
        let (median, p99) = match &mut self.who {
            Who::Peer(p) => {
                p.send(&n.to_string());
                let v = p.json(Duration::from_secs(120));
                (
                    v["median_us"].as_f64().unwrap(),
                    v["p99_us"].as_f64().unwrap(),
                )
            }
            Who::Host(h) => {
                let event = h.event.clone();
                probe.emit(
                    &format!("Event Bench {event}"),
                    json!({"N": n, "Round": round}),
                );
                let text = probe.expect(&format!("{event} {round} "), Duration::from_secs(120));
                let f: Vec<f64> = text
                    .split(' ')
                    .skip(2)
                    .filter_map(|v| v.parse().ok())
                    .collect();
                (f[0], f[1])
            }
        };
        let cpu = process_cpu(self.pid()).saturating_sub(cpu0).as_secs_f64() * 1e6 / n as f64;
        (median, p99, cpu)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--floor-child") {
        return floor_child(&args[i + 1]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (rounds, n) = if quick { (3, 300) } else { (15, 2000) };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let peers = Peers::install();
    let sim = start_sim_process();
    let url = sim.url.clone();
    let mut probe = Probe::new(&url);
    let me = std::env::current_exe().unwrap();
    let floor = |wrap: &[&str]| {
        Peer::from_child(
            wrapped(wrap, &me)
                .args(["--floor-child", &url])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        )
    };
    let pin = ["taskset", "-c", "0"];
    let xmacro = env!("CARGO_BIN_EXE_xmacro");
    let mut all = vec![
        Contender::peer("floor", floor(&[])),
        Contender {
            name: "xmacro",
            who: Who::Host(Host::start(xmacro, &[], &url, "Rtt", &[], &mut probe)),
            rounds: Vec::new(),
        },
        Contender::peer("jsxapi", peers.node("rtt", JSXAPI, &[&url])),
        Contender::peer("pyxows", peers.python("rtt", PYXOWS, &[&url])),
        Contender::peer("floor pinned", floor(&pin)),
        Contender {
            name: "xmacro pinned",
            who: Who::Host(Host::start(
                xmacro,
                &[],
                &url,
                "RttPinned",
                &pin,
                &mut probe,
            )),
            rounds: Vec::new(),
        },
        Contender::peer(
            "jsxapi pinned",
            peers.node_with("rtt", JSXAPI, &[&url], &pin),
        ),
    ];
    // Another build of xmacro (such as the commit before a change) beside
    // this one, free and pinned.
    if let Ok(before) = std::env::var("XMACRO_RTT_BEFORE") {
        let before: &'static str = before.leak();
        let env: Vec<(String, String)> = std::env::var("XMACRO_RTT_BEFORE_ENV")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (name, event, wrap) in [
            ("before", "RttBefore", &[][..]),
            ("before pinned", "RttBeforePinned", &pin[..]),
        ] {
            all.push(Contender {
                name,
                who: Who::Host(Host::start(before, &env, &url, event, wrap, &mut probe)),
                rounds: Vec::new(),
            });
        }
    }
    // This build with spinning off (pinned it never spins anyway).
    if std::env::var_os("XMACRO_RTT_NOSPIN").is_some() {
        let env = [("XMACRO_CALL_SPIN_US".to_string(), "0".to_string())];
        all.push(Contender {
            name: "xmacro no spin",
            who: Who::Host(Host::start(
                xmacro,
                &env,
                &url,
                "RttNoSpin",
                &[],
                &mut probe,
            )),
            rounds: Vec::new(),
        });
    }
    // A warm-up round for everyone (JIT, allocators, caches), not counted.
    for c in all.iter_mut() {
        c.round(&mut probe, 0, n / 2);
    }
    for r in 1..=rounds {
        let k = all.len();
        for i in 0..k {
            let c = &mut all[(i + r) % k];
            let got = c.round(&mut probe, r, n);
            c.rounds.push(got);
        }
        eprintln!(
            "round {r}/{rounds}: {}",
            all.iter()
                .map(|c| format!("{} {:.0}", c.name, c.rounds.last().unwrap().0))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let by = |name: &str| all.iter().find(|c| c.name == name).unwrap();
    let ratio = |a: &str, b: &str| {
        median(
            by(a)
                .rounds
                .iter()
                .zip(&by(b).rounds)
                .map(|(x, y)| x.0 / y.0)
                .collect(),
        )
    };
    let mut out = String::new();
    out.push_str(&format!(
        "{rounds} alternating rounds of {n} sequential gets each (Status Audio Volume), one `xmacro sim`, {cpus} CPUs; medians over rounds.\n\n"
    ));
    out.push_str("| client | median | p99 | CPU per get (client process) | median / floor (per round) | median / jsxapi (per round) |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
    for c in &all {
        let (floor, js) = if c.name.ends_with("pinned") {
            ("floor pinned", "jsxapi pinned")
        } else {
            ("floor", "jsxapi")
        };
        out.push_str(&format!(
            "| {} | {:.0} us | {:.0} us | {:.0} us | {:.2}x | {:.2}x |\n",
            c.name,
            median(c.rounds.iter().map(|r| r.0).collect()),
            median(c.rounds.iter().map(|r| r.1).collect()),
            median(c.rounds.iter().map(|r| r.2).collect()),
            ratio(c.name, floor),
            ratio(c.name, js),
        ));
    }
    if all.iter().any(|c| c.name == "before") {
        out.push_str(&format!(
            "\nThis build against `XMACRO_RTT_BEFORE` in the same rounds: {:.2}x the latency free, {:.2}x pinned (median of per-round ratios).\n",
            ratio("xmacro", "before"),
            ratio("xmacro pinned", "before pinned"),
        ));
    }
    out.push_str(&format!(
        "\nPinned: the client process runs under `taskset -c 0` (the simulator does not). Goal (issue 17, Must show 1): xmacro <= 0.6x jsxapi and <= 1.4x the floor, CPU per get <= ~90 us. Took {:.0} s.\n",
        started.elapsed().as_secs_f64()
    ));
    println!("{out}");
    if !quick {
        common::write_section("rtt", "### Sequential get side by side", &out);
    }
}
