//! `xmacro check`: compile every script (and with `--schema` look up each
//! literal xAPI path, [`crate::check`]), print the findings, and exit 1 when
//! there are any.

use std::path::PathBuf;

use crate::check;
use crate::cli::CheckArgs;
use crate::config::DEFAULT_SCRIPTS;
use crate::error::AppError;
use crate::schema::Schema;

/// Checks a scripts directory or one script file.
pub async fn run(args: CheckArgs) -> Result<(), AppError> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(DEFAULT_SCRIPTS));
    let schema = match &args.schema {
        Some(f) => Some(Schema::load(f, args.product.as_deref())?),
        None => None,
    };
    let (count, problems) = if dir.is_file() || dir.extension().is_some_and(|e| e == "rhai") {
        check::check_file(&dir, schema.as_ref())
    } else {
        check::check_dir(&dir, schema.as_ref())
    }?;
    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        println!(
            "{count} script(s) in {} compiled{}",
            dir.display(),
            if schema.is_some() {
                "; every literal xAPI path and parameter exists in the schema"
            } else {
                ""
            }
        );
        Ok(())
    } else {
        Err(AppError::Findings(problems.len()))
    }
}
