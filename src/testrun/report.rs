//! How test results are shown: one line per test and a summary
//! `N passed, M failed` for people, or JUnit XML for CI systems.

use std::fmt::Write as _;
use std::time::Duration;

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// An assertion failed or a script call threw: `file:line:col: ...`.
    Failed(String),
    /// A script under test (or the test file) does not compile.
    Error(String),
}

/// One test's result.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// The test file, relative to the directory given.
    pub file: String,
    pub name: String,
    pub outcome: Outcome,
    pub took: Duration,
}

/// How a run ended: tests that passed, failed (an assertion, a script
/// call that threw), and could not run (a test file or a script under
/// test that does not compile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestOutcome {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
}

impl TestOutcome {
    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.errors == 0
    }
}

/// All results of a run.
#[derive(Debug, Default)]
pub struct Summary {
    pub results: Vec<TestResult>,
}

impl Summary {
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == Outcome::Passed)
            .count()
    }

    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// How the run ended, counted (the command picks the exit code).
    pub fn outcome(&self) -> TestOutcome {
        let errors = self
            .results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Error(_)))
            .count();
        TestOutcome {
            passed: self.passed(),
            failed: self.failed() - errors,
            errors,
        }
    }

    /// The closing line.
    pub fn line(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
    }
}

/// The line shown for one test as it ends (with the failure's detail).
pub fn text_line(r: &TestResult) -> String {
    let ms = r.took.as_millis();
    match &r.outcome {
        Outcome::Passed => format!("ok     {} > {} ({ms} ms)", r.file, r.name),
        Outcome::Failed(why) => {
            format!("FAILED {} > {} ({ms} ms)\n{}", r.file, r.name, indent(why))
        }
        Outcome::Error(why) => format!("ERROR  {} > {}\n{}", r.file, r.name, indent(why)),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// JUnit XML: one `<testsuite>` per test file.
pub fn junit(summary: &Summary) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total: f64 = summary.results.iter().map(|r| r.took.as_secs_f64()).sum();
    let errors = summary
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Error(_)))
        .count();
    let failures = summary.failed() - errors;
    let _ = writeln!(
        out,
        "<testsuites name=\"xmacro test\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total:.3}\">",
        summary.results.len()
    );
    let mut files: Vec<&str> = summary.results.iter().map(|r| r.file.as_str()).collect();
    files.dedup();
    for file in files {
        let here: Vec<&TestResult> = summary.results.iter().filter(|r| r.file == file).collect();
        let fails = here
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .count();
        let errs = here
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Error(_)))
            .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" errors=\"{errs}\">",
            crate::log::markup::escape(file),
            here.len()
        );
        for r in here {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                crate::log::markup::escape(file),
                crate::log::markup::escape(&r.name),
                r.took.as_secs_f64()
            );
            match &r.outcome {
                Outcome::Passed => out.push_str("/>\n"),
                Outcome::Failed(why) | Outcome::Error(why) => {
                    let tag = if matches!(r.outcome, Outcome::Failed(_)) {
                        "failure"
                    } else {
                        "error"
                    };
                    let first = why.lines().next().unwrap_or_default();
                    let _ = writeln!(
                        out,
                        ">\n      <{tag} message=\"{}\">{}</{tag}>\n    </testcase>",
                        crate::log::markup::escape(first),
                        crate::log::markup::escape(why)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_what_xml_cannot_hold() {
        let s = Summary {
            results: vec![TestResult {
                file: "a&b.test.rhai".into(),
                name: "<quoted> \"name\"".into(),
                outcome: Outcome::Failed("x < y\u{1}".into()),
                took: Duration::from_millis(3),
            }],
        };
        let x = junit(&s);
        assert!(x.contains("a&amp;b.test.rhai"));
        assert!(x.contains("&lt;quoted&gt; &quot;name&quot;"));
        assert!(!x.contains('\u{1}'));
        assert_eq!(
            s.outcome(),
            TestOutcome {
                passed: 0,
                failed: 1,
                errors: 0
            }
        );
        assert_eq!(s.line(), "0 passed, 1 failed");
    }
}
