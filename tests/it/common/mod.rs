//! Shared test helpers: an in-process simulator on port 0 and a raw XoWS
//! client over tokio-tungstenite (deliberately not xmacro's own client, so the
//! simulator is checked against the wire format itself). Every wait has a
//! timeout so a bug fails a test instead of hanging CI.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use xmacro::sim::{self, SimOptions};

/// Cisco's public xAPI schema: every test that needs it finds it here,
/// from `XMACRO_SCHEMA` (`None`: the test is skipped, with a note, unless
/// `XMACRO_SCHEMA_REQUIRED` is set; see [`xmacro::schema::test_schema_file`]).
pub fn cisco_schema_file() -> Option<std::path::PathBuf> {
    xmacro::schema::test_schema_file()
}

/// One product of [`cisco_schema_file`], read once per test binary.
pub fn cisco_schema(product: &str) -> Option<std::sync::Arc<xmacro::schema::Schema>> {
    let file = cisco_schema_file()?;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Cache = Mutex<HashMap<String, Arc<xmacro::schema::Schema>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let schema = cache
        .entry(product.to_string())
        .or_insert_with(|| Arc::new(xmacro::schema::Schema::load(&file, Some(product)).unwrap()))
        .clone();
    Some(schema)
}

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// Fails the test if `f` does not finish within [`WAIT`].
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Waits (within [`WAIT`]) until the codec's connection state is one `want`
/// accepts.
pub async fn wait_state(
    c: &xmacro::xows::Codec,
    want: impl Fn(&xmacro::xows::ConnState) -> bool,
    what: &str,
) {
    let mut w = c.watch_state();
    within(what, async {
        while !want(&w.borrow_and_update()) {
            w.changed().await.unwrap();
        }
    })
    .await;
}

/// A simulator running in this process; stops when dropped.
pub struct Sim {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Sim {
    pub async fn start(options: SimOptions) -> Sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Sim::start_on(listener, options)
    }

    pub fn start_on(listener: tokio::net::TcpListener, options: SimOptions) -> Sim {
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(sim::run(listener, options, async {
            let _ = rx.await;
        }));
        Sim {
            addr,
            stop: Some(tx),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// How a raw client authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    Basic(&'a str, &'a str),
    SubProtocol(&'a str, &'a str),
    None,
}

/// A raw XoWS client: sends requests, keeps notifications that arrive
/// while it waits for an answer.
pub struct Raw {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    pub feedback: VecDeque<Value>,
}

pub fn sub_protocol(user: &str, pass: &str) -> String {
    xmacro::xows::connection::auth_sub_protocol(&format!("{user}:{pass}"))
}

/// Opens a WebSocket; the error is tungstenite's (an HTTP status on refusal).
pub async fn try_connect(
    url: &str,
    auth: Auth<'_>,
) -> Result<Raw, tokio_tungstenite::tungstenite::Error> {
    let mut req = url.into_client_request().unwrap();
    match auth {
        Auth::Basic(u, p) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            req.headers_mut()
                .insert("authorization", format!("Basic {b64}").parse().unwrap());
        }
        Auth::SubProtocol(u, p) => {
            req.headers_mut().insert(
                "sec-websocket-protocol",
                sub_protocol(u, p).parse().unwrap(),
            );
        }
        Auth::None => {}
    }
    let (ws, _) = within("connect", tokio_tungstenite::connect_async(req)).await?;
    Ok(Raw {
        ws,
        next_id: 1,
        feedback: VecDeque::new(),
    })
}

/// Connects as admin once the simulator accepts upgrades again (after a
/// reboot or a restart), retrying until then.
pub async fn connect_when_up(url: &str) -> Raw {
    within("the simulator to accept connections", async {
        loop {
            match try_connect(url, Auth::Basic("admin", "")).await {
                Ok(r) => break r,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
}

/// Binds the same address again once the old listener is gone (a
/// simulator restarted on the same port).
pub async fn rebind(addr: SocketAddr) -> tokio::net::TcpListener {
    within("rebinding the address", async {
        loop {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
}

/// The HTTP status a refused upgrade answered with.
pub async fn refused_status(url: &str, auth: Auth<'_>) -> u16 {
    match try_connect(url, auth).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected an HTTP refusal, got a connection"),
    }
}

impl Raw {
    pub async fn connect(url: &str) -> Raw {
        try_connect(url, Auth::Basic("admin", "")).await.unwrap()
    }

    pub async fn send_text(&mut self, text: &str) {
        within("send", self.ws.send(Message::text(text)))
            .await
            .unwrap();
    }

    /// The next frame, whatever it is.
    pub async fn recv(&mut self) -> Option<Message> {
        within("a frame", self.ws.next()).await.and_then(|r| r.ok())
    }

    /// Waits for the next non-feedback JSON frame.
    pub async fn recv_answer(&mut self) -> Value {
        loop {
            let msg = self.recv().await.expect("connection closed");
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["method"] == "xFeedback/Event" {
                self.feedback.push_back(v);
                continue;
            }
            return v;
        }
    }

    /// Sends a request and returns the whole answer object.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"jsonrpc":"2.0","id":id,"method":method,"params":params});
        self.send_text(&req.to_string()).await;
        let answer = self.recv_answer().await;
        assert_eq!(
            answer["id"],
            json!(id),
            "answer to another request: {answer}"
        );
        answer
    }

    /// The `result` of a call that must succeed.
    pub async fn ok(&mut self, method: &str, params: Value) -> Value {
        let a = self.call(method, params.clone()).await;
        assert!(a.get("result").is_some(), "{method} {params} failed: {a}");
        a["result"].clone()
    }

    /// The `error` of a call that must fail.
    pub async fn err(&mut self, method: &str, params: Value) -> Value {
        let a = self.call(method, params.clone()).await;
        assert!(a.get("error").is_some(), "{method} {params} succeeded: {a}");
        a["error"].clone()
    }

    pub async fn get(&mut self, path: &str) -> Value {
        let p = xmacro::xows::path::Path::parse(path).unwrap().to_json();
        self.ok("xGet", json!({ "Path": p })).await
    }

    pub async fn subscribe(&mut self, query: &str) -> u64 {
        let q = xmacro::xows::path::Path::parse(query).unwrap().to_json();
        let r = self
            .ok(
                "xFeedback/Subscribe",
                json!({"Query": q, "NotifyCurrentValue": false}),
            )
            .await;
        r["Id"].as_u64().expect("a numeric subscription Id")
    }

    /// The next feedback notification's params.
    pub async fn next_feedback(&mut self) -> Value {
        if let Some(f) = self.feedback.pop_front() {
            return f["params"].clone();
        }
        loop {
            let msg = self.recv().await.expect("connection closed");
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["method"] == "xFeedback/Event" {
                return v["params"].clone();
            }
            panic!("expected feedback, got {v}");
        }
    }

    /// A round trip on this session. The simulator queues feedback for
    /// every session at the moment a change happens, on the same queue as
    /// answers, so once this answer is here every frame caused by an earlier
    /// change is here too.
    pub async fn barrier(&mut self) {
        self.call("xGet", json!({"Path": ["Status", "Audio", "Volume"]}))
            .await;
    }

    /// Asserts that nothing done so far produced feedback not yet read.
    pub async fn no_feedback(&mut self) {
        self.barrier().await;
        if let Some(f) = self.feedback.pop_front() {
            panic!("unexpected feedback {f}");
        }
    }
}

/// What a finished `xmacro` process left: its exit code (-1 when a signal
/// ended it) and its output as text.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Out {
    fn from(out: std::process::Output) -> Out {
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub mod lsp;
pub mod proxy;
pub mod rig;
