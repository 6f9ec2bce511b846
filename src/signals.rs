//! Process signals, caught from the first line of `main` so none arrives
//! while nobody listens (a SIGTERM while scripts compile must still run
//! their `on_unload`).
//!
//! SIGTERM and SIGINT ask for a graceful stop. SIGHUP asks `xmacro run` to
//! reload its config and scripts (the daemon convention) once
//! [`hangup_reloads`] was called; for every other command it stops, as a
//! closed terminal should. Each signal is installed on its own: one that
//! cannot be caught keeps its default action (the process ends) instead of
//! leaving a stop that waits for ever.
//!
//! SIGXFSZ is ignored: a file-size limit (`ulimit -f`, systemd's
//! `LimitFSIZE=`) would otherwise kill the host when the store reaches it.
//! Ignored, the write fails with EFBIG instead, and the script's
//! `store.set` gets an error it can catch.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

struct Channels {
    /// The name of the first stop signal received.
    stop: watch::Sender<Option<&'static str>>,
    /// How many SIGHUPs asked for a reload.
    hangups: watch::Sender<u64>,
    hup_reloads: AtomicBool,
}

static CHANNELS: OnceLock<Channels> = OnceLock::new();

fn channels() -> &'static Channels {
    CHANNELS.get_or_init(|| Channels {
        stop: watch::Sender::new(None),
        hangups: watch::Sender::new(0),
        hup_reloads: AtomicBool::new(false),
    })
}

/// Catches SIGTERM, SIGINT and SIGHUP from now on (call it inside the
/// runtime, first thing). Returns what could not be caught, to be logged
/// once logging is up.
pub fn install() -> Vec<String> {
    let ch = channels();
    let mut problems = Vec::new();
    #[cfg(unix)]
    {
        ignore_file_size_limit_signal();
        use tokio::signal::unix::{SignalKind, signal};
        for (kind, name) in [
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::hangup(), "SIGHUP"),
        ] {
            match signal(kind) {
                Ok(mut s) => {
                    tokio::spawn(async move {
                        while s.recv().await.is_some() {
                            if name == "SIGHUP" && ch.hup_reloads.load(Ordering::SeqCst) {
                                ch.hangups.send_modify(|n| *n += 1);
                            } else {
                                ch.stop
                                    .send_if_modified(|s| s.is_none() && s.replace(name).is_none());
                            }
                        }
                    });
                }
                Err(e) => problems.push(format!(
                    "{name} cannot be caught ({e}); it ends the process at once"
                )),
            }
        }
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                ch.stop.send_replace(Some("Ctrl-C"));
            }
        });
    }
    problems
}

/// Lets a write past the file-size limit fail (EFBIG) instead of ending
/// the process with SIGXFSZ.
#[cfg(unix)]
pub fn ignore_file_size_limit_signal() {
    // SAFETY: setting a signal's disposition to SIG_IGN runs no handler
    // code and is safe at any time.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Whether [`install`] ran in this process.
fn installed() -> bool {
    CHANNELS.get().is_some()
}

/// From now on SIGHUP means "reload" (`xmacro run`).
pub fn hangup_reloads() {
    channels().hup_reloads.store(true, Ordering::SeqCst);
}

/// Counts SIGHUPs taken as reload requests; `changed()` fires on each.
pub fn hangups() -> watch::Receiver<u64> {
    channels().hangups.subscribe()
}

/// Resolves when the process is asked to stop (Ctrl-C, SIGTERM, and SIGHUP
/// outside `run`): the shutdown future servers and hosts take.
pub async fn shutdown() {
    stopped().await;
}

/// Resolves with the signal's name once a stop was asked for (at once if it
/// already was). Without [`install`] (the library used on its own), it
/// listens for Ctrl-C and SIGTERM from the moment it is first polled.
pub async fn stopped() -> &'static str {
    if !installed() {
        return fallback().await;
    }
    let mut rx = channels().stop.subscribe();
    let got = rx.wait_for(|s| s.is_some()).await.map(|s| *s);
    match got {
        Ok(s) => s.unwrap_or("a signal"),
        // The sender lives in a static: never dropped.
        Err(_) => std::future::pending().await,
    }
}

async fn fallback() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
