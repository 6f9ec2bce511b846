//! The `xmacro test` command line: arguments, where the tests are, and the
//! output (text lines and the summary, or JUnit XML).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::report::{junit, text_line};
use super::{TestError, TestOptions};

/// Output format of `xmacro test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// One line per test, failures in detail, then `N passed, M failed`.
    Text,
    /// JUnit XML on stdout, for CI systems.
    Junit,
}

/// `xmacro test` arguments.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Where the *.test.rhai files and the scripts they load are
    /// (default: the config's scripts directory, else ./scripts).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// A config file whose `scripts` directory holds the tests (default:
    /// $XMACRO_CONFIG, else ./xmacro.toml when it exists).
    #[arg(long, value_name = "FILE", env = "XMACRO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Run only the tests whose name or file contains TEXT.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TestFormat::Text)]
    pub format: TestFormat,
    /// The public xAPI schema that `sim()` loads when a test names none
    /// (relative to the current directory); `sim(#{ schema: ... })` still
    /// picks another.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// The product of --schema that `sim()` simulates when a test names
    /// none (`sim(#{ product: ... })` picks another).
    #[arg(long, value_name = "NAME", requires = "schema", default_value = super::api::DEFAULT_PRODUCT)]
    pub product: String,
    /// How long one test may take on the wall clock before it fails (the
    /// virtual clock is not limited): 500ms, 30s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub test_timeout: std::time::Duration,
}

/// A `--test-timeout` value: a duration as tests write them, above zero.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    match super::values::parse_duration(text)? {
        0 => Err("the time limit must be more than 0".into()),
        ms => Ok(std::time::Duration::from_millis(ms)),
    }
}

/// Runs the tests on a thread of their own; the exit code (0 all passed,
/// 1 a test failed, 2 a test file or a script under test does not
/// compile).
pub async fn run(args: TestArgs) -> Result<i32, TestError> {
    let config = crate::config::discover(args.config.as_deref());
    let dir = match (&args.dir, config) {
        (Some(d), _) => d.clone(),
        (None, Some(cfg)) => crate::config::Config::load(&cfg)
            .map(|c| c.scripts)
            .map_err(|e| TestError::Dir(cfg.display().to_string(), e.to_string()))?,
        (None, None) => PathBuf::from(crate::config::DEFAULT_SCRIPTS),
    };
    if !dir.is_dir() {
        return Err(TestError::Dir(
            dir.display().to_string(),
            "no such directory (give the directory of your *.test.rhai files)".into(),
        ));
    }
    let opts = TestOptions {
        dir,
        filter: args.filter,
        schema: args.schema.map(|file| super::DefaultSchema {
            file,
            product: args.product,
        }),
        timeout: args.test_timeout,
    };
    let format = args.format;
    let worker = std::thread::spawn(move || {
        let summary = super::run(&opts, |r| {
            if format == TestFormat::Text {
                println!("{}", text_line(r));
            }
        })?;
        match format {
            TestFormat::Text => println!("{}", summary.line()),
            TestFormat::Junit => print!("{}", junit(&summary)),
        }
        Ok(summary.exit_code())
    });
    tokio::task::spawn_blocking(move || worker.join())
        .await
        .map_err(|e| TestError::Runtime(e.to_string()))?
        .map_err(|_| TestError::Runtime("the test runner panicked".into()))?
}
