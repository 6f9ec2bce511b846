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
    let config = match &args.config {
        Some(f) => Some(crate::config::Config::load(f)?),
        None => None,
    };
    if let (Some(cfg), None, None, None) = (&config, &args.dir, &args.schema, &args.codec) {
        return project(cfg, args.strict);
    }
    let dir = args.dir.clone().unwrap_or_else(|| {
        config
            .as_ref()
            .map_or_else(|| PathBuf::from(DEFAULT_SCRIPTS), |c| c.scripts.clone())
    });
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
    let mut problems = problems;
    if let Some(config) = &config {
        problems.extend(allowed(&dir, config, args.strict)?);
    }
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
        let (root, name) = crate::script::files::split_script_file(dir)
            .map_err(|e| AppError::Usage(e.to_string()))?;
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
/// ([`crate::check::config`]).
fn project(cfg: &crate::config::Config, strict: bool) -> Result<(), AppError> {
    let file = &cfg.file;
    let mut report = crate::check::config::check(cfg)?;
    report.problems.extend(allowed(&cfg.scripts, cfg, strict)?);
    for w in &report.warnings {
        super::out::line(w)?;
    }
    for p in &report.problems {
        super::out::line(p)?;
    }
    if report.problems.is_empty() {
        super::out::line(&format!(
            "{} script(s) and {} panel(s) of {} checked",
            report.scripts,
            report.panels,
            file.display()
        ))
    } else {
        Err(AppError::Findings(report.problems.len()))
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
        let (d, name) = crate::script::files::split_script_file(dir)
            .map_err(|e| AppError::Usage(e.to_string()))?;
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
        let scripts = crate::script::files::list_scripts(&dir)
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
