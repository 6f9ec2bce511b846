//! `xmacro test`: where the tests are, which of them run, and how their
//! results are shown.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

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
    #[arg(long, value_name = "NAME", requires = "schema", default_value = crate::testrun::api::DEFAULT_PRODUCT)]
    pub product: String,
    /// How long one test may take on the wall clock before it fails (the
    /// virtual clock is not limited): 500ms, 30s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub test_timeout: std::time::Duration,
}

/// Why a `--test-timeout` value was refused.
#[derive(Debug, thiserror::Error)]
enum TimeoutError {
    #[error(transparent)]
    Duration(#[from] crate::testrun::values::DurationError),
    #[error("the time limit must be more than 0")]
    Zero,
}

/// A `--test-timeout` value: a duration as tests write them, above zero.
fn parse_timeout(text: &str) -> Result<std::time::Duration, TimeoutError> {
    match crate::testrun::values::parse_duration(text)? {
        0 => Err(TimeoutError::Zero),
        ms => Ok(std::time::Duration::from_millis(ms)),
    }
}
