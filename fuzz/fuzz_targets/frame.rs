//! Incoming frames: whatever the codec sends, decoding and the request
//! manager never panic, with a subscription live and calls pending.
#![no_main]

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use libfuzzer_sys::fuzz_target;
use tokio::sync::{mpsc, oneshot};
use xmacro::xows::manager::{Manager, PendingCall};
use xmacro::xows::path::Path;
use xmacro::xows::protocol::{Call, decode_incoming, decode_request};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = decode_request(text);
    let mut m = Manager::new();
    let (tx, _rx) = mpsc::channel(4);
    let (w, _wr) = oneshot::channel();
    let (_, reqs) = m.subscribe(Path::parse("Status Audio").unwrap(), true, tx, w, true);
    // Register the subscription as codec Id 1 and its seed read, so
    // feedback and seed answers reach real entries.
    for r in reqs {
        let _ = m.on_incoming(xmacro::xows::protocol::Incoming::Response {
            id: serde_json::json!(r.id),
            result: serde_json::json!({"Id": 1}),
        });
    }
    for _ in 0..3 {
        let (reply, _r) = oneshot::channel();
        m.call(
            Call::get(&Path::parse("Status Audio Volume").unwrap()),
            PendingCall {
                method: "xGet".into(),
                reply,
                sent: Arc::new(AtomicBool::new(false)),
            },
        );
    }
    for line in text.split('\n') {
        if let Ok(msg) = decode_incoming(line) {
            let _ = m.on_incoming(msg);
        }
    }
    m.on_disconnected("fuzz");
    let _ = m.on_connected();
});
