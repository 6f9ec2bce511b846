//! `xmacro test`: finds the `*.test.rhai` files (the directory given, the
//! config's scripts directory, or ./scripts), runs them with the test
//! runner ([`crate::testrun`]) on a thread of their own, prints each
//! result as it comes (text lines, or JUnit XML at the end), and hands the
//! outcome to [`AppError`], which picks the exit code.

use std::path::PathBuf;

use crate::cli::{TestArgs, TestFormat};
use crate::error::AppError;
use crate::testrun::panels::TestPanels;
use crate::testrun::report::{junit, text_line};
use crate::testrun::{DefaultSchema, TestError, TestOptions};

/// Runs the tests; the runner has printed each result.
pub async fn run(args: TestArgs) -> Result<(), AppError> {
    let opts = options(&args)?;
    let format = args.format;
    let worker = std::thread::spawn(move || {
        let summary = crate::testrun::run(&opts, |r| {
            if format == TestFormat::Text {
                let _ = super::out::line(&text_line(r));
            }
        })?;
        match format {
            TestFormat::Text => super::out::note(&summary.line()),
            TestFormat::Junit => {
                if let Err(e) = super::out::print(&junit(&summary)) {
                    tracing::error!("{e}");
                }
            }
        }
        Ok::<_, TestError>(summary.outcome())
    });
    let outcome = tokio::task::spawn_blocking(move || worker.join())
        .await
        .map_err(|e| TestError::Runtime(e.to_string()))?
        .map_err(|_| TestError::Runtime("the test runner panicked".into()))??;
    if outcome.all_passed() {
        Ok(())
    } else {
        Err(AppError::Tests(outcome))
    }
}

/// Where the tests are and how they run.
fn options(args: &TestArgs) -> Result<TestOptions, TestError> {
    let config = match crate::config::discover(args.config.as_deref()) {
        Some(file) => Some(
            crate::config::Config::load(&file)
                .map_err(|e| TestError::Dir(file.display().to_string(), e.to_string()))?,
        ),
        None => None,
    };
    let dir = match (&args.dir, &config) {
        (Some(d), _) => d.clone(),
        (None, Some(cfg)) => cfg.scripts.clone(),
        (None, None) => PathBuf::from(crate::config::DEFAULT_SCRIPTS),
    };
    // The project's panels: the config's, else panels/ beside the scripts.
    let (panels_dir, scope) = match &config {
        Some(cfg) => (cfg.panels.clone(), cfg.panel.clone()),
        None => (
            dir.parent()
                .unwrap_or(std::path::Path::new("."))
                .join(crate::panels::DEFAULT_PANELS),
            Default::default(),
        ),
    };
    let panels = TestPanels::read(&panels_dir, scope)
        .map_err(|e| TestError::Dir(panels_dir.display().to_string(), e.to_string()))?;
    if !dir.is_dir() {
        return Err(TestError::Dir(
            dir.display().to_string(),
            "no such directory (give the directory of your *.test.rhai files)".into(),
        ));
    }
    Ok(TestOptions {
        dir,
        filter: args.filter.clone(),
        schema: args.schema.clone().map(|file| DefaultSchema {
            file,
            product: args.product.clone(),
        }),
        timeout: args.test_timeout,
        // The limits `xmacro run` gives the same scripts (`HostOptions`):
        // the config sets none, so both run within the defaults.
        limits: crate::script::limits::Limits::default(),
        panels: Some(std::sync::Arc::new(panels)),
    })
}
