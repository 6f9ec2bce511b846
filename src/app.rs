//! What each command does, and the one error type whose variant picks the
//! process exit code.

use std::sync::Arc;

use crate::cli::{Cli, Command, SimArgs};
use crate::schema::Schema;
use crate::sim;

/// Why a command failed; [`AppError::exit_code`] maps it to the exit code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad arguments or configuration (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Anything else that stopped the command (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Usage(_) => 2,
            AppError::Failed(_) => 1,
        }
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), AppError> {
    match cli.command {
        Command::Sim(args) => run_sim(args).await,
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
