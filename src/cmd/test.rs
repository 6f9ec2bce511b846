//! `xmacro test`: runs the `*.test.rhai` files ([`crate::testrun`]) and
//! turns the outcome into the command's error, so the exit code says 1
//! for a failed test and 2 for a test file or script that does not compile.

use crate::error::AppError;
use crate::testrun::cli::TestArgs;

/// Runs the tests; the runner has printed each result.
pub async fn run(args: TestArgs) -> Result<(), AppError> {
    match crate::testrun::cli::run(args).await {
        Ok(0) => Ok(()),
        Ok(2) => Err(AppError::Usage(
            "a test file or a script under test does not compile (see above)".into(),
        )),
        Ok(_) => Err(AppError::Failed("some tests failed (see above)".into())),
        Err(e) => Err(e.into()),
    }
}
