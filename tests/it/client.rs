//! The XoWS client against the simulator: calls, errors, shared
//! subscriptions, close, reconnect (restart and reboot), wrong passwords,
//! keepalive, unexpected frames, and TLS with pin, CA, system roots and
//! insecure mode.

use std::time::{Duration, Instant};

use crate::common::{Raw, Sim, WAIT, rebind, wait_state, within};
use serde_json::{Value, json};
use xmacro::sim::{Identity, SimOptions};
use xmacro::xows::backoff::BackoffPolicy;
use xmacro::xows::path::Path;
use xmacro::xows::{
    AuthMode, Codec, CodecConfig, ConnState, ConnectError, Error, Password, TlsMode,
};

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

/// Client settings for tests: quick backoff and timeouts.
fn cfg(url: &str) -> CodecConfig {
    let mut c = CodecConfig::from_url(url).unwrap();
    c.request_timeout = Duration::from_secs(3);
    c.backoff = BackoffPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        auth_initial: Duration::from_secs(60),
        auth_max: Duration::from_secs(600),
    };
    c
}

async fn connect(url: &str) -> Codec {
    within("connect", Codec::connect(cfg(url))).await.unwrap()
}

async fn inspect(url: &str) -> Value {
    Raw::connect(url).await.ok("xSim/Inspect", json!({})).await
}

#[tokio::test]
async fn every_call_kind_works() {
    let s = Sim::start(SimOptions::default()).await;
    let c = connect(&s.url()).await;
    assert_eq!(c.get(&p("Status Audio Volume")).await.unwrap(), 50);
    let q = c.query(&p("Status ** DisplayName")).await.unwrap();
    assert!(
        q["Status"]["SystemUnit"]["Software"]["DisplayName"].is_string(),
        "{q}"
    );
    c.set(&p("Configuration SystemUnit Name"), json!("lab"))
        .await
        .unwrap();
    assert_eq!(
        c.get(&p("Configuration SystemUnit Name")).await.unwrap(),
        "lab"
    );
    let params = json!({"Level": 20}).as_object().unwrap().clone();
    let r = c
        .command(&p("Audio Volume Set"), params, None)
        .await
        .unwrap();
    assert_eq!(r["status"], "OK");
    let body = "<Extensions/>".to_string();
    let params = json!({"PanelId": "p1"}).as_object().unwrap().clone();
    c.command(
        &p("Command UserInterface Extensions Panel Save"),
        params,
        Some(body),
    )
    .await
    .unwrap();
    assert_eq!(inspect(&s.url()).await["Panels"]["p1"], "<Extensions/>");
    assert!(c.state().is_connected());
}

#[tokio::test]
async fn codec_refusals_and_timeouts_are_told_apart() {
    let s = Sim::start(SimOptions::default()).await;
    let c = connect(&s.url()).await;
    match c.get(&p("Status No Such Thing")).await {
        Err(Error::Codec(e)) => assert_eq!(e.code, -32601),
        other => panic!("{other:?}"),
    }
    Raw::connect(&s.url())
        .await
        .ok("xSim/Delay", json!({"Ms": 600}))
        .await;
    let t = Instant::now();
    let r = c
        .call(
            xmacro::xows::protocol::Call::get(&p("Status Audio Volume")),
            Duration::from_millis(200),
        )
        .await;
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
    assert!(t.elapsed() < WAIT, "the timeout did not end the call");
    // The next call is answered after the first one's late answer (the
    // simulator answers in order), so it sees that answer arrive, ignores
    // it, and still gets its own: the connection goes on.
    let r = c
        .call(
            xmacro::xows::protocol::Call::get(&p("Status Audio Volume")),
            WAIT,
        )
        .await;
    assert_eq!(r.unwrap(), 50);
    assert!(c.state().is_connected(), "{:?}", c.state());
    Raw::connect(&s.url())
        .await
        .ok("xSim/Delay", json!({"Ms": 0}))
        .await;
    assert_eq!(c.get(&p("Status Audio Volume")).await.unwrap(), 50);
}

#[tokio::test]
async fn both_auth_forms_and_legacy() {
    let s = Sim::start(SimOptions {
        password: "pw".into(),
        ..Default::default()
    })
    .await;
    for auth in [AuthMode::Basic, AuthMode::SubProtocol] {
        let mut c = cfg(&s.url());
        c.password = Password("pw".into());
        c.auth = auth;
        let codec = Codec::connect(c).await.unwrap();
        assert_eq!(
            codec.get(&p("Status Audio Volume")).await.unwrap(),
            50,
            "{auth:?}"
        );
    }
    let mut c = cfg(&s.url());
    c.password = Password("pw".into());
    c.legacy = true;
    let codec = Codec::connect(c).await.unwrap();
    assert_eq!(codec.get(&p("Status Audio Volume")).await.unwrap(), "50");
}

#[tokio::test]
async fn subscribers_share_one_codec_subscription() {
    let s = Sim::start(SimOptions::default()).await;
    let c = connect(&s.url()).await;
    let mut a = c.subscribe(&p("Status Audio Volume"), false).await.unwrap();
    let mut b = c.subscribe(&p("Status/Audio/Volume"), true).await.unwrap();
    assert_eq!(
        within("current value", b.next()).await.unwrap(),
        json!({"Status":{"Audio":{"Volume":50}}})
    );
    assert_eq!(inspect(&s.url()).await["Subscriptions"], 1);
    let mut raw = Raw::connect(&s.url()).await;
    raw.ok("xCommand/Audio/Volume/Set", json!({"Level": 61}))
        .await;
    let want = json!({"Status":{"Audio":{"Volume":61}}});
    assert_eq!(within("a", a.next()).await.unwrap(), want);
    assert_eq!(within("b", b.next()).await.unwrap(), want);
    drop(a);
    raw.ok("xCommand/Audio/Volume/Set", json!({"Level": 62}))
        .await;
    assert_eq!(
        within("b after a is gone", b.next()).await.unwrap(),
        json!({"Status":{"Audio":{"Volume":62}}})
    );
    assert_eq!(
        inspect(&s.url()).await["Subscriptions"],
        1,
        "b still listens"
    );
    b.unsubscribe();
    within("the codec subscription to go", async {
        while inspect(&s.url()).await["Subscriptions"] != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn refused_subscription_is_an_error() {
    let s = Sim::start(SimOptions::default()).await;
    let c = connect(&s.url()).await;
    Raw::connect(&s.url())
        .await
        .ok("xSim/Configure", json!({"MaxSubscriptions": 1}))
        .await;
    let _a = c.subscribe(&p("Status Audio"), false).await.unwrap();
    match c.subscribe(&p("Status Standby"), false).await {
        Err(Error::Codec(e)) => assert_eq!(e.code, -31998),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn close_sends_1000() {
    let s = Sim::start(SimOptions::default()).await;
    let c = connect(&s.url()).await;
    c.close().await;
    assert_eq!(c.state(), ConnState::Closed);
    assert!(matches!(
        c.get(&p("Status Audio Volume")).await,
        Err(Error::Closed)
    ));
    within("the close to be recorded", async {
        loop {
            let closes = inspect(&s.url()).await["Closes"].clone();
            if closes.as_array().is_some_and(|a| a.contains(&json!(1000))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn restart_on_the_same_address_resubscribes_without_duplicates() {
    let s = Sim::start(SimOptions::default()).await;
    let addr = s.addr;
    let url = s.url();
    let c = connect(&url).await;
    let mut sub = c.subscribe(&p("Status Audio Volume"), false).await.unwrap();
    Raw::connect(&url)
        .await
        .ok("xCommand/Audio/Volume/Set", json!({"Level": 60}))
        .await;
    assert_eq!(
        within("first change", sub.next()).await.unwrap(),
        json!({"Status":{"Audio":{"Volume":60}}})
    );
    drop(s);
    wait_state(
        &c,
        |s| matches!(s, ConnState::Reconnecting { .. }),
        "the drop to be seen",
    )
    .await;
    // A call during the outage fails with "disconnected" after its timeout.
    let t = Instant::now();
    let r = c
        .call(
            xmacro::xows::protocol::Call::get(&p("Status Audio Volume")),
            Duration::from_millis(300),
        )
        .await;
    assert!(matches!(r, Err(Error::Disconnected { .. })), "{r:?}");
    assert!(
        t.elapsed() >= Duration::from_millis(290),
        "{:?}",
        t.elapsed()
    );
    // The codec comes back (fresh state: volume 50) on the same address.
    let _s2 = Sim::start_on(rebind(addr).await, SimOptions::default());
    wait_state(&c, ConnState::is_connected, "the reconnect").await;
    // What changed while away arrives once, read from the codec.
    assert_eq!(
        within("the resync", sub.next()).await.unwrap(),
        json!({"Status":{"Audio":{"Volume":50}}})
    );
    Raw::connect(&url)
        .await
        .ok("xCommand/Audio/Volume/Set", json!({"Level": 70}))
        .await;
    assert_eq!(
        within("a change after the reconnect", sub.next())
            .await
            .unwrap(),
        json!({"Status":{"Audio":{"Volume":70}}})
    );
    // A round trip on the same connection: every frame sent before its
    // answer has been dispatched by the time it returns.
    assert_eq!(c.get(&p("Status Audio Volume")).await.unwrap(), 70);
    assert_eq!(sub.try_next(), None, "nothing delivered twice");
}

#[tokio::test]
async fn reboot_with_502_and_not_ready_phases() {
    let s = Sim::start(SimOptions::default()).await;
    let c = connect(&s.url()).await;
    let mut ev = c.subscribe(&p("Event Message Send"), false).await.unwrap();
    let mut vol = c.subscribe(&p("Status Audio Volume"), false).await.unwrap();
    let mut raw = Raw::connect(&s.url()).await;
    raw.ok("xSim/Reboot", json!({"Down": 0.8, "NotReady": 0.8}))
        .await;
    wait_state(
        &c,
        |s| matches!(s, ConnState::Reconnecting { .. }),
        "the reboot to be seen",
    )
    .await;
    let r = c
        .call(
            xmacro::xows::protocol::Call::get(&p("Status Audio Volume")),
            Duration::from_millis(200),
        )
        .await;
    assert!(matches!(r, Err(Error::Disconnected { .. })), "{r:?}");
    // A call made while the codec still boots waits and then succeeds,
    // through 502 and Not Ready.
    let v = c
        .call(
            xmacro::xows::protocol::Call::get(&p("Status Audio Volume")),
            Duration::from_secs(4),
        )
        .await
        .unwrap();
    assert_eq!(v, 50);
    // Both subscriptions were registered again without any action here.
    within("both subscriptions to be registered again", async {
        loop {
            let mut r = Raw::connect(&s.url()).await;
            if r.ok("xSim/Inspect", json!({})).await["Subscriptions"] == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let mut raw = Raw::connect(&s.url()).await;
    raw.ok("xCommand/Message/Send", json!({"Text": "back"}))
        .await;
    raw.ok("xCommand/Audio/Volume/Set", json!({"Level": 33}))
        .await;
    assert_eq!(
        within("event after reboot", ev.next()).await.unwrap()["Event"]["Message"]["Send"]["Text"],
        "back"
    );
    // The volume did not change across the reboot (50 before and after), so
    // the resync delivers nothing; the next change arrives once.
    assert_eq!(
        within("status after reboot", vol.next()).await.unwrap(),
        json!({"Status":{"Audio":{"Volume":33}}})
    );
    assert_eq!(c.get(&p("Status Audio Volume")).await.unwrap(), 33);
    assert_eq!(vol.try_next(), None);
    assert_eq!(ev.try_next(), None);
}

#[tokio::test]
async fn wrong_password_is_one_clear_error_without_a_retry_loop() {
    let s = Sim::start(SimOptions {
        password: "right".into(),
        ..Default::default()
    })
    .await;
    let mut c = cfg(&s.url());
    c.password = Password("wrong".into());
    match Codec::connect(c.clone()).await {
        Err(e @ Error::Connect(ConnectError::Auth { status: 403, .. })) => {
            assert!(e.to_string().contains("authentication failed"), "{e}");
            assert!(
                !e.to_string().contains("wrong"),
                "no password in errors: {e}"
            );
        }
        other => panic!("{other:?}"),
    }
    let inspect_right = || async {
        crate::common::try_connect(&s.url(), crate::common::Auth::Basic("admin", "right"))
            .await
            .unwrap()
            .ok("xSim/Inspect", json!({}))
            .await
    };
    assert_eq!(inspect_right().await["AuthFailures"], 1);
    // A long-running handle backs off to minutes, not a tight loop.
    let codec = Codec::spawn(c);
    wait_state(
        &codec,
        |s| matches!(s, ConnState::Reconnecting { .. }),
        "the refusal",
    )
    .await;
    match codec.state() {
        ConnState::Reconnecting {
            reason, retry_in, ..
        } => {
            assert!(reason.contains("authentication failed"), "{reason}");
            assert!(retry_in >= Duration::from_secs(30), "{retry_in:?}");
        }
        other => panic!("{other:?}"),
    }
    // The state says the next attempt is at least 30 s away; the codec saw
    // exactly the one attempt that led to it.
    assert_eq!(
        inspect_right().await["AuthFailures"],
        2,
        "one attempt, then a long wait"
    );
}

#[tokio::test]
async fn an_idle_link_whose_pings_are_answered_stays_up() {
    let s = Sim::start(SimOptions::default()).await;
    let mut c = cfg(&s.url());
    c.keepalive = Duration::from_millis(100);
    c.keepalive_timeout = Duration::from_millis(100);
    // Pinged by a host-wide pinger, as a host's codecs are.
    c.pinger = Some(xmacro::xows::pinger::Pinger::new());
    let codec = Codec::connect(c).await.unwrap();
    within("five pings", async {
        while codec.pings() < 5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(codec.connects(), 1, "{:?}", codec.last_drop());
    assert_eq!(codec.get(&p("Status Audio Volume")).await.unwrap(), 50);
}

#[tokio::test]
async fn keepalive_detects_a_half_open_link() {
    let s = Sim::start(SimOptions::default()).await;
    let mut c = cfg(&s.url());
    c.keepalive = Duration::from_millis(150);
    c.keepalive_timeout = Duration::from_millis(150);
    let codec = Codec::connect(c).await.unwrap();
    Raw::connect(&s.url())
        .await
        .ok("xSim/Freeze", json!({"Ms": 1500}))
        .await;
    // Wait on counters, not on a transient state a watch channel may skip.
    within("keepalive to notice and reconnect", async {
        while codec.connects() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let why = codec.last_drop().unwrap_or_default();
    assert!(why.contains("half-open"), "{why}");
    wait_state(&codec, ConnState::is_connected, "the reconnect").await;
    assert_eq!(codec.get(&p("Status Audio Volume")).await.unwrap(), 50);
}

#[tokio::test]
async fn unexpected_frames_never_end_the_connection() {
    let s = Sim::start(SimOptions::default()).await;
    let c = connect(&s.url()).await;
    let frames = [
        json!({"Kind": "nonjson"}),
        json!({"Kind": "binary"}),
        json!({"Kind": "text", "Text": r#"{"jsonrpc":"2.0","id":null,"result":1}"#}),
        json!({"Kind": "text", "Text": r#"{"jsonrpc":"2.0","id":987654,"result":1}"#}),
        json!({"Kind": "text", "Text": r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"x"}}"#}),
        json!({"Kind": "text", "Text": r#"{"jsonrpc":"2.0","id":2}"#}),
        json!({"Kind": "text", "Text": r#"{"jsonrpc":"2.0","method":"xFeedback/Event","params":{"Id":4242,"Status":{}}}"#}),
        json!({"Kind": "deep", "Depth": 100000}),
    ];
    for f in frames {
        // xSim/SendRaw goes to the caller's own session: send it through the client.
        let call = xmacro::xows::protocol::Call {
            method: "xSim/SendRaw".into(),
            params: f.clone(),
        };
        c.call(call, Duration::from_secs(3)).await.unwrap();
        assert_eq!(
            c.get(&p("Status Audio Volume")).await.unwrap(),
            50,
            "after {f}"
        );
    }
    assert!(c.state().is_connected());
}

async fn tls_sim() -> (Sim, Identity) {
    let id = Identity::self_signed().unwrap();
    let s = Sim::start(SimOptions {
        tls: Some(id.clone()),
        ..Default::default()
    })
    .await;
    (s, id)
}

fn wss(s: &Sim) -> String {
    format!("wss://{}/ws", s.addr)
}

#[tokio::test]
async fn tls_pinned_fingerprint() {
    let (s, id) = tls_sim().await;
    let mut c = cfg(&wss(&s));
    c.tls = TlsMode::Pin(id.fingerprint());
    let codec = Codec::connect(c).await.unwrap();
    assert_eq!(codec.get(&p("Status Audio Volume")).await.unwrap(), 50);
}

#[tokio::test]
async fn tls_wrong_pin_fails_closed_and_says_what_was_presented() {
    let (s, id) = tls_sim().await;
    let other = Identity::self_signed().unwrap().fingerprint();
    let mut c = cfg(&wss(&s));
    c.tls = TlsMode::Pin(other.clone());
    match Codec::connect(c).await {
        Err(Error::Connect(ConnectError::Tls(msg))) => {
            assert!(msg.contains(&id.fingerprint()), "presented: {msg}");
            assert!(msg.contains(&other), "pin: {msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tls_untrusted_certificate_explains_how_to_pin() {
    let (s, id) = tls_sim().await;
    let c = cfg(&wss(&s)); // system roots
    match Codec::connect(c).await {
        Err(Error::Connect(ConnectError::Tls(msg))) => {
            assert!(msg.contains("not trusted"), "{msg}");
            assert!(
                msg.contains(&format!("fingerprint = \"{}\"", id.fingerprint())),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tls_custom_ca() {
    let (s, id) = tls_sim().await;
    let dir = std::env::temp_dir().join(format!("xmacro-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join(format!("ca-{}.pem", s.addr.port()));
    std::fs::write(&ca, &id.cert_pem).unwrap();
    let mut c = cfg(&wss(&s));
    c.tls = TlsMode::Ca(ca.clone());
    let codec = Codec::connect(c).await.unwrap();
    assert_eq!(codec.get(&p("Status Audio Volume")).await.unwrap(), 50);
    // The same CA does not vouch for another name.
    let mut c = cfg(&format!("wss://localhost:{}/ws", s.addr.port()));
    c.tls = TlsMode::Ca(ca.clone());
    assert!(
        Codec::connect(c).await.is_ok(),
        "localhost is in the certificate too"
    );
    let _ = std::fs::remove_file(ca);
}

#[tokio::test]
async fn tls_insecure_mode_connects() {
    let (s, _) = tls_sim().await;
    let mut c = cfg(&wss(&s));
    c.tls = TlsMode::Insecure;
    let codec = Codec::connect(c).await.unwrap();
    assert_eq!(codec.get(&p("Status Audio Volume")).await.unwrap(), 50);
}
