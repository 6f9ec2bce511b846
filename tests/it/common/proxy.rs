//! An in-process TCP proxy between a client and the simulator, on
//! 127.0.0.1, that degrades the link on demand: a fixed delay per chunk,
//! one byte per write, or a cut in the middle of the next server frame.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the proxy treats traffic (read at every chunk, so it can change
/// while connections are open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Hold every chunk this long, both ways.
    Latency(Duration),
    /// Write one byte at a time, both ways.
    ByteAtATime,
    /// Forward this many bytes of the next server chunk, then cut every
    /// connection without a close frame; the mode goes back to Pass.
    CutAfter(usize),
}

pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let m = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let cut = Arc::new(tokio::sync::Notify::new());
                tokio::spawn(pump(cr, sw, m.clone(), false, cut.clone()));
                tokio::spawn(pump(sr, cw, m.clone(), true, cut));
            }
        });
        Proxy { addr, mode, task }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<Mutex<Mode>>,
    from_server: bool,
    cut: Arc<tokio::sync::Notify>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = cut.notified() => return,
        };
        let now = *mode.lock().unwrap();
        match now {
            Mode::Pass => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            Mode::Latency(d) => {
                tokio::time::sleep(d).await;
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            Mode::ByteAtATime => {
                for b in &buf[..n] {
                    if to.write_all(&[*b]).await.is_err() || to.flush().await.is_err() {
                        return;
                    }
                }
            }
            Mode::CutAfter(k) if from_server => {
                let _ = to.write_all(&buf[..k.min(n)]).await;
                let _ = to.flush().await;
                *mode.lock().unwrap() = Mode::Pass;
                cut.notify_waiters();
                return;
            }
            Mode::CutAfter(_) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
