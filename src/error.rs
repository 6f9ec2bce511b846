//! The one error type of the commands, and the one place that turns it into
//! the process exit code: 0 ok, 1 the codec refused (or `check` found
//! problems), 2 usage or config, 3 connection, TLS or authentication, 4
//! timeout. Library layers have their own typed errors (`xows::Error`,
//! `ConfigError`, ...); they become an [`AppError`] only here.

use crate::xows;
use crate::xows::protocol::RpcError;

/// Why a command failed; [`AppError::exit_code`] maps it to the exit code:
/// 0 ok, 1 the codec refused, 2 usage or config, 3 connection, TLS or
/// authentication, 4 timeout.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad arguments or configuration (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The codec answered with an error (exit 1).
    #[error("the codec refused: {}", refusal(.0))]
    Refused(RpcError),
    /// The codec answered a request about this path with an error (exit 1).
    #[error("the codec refused {path}: {}", refusal(.error))]
    RefusedAt { path: String, error: RpcError },
    /// Could not reach or log in to the codec (exit 3).
    #[error("{0}")]
    Connection(String),
    /// No answer in time (exit 4).
    #[error("{0}")]
    Timeout(String),
    /// Anything else that stopped the command (exit 1).
    #[error("{0}")]
    Failed(String),
    /// `check` found problems (exit 1); they were printed.
    #[error("{0} problem(s) found")]
    Findings(usize),
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Refused(_)
            | AppError::RefusedAt { .. }
            | AppError::Failed(_)
            | AppError::Findings(_) => 1,
            AppError::Usage(_) => 2,
            AppError::Connection(_) => 3,
            AppError::Timeout(_) => 4,
        }
    }
}

impl From<xows::Error> for AppError {
    fn from(e: xows::Error) -> Self {
        match e {
            xows::Error::Codec(rpc) => AppError::Refused(rpc),
            xows::Error::Timeout { .. } => AppError::Timeout(e.to_string()),
            xows::Error::Connect(xows::ConnectError::Config(c)) => AppError::Usage(c),
            xows::Error::Connect(_) | xows::Error::Disconnected { .. } | xows::Error::Closed => {
                AppError::Connection(e.to_string())
            }
            xows::Error::Protocol(_) => AppError::Failed(e.to_string()),
        }
    }
}

impl AppError {
    /// Like `From<xows::Error>`, but a codec's refusal names the path asked about.
    pub fn at(path: &impl std::fmt::Display) -> impl FnOnce(xows::Error) -> AppError {
        let path = path.to_string();
        move |e| match e {
            xows::Error::Codec(error) => AppError::RefusedAt { path, error },
            other => other.into(),
        }
    }
}

/// A codec error said once: codecs often repeat the message in `data`
/// ("Bad argument to parameter \"Level\"." then "bad argument to parameter
/// \"Level\": 500 is outside 0..100"); the detail then replaces the repeat.
fn refusal(e: &RpcError) -> String {
    let detail = match &e.data {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(d) => Some(d.to_string()),
    };
    let Some(detail) = detail else {
        return format!("{} (code {})", e.message, e.code);
    };
    let message = e.message.trim_end_matches('.');
    // The last clause of the message ("Bad usage: Bad argument ..." -> "Bad argument ...").
    let (head, last) = match message.rfind(": ") {
        Some(i) => (&message[..i + 2], &message[i + 2..]),
        None => ("", message),
    };
    if !last.is_empty() && detail.to_lowercase().starts_with(&last.to_lowercase()) {
        format!("{head}{detail} (code {})", e.code)
    } else {
        format!("{} (code {}): {detail}", e.message, e.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rpc(message: &str, data: Option<serde_json::Value>) -> RpcError {
        RpcError {
            code: -32602,
            message: message.into(),
            data,
        }
    }

    #[test]
    fn a_refusal_does_not_repeat_itself() {
        let e = rpc(
            "Bad usage: Bad argument to parameter \"Level\".",
            Some(json!(
                "bad argument to parameter \"Level\": 500 is outside 0..100"
            )),
        );
        assert_eq!(
            refusal(&e),
            "Bad usage: bad argument to parameter \"Level\": 500 is outside 0..100 (code -32602)"
        );
        let e = rpc(
            "No match on Path argument",
            Some(json!("Status Audio Volumee")),
        );
        assert_eq!(
            refusal(&e),
            "No match on Path argument (code -32602): Status Audio Volumee"
        );
        assert_eq!(
            refusal(&rpc("Method not found.", None)),
            "Method not found. (code -32602)"
        );
    }
}
