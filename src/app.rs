//! The dispatch from the parsed command line to the command that carries
//! it out ([`crate::cmd`]), and nothing else. Errors are
//! [`crate::error::AppError`].

use crate::cli::{Cli, Command};
use crate::cmd;
use crate::error::AppError;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), AppError> {
    match cli.command {
        Command::Sim(args) => cmd::sim::run(args).await,
        Command::Run(args) => cmd::run::run(args).await,
        Command::Check(args) => cmd::check::run(args).await,
        Command::Status(args) => cmd::status::run(args).await,
        Command::Rollout(args) => cmd::rollout::run(args).await,
        Command::Audit(args) => cmd::audit::run(args),
        Command::Test(args) => cmd::test::run(args).await,
        Command::Get(args) => cmd::oneshot::get(args).await,
        Command::Query(args) => cmd::oneshot::query(args).await,
        Command::Set(args) => cmd::oneshot::set(args).await,
        Command::Command(args) => cmd::oneshot::command(args).await,
        Command::Feedback(args) => cmd::oneshot::feedback(args).await,
        Command::Init(args) => cmd::init::run(&args.dir),
        Command::Shard(args) => cmd::shard::print_assignment(args),
        Command::Schema(args) => cmd::schema::run(args).await,
        Command::Completions(args) => cmd::manual::completions(args),
        Command::Lsp(args) => cmd::lsp::run(args).await,
        Command::Man(args) => cmd::manual::man(args),
    }
}
