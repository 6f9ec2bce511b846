//! The HTTP server: routes, the token check, readiness, live updates.
//!
//! Every endpoint is read-only. Loopback addresses need no token; any other
//! address is refused at start unless a token is given, and a token, once
//! given, is checked on every request (as `Authorization: Bearer TOKEN`, or
//! as the password of HTTP Basic so a browser can log in with its own
//! prompt). The server starts before the host so `/readyz` can say 503
//! while the config loads and the codecs are tried for the first time.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
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
use base64::Engine as _;
use futures_util::Stream;

use super::snapshot::{self, Filter, Status};
use crate::config::CodecEntry;
use crate::telemetry::board;
use crate::xows::{Codec, ConnState};

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(
        "--http {0} is not a loopback address: anyone who reaches it could read the fleet's status; give a token with --http-token-file FILE (or [http] token_file), or listen on 127.0.0.1"
    )]
    NeedsToken(SocketAddr),
    #[error("token file {0}: {1}")]
    TokenFile(String, String),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, String),
}

/// Where to listen and the token, if any.
#[derive(Clone)]
pub struct HttpOptions {
    pub listen: SocketAddr,
    pub token: Option<String>,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl HttpOptions {
    /// Refuses a non-loopback address without a token.
    pub fn check(&self) -> Result<(), OpsError> {
        if !self.listen.ip().is_loopback() && self.token.is_none() {
            return Err(OpsError::NeedsToken(self.listen));
        }
        Ok(())
    }

    /// Checks, then binds.
    pub async fn bind(&self) -> Result<tokio::net::TcpListener, OpsError> {
        self.check()?;
        tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|e| OpsError::Bind(self.listen, e.to_string()))
    }
}

/// Reads a token file (one line; surrounding whitespace ignored).
pub fn read_token_file(path: &Path) -> Result<String, OpsError> {
    let bad = |why: String| OpsError::TokenFile(path.display().to_string(), why);
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if token.len() < 16 {
        return Err(bad(
            "the token is shorter than 16 characters; make a long random one (openssl rand -hex 32)"
                .into(),
        ));
    }
    Ok(token.to_string())
}

/// The host as the server sees it once started.
struct HostView {
    codecs: Arc<BTreeMap<String, Codec>>,
    /// (URL, tags) by codec name.
    meta: BTreeMap<String, (String, Vec<String>)>,
    state_dir: PathBuf,
}

/// What the server serves from; shared by every request.
pub struct Ops {
    started: SystemTime,
    token: Option<String>,
    host: RwLock<Option<HostView>>,
}

impl Ops {
    pub fn new(token: Option<String>) -> Arc<Ops> {
        Arc::new(Ops {
            started: SystemTime::now(),
            token,
            host: RwLock::new(None),
        })
    }

    /// The host has started (config loaded, scripts scanned): from now on
    /// its codecs are shown, and readiness waits on their first attempts.
    pub fn attach(
        &self,
        codecs: Arc<BTreeMap<String, Codec>>,
        entries: &[CodecEntry],
        state_dir: &Path,
    ) {
        let meta = entries
            .iter()
            .map(|e| {
                let url = e.config.dial_url().to_string();
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
    pub fn readiness(&self) -> Result<(), String> {
        let host = self.host.read().unwrap_or_else(|p| p.into_inner());
        let Some(h) = host.as_ref() else {
            return Err("starting: the config and scripts are loading".into());
        };
        let untried: Vec<&str> = h
            .codecs
            .iter()
            .filter(|(_, c)| c.state() == ConnState::Connecting)
            .map(|(n, _)| n.as_str())
            .collect();
        if untried.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} codec(s) not tried yet: {}",
                untried.len(),
                untried
                    .iter()
                    .take(5)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
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
                        .iter()
                        .map(|(name, c)| {
                            let (url, tags) = h.meta.get(name).cloned().unwrap_or_default();
                            snapshot::codec_status(name, c, &url, &tags)
                        })
                        .collect();
                    (codecs, snapshot::dir_bytes(&h.state_dir))
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
            ready_reason: ready.err().unwrap_or_default(),
            started_at: snapshot::time(self.started),
            uptime_seconds: snapshot::since(self.started),
            store_bytes,
            codecs,
            scripts,
            reloads,
        }
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let presented = if let Some(t) = given.strip_prefix("Bearer ") {
            t.trim().to_string()
        } else if let Some(b) = given.strip_prefix("Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .unwrap_or_default();
            decoded
                .split_once(':')
                .map(|(_, p)| p.to_string())
                .unwrap_or_default()
        } else {
            return false;
        };
        constant_time_eq(presented.as_bytes(), token.as_bytes())
    }
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn auth(State(ops): State<Arc<Ops>>, req: Request, next: Next) -> Response {
    if ops.authorized(req.headers()) {
        return next.run(req).await;
    }
    let mut resp = (StatusCode::UNAUTHORIZED, "a token is needed\n").into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"xmacro\", charset=\"UTF-8\""),
    );
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

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ops: Arc<Ops>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(ops))
        .with_graceful_shutdown(shutdown)
        .await
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
    fn a_public_address_without_a_token_is_refused() {
        let public = HttpOptions {
            listen: "0.0.0.0:9090".parse().unwrap(),
            token: None,
        };
        let e = public.check().unwrap_err().to_string();
        assert!(e.contains("--http-token-file"), "{e}");
        let with_token = HttpOptions {
            token: Some("0123456789abcdef0123".into()),
            ..public.clone()
        };
        assert!(with_token.check().is_ok());
        assert!(!format!("{with_token:?}").contains("0123456789abcdef"));
        let loopback = HttpOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            token: None,
        };
        assert!(loopback.check().is_ok());
        let v6 = HttpOptions {
            listen: "[::1]:0".parse().unwrap(),
            token: None,
        };
        assert!(v6.check().is_ok());
    }

    #[test]
    fn the_token_is_checked_as_bearer_or_basic_password() {
        let ops = Ops::new(Some("s3cret-token-0123456789".into()));
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            ops.authorized(&h)
        };
        assert!(with("Bearer s3cret-token-0123456789"));
        assert!(!with("Bearer s3cret-token-012345678"));
        let basic = base64::engine::general_purpose::STANDARD.encode("ops:s3cret-token-0123456789");
        assert!(with(&format!("Basic {basic}")));
        assert!(!with("Basic bm9wZTpub3Bl"));
        assert!(!ops.authorized(&HeaderMap::new()));
        assert!(Ops::new(None).authorized(&HeaderMap::new()));
    }

    #[test]
    fn a_short_or_empty_token_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("xmacro-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "short\n").unwrap();
        assert!(read_token_file(&f).unwrap_err().to_string().contains("16"));
        std::fs::write(&f, "\n").unwrap();
        assert!(
            read_token_file(&f)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        std::fs::write(&f, "0123456789abcdef0123\n").unwrap();
        assert_eq!(read_token_file(&f).unwrap(), "0123456789abcdef0123");
        let e = read_token_file(&dir.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
