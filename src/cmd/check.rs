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
    let config = match &args.config {
        Some(f) => Some(crate::config::Config::load(f)?),
        None => None,
    };
    let dir = args.dir.clone().unwrap_or_else(|| {
        config
            .as_ref()
            .map_or_else(|| PathBuf::from(DEFAULT_SCRIPTS), |c| c.scripts.clone())
    });
    let schema = match &args.schema {
        Some(f) => Some(Schema::load(f, args.product.as_deref())?),
        None => None,
    };
    let (count, problems) = if dir.is_file() || dir.extension().is_some_and(|e| e == "rhai") {
        check::check_file(&dir, schema.as_ref())
    } else {
        check::check_dir(&dir, schema.as_ref())
    }?;
    let mut problems = problems;
    if let Some(config) = &config {
        problems.extend(allowed(&dir, config, args.strict)?);
    }
    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        println!(
            "{count} script(s) in {} compiled{}{}",
            dir.display(),
            if schema.is_some() {
                "; every literal xAPI path and parameter exists in the schema"
            } else {
                ""
            },
            if config.is_some() {
                "; every literal xAPI path is inside its script's allow list"
            } else {
                ""
            }
        );
        Ok(())
    } else {
        Err(AppError::Findings(problems.len()))
    }
}

/// Paths outside each script's `allow` (for the one script given, if a
/// file was), and with `strict` every script that has no list.
fn allowed(
    dir: &std::path::Path,
    config: &crate::config::Config,
    strict: bool,
) -> Result<Vec<String>, AppError> {
    let (dir, only) = if dir.is_file() || dir.extension().is_some_and(|e| e == "rhai") {
        let (d, name) = crate::host::split_script_file(dir).map_err(AppError::Usage)?;
        (d, Some(name))
    } else {
        (dir.to_path_buf(), None)
    };
    let lists: std::collections::BTreeMap<String, crate::script::allow::AllowList> = config
        .script
        .iter()
        .filter_map(|(n, s)| s.allow.clone().map(|a| (n.clone(), a)))
        .collect();
    let mut out = check::allow_findings(&dir, only.as_deref(), &lists)?;
    if strict {
        let scripts = crate::host::list_scripts(&dir)
            .map_err(|e| AppError::Usage(format!("scripts directory {}: {e}", dir.display())))?;
        for (name, file) in scripts {
            if only.as_ref().is_none_or(|o| *o == name) && !lists.contains_key(&name) {
                out.push(format!(
                    "{file}: script {name:?} has no allow list in {} ([script.{name}] allow = [...]): it may use the whole xAPI",
                    config.file.display()
                ));
            }
        }
    }
    Ok(out)
}
