//! The XoWS client next to its floor, in one run on one machine:
//!
//! 1. sequential `get` round trips through the `Codec` handle and through a
//!    bare tokio-tungstenite client doing the same xGet (median, p99, ratio);
//! 2. idle memory per connection with 1000 connections, for the handle and
//!    for bare tokio-tungstenite connections.
//!
//! `cargo bench --bench client` (`-- --quick` for a short run). The
//! simulator runs as a separate `xmacro sim` process so its memory is not
//! counted; latency runs alternate blocks of both contenders so drift on a
//! shared machine hits both alike; each memory figure comes from a fresh
//! child process.

use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use xmacro::xows::path::Path;
use xmacro::xows::{Codec, CodecConfig};

const GET: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"xGet","params":{"Path":["Status","Audio","Volume"]}}"#;

mod common;
use common::{Ws, connect_admin as bare, start_sim_process as start_sim};

async fn bare_get(ws: &mut Ws) -> Value {
    ws.send(Message::text(GET)).await.unwrap();
    loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await {
            let v: Value = serde_json::from_str(&t).unwrap();
            return v["result"].clone();
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// In a child process: opens `n` idle connections of one kind and prints
/// the RSS growth per connection in bytes.
fn memory_child(kind: &str, url: &str, n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Warm up the runtime, TLS-free connect path and allocator once.
        let mut keep_codecs = Vec::new();
        let mut keep_bare = Vec::new();
        match kind {
            "handle" => keep_codecs.push(
                Codec::connect(CodecConfig::from_url(url).unwrap())
                    .await
                    .unwrap(),
            ),
            _ => keep_bare.push(bare(url).await),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = common::peers::process_rss_kib(std::process::id());
        for _ in 0..n {
            match kind {
                "handle" => keep_codecs.push(
                    Codec::connect(CodecConfig::from_url(url).unwrap())
                        .await
                        .unwrap(),
                ),
                _ => keep_bare.push(bare(url).await),
            }
        }
        // Idle for a moment so every task has settled.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = common::peers::process_rss_kib(std::process::id());
        if let Some(c) = keep_codecs.last() {
            assert_eq!(
                c.get(&Path::parse("Status Audio Volume").unwrap())
                    .await
                    .unwrap(),
                50
            );
        }
        println!("{}", (after.saturating_sub(before)) * 1024 / n as u64);
    });
}

fn memory(kind: &str, url: &str, n: usize) -> u64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--mem-child", kind, url, &n.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--mem-child") {
        return memory_child(&args[i + 1], &args[i + 2], args[i + 3].parse().unwrap());
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (rounds, block, conns) = if quick {
        (10, 200, 200)
    } else {
        (40, 500, 1000)
    };
    let sim = start_sim();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The same handle called from a plain OS thread through
    // Handle::block_on, the way a script's host call reaches the runtime.
    // The same handle called from a plain OS thread through
    // Handle::block_on while this thread drives the runtime: the way a
    // script's host call reaches the connection task.
    let thread_lat = {
        let handle = rt.handle().clone();
        let url = sim.url.clone();
        let n = rounds * block;
        rt.block_on(async move {
            let codec = Codec::connect(CodecConfig::from_url(&url).unwrap())
                .await
                .unwrap();
            let worker = std::thread::spawn(move || {
                let path = Path::parse("Status Audio Volume").unwrap();
                for _ in 0..500 {
                    handle.block_on(codec.get(&path)).unwrap();
                }
                let mut t = Vec::with_capacity(n);
                for _ in 0..n {
                    let s = Instant::now();
                    handle.block_on(codec.get(&path)).unwrap();
                    t.push(s.elapsed());
                }
                t.sort();
                t
            });
            while !worker.is_finished() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            worker.join().unwrap()
        })
    };
    let (handle_lat, bare_lat) = rt.block_on(async {
        let codec = Codec::connect(CodecConfig::from_url(&sim.url).unwrap())
            .await
            .unwrap();
        let path = Path::parse("Status Audio Volume").unwrap();
        let mut ws = bare(&sim.url).await;
        for _ in 0..500 {
            codec.get(&path).await.unwrap();
            bare_get(&mut ws).await;
        }
        let (mut h, mut b) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            for _ in 0..block {
                let t = Instant::now();
                codec.get(&path).await.unwrap();
                h.push(t.elapsed());
            }
            for _ in 0..block {
                let t = Instant::now();
                bare_get(&mut ws).await;
                b.push(t.elapsed());
            }
        }
        h.sort();
        b.sort();
        (h, b)
    });
    let (hm, h99) = (percentile(&handle_lat, 0.5), percentile(&handle_lat, 0.99));
    let (bm, b99) = (percentile(&bare_lat, 0.5), percentile(&bare_lat, 0.99));
    let (tm, t99) = (percentile(&thread_lat, 0.5), percentile(&thread_lat, 0.99));
    let mem_handle = memory("handle", &sim.url, conns);
    let mem_bare = memory("bare", &sim.url, conns);
    println!(
        "client vs bare tokio-tungstenite, {} round trips each ({})",
        handle_lat.len(),
        if quick { "quick" } else { "full" }
    );
    println!("| measure | xmacro Codec | bare tokio-tungstenite | ratio | goal |");
    println!("| --- | ---: | ---: | ---: | --- |");
    println!(
        "| sequential get, median | {:.1} us | {:.1} us | {:.2}x | <= 1.3x |",
        us(hm),
        us(bm),
        us(hm) / us(bm)
    );
    println!(
        "| sequential get, p99 | {:.1} us | {:.1} us | {:.2}x | |",
        us(h99),
        us(b99),
        us(h99) / us(b99)
    );
    println!(
        "| sequential get from another OS thread (as scripts call), median / p99 | {:.1} / {:.1} us | {:.1} / {:.1} us | {:.2}x | |",
        us(tm),
        us(t99),
        us(bm),
        us(b99),
        us(tm) / us(bm)
    );
    println!(
        "| idle memory per connection ({conns} connections) | {:.1} KiB | {:.1} KiB | {:.2}x | <= 32 KiB |",
        mem_handle as f64 / 1024.0,
        mem_bare as f64 / 1024.0,
        mem_handle as f64 / mem_bare.max(1) as f64
    );
}
