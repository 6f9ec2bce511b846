//! `xmacro check --config FILE`: the project as the config binds it. The
//! scripts compile; every panel file reads well and every `[panel.NAME]`
//! names one; a setting a script reads as a literal property
//! (`codec.settings.X`) is set for every codec in the script's scope
//! (else: codec, script, `file:line:col`); and, when the project has
//! panels, a literal `WidgetId == "x"` or `PanelId == "x"` in a script is
//! defined by some panel in its scope (else a warning).

use std::collections::BTreeSet;

use rhai::Token;

use crate::config::panels::in_scope;
use crate::config::{CodecEntry, Config};
use crate::panels::{Project, read_dir};
use crate::script::lex::{Lexeme, lex};

/// What `check --config` found: mistakes (the check fails) and warnings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub scripts: usize,
    pub panels: usize,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

/// A literal read of `codec.settings.NAME`, or a literal compared with
/// `WidgetId` / `PanelId`, at a line and column of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub name: String,
    pub line: usize,
    pub col: usize,
}

/// The settings a script reads as literal properties.
pub fn settings_read(src: &str) -> Vec<Use> {
    let toks: Vec<Lexeme> = lex(src)
        .into_iter()
        .filter(|l| !matches!(l.token, Token::Comment(_)))
        .collect();
    let ident = |t: &Token, want: &str| matches!(t, Token::Identifier(n) if n.as_str() == want);
    toks.windows(5)
        .filter_map(|w| {
            let ok = ident(&w[0].token, "codec")
                && w[1].token == Token::Period
                && ident(&w[2].token, "settings")
                && w[3].token == Token::Period;
            match (&w[4].token, ok) {
                (Token::Identifier(n), true) => Some(Use {
                    name: n.to_string(),
                    line: w[4].at.line().unwrap_or(0),
                    col: w[4].at.position().unwrap_or(0),
                }),
                _ => None,
            }
        })
        .collect()
}

/// The literals a script compares with `WidgetId` or `PanelId` (either
/// side of `==`), by which of the two.
pub fn ids_compared(src: &str) -> Vec<(&'static str, Use)> {
    let toks: Vec<Lexeme> = lex(src)
        .into_iter()
        .filter(|l| !matches!(l.token, Token::Comment(_)))
        .collect();
    let field = |t: &Token| match t {
        Token::Identifier(n) if n.as_str() == "WidgetId" => Some("WidgetId"),
        Token::Identifier(n) if n.as_str() == "PanelId" => Some("PanelId"),
        _ => None,
    };
    // The last name of the property chain starting at `i` (`e.PanelId`).
    let chain_end = |mut i: usize| {
        while i + 2 < toks.len()
            && toks[i + 1].token == Token::Period
            && matches!(toks[i + 2].token, Token::Identifier(_))
        {
            i += 2;
        }
        i
    };
    let mut out = Vec::new();
    for i in 1..toks.len().saturating_sub(1) {
        if toks[i].token != Token::EqualsTo {
            continue;
        }
        let right = &toks[chain_end(i + 1)];
        let (f, lit) = match (field(&toks[i - 1].token), field(&right.token)) {
            (Some(f), None) => (f, &toks[i + 1]),
            (None, Some(f)) => (f, &toks[i - 1]),
            _ => continue,
        };
        if let Token::StringConstant(s) = &lit.token {
            out.push((
                f,
                Use {
                    name: s.to_string(),
                    line: lit.at.line().unwrap_or(0),
                    col: lit.at.position().unwrap_or(0),
                },
            ));
        }
    }
    out
}

/// Checks the project a config describes.
pub fn check(cfg: &Config) -> Result<Report, crate::check::CheckError> {
    let (scripts, mut problems) = crate::check::check_dir(&cfg.scripts, None)?;
    let mut report = Report {
        scripts,
        ..Report::default()
    };
    let project = read_dir(&cfg.panels, &Project::default());
    report.panels = project.panels().count();
    problems.extend(project.errors.iter().map(ToString::to_string));
    for (name, p) in &cfg.panel {
        if !project.files.contains_key(name)
            && !project
                .errors
                .iter()
                .any(|e| e.file.ends_with(&format!("{name}.xml")))
        {
            problems.push(format!(
                "{}:{}:{}: [panel.{name}]: there is no panel file {name}.xml in {}",
                cfg.file.display(),
                p.at.0,
                p.at.1,
                cfg.panels.display()
            ));
        }
    }
    let files = crate::script::files::list_scripts(&cfg.scripts).map_err(|source| {
        crate::check::CheckError::ScriptsDir {
            dir: cfg.scripts.clone(),
            source,
        }
    })?;
    for (name, file) in files {
        let path = cfg.scripts.join(&file);
        let Ok(src) = std::fs::read_to_string(&path) else {
            continue;
        };
        let scope: Vec<&CodecEntry> = cfg.scope(&name).collect();
        let shown = path.display();
        for u in settings_read(&src) {
            for c in &scope {
                let has = cfg
                    .settings
                    .get(&c.name)
                    .is_some_and(|s| s.contains_key(&u.name));
                if !has {
                    problems.push(format!(
                        "{shown}:{}:{}: codec {:?} has no setting {:?}, which script {name} reads (codec.settings.{}); set it in its [[codec]] settings or in [defaults] settings",
                        u.line, u.col, c.name, u.name, u.name
                    ));
                }
            }
        }
        if project.files.is_empty() {
            continue;
        }
        let defined = |field: &str, id: &str| {
            project.panels().any(|p| {
                scope.iter().any(|c| in_scope(&cfg.panel, &p.file, c))
                    && match field {
                        "PanelId" => p.id == id,
                        _ => p.widgets.contains(id),
                    }
            })
        };
        let mut seen = BTreeSet::new();
        for (field, u) in ids_compared(&src) {
            if !defined(field, &u.name) && seen.insert((field, u.name.clone())) {
                report.warnings.push(format!(
                    "{shown}:{}:{}: warning: {field} {:?} is defined by no panel in {} for the codecs of script {name}",
                    u.line,
                    u.col,
                    u.name,
                    cfg.panels.display()
                ));
            }
        }
    }
    report.problems = problems;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_settings_reads_are_found_with_their_place_and_comments_are_not() {
        let src = "// codec.settings.nope\nlet n = codec.settings.room_name;\nlog(`${codec.settings.capacity}`);\nlet d = codec.settings[\"dynamic\"];\n";
        let uses = settings_read(src);
        let names: Vec<(&str, usize, usize)> = uses
            .iter()
            .map(|u| (u.name.as_str(), u.line, u.col))
            .collect();
        assert_eq!(names, [("room_name", 2, 24), ("capacity", 3, 23)]);
    }

    #[test]
    fn widget_and_panel_ids_compared_with_literals_are_found_either_side() {
        let src = "if e.WidgetId == \"quickdial\" { }\nif \"lights\" == e.PanelId { }\nif e.WidgetId == x { }\n";
        let found: Vec<(&str, String, usize)> = ids_compared(src)
            .into_iter()
            .map(|(f, u)| (f, u.name, u.line))
            .collect();
        assert_eq!(
            found,
            [
                ("WidgetId", "quickdial".into(), 1),
                ("PanelId", "lights".into(), 2)
            ]
        );
    }
}
