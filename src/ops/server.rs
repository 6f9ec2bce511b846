//! The HTTP server: routes, readiness, live updates; who may ask (the
//! token, or without one only loopback host names) is checked in front of
//! every route by [`super::access`], and connections are bounded by
//! [`super::listen`]. Every endpoint is read-only. The server starts
//! before the host so `/readyz` can say 503 while the config loads and
//! the codecs are tried for the first time.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use tokio::sync::watch;

use super::snapshot::{self, Filter, Status};
use crate::config::CodecEntry;
use crate::telemetry::board;
use crate::xows::{Codec, ConnState};

/// The host as the server sees it once started.
struct HostView {
    /// The codecs it serves, as they change (a codec taken over from
    /// another host comes in, one let go leaves).
    codecs: watch::Receiver<Arc<BTreeMap<String, Codec>>>,
    /// (URL, tags) by codec name.
    meta: BTreeMap<String, (String, Vec<String>)>,
    state_dir: PathBuf,
}

/// Why `/readyz` says 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("starting: the config and scripts are loading")]
    Starting,
    /// Codecs not tried yet (the first five are named).
    #[error("{} codec(s) not tried yet: {}", .0.len(), .0.iter().take(5).cloned().collect::<Vec<_>>().join(", "))]
    Untried(Vec<String>),
}

/// What the server serves from; shared by every request.
pub struct Ops {
    started: SystemTime,
    token: Option<String>,
    host: RwLock<Option<HostView>>,
    /// The state directory's size and when it was measured: walking
    /// thousands of store files for every page update would be waste.
    store_bytes: std::sync::Mutex<Option<(std::time::Instant, u64)>>,
}

/// How long a measured state directory size is reused.
const STORE_BYTES_TTL: Duration = Duration::from_secs(10);

impl Ops {
    pub fn new(token: Option<String>) -> Arc<Ops> {
        Arc::new(Ops {
            started: SystemTime::now(),
            token,
            host: RwLock::new(None),
            store_bytes: std::sync::Mutex::new(None),
        })
    }

    /// The host has started (config loaded, scripts scanned): from now on
    /// its codecs are shown, and readiness waits on their first attempts.
    pub fn attach(
        &self,
        codecs: watch::Receiver<Arc<BTreeMap<String, Codec>>>,
        entries: &[CodecEntry],
        state_dir: &Path,
    ) {
        let meta = entries
            .iter()
            .map(|e| {
                let url = e.config.shown_url();
                (e.name.clone(), (url, e.tags.clone()))
            })
            .collect();
        *self.host.write().unwrap_or_else(|p| p.into_inner()) = Some(HostView {
            codecs,
            meta,
            state_dir: state_dir.to_path_buf(),
        });
    }

    /// `Ok` once the config is loaded and every codec was tried at least
    /// once; else why not.
    pub fn readiness(&self) -> Result<(), NotReady> {
        let host = self.host.read().unwrap_or_else(|p| p.into_inner());
        let Some(h) = host.as_ref() else {
            return Err(NotReady::Starting);
        };
        let codecs = h.codecs.borrow().clone();
        let untried: Vec<String> = codecs
            .iter()
            .filter(|(_, c)| c.state() == ConnState::Connecting)
            .map(|(n, _)| n.clone())
            .collect();
        if untried.is_empty() {
            Ok(())
        } else {
            Err(NotReady::Untried(untried))
        }
    }

    /// The status now (unfiltered).
    pub fn status(&self) -> Status {
        let ready = self.readiness();
        let (codecs, store_bytes) = {
            let host = self.host.read().unwrap_or_else(|p| p.into_inner());
            match host.as_ref() {
                Some(h) => {
                    let codecs = h
                        .codecs
                        .borrow()
                        .iter()
                        .map(|(name, c)| {
                            let (url, tags) = h.meta.get(name).cloned().unwrap_or_default();
                            snapshot::codec_status(name, c, &url, &tags)
                        })
                        .collect();
                    (codecs, self.store_bytes(&h.state_dir))
                }
                None => (Vec::new(), 0),
            }
        };
        let (scripts, reloads) = snapshot::scripts_and_reloads(&board().snapshot());
        let health = snapshot::health(ready.is_ok(), &codecs, &scripts).to_string();
        Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            health,
            ready: ready.is_ok(),
            ready_reason: ready.err().map(|e| e.to_string()).unwrap_or_default(),
            started_at: snapshot::time(self.started),
            uptime_seconds: snapshot::since(self.started),
            store_bytes,
            codecs,
            scripts,
            reloads,
        }
    }

    fn store_bytes(&self, dir: &Path) -> u64 {
        let mut cached = self.store_bytes.lock().unwrap_or_else(|p| p.into_inner());
        match *cached {
            Some((at, n)) if at.elapsed() < STORE_BYTES_TTL => n,
            _ => {
                let n = snapshot::dir_bytes(dir);
                *cached = Some((std::time::Instant::now(), n));
                n
            }
        }
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        self.token
            .as_deref()
            .is_none_or(|t| super::access::presents(headers, t))
    }
}

async fn auth(State(ops): State<Arc<Ops>>, req: Request, next: Next) -> Response {
    // Without a token the server is loopback only, and so must be the name
    // a request was sent to: a web page the operator opens could otherwise
    // read the status through DNS rebinding (its own name resolving to
    // 127.0.0.1).
    if ops.token.is_none() && !super::access::loopback_host(req.headers()) {
        return refused(
            StatusCode::FORBIDDEN,
            "without a token this server answers only requests sent to localhost, 127.0.0.1 or [::1]\n",
        );
    }
    if ops.authorized(req.headers()) {
        return next.run(req).await;
    }
    let mut resp = refused(StatusCode::UNAUTHORIZED, "a token is needed\n");
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"xmacro\", charset=\"UTF-8\""),
    );
    resp
}

/// A refusal; the connection closes after it (a client without the right
/// token or name keeps nothing open).
fn refused(code: StatusCode, why: &'static str) -> Response {
    let mut resp = (code, why).into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// The routes, with the token check in front of every one.
pub fn router(ops: Arc<Ops>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/status", get(api_status))
        .route("/events", get(events))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .layer(middleware::from_fn_with_state(ops.clone(), auth))
        .with_state(ops)
}

/// Serves until `shutdown` resolves, within the connection limits of
/// this process ([`super::listen::Limits::for_this_process`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    ops: Arc<Ops>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = super::listen::Limits::for_this_process();
    super::listen::serve(listener, router(ops), limits, shutdown).await
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn page(State(ops): State<Arc<Ops>>, Query(filter): Query<Filter>) -> Response {
    let status = filter.apply(ops.status());
    no_store(Html(super::page::page(&status, &filter)).into_response())
}

async fn api_status(State(ops): State<Arc<Ops>>, Query(filter): Query<Filter>) -> Response {
    no_store(axum::Json(filter.apply(ops.status())).into_response())
}

async fn metrics(State(ops): State<Arc<Ops>>) -> Response {
    let text = super::prometheus::render(&ops.status());
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    no_store(r)
}

async fn readyz(State(ops): State<Arc<Ops>>) -> Response {
    let r = match ops.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()).into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    };
    no_store(r)
}

/// At most this many updates a second per page.
const MIN_GAP: Duration = Duration::from_millis(250);
/// Codec states are looked at this often (they are not on the board).
const TICK: Duration = Duration::from_secs(1);

/// Server-sent events: the page's `<main>`, re-rendered and sent whenever
/// it changed (a board change wakes it at once; codec states are looked at
/// every second). Nothing runs while no page is open.
async fn events(
    State(ops): State<Arc<Ops>>,
    Query(filter): Query<Filter>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let state = (ops, filter, String::new(), board().watch());
    let stream = futures_util::stream::unfold(state, |(ops, filter, last, mut rx)| async move {
        let mut first = last.is_empty();
        loop {
            if !first {
                tokio::time::sleep(MIN_GAP).await;
                let _ = tokio::time::timeout(TICK, rx.changed()).await;
            }
            first = false;
            rx.borrow_and_update();
            let html = super::page::main(&filter.apply(ops.status()));
            if html != last {
                let event = Event::default().data(html.clone());
                return Some((Ok(event), (ops, filter, html, rx)));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_token_every_request_is_let_in_and_with_one_only_the_holder() {
        assert!(Ops::new(None).authorized(&HeaderMap::new()));
        let ops = Ops::new(Some("s3cret-token-0123456789".into()));
        assert!(!ops.authorized(&HeaderMap::new()));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            "Bearer s3cret-token-0123456789".parse().unwrap(),
        );
        assert!(ops.authorized(&h));
    }

    #[test]
    fn readiness_waits_for_the_host() {
        let ops = Ops::new(None);
        assert!(
            ops.readiness()
                .unwrap_err()
                .to_string()
                .contains("starting")
        );
        let s = ops.status();
        assert_eq!((s.ready, s.health.as_str()), (false, "starting"));
    }
}
