//! A small HTTP/1.1 GET client over plain TCP, enough for `xmacro status`
//! to read `/api/status` from a host's status server (which speaks plain
//! HTTP; put TLS in a reverse proxy). Kept here rather than adding an HTTP
//! client crate for one request.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}: {1}")]
    Url(String, String),
    #[error("cannot reach {0}: {1}")]
    Connect(String, String),
    #[error("{0}: no answer within {1:?}")]
    Timeout(String, Duration),
    #[error("{0}: the answer is not HTTP: {1}")]
    Bad(String, NotHttp),
}

/// A status code and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// GETs `url` (http:// only), with `Authorization: Bearer TOKEN` if given.
pub async fn get(url: &str, token: Option<&str>, timeout: Duration) -> Result<Answer, HttpError> {
    let bad_url = |why: &str| HttpError::Url(url.to_string(), why.to_string());
    let u = url::Url::parse(url).map_err(|e| bad_url(&e.to_string()))?;
    if u.scheme() != "http" {
        return Err(bad_url(
            "only http:// (the status server speaks plain HTTP)",
        ));
    }
    let host = u.host_str().ok_or_else(|| bad_url("no host"))?.to_string();
    let port = u.port_or_known_default().unwrap_or(80);
    let mut target = u.path().to_string();
    if let Some(q) = u.query() {
        target.push('?');
        target.push_str(q);
    }
    let shown = format!("{host}:{port}");
    let work = async {
        let addr = if host.starts_with('[') {
            format!("{host}:{port}")
        } else if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| HttpError::Connect(shown.clone(), e.to_string()))?;
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "GET {target} HTTP/1.1\r\nHost: {shown}\r\nUser-Agent: xmacro-status\r\nAccept: application/json\r\n{auth}Connection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| HttpError::Connect(shown.clone(), e.to_string()))?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .await
            .map_err(|e| HttpError::Connect(shown.clone(), e.to_string()))?;
        parse(&raw).map_err(|why| HttpError::Bad(shown.clone(), why))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| HttpError::Timeout(shown.clone(), timeout))?
}

/// Why a response cannot be read as HTTP/1.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotHttp {
    #[error("no end of headers")]
    NoEndOfHeaders,
    #[error("headers are not UTF-8")]
    HeadersNotUtf8,
    #[error("status line {0:?}")]
    StatusLine(String),
    #[error("a chunk size line does not end")]
    ChunkLineOpen,
    #[error("chunk size {0:?}")]
    ChunkSize(String),
    #[error("a chunk is cut short")]
    ChunkCut,
}

/// Reads a whole HTTP/1.1 response (plain or chunked body).
pub fn parse(raw: &[u8]) -> Result<Answer, NotHttp> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(NotHttp::NoEndOfHeaders)?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| NotHttp::HeadersNotUtf8)?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| NotHttp::StatusLine(status_line.into()))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let mut body = &raw[split + 4..];
    let bytes = if chunked {
        let mut out = Vec::new();
        loop {
            let end = body
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or(NotHttp::ChunkLineOpen)?;
            let size_text = String::from_utf8_lossy(&body[..end]);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| NotHttp::ChunkSize(size_text.to_string()))?;
            body = &body[end + 2..];
            if size == 0 {
                break;
            }
            if body.len() < size {
                return Err(NotHttp::ChunkCut);
            }
            out.extend_from_slice(&body[..size]);
            body = body.get(size + 2..).unwrap_or_default();
        }
        out
    } else {
        body.to_vec()
    };
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_bodies_are_read() {
        let a = parse(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").unwrap();
        assert_eq!((a.status, a.body.as_str()), (200, "ok"));
        let a = parse(
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnot \r\n5\r\nready\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((a.status, a.body.as_str()), (503, "not ready"));
        assert!(parse(b"garbage").is_err());
    }
}
