//! The demo activity of `xmacro run --sim`: every few seconds, something a
//! room would see, so the scripts visibly react. It drives the in-process
//! simulator over a plain WebSocket of its own (not xmacro's client), so
//! the log shows only the scripts' codec connecting.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::info;

/// One JSON-RPC socket to the simulator, as admin with the empty password.
struct Link {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Link {
    async fn open(url: &str) -> Option<Link> {
        let mut req = url.into_client_request().ok()?;
        let auth = base64::engine::general_purpose::STANDARD.encode("admin:");
        req.headers_mut()
            .insert("authorization", format!("Basic {auth}").parse().ok()?);
        let (ws, _) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(req))
            .await
            .ok()?
            .ok()?;
        Some(Link { ws, next_id: 1 })
    }

    /// The result or error of one call; `None` when the socket failed.
    async fn call(&mut self, method: &str, params: Value) -> Option<Result<Value, Value>> {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let exchange = async {
            self.ws.send(Message::text(req.to_string())).await.ok()?;
            while let Some(Ok(msg)) = self.ws.next().await {
                let Message::Text(text) = msg else { continue };
                let Ok(answer) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if answer["id"] == json!(id) {
                    return Some(match answer.get("error") {
                        Some(e) => Err(e.clone()),
                        None => Ok(answer["result"].clone()),
                    });
                }
            }
            None
        };
        tokio::time::timeout(STEP, exchange).await.ok()?
    }
}

/// How long one demo step may take.
const STEP: Duration = Duration::from_secs(5);

/// Every few seconds, something a room would see: volume changes, a widget
/// click, a call that connects and ends, people coming and going.
pub async fn activity(url: String) {
    let link = Arc::new(tokio::sync::Mutex::new(None::<Link>));
    let call = |method: &str, params: Value| {
        let link = link.clone();
        let url = url.clone();
        let method = method.to_string();
        async move {
            let mut guard = link.lock().await;
            if guard.is_none() {
                *guard = Link::open(&url).await;
            }
            let Some(l) = guard.as_mut() else {
                return Err(());
            };
            match l.call(&method, params).await {
                Some(Ok(_)) => Ok(()),
                Some(Err(e)) => {
                    tracing::debug!("demo step {method} refused: {e}");
                    Err(())
                }
                None => {
                    *guard = None; // reconnect on the next step
                    Err(())
                }
            }
        }
    };
    let pause = || tokio::time::sleep(Duration::from_secs(3));
    tokio::time::sleep(Duration::from_secs(2)).await;
    for round in 0u64.. {
        info!(target: "xmacro::demo", "the room's volume is turned up to 85");
        let _ = call("xCommand/Audio/Volume/Set", json!({"Level": 85})).await;
        pause().await;
        info!(target: "xmacro::demo", "someone taps the speed-dial button");
        let _ = call(
            "xSim/EmitEvent",
            json!({"Path": "Event UserInterface Extensions Widget Action",
                   "Value": {"WidgetId": "speeddial-1", "Type": "clicked", "Value": ""}}),
        )
        .await;
        pause().await;
        info!(target: "xmacro::demo", "{} people walk in", 3 + round % 6);
        let _ = call(
            "xSim/SetStatus",
            json!({"Path": "Status RoomAnalytics PeopleCount Current", "Value": 3 + round % 6}),
        )
        .await;
        pause().await;
        info!(target: "xmacro::demo", "a call comes in");
        let _ = call(
            "xSim/IncomingCall",
            json!({"Number": "alice@example.com", "DisplayName": "Alice"}),
        )
        .await;
        pause().await;
        info!(target: "xmacro::demo", "the calls end");
        for _ in 0..8 {
            // Answers "no active call" once none is left.
            if call("xCommand/Call/Disconnect", json!({})).await.is_err() {
                break;
            }
        }
        info!(target: "xmacro::demo", "the volume goes back to 45");
        let _ = call("xCommand/Audio/Volume/Set", json!({"Level": 45})).await;
        pause().await;
        let _ = call(
            "xSim/SetStatus",
            json!({"Path": "Status RoomAnalytics PeopleCount Current", "Value": 0}),
        )
        .await;
        pause().await;
    }
}
