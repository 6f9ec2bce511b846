//! The status server's connections, bounded so that no client, with or
//! without the token, can hold what the codecs need. A TCP connection is
//! accepted before its request (and token) can be read, so:
//!
//! - a request's head must arrive within [`HEADER_TIMEOUT`] of the
//!   connection opening or of the previous answer (hyper's header-read
//!   timer), else the connection is closed;
//! - a connection that moves no byte either way for [`IDLE_TIMEOUT`] is
//!   closed (a page's live updates send a keep-alive every 15 s, so an
//!   open page is never idle);
//! - at most [`Limits::max_connections`] are open at once, an eighth of
//!   the process's open-file limit (at most 512): past it a connection is
//!   closed as soon as it is accepted, so the codecs always keep most
//!   descriptors, and a restarted codec can be reconnected while someone
//!   holds the status port;
//! - a failed accept (out of descriptors, EMFILE) pauses, growing, instead
//!   of spinning.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

/// A request's head must be in within this of the connection opening (or
/// of the previous answer on a kept-alive connection).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that moves no byte either way for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The most connections ever, whatever the open-file limit.
const MAX_CONNECTIONS: usize = 512;
/// The first and the longest pause after a failed accept.
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);
/// A full server says so at most this often.
const FULL_WARN_EVERY: Duration = Duration::from_secs(60);

/// How much the server may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Limits {
    /// The limits for this process: connections capped at an eighth of
    /// its open-file limit (4 to 512).
    pub fn for_this_process() -> Limits {
        Limits {
            max_connections: (open_file_limit() / 8).clamp(4, MAX_CONNECTIONS as u64) as usize,
            header_timeout: HEADER_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// The process's soft limit on open descriptors (1024 if unknown).
pub fn open_file_limit() -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } == 0 {
        l.rlim_cur
    } else {
        1024
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    let mut pause = ACCEPT_PAUSE_MIN;
    let mut warned_full: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => {
                pause = ACCEPT_PAUSE_MIN;
                a
            }
            Err(e) => {
                if pause == ACCEPT_PAUSE_MIN {
                    warn!("status server: accept failed, pausing: {e}");
                }
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(ACCEPT_PAUSE_MAX);
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Closed at once: its descriptor goes back now.
            drop(tcp);
            if warned_full.is_none_or(|at| at.elapsed() >= FULL_WARN_EVERY) {
                warned_full = Some(Instant::now());
                warn!(
                    "status server: {} connections open, the most it takes (an eighth of the open-file limit of {}, 4 to 512, so codecs keep the rest); closing new ones until some end",
                    limits.max_connections,
                    open_file_limit()
                );
            }
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            connection(tcp, app, limits).await;
            debug!("status server: connection from {peer} ended");
            drop(permit);
        });
    }
}

/// Serves one connection until it ends, its head is late, or it idles.
async fn connection(tcp: TcpStream, app: axum::Router, limits: Limits) {
    let _ = tcp.set_nodelay(true);
    let origin = Instant::now();
    let moved = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Watched {
        inner: tcp,
        moved: moved.clone(),
        origin,
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = http.serve_connection(io, TowerToHyperService::new(app));
    tokio::pin!(conn);
    loop {
        let idle = origin
            .elapsed()
            .saturating_sub(Duration::from_millis(moved.load(Ordering::Relaxed)));
        let Some(left) = limits
            .idle_timeout
            .checked_sub(idle)
            .filter(|d| !d.is_zero())
        else {
            // Dropping the connection closes the socket.
            return;
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tokio::time::sleep(left) => {}
        }
    }
}

/// A socket that notes when it last moved a byte (milliseconds since
/// `origin`).
struct Watched {
    inner: TcpStream,
    moved: Arc<AtomicU64>,
    origin: Instant,
}

impl Watched {
    fn touch(&self) {
        self.moved
            .store(self.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
