//! One connection attempt: TCP, TLS (as the codec's settings ask) and the
//! WebSocket upgrade with credentials, bounded by the connect timeout, its
//! failure sorted into what a user can act on ([`ConnectError`]).
//! Credentials are never logged.

use std::sync::Arc;

use base64::Engine as _;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracing::{trace, warn};

use super::error::ConnectError;
use super::settings::{AuthMode, CodecConfig};
use super::tls::TlsMode;
use super::wire::Ws;

/// Builds the upgrade request with credentials; never logged.
fn upgrade_request(
    config: &CodecConfig,
) -> Result<tungstenite::handshake::client::Request, ConnectError> {
    let url = config.dial_url();
    let mut req = url
        .as_str()
        .into_client_request()
        .map_err(|e| ConnectError::Config(format!("{}: {e}", config.shown_url())))?;
    let creds = format!("{}:{}", config.username, config.password.0);
    let (name, value) = match config.auth {
        AuthMode::Basic => (
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(creds)
            ),
        ),
        AuthMode::SubProtocol => ("sec-websocket-protocol", auth_sub_protocol(&creds)),
    };
    let value = value.parse().map_err(|_| {
        ConnectError::Config("credentials hold characters a header cannot carry".into())
    })?;
    req.headers_mut().insert(name, value);
    Ok(req)
}

/// `auth-` plus base64 of `user:password` made URL-safe (`+` to `-`, `/` to
/// `_`, no `=`), as browsers and jsxapi send it.
pub fn auth_sub_protocol(user_colon_password: &str) -> String {
    format!(
        "auth-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(user_colon_password)
    )
}

/// The first line of an error page's text, when it says more than the
/// status's own reason; printable ASCII only and short, since it comes
/// from the other side and goes into logs.
fn server_says<T>(body: &[u8], resp: &tungstenite::http::Response<T>) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.lines().next()?.trim();
    let plain = text.len() <= 200 && text.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    let reason = resp.status().canonical_reason().unwrap_or("");
    (plain && !text.is_empty() && !text.eq_ignore_ascii_case(reason)).then(|| text.to_string())
}

fn map_connect_error(e: tungstenite::Error) -> ConnectError {
    match e {
        tungstenite::Error::Http(resp) => {
            let status = resp.status().as_u16();
            match status {
                401 | 403 => ConnectError::Auth {
                    status,
                    says: resp.body().as_deref().and_then(|b| server_says(b, &resp)),
                },
                502 | 503 => ConnectError::Unavailable { status },
                _ => ConnectError::Refused { status },
            }
        }
        tungstenite::Error::Tls(e) => ConnectError::Tls(e.to_string()),
        tungstenite::Error::Io(io) => {
            match io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                Some(tls) => ConnectError::Tls(tls.to_string()),
                None => ConnectError::Network(io.to_string()),
            }
        }
        tungstenite::Error::Url(e) => ConnectError::Config(e.to_string()),
        other => ConnectError::Network(other.to_string()),
    }
}

pub(crate) async fn connect(
    config: &CodecConfig,
    tls: &Option<Arc<rustls::ClientConfig>>,
) -> Result<Box<Ws>, ConnectError> {
    let req = upgrade_request(config)?;
    // The configured size is a logical limit: a larger message is dropped
    // and logged while the connection goes on. The transport's own limit,
    // four times larger, bounds memory; only a message past that costs a
    // reconnect.
    let hard = config.max_message_size.saturating_mul(4);
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(hard))
        .max_frame_size(Some(hard));
    let connector = match (config.url.scheme(), tls) {
        ("wss", Some(tls)) => {
            if config.tls == TlsMode::Insecure {
                warn!(
                    "TLS certificate checks are OFF for this codec (insecure mode): anyone on the path can impersonate it"
                );
            }
            Connector::Rustls(tls.clone())
        }
        _ => Connector::Plain,
    };
    trace!(
        target: "xmacro::wire",
        "upgrade GET {} as {:?} ({:?} auth, credentials redacted)",
        config.shown_url(),
        config.username,
        config.auth
    );
    let attempt = tokio_tungstenite::connect_async_tls_with_config(
        req,
        Some(ws_config),
        true,
        Some(connector),
    );
    match tokio::time::timeout(config.connect_timeout, attempt).await {
        Err(_) => Err(ConnectError::Network(format!(
            "cannot reach {}: no connection within {:?}",
            config.shown_url(),
            config.connect_timeout
        ))),
        Ok(Err(e)) => Err(match map_connect_error(e) {
            ConnectError::Network(why) => {
                ConnectError::Network(format!("cannot reach {}: {why}", config.shown_url()))
            }
            other => other,
        }),
        // Boxed: the stream is large (about 1.4 KiB with TLS state) and
        // would otherwise take room in the connection task for as long as
        // it lives; the box is freed once the session splits it.
        Ok(Ok((ws, _))) => Ok(Box::new(ws)),
    }
}
