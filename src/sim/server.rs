//! The simulator's network side: accept, TLS, the WebSocket upgrade with a
//! codec's authentication rules, and one reader plus one writer task per
//! session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::SimOptions;
use super::control::{self, Action};
use super::device::Device;
use crate::xows::doc;
use crate::xows::protocol::{decode_request, error_text, response_text};

/// Accepts connections until `shutdown` resolves, then cuts every session.
pub async fn serve(
    listener: TcpListener,
    device: Arc<Device>,
    options: SimOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    device.lock().credentials = format!("{}:{}", options.username, options.password);
    let options = Arc::new(options);
    let acceptor = match &options.tls {
        Some(id) => Some(tokio_rustls::TlsAcceptor::from(id.server_config()?)),
        None => None,
    };
    let stop = CancellationToken::new();
    tokio::spawn(super::device::model::standby::run(
        device.clone(),
        stop.clone(),
    ));
    tokio::pin!(shutdown);
    let mut accept_pause = ACCEPT_PAUSE_MIN;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(a) => {
                        accept_pause = ACCEPT_PAUSE_MIN;
                        a
                    }
                    Err(e) => {
                        // Out of file descriptors (EMFILE) and the like: the
                        // next accept fails the same way at once, so pause
                        // (growing) instead of spinning.
                        if accept_pause == ACCEPT_PAUSE_MIN {
                            warn!("simulator: accept failed, pausing: {e}");
                        }
                        tokio::select! {
                            _ = &mut shutdown => break,
                            _ = tokio::time::sleep(accept_pause) => {}
                        }
                        accept_pause = (accept_pause * 2).min(ACCEPT_PAUSE_MAX);
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (device, acceptor, stop) = (device.clone(), acceptor.clone(), stop.clone());
                tokio::spawn(async move {
                    let result = match acceptor {
                        Some(acc) => match tokio::time::timeout(UPGRADE_TIMEOUT, acc.accept(tcp)).await {
                            Ok(Ok(tls)) => connection(tls, device, stop).await,
                            Ok(Err(e)) => Err(UpgradeError::Tls(e)),
                            Err(_) => Err(UpgradeError::TlsTimeout),
                        },
                        None => connection(tcp, device, stop).await,
                    };
                    if let Err(e) = result {
                        debug!("simulator: connection from {peer} ended: {e}");
                    }
                });
            }
        }
    }
    stop.cancel();
    for slot in device.lock().sessions.values() {
        slot.cancel.cancel();
    }
    Ok(())
}

/// A connection that has not finished its TLS handshake and WebSocket
/// upgrade by then is closed (idle sockets must not use up descriptors).
pub const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first and the longest pause after a failed accept.
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// What the upgrade decided.
#[derive(Default)]
struct Upgrade {
    legacy: bool,
}

fn reject(status: StatusCode, body: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(body.to_string()));
    *r.status_mut() = status;
    r
}

/// Reads `user:password` from a Basic header or an `auth-` sub-protocol;
/// returns the sub-protocol to echo when that form was used.
fn credentials(req: &Request) -> Option<(String, Option<String>)> {
    if let Some(h) = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        && let Some(b64) = h
            .strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
    {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        return Some((String::from_utf8(raw).ok()?, None));
    }
    let protocols = req.headers().get("sec-websocket-protocol")?.to_str().ok()?;
    let proto = protocols
        .split(',')
        .map(str::trim)
        .find(|p| p.starts_with("auth-"))?;
    let b64: String = proto["auth-".len()..]
        .chars()
        .filter(|c| *c != '=')
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(b64)
        .ok()?;
    Some((String::from_utf8(raw).ok()?, Some(proto.to_string())))
}

/// Why a connection never became a session.
#[derive(Debug, thiserror::Error)]
enum UpgradeError {
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    #[error("no TLS handshake within {UPGRADE_TIMEOUT:?}")]
    TlsTimeout,
    #[error("no WebSocket upgrade within {UPGRADE_TIMEOUT:?}")]
    Timeout,
    #[error("upgrade: {0}")]
    Failed(tokio_tungstenite::tungstenite::Error),
}

// tungstenite fixes the callback's error type (an HTTP response).
#[allow(clippy::result_large_err)]
async fn connection<S>(
    stream: S,
    device: Arc<Device>,
    stop: CancellationToken,
) -> Result<(), UpgradeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut upgrade = Upgrade::default();
    let expected = device.lock().credentials.clone();
    let callback = |req: &Request, mut resp: Response| {
        if req.uri().path() != "/ws" {
            return Err(reject(StatusCode::NOT_FOUND, "Not Found"));
        }
        if device.upgrade_attempt() {
            return Err(reject(StatusCode::BAD_GATEWAY, "Bad Gateway"));
        }
        let Some((creds, echo)) = credentials(req) else {
            return Err(reject(StatusCode::FORBIDDEN, "Forbidden"));
        };
        if creds != expected {
            device.lock().auth_failures += 1;
            return Err(reject(StatusCode::FORBIDDEN, "Forbidden"));
        }
        if let Some(proto) = echo
            && let Ok(v) = HeaderValue::from_str(&proto)
        {
            resp.headers_mut().insert("sec-websocket-protocol", v);
        }
        upgrade.legacy = req.uri().query().is_some_and(|q| {
            q.split('&')
                .any(|kv| kv == "legacy" || kv.starts_with("legacy="))
        });
        Ok(resp)
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(32 * 1024)
        .max_message_size(Some(16 << 20));
    let upgrade_done =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config));
    let ws = tokio::time::timeout(UPGRADE_TIMEOUT, upgrade_done)
        .await
        .map_err(|_| UpgradeError::Timeout)?
        .map_err(UpgradeError::Failed)?;
    session(ws, device, upgrade.legacy, stop).await;
    Ok(())
}

async fn session<S>(
    ws: WebSocketStream<S>,
    device: Arc<Device>,
    legacy: bool,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (id, rx, cancel) = device.attach(legacy);
    debug!("simulator: session {id} open (legacy: {legacy})");
    let (sink, mut stream) = ws.split();
    let tx = device
        .lock()
        .sessions
        .get(&id)
        .map(|s| s.tx.clone())
        .expect("just attached");
    let writer = tokio::spawn(writer(sink, rx, device.clone(), cancel.clone()));
    loop {
        wait_frozen(&device).await;
        let frame = tokio::select! {
            _ = cancel.cancelled() => break,
            _ = stop.cancelled() => break,
            f = stream.next() => f,
        };
        match frame {
            Some(Ok(Message::Text(text))) => {
                handle_text(&device, id, &tx, text.as_str()).await;
            }
            Some(Ok(Message::Binary(_))) => {
                let e = crate::xows::protocol::RpcError::new(
                    crate::xows::protocol::code::PARSE_ERROR,
                    "Parse error",
                )
                .with_data("binary frames are not JSON-RPC");
                let _ = tx.send(Message::text(error_text(&Value::Null, &e))).await;
            }
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map_or(1005, |f| u16::from(f.code));
                let mut st = device.lock();
                if st.closes.len() == 100 {
                    st.closes.pop_front();
                }
                st.closes.push_back(code);
                break;
            }
            None => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                debug!("simulator: session {id} read error: {e}");
                break;
            }
        }
    }
    device.detach(id);
    drop(tx);
    // A cut session (drop, reboot, stuck) ends without a close frame.
    if cancel.is_cancelled() || stop.is_cancelled() {
        writer.abort();
    } else {
        let _ = writer.await;
    }
    debug!("simulator: session {id} closed");
}

async fn wait_frozen(device: &Device) {
    let until = device.lock().frozen_until;
    if let Some(t) = until
        && t > Instant::now()
    {
        tokio::time::sleep_until(t.into()).await;
    }
}

async fn writer<S>(
    mut sink: futures_util::stream::SplitSink<WebSocketStream<S>, Message>,
    mut rx: mpsc::Receiver<Message>,
    device: Arc<Device>,
    cancel: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    loop {
        let first = tokio::select! {
            _ = cancel.cancelled() => return,
            m = rx.recv() => match m { Some(m) => m, None => break },
        };
        wait_frozen(&device).await;
        let closing = matches!(first, Message::Close(_));
        if sink.feed(first).await.is_err() {
            return;
        }
        if !closing {
            for _ in 0..256 {
                match rx.try_recv() {
                    Ok(m) => {
                        let close = matches!(m, Message::Close(_));
                        if sink.feed(m).await.is_err() {
                            return;
                        }
                        if close {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

async fn handle_text(device: &Arc<Device>, session: u64, tx: &mpsc::Sender<Message>, text: &str) {
    let decoded = decode_request(text).or_else(|first| {
        // A codec accepts a comma before a closing brace; so do we.
        match super::lenient::strip_trailing_commas(text) {
            Some(fixed) => decode_request(&fixed).map_err(|_| first),
            None => Err(first),
        }
    });
    let req = match decoded {
        Ok(r) => r,
        Err((id, e)) => {
            let _ = tx.send(Message::text(error_text(&id, &e))).await;
            return;
        }
    };
    let (result, after) = match req.method.strip_prefix(control::PREFIX) {
        Some(m) => match control::handle(device, m, &req.params) {
            Action::Reply(r) => (r, Vec::new()),
            Action::Raw(msg) => {
                let _ = tx.send(msg).await;
                (Ok(Value::Bool(true)), Vec::new())
            }
            Action::Burst { count, path, rate } => {
                (burst(device, count, &path, rate).await, Vec::new())
            }
        },
        None => {
            let reply = device.handle(session, &req);
            (reply.result, reply.after)
        }
    };
    let frame = match &result {
        Ok(v) => response_text(&req.id, v),
        Err(e) => error_text(&req.id, e),
    };
    let (delay, reboot) = {
        let mut st = device.lock();
        (st.delay, st.pending_reboot.take())
    };
    if let Some((down, not_ready)) = reboot {
        let device = device.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            device.lock().reboot(down, not_ready);
        });
    }
    if delay.is_zero() {
        let _ = tx.send(Message::text(frame)).await;
        for f in after {
            let _ = tx.send(Message::text(f)).await;
        }
        device.run_deferred();
    } else {
        let tx = tx.clone();
        let device = device.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(Message::text(frame)).await;
            for f in after {
                let _ = tx.send(Message::text(f)).await;
            }
            device.run_deferred();
        });
    }
}

/// Emits `count` events as fast as the sessions' writers take them (waiting
/// for queue space instead of dropping: a burst measures throughput).
async fn burst(
    device: &Arc<Device>,
    count: u64,
    path: &crate::xows::path::Path,
    rate: Option<u64>,
) -> Result<Value, crate::xows::protocol::RpcError> {
    let started = Instant::now();
    for seq in 0..count {
        if let Some(rate) = rate {
            // Paced: event `seq` leaves no earlier than seq / rate seconds in.
            let due = started + std::time::Duration::from_secs_f64(seq as f64 / rate as f64);
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        let payload = serde_json::json!({ "Seq": seq, "SentUs": crate::clock::now_us() });
        let change = doc::wrap(&path.0, payload);
        let frames = device.lock().frames_for(&change);
        for (tx, text, _) in frames {
            let _ = tx.send(Message::text(text)).await;
        }
    }
    let micros = started.elapsed().as_micros() as u64;
    info!("simulator: burst of {count} events queued in {micros} us");
    Ok(serde_json::json!({ "Sent": count, "Micros": micros }))
}
