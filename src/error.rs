//! The one error type of the commands, and the one place that turns it into
//! the process exit code: 0 ok, 1 the codec refused (or `check` found
//! problems, a test failed, the host is not healthy), 2 usage or config
//! (or a test that does not compile), 3 connection, TLS or
//! authentication, 4 timeout, and a shell's code for a stop signal.
//! Library layers have their own typed errors and outcomes (`xows::Error`,
//! `ConfigError`, `HostError`, `TestOutcome`, ...); a command's error
//! carries them, and [`AppError::exit_code`] is the only place choosing a
//! code.

use crate::check::CheckError;
use crate::config::ConfigError;
use crate::fleet::shard::ShardError;
use crate::host::HostError;
use crate::ops::OpsError;
use crate::schema::SchemaError;
use crate::testrun::TestError;
use crate::testrun::report::TestOutcome;
use crate::xows;
use crate::xows::path::PathError;
use crate::xows::protocol::RpcError;

/// Why a command failed; [`AppError::exit_code`] maps it to the exit code:
/// 0 ok, 1 the codec refused, 2 usage or config, 3 connection, TLS or
/// authentication, 4 timeout.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad arguments (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A config file mistake, with its file, line and key (exit 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An unreadable xAPI schema file (exit 2).
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// `check` could not read the scripts it was given (exit 2).
    #[error(transparent)]
    Check(#[from] CheckError),
    /// A bad `--shard` (exit 2).
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// A bad xAPI path on the command line (exit 2).
    #[error(transparent)]
    Path(#[from] PathError),
    /// The host could not start: scripts directory, watcher or store (exit 2).
    #[error(transparent)]
    Host(#[from] HostError),
    /// `xmacro test` could not run its tests (exit 2).
    #[error(transparent)]
    Test(#[from] TestError),
    /// Tests ran, and not all passed: a test failed (exit 1), or a test
    /// file or a script under test does not compile (exit 2).
    #[error("{}", tests_message(.0))]
    Tests(TestOutcome),
    /// The status server cannot serve: its address, its token (exit 2).
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// `xmacro status`: the host answered, and is not healthy (exit 1).
    #[error("the host is {0}")]
    Unhealthy(String),
    /// The codec client failed: refused (1), no answer in time (4), could
    /// not connect or log in (3), bad codec settings (2).
    #[error("{}", codec_message(.0))]
    Codec(#[from] xows::Error),
    /// The codec answered a request about this path with an error (exit 1).
    #[error("the codec refused {path}: {}", refusal(.error))]
    RefusedAt { path: String, error: RpcError },
    /// Logging in failed after an empty password was tried, which is
    /// usually a password not given (exit 3).
    #[error(
        "{source} ({user} with an empty password was tried: give -p PASSWORD or \
         XMACRO_PASSWORD, or name the user in the URL to be asked)"
    )]
    EmptyPassword { user: String, source: xows::Error },
    /// Could not reach or log in to a server (exit 3).
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
    /// Stopped by a signal before it was done (exit 130 for SIGINT, 143
    /// for SIGTERM, 129 for SIGHUP, as a shell reports a process it ended).
    #[error("{what}")]
    Stopped { signal: &'static str, what: String },
}

impl AppError {
    /// The process exit code: the one place that chooses it.
    pub fn exit_code(&self) -> i32 {
        use xows::{ConnectError, Error as X};
        match self {
            AppError::Codec(X::Codec(_) | X::Protocol(_))
            | AppError::RefusedAt { .. }
            | AppError::Failed(_)
            | AppError::Findings(_)
            | AppError::Unhealthy(_) => 1,
            AppError::Tests(o) if o.errors > 0 => 2,
            AppError::Tests(_) => 1,
            AppError::Usage(_)
            | AppError::Config(_)
            | AppError::Schema(_)
            | AppError::Check(_)
            | AppError::Shard(_)
            | AppError::Path(_)
            | AppError::Host(_)
            | AppError::Test(_)
            | AppError::Ops(_)
            | AppError::Codec(X::Connect(ConnectError::Config(_))) => 2,
            AppError::Codec(X::Connect(_) | X::Disconnected { .. } | X::Closed)
            | AppError::EmptyPassword { .. }
            | AppError::Connection(_) => 3,
            AppError::Codec(X::Timeout { .. }) | AppError::Timeout(_) => 4,
            // What a shell reports for a process a signal ended.
            AppError::Stopped { signal, .. } => match *signal {
                "SIGHUP" => 129,
                "SIGINT" | "Ctrl-C" => 130,
                _ => 143,
            },
        }
    }

    /// Like `From<xows::Error>`, but a codec's refusal names the path asked about.
    pub fn at(path: &impl std::fmt::Display) -> impl FnOnce(xows::Error) -> AppError {
        let path = path.to_string();
        move |e| match e {
            xows::Error::Codec(error) => AppError::RefusedAt { path, error },
            other => other.into(),
        }
    }
}

/// What `xmacro test` says when not every test passed (each result was
/// printed above).
fn tests_message(o: &TestOutcome) -> String {
    if o.errors > 0 {
        "a test file or a script under test does not compile (see above)".into()
    } else {
        "some tests failed (see above)".into()
    }
}

/// What a client error says to the user: a refusal said once, anything
/// else in the client's words.
fn codec_message(e: &xows::Error) -> String {
    match e {
        xows::Error::Codec(rpc) => format!("the codec refused: {}", refusal(rpc)),
        other => other.to_string(),
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
    fn failed_tests_exit_1_and_tests_that_do_not_compile_exit_2() {
        let outcome = |failed, errors| {
            AppError::Tests(TestOutcome {
                passed: 3,
                failed,
                errors,
            })
        };
        assert_eq!(outcome(1, 0).exit_code(), 1);
        assert_eq!(outcome(1, 1).exit_code(), 2);
        assert_eq!(outcome(0, 1).exit_code(), 2);
    }

    #[test]
    fn a_stop_signal_exits_as_a_shell_reports_it() {
        let stopped = |signal| AppError::Stopped {
            signal,
            what: String::new(),
        };
        assert_eq!(stopped("SIGHUP").exit_code(), 129);
        assert_eq!(stopped("SIGINT").exit_code(), 130);
        assert_eq!(stopped("SIGTERM").exit_code(), 143);
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
