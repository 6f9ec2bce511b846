//! `xmacro check`: compile every script and look up each literal xAPI path
//! ([`crate::check`]) in the schema (`--schema FILE`), in what a live codec
//! describes (`--codec`), or else in the simulator's built-in model, where
//! a miss is only a warning (the built-in model is a small part of the
//! xAPI). Prints the findings and exits 1 when there are any.

use std::path::{Path, PathBuf};

use crate::check;
use crate::cli::{CheckArgs, Target};
use crate::config::DEFAULT_SCRIPTS;
use crate::error::AppError;
use crate::schema::Schema;

/// What a miss in the built-in model is followed by.
pub const BUILTIN_NOTE: &str = "not in the built-in model; pass --schema for the full xAPI";

/// Checks a scripts directory or one script file.
pub async fn run(args: CheckArgs) -> Result<(), AppError> {
    if let Some(file) = &args.config {
        return project(file);
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(DEFAULT_SCRIPTS));
    let schema = match (&args.schema, &args.codec) {
        (Some(f), _) => Some(Schema::load(f, args.product.as_deref())?),
        (None, Some(codec)) => Some(
            super::schema::pull(&Target {
                codec: codec.clone(),
                config: None,
                timeout: args.timeout,
                connect: args.connect.clone(),
            })
            .await?,
        ),
        (None, None) => None,
    };
    let one_file = dir.is_file() || dir.extension().is_some_and(|e| e == "rhai");
    let (count, problems) = if one_file {
        check::check_file(&dir, schema.as_ref())
    } else {
        check::check_dir(&dir, schema.as_ref())
    }?;
    for p in &problems {
        super::out::line(p)?;
    }
    let warnings = match &schema {
        Some(_) => 0,
        None => builtin_warnings(&dir, one_file)?,
    };
    if !problems.is_empty() {
        return Err(AppError::Findings(problems.len()));
    }
    let against = match (&schema, warnings) {
        (Some(_), _) => "; every literal xAPI path and parameter exists in the schema",
        (None, 0) => "; every literal xAPI path is in the built-in model",
        (None, _) => "",
    };
    super::out::line(&format!(
        "{count} script(s) in {} compiled{against}",
        dir.display()
    ))
}

/// Without a schema: the scripts' literal paths looked up in the built-in
/// model, each miss printed as a warning; gives how many.
fn builtin_warnings(dir: &Path, one_file: bool) -> Result<usize, AppError> {
    let (root, only) = if one_file {
        let (root, name) = crate::host::split_script_file(dir).map_err(AppError::Usage)?;
        (root, Some(name))
    } else {
        (dir.to_path_buf(), None)
    };
    let model = crate::sim::builtin::schema();
    let findings = check::schema_findings(&root, only.as_deref(), &model)?;
    for f in &findings {
        super::out::line(&format!("warning: {f} ({BUILTIN_NOTE})"))?;
    }
    Ok(findings.len())
}

/// `check --config FILE`: the project as the config binds it
/// ([`crate::check_config`]).
fn project(file: &std::path::Path) -> Result<(), AppError> {
    let cfg = crate::config::Config::load(file)?;
    let report = crate::check_config::check(&cfg).map_err(AppError::Usage)?;
    for w in &report.warnings {
        println!("{w}");
    }
    for p in &report.problems {
        println!("{p}");
    }
    if report.problems.is_empty() {
        println!(
            "{} script(s) and {} panel(s) of {} checked",
            report.scripts,
            report.panels,
            file.display()
        );
        Ok(())
    } else {
        Err(AppError::Findings(report.problems.len()))
    }
}
