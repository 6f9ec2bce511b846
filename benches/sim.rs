//! The simulator alone, on one core: sequential and pipelined xGet per
//! second, and feedback events per second from the burst control.
//!
//! `cargo bench --bench sim` (add `-- --quick` for a short run). The
//! simulator runs on a single-threaded runtime on its own OS thread, so its
//! figures are for one core; the load comes from a bare tokio-tungstenite
//! client on another thread.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{connect_admin as connect, start_sim_thread as start_sim};

const GET: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"xGet","params":{"Path":["Status","Audio","Volume"]}}"#;

async fn sequential(url: &str, n: usize) -> f64 {
    let mut ws = connect(url).await;
    let t = Instant::now();
    for _ in 0..n {
        ws.send(Message::text(GET)).await.unwrap();
        loop {
            if let Some(Ok(Message::Text(_))) = ws.next().await {
                break;
            }
        }
    }
    n as f64 / t.elapsed().as_secs_f64()
}

async fn pipelined(url: &str, n: usize) -> f64 {
    let ws = connect(url).await;
    let (mut sink, mut stream) = ws.split();
    let t = Instant::now();
    let writer = tokio::spawn(async move {
        for _ in 0..n {
            sink.feed(Message::text(GET)).await.unwrap();
        }
        sink.flush().await.unwrap();
        sink
    });
    let mut got = 0;
    while got < n {
        match stream.next().await {
            Some(Ok(Message::Text(_))) => got += 1,
            Some(Ok(_)) => {}
            other => panic!("stream ended: {other:?}"),
        }
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    drop(writer.await);
    rate
}

async fn burst(url: &str, n: usize) -> f64 {
    let mut ws = connect(url).await;
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":1,"method":"xFeedback/Subscribe","params":{"Query":["Event","Sim","Burst"]}}"#,
    ))
    .await
    .unwrap();
    ws.next().await.unwrap().unwrap();
    let t = Instant::now();
    ws.send(Message::text(format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"xSim/Burst","params":{{"Count":{n}}}}}"#
    )))
    .await
    .unwrap();
    let mut events = 0;
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            continue;
        };
        if t.contains("xFeedback/Event") {
            events += 1;
        } else {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["result"]["Sent"], n as u64);
            break;
        }
    }
    assert_eq!(events, n, "every burst event arrives");
    n as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let url = start_sim();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Warm up the connection paths once.
        sequential(&url, 1000).await;
        let seq = sequential(&url, 20_000 / scale).await;
        let pipe = pipelined(&url, 300_000 / scale).await;
        let ev = burst(&url, 300_000 / scale).await;
        println!(
            "simulator on one core ({})",
            if quick { "quick" } else { "full" }
        );
        println!("| measure | per second | goal |");
        println!("| --- | ---: | ---: |");
        println!("| sequential xGet round trips | {seq:.0} | |");
        println!("| pipelined xGet | {pipe:.0} | 100000 |");
        println!("| burst feedback events | {ev:.0} | 200000 |");
        tokio::time::sleep(Duration::from_millis(10)).await;
    });
}
