//! `xmacro lsp`: serves the language server ([`crate::lsp`]) on stdin and
//! stdout until the editor says exit.

use crate::cli::LspArgs;
use crate::error::AppError;
use crate::lsp;

/// Serves one editor on stdio. Exits 0 after `shutdown` and `exit`, 1 when
/// the editor went away without them (as LSP asks).
pub async fn run(args: LspArgs) -> Result<(), AppError> {
    let options = lsp::Options {
        schema: args.schema,
        product: args.product,
        config: args.config,
    };
    tracing::info!("xmacro lsp {} on stdio", env!("CARGO_PKG_VERSION"));
    let served = tokio::task::spawn_blocking(move || {
        let input = std::io::BufReader::new(std::io::stdin());
        lsp::serve(options, input, std::io::stdout())
    })
    .await
    .map_err(|e| AppError::Failed(format!("the language server failed: {e}")))?;
    served.map_err(|e| AppError::Failed(e.to_string()))
}
