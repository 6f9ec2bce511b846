//! The audit trail's cost: a script sending 10,000 commands to a simulator
//! (its own process, so its work is not counted), with the trail on and
//! off, in alternating rounds so that load on the machine hits both sides
//! alike. Each round starts a host, runs the script until it reports, and
//! stops the host (which writes every record still buffered), so the
//! writer thread's work counts. CPU per command is this process's CPU
//! time over the round divided by 10,000; throughput is commands per
//! second of the script's own run. Both are given as medians and as the
//! median of the per-round ratios on/off (each on round against the off
//! round beside it), with their spread; the goal is under 5% more CPU per
//! command. Each round also prints where its CPU went, by thread name.
//!
//! `cargo bench --bench audit` (`-- --quick` for two rounds; `-- --write`
//! writes the table into BENCHMARKS.md).

use std::time::Duration;

use xmacro::config::CodecEntry;
use xmacro::host::{self, HostOptions};
use xmacro::xows::CodecConfig;

mod common;

const COMMANDS: u64 = 10_000;

/// CPU time of this process so far (user + system, every thread), to the
/// nanosecond (`/proc/self/stat` counts only 10 ms ticks).
fn cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// CPU time so far of each live thread of this process, by thread name
/// (`/proc/self/task/*/schedstat`, nanoseconds on a CPU).
fn thread_times() -> std::collections::BTreeMap<String, Duration> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let dir = t.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let ns: u64 = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        *out.entry(name.trim().to_string()).or_default() += Duration::from_nanos(ns);
    }
    out
}

/// Where a round's CPU went, in us per command: each thread name's share
/// (its time at the end, before the host stops, less its time at the
/// start), and `rest` (host start and stop, threads that ended).
fn breakdown(
    before: &std::collections::BTreeMap<String, Duration>,
    after: &std::collections::BTreeMap<String, Duration>,
    total: Duration,
) -> std::collections::BTreeMap<String, f64> {
    let mut seen = Duration::ZERO;
    let mut parts = std::collections::BTreeMap::new();
    for (name, t) in after {
        let d = t.saturating_sub(before.get(name).copied().unwrap_or_default());
        seen += d;
        if d > Duration::from_millis(5) {
            parts.insert(name.clone(), per_command_us(d));
        }
    }
    parts.insert("rest".into(), per_command_us(total.saturating_sub(seen)));
    parts
}

fn per_command_us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6 / COMMANDS as f64
}

struct Round {
    cpu_per_command_us: f64,
    commands_per_s: f64,
    /// Per thread name, us per command.
    threads: std::collections::BTreeMap<String, f64>,
}

async fn round(dir: &std::path::Path, url: &str, audit: bool, n: usize) -> Round {
    let mut ws = common::watch_messages(url).await;
    let mut cfg = CodecConfig::from_url(url).unwrap();
    cfg.name = "room".into();
    let state = dir.join(format!("state-{}-{n}", if audit { "on" } else { "off" }));
    let mut opts = HostOptions::new(
        dir.join("scripts"),
        state.clone(),
        vec![CodecEntry {
            name: "room".into(),
            tags: vec![],
            config: cfg,
        }],
    );
    opts.watch = false;
    opts.audit = audit.then(xmacro::audit::Retention::default);
    let threads0 = thread_times();
    let cpu0 = cpu_time();
    let host = host::start(opts).await.unwrap();
    let text = tokio::time::timeout(
        Duration::from_secs(300),
        common::message_where(&mut ws, |t| t.starts_with("sent ")),
    )
    .await
    .expect("the script never finished");
    let threads1 = thread_times();
    host.shutdown().await;
    let cpu = cpu_time() - cpu0;
    let us: f64 = text.trim_start_matches("sent ").parse().unwrap();
    if audit {
        let records = xmacro::audit::Source::Dir(state)
            .reader()
            .unwrap()
            .read(&Default::default())
            .unwrap()
            .len();
        assert_eq!(
            records as u64,
            COMMANDS + 1,
            "every command (and the report) is on record"
        );
    }
    Round {
        cpu_per_command_us: per_command_us(cpu),
        commands_per_s: COMMANDS as f64 / (us / 1e6),
        threads: breakdown(&threads0, &threads1, cpu),
    }
}

/// The CPU per command of each kind of thread, median over the rounds:
/// what the trail adds shows apart from the noise of the rest.
fn thread_rows(on: &[Round], off: &[Round]) -> String {
    let of = |rs: &[Round], name: &str| {
        median(
            rs.iter()
                .map(|r| r.threads.get(name).copied().unwrap_or(0.0))
                .collect(),
        )
    };
    [
        (
            "xmacro-script",
            "the script thread (calls, the audit hand-over)",
        ),
        (
            "tokio-rt-worker",
            "the runtime's workers (the codec client)",
        ),
        ("xmacro-audit", "the audit writer (redaction, SQLite)"),
    ]
    .iter()
    .map(|(name, what)| {
        format!(
            "| of which {what} | {:.2} us | {:.2} us | | | |\n",
            of(on, name),
            of(off, name)
        )
    })
    .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let write = std::env::args().any(|a| a == "--write");
    let rounds = if quick { 2 } else { 11 };
    let sim = common::start_sim_process();
    let dir = std::env::temp_dir().join(format!("xmacro-bench-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::write(
        dir.join("scripts/burst.rhai"),
        format!(
            "let t0 = now_us();\nfor i in 0..{COMMANDS} {{ xapi.Command.Audio.Volume.Set(#{{ Level: i % 100 }}); }}\nlet took = now_us() - t0;\nxapi.Command.Message.Send(#{{ Text: `sent ${{took}}` }});\n"
        ),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut on, mut off) = (Vec::new(), Vec::new());
    rt.block_on(async {
        // One round each to warm up, not counted.
        round(&dir, &sim.url, false, 1000).await;
        round(&dir, &sim.url, true, 1000).await;
        for n in 0..rounds {
            // Alternate which side goes first.
            let order = if n % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for audit in order {
                let r = round(&dir, &sim.url, audit, n).await;
                eprintln!(
                    "round {n} audit {}: {:.2} us CPU/command, {:.0} commands/s (us/command by thread: {})",
                    if audit { "on " } else { "off" },
                    r.cpu_per_command_us,
                    r.commands_per_s,
                    r.threads
                        .iter()
                        .map(|(k, v)| format!("{k} {v:.1}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                if audit { on.push(r) } else { off.push(r) }
            }
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    let cpu_ratios: Vec<f64> = on
        .iter()
        .zip(&off)
        .map(|(a, b)| a.cpu_per_command_us / b.cpu_per_command_us)
        .collect();
    let tput_ratios: Vec<f64> = on
        .iter()
        .zip(&off)
        .map(|(a, b)| a.commands_per_s / b.commands_per_s)
        .collect();
    let cpu_on = median(on.iter().map(|r| r.cpu_per_command_us).collect());
    let cpu_off = median(off.iter().map(|r| r.cpu_per_command_us).collect());
    let t_on = median(on.iter().map(|r| r.commands_per_s).collect());
    let t_off = median(off.iter().map(|r| r.commands_per_s).collect());
    let spread = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.3}x to {hi:.3}x")
    };
    let mut table = format!(
        "| measure ({COMMANDS} commands a round, {rounds} rounds each, alternating) | audit on | audit off | on/off (median of per-round ratios) | per-round ratios | goal |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |\n\
         | CPU per command (host process: scripts, client, audit writer) | {cpu_on:.2} us | {cpu_off:.2} us | {:.3}x | {} | < 1.05x |\n\
         | throughput (the script's own run) | {t_on:.0} commands/s | {t_off:.0} commands/s | {:.3}x | {} | |\n",
        median(cpu_ratios.clone()),
        spread(&cpu_ratios),
        median(tput_ratios.clone()),
        spread(&tput_ratios),
    );
    table.push_str(&thread_rows(&on, &off));
    println!("{table}");
    if write {
        common::write_section(
            "audit",
            "### Audit trail: 10,000 commands with the trail on and off",
            &table,
        );
    }
}
