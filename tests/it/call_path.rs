//! The request path where callers write their own request frames: answers
//! reach the right caller when callers and the connection's own requests
//! (subscriptions) share one connection at once, and calls queued while
//! offline go out in the order they were made once the link is back.

use std::time::Duration;

use crate::common::{Sim, wait_state, within};
use futures_util::future::join_all;
use serde_json::{Map, json};
use xmacro::sim::SimOptions;
use xmacro::xows::backoff::BackoffPolicy;
use xmacro::xows::path::Path;
use xmacro::xows::{Codec, CodecConfig, ConnState};

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

fn cfg(url: &str) -> CodecConfig {
    let mut c = CodecConfig::from_url(url).unwrap();
    c.request_timeout = Duration::from_secs(5);
    c.backoff = BackoffPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(200),
        auth_initial: Duration::from_secs(60),
        auth_max: Duration::from_secs(600),
    };
    c
}

fn level(n: i64) -> Map<String, serde_json::Value> {
    let mut m = Map::new();
    m.insert("Level".into(), json!(n));
    m
}

#[tokio::test]
async fn many_callers_and_subscriptions_at_once_each_get_their_own_answer() {
    let s = Sim::start(SimOptions::default()).await;
    let c = within("connect", Codec::connect(cfg(&s.url())))
        .await
        .unwrap();
    c.command(&p("Command Audio Volume Set"), level(42), None)
        .await
        .unwrap();
    let (volume, name_path) = (p("Status Audio Volume"), p("Configuration SystemUnit Name"));
    let gets = join_all((0..200).map(|_| c.get(&volume)));
    let names = join_all((0..50).map(|_| c.get(&name_path)));
    let queries = ["Status Audio", "Event Message Send", "Status Call"].map(p);
    let subs = join_all(queries.iter().map(|q| c.subscribe(q, false)));
    let (gets, names, subs) =
        within("every answer", async { tokio::join!(gets, names, subs) }).await;
    assert!(gets.iter().all(|v| v.as_ref().unwrap() == &json!(42)));
    let name = c.get(&name_path).await.unwrap();
    assert!(name.is_string(), "{name}");
    assert!(names.iter().all(|v| v.as_ref().unwrap() == &name));
    assert!(subs.iter().all(|s| s.is_ok()));
}

#[tokio::test]
async fn calls_made_while_offline_go_out_in_order_when_the_link_is_back() {
    let s = Sim::start(SimOptions::default()).await;
    let addr = s.addr;
    let url = s.url();
    let c = within("connect", Codec::connect(cfg(&url))).await.unwrap();
    drop(s);
    wait_state(
        &c,
        |s| matches!(s, ConnState::Reconnecting { .. }),
        "the drop",
    )
    .await;
    let set = p("Command Audio Volume Set");
    // Thirty commands, each first polled (queued) in turn, before the
    // codec is back.
    let sets = join_all((1..=30).map(|n| c.command(&set, level(n), None)));
    let back = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let listener = within("rebinding", async {
            loop {
                match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        })
        .await;
        Sim::start_on(listener, SimOptions::default())
    };
    let (results, _sim) = within("the queued calls", async { tokio::join!(sets, back) }).await;
    for r in &results {
        r.as_ref().unwrap();
    }
    assert_eq!(
        c.get(&p("Status Audio Volume")).await.unwrap(),
        30,
        "the last command made is the last one applied"
    );
}
