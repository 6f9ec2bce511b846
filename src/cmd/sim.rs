//! `xmacro sim`: serve a simulated codec ([`crate::sim`]) on an address
//! until a stop signal, printing where (and the certificate's fingerprint
//! with `--tls`); `xmacro sim ctl` acts on a running one.

use std::sync::Arc;

use crate::cli::SimArgs;
use crate::error::AppError;
use crate::schema::Schema;
use crate::sim;

/// Serves the simulator, or runs `sim ctl`.
pub async fn run(args: SimArgs) -> Result<(), AppError> {
    if let Some(crate::cli::SimCommand::Ctl(ctl)) = args.command {
        return sim::ctl::run(ctl).await.map_err(|e| match e {
            sim::ctl::CtlError::Usage(u) => AppError::Usage(u),
            sim::ctl::CtlError::Codec(c) => AppError::from(c),
            sim::ctl::CtlError::Stopped { signal, what } => AppError::Stopped { signal, what },
        });
    }
    let schema = match &args.schema {
        Some(file) => Some(Arc::new(Schema::load(file, Some(&args.product))?)),
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
    sim::run(listener, options, crate::signals::shutdown())
        .await
        .map_err(|e| AppError::Failed(e.to_string()))
}
