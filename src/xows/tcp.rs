//! Idle links kept alive by the operating system: TCP keepalive probes and
//! a user timeout on each codec's socket. A probe and its answer never wake
//! this process (nor the codec's xAPI service) and are never encrypted, so
//! finding a dead network costs a fleet's host next to nothing; the
//! WebSocket pings of [`super::pinger`] run far less often, for what TCP
//! cannot see (a codec whose system answers while its xAPI hangs, a proxy
//! in between).

use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite;

use super::settings::CodecConfig;
use super::wire::Ws;

/// Probes sent before the link is given up on (where the system has no
/// user timeout to do it by the clock).
const PROBES: u32 = 3;

/// What the system is asked to do for one idle link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLiveness {
    /// First probe after this much silence (whole seconds, at least one).
    pub idle: Duration,
    /// Then a probe this often (whole seconds, at least one).
    pub interval: Duration,
    /// This many probes unanswered and the link is dropped.
    pub probes: u32,
    /// Nothing received (no answer to a probe, no acknowledgement of data
    /// sent) for this long and the link is dropped (Linux).
    pub give_up: Duration,
}

impl TcpLiveness {
    /// From the codec's `keepalive` and `keepalive_timeout`: a link silent
    /// for `keepalive` is probed, and dropped once nothing arrived for
    /// `keepalive + keepalive_timeout` (to the probes' second).
    pub fn of(keepalive: Duration, timeout: Duration) -> TcpLiveness {
        // The system counts in whole seconds, TCP_KEEPIDLE to 32767.
        let secs = |d: Duration| Duration::from_secs(d.as_secs().clamp(1, 32_767));
        let idle = secs(keepalive);
        TcpLiveness {
            idle,
            interval: secs(timeout / PROBES),
            probes: PROBES,
            give_up: keepalive.max(idle) + timeout,
        }
    }
}

/// Asks the system to keep `ws`'s link alive as `config` says.
pub(crate) fn keep_alive(ws: &Ws, config: &CodecConfig) -> io::Result<()> {
    let tcp = match ws.get_ref() {
        MaybeTlsStream::Plain(tcp) => tcp,
        MaybeTlsStream::Rustls(tls) => tls.get_ref().0,
        _ => return Ok(()),
    };
    set(
        SockRef::from(tcp),
        TcpLiveness::of(config.keepalive, config.keepalive_timeout),
    )
}

/// Sets `liveness` on one socket.
pub fn set(socket: SockRef<'_>, liveness: TcpLiveness) -> io::Result<()> {
    let probes = TcpKeepalive::new()
        .with_time(liveness.idle)
        .with_interval(liveness.interval)
        .with_retries(liveness.probes);
    socket.set_tcp_keepalive(&probes)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(liveness.give_up))?;
    Ok(())
}

/// Why a session ended on a read error: the system giving up on a silent
/// link says "timed out", which here means half-open.
pub(crate) fn read_failed(e: &tungstenite::Error, config: &CodecConfig) -> String {
    match e {
        tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::TimedOut => format!(
            "nothing received for {:.0?} although the system probed the link (TCP keepalive): the link is half-open",
            config.keepalive + config.keepalive_timeout
        ),
        _ => format!("read failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_twenty_and_ten_seconds_probe_at_twenty_every_three_and_give_up_at_thirty() {
        let l = TcpLiveness::of(Duration::from_secs(20), Duration::from_secs(10));
        assert_eq!(l.idle, Duration::from_secs(20));
        assert_eq!(l.interval, Duration::from_secs(3));
        assert_eq!(l.probes, 3);
        assert_eq!(l.give_up, Duration::from_secs(30));
    }

    #[test]
    fn less_than_a_second_counts_as_one_as_the_system_counts_in_seconds() {
        let l = TcpLiveness::of(Duration::from_millis(100), Duration::from_millis(200));
        assert_eq!(l.idle, Duration::from_secs(1));
        assert_eq!(l.interval, Duration::from_secs(1));
        assert_eq!(l.give_up, Duration::from_millis(1200));
    }

    #[test]
    fn a_socket_set_reads_back_the_probes_and_the_user_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let socket = SockRef::from(&tcp);
        assert!(!socket.keepalive().unwrap());
        let l = TcpLiveness::of(Duration::from_secs(20), Duration::from_secs(10));
        set(SockRef::from(&tcp), l).unwrap();
        assert!(socket.keepalive().unwrap());
        assert_eq!(socket.tcp_keepalive_time().unwrap(), l.idle);
        assert_eq!(socket.tcp_keepalive_interval().unwrap(), l.interval);
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), l.probes);
        #[cfg(target_os = "linux")]
        assert_eq!(socket.tcp_user_timeout().unwrap(), Some(l.give_up));
    }

    #[test]
    fn a_read_the_system_timed_out_is_named_half_open_and_other_errors_as_they_are() {
        let config = CodecConfig::from_url("ws://codec/ws").unwrap();
        let timed_out = tungstenite::Error::Io(io::ErrorKind::TimedOut.into());
        let why = read_failed(&timed_out, &config);
        assert!(why.contains("half-open") && why.contains("30s"), "{why}");
        let reset = tungstenite::Error::Io(io::ErrorKind::ConnectionReset.into());
        assert!(read_failed(&reset, &config).starts_with("read failed: "));
    }
}
