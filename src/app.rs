//! What each command does, and the one error type whose variant picks the
//! process exit code.

use std::sync::Arc;

use crate::cli::{Cli, Command, SimArgs};
use crate::schema::Schema;
use crate::xows::protocol::RpcError;
use crate::{oneshot, sim, xows};

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

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), AppError> {
    match cli.command {
        Command::Sim(args) => run_sim(args).await,
        Command::Run(args) => crate::run::run(args).await,
        Command::Check(args) => crate::run::check(args).await,
        Command::Get(args) => oneshot::get(args).await,
        Command::Query(args) => oneshot::query(args).await,
        Command::Set(args) => oneshot::set(args).await,
        Command::Command(args) => oneshot::command(args).await,
        Command::Feedback(args) => oneshot::feedback(args).await,
        Command::Init(args) => init(&args.dir),
        Command::Shard(args) => crate::shard_cmd::print_assignment(args),
        Command::Completions(args) => {
            use clap::CommandFactory;
            let mut cmd = crate::cli::Cli::command();
            clap_complete::generate(args.shell, &mut cmd, "xmacro", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(crate::cli::Cli::command())
                .render(&mut std::io::stdout())
                .map_err(|e| AppError::Failed(format!("writing the man page: {e}")))
        }
    }
}

fn init(dir: &std::path::Path) -> Result<(), AppError> {
    let written = crate::init::init(dir).map_err(|e| AppError::Usage(e.to_string()))?;
    for f in &written {
        println!("created {}", f.display());
    }
    let cd = if dir == std::path::Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", dir.display())
    };
    println!(
        "next: {cd}xmacro run --sim    # runs scripts/ against a simulated codec; edit a script while it runs"
    );
    Ok(())
}

async fn run_sim(args: SimArgs) -> Result<(), AppError> {
    if let Some(crate::cli::SimCommand::Ctl(ctl)) = args.command {
        return sim::ctl::run(ctl).await.map_err(|e| match e {
            sim::ctl::CtlError::Usage(u) => AppError::Usage(u),
            sim::ctl::CtlError::Codec(c) => AppError::from(c),
        });
    }
    let schema = match &args.schema {
        Some(file) => Some(Arc::new(
            Schema::load(file, Some(&args.product)).map_err(|e| AppError::Usage(e.to_string()))?,
        )),
        None => None,
    };
    let tls = if args.tls {
        Some(
            sim::Identity::self_signed()
                .map_err(|e| AppError::Failed(format!("certificate: {e}")))?,
        )
    } else {
        None
    };
    // A taken or unusable address is a usage problem (exit 2), not "the codec refused".
    let listener = tokio::net::TcpListener::bind(args.listen.as_str())
        .await
        .map_err(|e| AppError::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| AppError::Failed(e.to_string()))?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!("listening on {scheme}://{addr}/ws");
    if let Some(id) = &tls {
        println!("fingerprint {}", id.fingerprint());
    }
    let options = sim::SimOptions {
        username: args.username,
        password: args.password,
        tls,
        device: sim::DeviceOptions {
            schema,
            max_subscriptions: args.max_subscriptions,
            ..Default::default()
        },
    };
    tracing::info!(
        "simulator ready: user {:?}, {} model",
        options.username,
        if options.device.schema.is_some() {
            "schema"
        } else {
            "built-in"
        }
    );
    sim::run(listener, options, shutdown_signal())
        .await
        .map_err(|e| AppError::Failed(e.to_string()))
}

/// Resolves on Ctrl-C or SIGTERM (and SIGHUP outside `run`); see
/// [`crate::signals`].
pub async fn shutdown_signal() {
    crate::signals::stopped().await;
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
