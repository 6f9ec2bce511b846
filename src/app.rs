//! What each command does: the dispatch from the parsed command line to
//! the module that carries it out. Errors are [`crate::error::AppError`].

use std::sync::Arc;

use crate::cli::{Cli, Command, SimArgs};
use crate::error::AppError;
use crate::schema::Schema;
use crate::{oneshot, sim};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), AppError> {
    match cli.command {
        Command::Sim(args) => run_sim(args).await,
        Command::Run(args) => crate::run::run(args).await,
        Command::Check(args) => crate::run::check(args).await,
        Command::Status(args) => crate::ops::command::status(args).await,
        Command::Test(args) => match crate::testrun::cli::run(args).await {
            Ok(0) => Ok(()),
            Ok(2) => Err(AppError::Usage(
                "a script under test does not compile (see above)".into(),
            )),
            Ok(_) => Err(AppError::Failed("some tests failed (see above)".into())),
            Err(e) => Err(AppError::Usage(e.to_string())),
        },
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
    sim::run(listener, options, crate::signals::shutdown())
        .await
        .map_err(|e| AppError::Failed(e.to_string()))
}
