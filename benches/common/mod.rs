//! Shared by the benchmarks: a simulator on its own thread and
//! single-threaded runtime (one core), and a bare tokio-tungstenite client.
#![allow(dead_code)]

pub mod peers;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Starts a simulator on a thread of its own; returns its URL.
pub fn start_sim_thread() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            xmacro::sim::run(listener, Default::default(), std::future::pending())
                .await
                .unwrap();
        });
    });
    format!("ws://{}/ws", rx.recv().unwrap())
}

/// A bare WebSocket to the simulator as admin with the empty password.
pub async fn connect_admin(url: &str) -> Ws {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Basic YWRtaW46".parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// A bare admin WebSocket subscribed to `Event Message Send`: what bench
/// scripts report through (`xapi.Command.Message.Send`).
pub async fn watch_messages(url: &str) -> Ws {
    use futures_util::{SinkExt, StreamExt};
    let mut ws = connect_admin(url).await;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"jsonrpc":"2.0","id":0,"method":"xFeedback/Subscribe","params":{"Query":["Event","Message","Send"]}}"#,
    ))
    .await
    .unwrap();
    ws.next().await.unwrap().unwrap();
    ws
}

/// Waits on `ws` (from [`watch_messages`]) for a Message Send whose text
/// satisfies `pred`; returns the text.
pub async fn message_where(ws: &mut Ws, pred: impl Fn(&str) -> bool) -> String {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        if let Some(text) = v["params"]["Event"]["Message"]["Send"]["Text"].as_str()
            && pred(text)
        {
            return text.to_string();
        }
    }
}

/// An `xmacro sim` process, killed on drop (its memory is not the
/// benchmark's).
pub struct SimProcess {
    child: std::process::Child,
    pub url: String,
}

impl SimProcess {
    /// The simulator's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `xmacro sim` on a free port and reads its address.
pub fn start_sim_process() -> SimProcess {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .args(["sim", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("xmacro sim starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("the first line gives the address")
        .to_string();
    SimProcess { child, url }
}

/// Replaces (or appends) benchmark `name`'s own section of BENCHMARKS.md,
/// between `<!-- NAME: written by cargo bench --bench NAME -->` and
/// `<!-- NAME end -->`, under `heading` with the command and the date.
pub fn write_section(name: &str, heading: &str, table: &str) {
    let begin = format!("<!-- {name}: written by cargo bench --bench {name} -->");
    let end = format!("<!-- {name} end -->");
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&file).unwrap_or_default();
    let date = chrono::Local::now().format("%Y-%m-%d %H:%M %Z");
    let section =
        format!("{begin}\n{heading} (`cargo bench --bench {name}`, {date})\n\n{table}{end}");
    let text = match (old.find(&begin), old.find(&end)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{section}{}", &old[..a], &old[b + end.len()..])
        }
        _ => format!("{}\n\n{section}\n", old.trim_end()),
    };
    std::fs::write(&file, text).unwrap();
    println!("written to {}", file.display());
}
