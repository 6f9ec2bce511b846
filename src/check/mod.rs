//! `xmacro check`: compile every script the way `run` would, and with a
//! schema, look up every literal xAPI path (proxy chains such as
//! `xapi.Status.Audio.Volume` and string paths such as
//! `xapi.get("Status Audio Volume")`) and the parameter names of literal
//! command arguments, suggesting the nearest valid name. Paths are read
//! from Rhai's own AST (never a hand-made tokenizer), and a path computed at
//! run time is skipped rather than flagged. `--product` narrows the schema
//! to the device the scripts are for.
//!
//! This file walks the project (scripts, libraries, what each is checked
//! against); [`scan`] reads one file's AST for literal paths; [`config`] is
//! `check --config`, the codecs' settings against what scripts read.

pub mod config;
pub mod scan;

pub use scan::{Against, METHODS, scan, scan_against};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::schema::Schema;
use crate::script::allow::AllowList;
use crate::script::limits::Limits;
use crate::script::{engine, loader};

/// One problem, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    /// Where `check` reports it (the start of the expression).
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// The exact text at fault (the misspelt word, the bad value), for an
    /// editor to underline.
    pub span: Span,
}

/// A run of characters on one line: 1-based line and column counted in
/// characters, as Rhai counts them, and the length in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub line: usize,
    pub col: usize,
    pub len: usize,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Why `check` could not look at the scripts at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The file given is no script file (the message names it).
    #[error("{0}")]
    NotAScript(String),
    /// The scripts directory cannot be listed.
    #[error("scripts directory {}: {source}", dir.display())]
    ScriptsDir {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Checks every script in `dir`: compile errors (as plain lines, already
/// `file:line:col`) and, with a schema, path findings.
pub fn check_dir(dir: &Path, schema: Option<&Schema>) -> Result<(usize, Vec<String>), CheckError> {
    check_in(dir, None, schema)
}

/// Checks one script file (with the libraries it imports, from its folder).
pub fn check_file(
    file: &Path,
    schema: Option<&Schema>,
) -> Result<(usize, Vec<String>), CheckError> {
    let (dir, name) = crate::script::files::split_script_file(file)
        .map_err(|e| CheckError::NotAScript(e.to_string()))?;
    check_in(&dir, Some(&name), schema)
}

fn check_in(
    dir: &Path,
    only: Option<&str>,
    schema: Option<&Schema>,
) -> Result<(usize, Vec<String>), CheckError> {
    let scripts = scripts_in(dir, only)?;
    // The limits `run` compiles under, so both agree on what compiles.
    let engine = engine::build(dir.to_path_buf(), Limits::default().max_operations);
    let mut problems = Vec::new();
    for file in scripts.values() {
        match loader::compile(&engine, dir, file) {
            Err(e) => problems.push(e.message),
            Ok(_) => problems.extend(javascript_left(dir, file)),
        }
    }
    if let Some(schema) = schema {
        problems.extend(schema_findings(dir, only, schema)?);
    }
    Ok((scripts.len(), problems))
}

/// What compiles but fails when it runs because it is JavaScript
/// (`console.log`), as findings with the Rhai way.
fn javascript_left(dir: &Path, file: &str) -> Vec<String> {
    let Ok(text) = loader::read_confined(dir, file) else {
        return Vec::new();
    };
    let hint = crate::script::hints::for_runtime_error("Variable not found: console");
    crate::script::hints::console_uses(&text)
        .into_iter()
        .map(|(line, col)| {
            format!(
                "{file}:{line}:{col}: `console` does not exist in Rhai; hint: {}",
                hint.unwrap_or_default()
            )
        })
        .collect()
}

/// The scripts of `dir` (only the one named `only`, if given), by name.
fn scripts_in(dir: &Path, only: Option<&str>) -> Result<BTreeMap<String, String>, CheckError> {
    let mut scripts =
        crate::script::files::list_scripts(dir).map_err(|source| CheckError::ScriptsDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    if let Some(only) = only {
        scripts.retain(|name, _| name == only);
    }
    Ok(scripts)
}

/// Literal xAPI paths and command parameters that the schema does not
/// know, in the scripts of `dir` (and its libraries, unless `only` names
/// one script), as `file:line:col: ...` lines. `run --schema` warns with these.
pub fn schema_findings(
    dir: &Path,
    only: Option<&str>,
    schema: &Schema,
) -> Result<Vec<String>, CheckError> {
    let mut files: Vec<String> = scripts_in(dir, only)?.into_values().collect();
    if only.is_none() {
        files.extend(crate::script::files::libraries(dir));
    }
    Ok(files
        .iter()
        .flat_map(|file| match loader::read_confined(dir, file) {
            Ok(text) => scan(file, &text, schema)
                .into_iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>(),
            Err(e) => vec![e.to_string()],
        })
        .collect())
}

/// Literal xAPI paths outside each script's `allow` list (`allow` maps a
/// script's name to its list; scripts without one are not looked at), as
/// `file:line:col: ...` lines: calls the host would deny.
pub fn allow_findings(
    dir: &Path,
    only: Option<&str>,
    allow: &BTreeMap<String, AllowList>,
) -> Result<Vec<String>, CheckError> {
    let mut out = Vec::new();
    for (name, file) in scripts_in(dir, only)? {
        let Some(list) = allow.get(&name) else {
            continue;
        };
        if let Ok(text) = loader::read_confined(dir, &file) {
            let against = Against::Allow {
                script: &name,
                allow: list,
            };
            out.extend(
                scan_against(&file, &text, against)
                    .into_iter()
                    .map(|f| f.to_string()),
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_and_run_agree_on_a_library_whose_top_level_does_real_work() {
        let dir = std::env::temp_dir().join(format!("xmacro-check-ops-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        // Its top level takes about 1.05M operations (three a turn): more
        // than `check` once allowed (1M), well within what `run` allows,
        // and few enough to stay far from the 5 s compile budget on a
        // loaded machine in a debug build (400,000 turns took 4.8 s there).
        std::fs::write(
            dir.join("lib/table.rhai"),
            "let n = 0;\nfor i in 0..350000 { n += i; }\nexport const TOTAL = n;\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("main.rhai"),
            "import \"lib/table\" as t;\nprint(t::TOTAL);\n",
        )
        .unwrap();
        let run_engine = engine::build(dir.clone(), Limits::default().max_operations);
        let run = loader::compile(&run_engine, &dir, "main.rhai").map(|_| ());
        assert!(
            run.is_ok(),
            "run compiles it: {:?}",
            run.err().map(|e| e.message)
        );
        let (n, problems) = check_dir(&dir, None).unwrap();
        assert_eq!(n, 1);
        assert!(problems.is_empty(), "check agrees with run: {problems:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
