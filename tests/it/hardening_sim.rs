//! The simulator as a process under abuse: a raw frame of absurd size is
//! refused, idle sockets that never upgrade are closed, and running out of
//! file descriptors pauses the accept loop instead of spinning it.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use crate::common::Raw;

/// `xmacro sim` with at most `fds` open files; killed on drop.
struct SimProcess {
    child: tokio::process::Child,
    url: String,
    addr: String,
}

impl SimProcess {
    async fn start(fds: u32) -> SimProcess {
        let script = format!("ulimit -n {fds} && exec \"$0\" sim --listen 127.0.0.1:0");
        let mut child = tokio::process::Command::new("sh")
            .args(["-c", &script, env!("CARGO_BIN_EXE_xmacro")])
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(60), out.read_line(&mut line))
            .await
            .expect("the simulator prints its address")
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_string();
        let addr = url
            .trim_start_matches("ws://")
            .trim_end_matches("/ws")
            .to_string();
        // Keep reading so the simulator never blocks on a full pipe.
        tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink).await;
        });
        SimProcess { child, url, addr }
    }

    fn cpu_seconds(&self) -> f64 {
        super::hardening::cpu_seconds(self.child.id().unwrap())
    }
}

#[tokio::test]
async fn send_raw_with_an_absurd_size_is_refused_and_the_simulator_lives() {
    let sim = SimProcess::start(1024).await;
    let mut raw = Raw::connect(&sim.url).await;
    for params in [
        json!({"Kind": "oversize", "Size": 1u64 << 40}),
        json!({"Kind": "deep", "Depth": 1u64 << 40}),
    ] {
        let e = raw.err("xSim/SendRaw", params).await;
        assert!(
            e["message"].as_str().unwrap().contains("over the limit"),
            "{e}"
        );
    }
    // Still serving.
    raw.get("Status Audio Volume").await;
}

#[tokio::test]
async fn idle_sockets_that_exhaust_descriptors_neither_spin_the_simulator_nor_lock_clients_out() {
    let sim = SimProcess::start(64).await;
    // More idle TCP connections than the simulator has descriptors; none
    // ever sends an upgrade request.
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(tokio::net::TcpStream::connect(&sim.addr).await.unwrap());
    }
    // While the accept queue holds connections it cannot take, the accept
    // loop must wait rather than spin.
    let cpu0 = sim.cpu_seconds();
    let t0 = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = (sim.cpu_seconds() - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    assert!(cpu < 10.0, "the simulator burns {cpu:.0} % of a core");
    // Every idle socket is closed by the upgrade timeout (10 s).
    let closes = idle.into_iter().map(|mut s| async move {
        let mut buf = [0u8; 16];
        matches!(s.read(&mut buf).await, Ok(0) | Err(_))
    });
    let closed = tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join_all(closes),
    )
    .await
    .expect("idle sockets are closed");
    assert!(closed.into_iter().all(|c| c));
    // And a real client gets in again.
    let mut raw = tokio::time::timeout(Duration::from_secs(30), Raw::connect(&sim.url))
        .await
        .expect("a client connects once the idle sockets are gone");
    raw.get("Status Audio Volume").await;
}
