//! `xmacro init DIR`: a new project that runs as it is, so a newcomer's
//! first `xmacro run --sim` shows a script reacting. The files are
//! templates under `src/cmd/init/`, written only if none of them exists yet.

use std::path::{Path, PathBuf};

use crate::error::AppError;

/// The files of a new project: path inside DIR, then content.
pub const FILES: &[(&str, &str)] = &[
    ("xmacro.toml", include_str!("init/xmacro.toml")),
    (
        "scripts/volume-watch.rhai",
        include_str!("init/volume-watch.rhai"),
    ),
    (
        "scripts/volume-watch.test.rhai",
        include_str!("init/volume-watch.test.rhai"),
    ),
    (".gitignore", include_str!("init/gitignore")),
];

/// Why a project could not be created.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} already exists; xmacro init does not overwrite files")]
    Exists(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Creates the project in `dir` (made if missing) and returns the files
/// written. Nothing is written if any of them already exists.
pub fn init(dir: &Path) -> Result<Vec<PathBuf>, InitError> {
    let targets: Vec<(PathBuf, &str)> = FILES
        .iter()
        .map(|(rel, text)| (dir.join(rel), *text))
        .collect();
    if let Some((p, _)) = targets.iter().find(|(p, _)| p.exists()) {
        return Err(InitError::Exists(p.display().to_string()));
    }
    let mut written = Vec::new();
    for (path, text) in targets {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| InitError::Io(parent.display().to_string(), e))?;
        }
        std::fs::write(&path, text).map_err(|e| InitError::Io(path.display().to_string(), e))?;
        written.push(path);
    }
    Ok(written)
}

/// `xmacro init DIR`: creates the project and says what to do next.
pub fn run(dir: &Path) -> Result<(), AppError> {
    let written = init(dir).map_err(|e| AppError::Usage(e.to_string()))?;
    for f in &written {
        super::out::line(&format!("created {}", f.display()))?;
    }
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", dir.display())
    };
    super::out::line(&format!(
        "next: {cd}xmacro run --sim    # runs scripts/ against a simulated codec; edit a script while it runs"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_config_parses_and_names_the_example_script() {
        let text = FILES[0].1;
        let cfg = crate::config::Config::parse(Path::new("xmacro.toml"), text, &|_| None).unwrap();
        assert!(cfg.codecs.is_empty());
        assert!(cfg.script.contains_key("volume-watch"));
    }
}
