//! The macro runtime, one run on one machine:
//!
//! 1. feedback to callback: the simulator bursts N events to one codec and
//!    one script's callback counts them (events per second, drops);
//! 2. hot reload: from writing a script file to its new version's first
//!    line running, for a script on one codec (median and worst of 20).
//!
//! `cargo bench --bench runtime` (`-- --quick` for a short run). The
//! simulator runs on its own single-threaded runtime and thread; the host
//! on a multi-threaded runtime, as `xmacro run` does.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use xmacro::config::CodecEntry;
use xmacro::host::{self, HostOptions};
use xmacro::xows::CodecConfig;

mod common;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let events: u64 = if quick { 20_000 } else { 100_000 };
    let reloads = if quick { 5 } else { 20 };
    let url = common::start_sim_thread();
    let dir = std::env::temp_dir().join(format!("xmacro-bench-runtime-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    let report_fn = "fn report(x) { xapi.Command.Message.Send(#{ Text: `${x}` }); }\n";
    std::fs::write(
        dir.join("scripts/counter.rhai"),
        format!(
            "{report_fn}let n = 0;\nxapi.Event.Sim.Burst.on(|e| {{ n += 1; if e.Seq == {last} {{ report(`counted ${{n}}`); n = 0; }} }});\nreport(\"counter ready\");\n",
            last = events - 1
        ),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut ws = common::watch_messages(&url).await;
        let mut cfg = CodecConfig::from_url(&url).unwrap();
        cfg.name = "room".into();
        cfg.feedback_buffer = 1 << 17;
        let mut opts = HostOptions::new(
            dir.join("scripts"),
            dir.join("state"),
            vec![CodecEntry { name: "room".into(), tags: vec![], config: cfg }],
        );
        opts.limits.mailbox = 1 << 17;
        let host = host::start(opts).await.unwrap();
        common::message_where(&mut ws, |t| t == "counter ready").await;

        // 1. Feedback to callback.
        let t = Instant::now();
        ws.send(Message::text(format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"xSim/Burst","params":{{"Count":{events}}}}}"#
        )))
        .await
        .unwrap();
        let counted = tokio::time::timeout(Duration::from_secs(120), common::message_where(&mut ws, |t| t.starts_with("counted")))
            .await
            .expect("the counter never saw the last event");
        let took = t.elapsed();
        let n: u64 = counted.trim_start_matches("counted ").parse().unwrap();

        // 2. Save to running.
        let mut times = Vec::new();
        for k in 0..reloads {
            let text = format!("{report_fn}report(\"version {k}\");\n");
            let t = Instant::now();
            std::fs::write(dir.join("scripts/reloaded.rhai"), text).unwrap();
            let want = format!("version {k}");
            tokio::time::timeout(Duration::from_secs(10), common::message_where(&mut ws, |t| t == want))
                .await
                .expect("the new version never ran");
            times.push(t.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        times.sort();
        host.shutdown().await;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!("macro runtime ({})", if quick { "quick" } else { "full" });
        println!("| measure | value | goal |");
        println!("| --- | ---: | ---: |");
        println!(
            "| feedback to callback, one codec, {events} events | {:.0} events/s, {} dropped | 100000 events/s, 0 dropped |",
            events as f64 / took.as_secs_f64(),
            events - n
        );
        println!(
            "| save to new version running, one codec (median of {reloads}) | {:.1} ms (worst {:.1} ms) | 100 ms |",
            ms(times[times.len() / 2]),
            ms(*times.last().unwrap())
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
