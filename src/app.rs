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
    #[error("the codec refused: {0}")]
    Refused(RpcError),
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
            AppError::Refused(_) | AppError::Failed(_) | AppError::Findings(_) => 1,
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

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), AppError> {
    match cli.command {
        Command::Sim(args) => run_sim(args).await,
        Command::Run(args) => crate::run::run(args).await,
        Command::Check(args) => crate::run::check(args).await,
        Command::Status(args) => crate::ops::command::status(args).await,
        Command::Get(args) => oneshot::get(args).await,
        Command::Query(args) => oneshot::query(args).await,
        Command::Set(args) => oneshot::set(args).await,
        Command::Command(args) => oneshot::command(args).await,
        Command::Feedback(args) => oneshot::feedback(args).await,
    }
}

async fn run_sim(args: SimArgs) -> Result<(), AppError> {
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
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| AppError::Failed(format!("cannot listen on {}: {e}", args.listen)))?;
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

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
