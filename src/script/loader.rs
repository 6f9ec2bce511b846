//! Compiling scripts: imports resolve only inside the scripts directory
//! (no `..`, no absolute paths) and are compiled in, so a script that
//! compiles is complete; the libraries each script uses are recorded so a
//! library change reloads exactly the scripts that import it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{AST, Engine, EvalAltResult, Module, Position, Scope};

thread_local! {
    /// Library files read during the compile running on this thread.
    static DEPS: RefCell<Option<BTreeSet<PathBuf>>> = const { RefCell::new(None) };
    /// Imports being resolved, to report cycles.
    static STACK: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// A compile failure, with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    /// `file:line:col: what`.
    pub message: String,
}

/// A compiled script and the library files it depends on.
#[derive(Debug)]
pub struct Compiled {
    pub ast: Arc<AST>,
    pub deps: BTreeSet<PathBuf>,
}

/// Whether an import path stays inside the scripts directory.
pub fn check_import(path: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "import {path:?} refused: {why}; imports name a file inside the scripts directory, as \"lib/util\""
        ))
    };
    if path.is_empty() {
        return bad("empty path");
    }
    if path.starts_with('/') || path.starts_with('\\') || path.contains(':') {
        return bad("absolute paths are not allowed");
    }
    if path
        .split(['/', '\\'])
        .any(|p| p == ".." || p == "." || p.is_empty())
    {
        return bad("'..', '.' and empty path parts are not allowed");
    }
    if !path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_/.".contains(c))
    {
        return bad("use letters, digits, '-', '_', '.' and '/'");
    }
    Ok(())
}

/// The module resolver: `import "lib/util"` reads `<scripts>/lib/util.rhai`.
pub struct SandboxResolver {
    root: PathBuf,
}

impl SandboxResolver {
    pub fn new(root: PathBuf) -> Self {
        SandboxResolver { root }
    }
}

impl rhai::ModuleResolver for SandboxResolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Arc<Module>, Box<EvalAltResult>> {
        let refuse = |msg: String| -> Box<EvalAltResult> {
            EvalAltResult::ErrorInModule(
                path.into(),
                EvalAltResult::ErrorRuntime(msg.into(), Position::NONE).into(),
                pos,
            )
            .into()
        };
        check_import(path).map_err(refuse)?;
        let rel = if path.ends_with(".rhai") {
            path.to_string()
        } else {
            format!("{path}.rhai")
        };
        let file = self.root.join(&rel);
        if STACK.with(|s| s.borrow().contains(&rel)) {
            let chain = STACK.with(|s| s.borrow().join(" -> "));
            return Err(refuse(format!("import cycle: {chain} -> {rel}")));
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|e| refuse(format!("cannot read {}: {e}", file.display())))?;
        DEPS.with(|d| {
            if let Some(set) = d.borrow_mut().as_mut() {
                set.insert(file.clone());
            }
        });
        STACK.with(|s| s.borrow_mut().push(rel.clone()));
        let result = (|| {
            let mut ast = engine
                .compile(&text)
                .map_err(|e| EvalAltResult::ErrorInModule(rel.clone(), e.into(), pos))?;
            ast.set_source(rel.clone());
            let module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
                .map_err(|e| EvalAltResult::ErrorInModule(rel.clone(), e, pos))?;
            Ok(Arc::new(module))
        })();
        STACK.with(|s| {
            s.borrow_mut().pop();
        });
        result.map_err(|e: EvalAltResult| e.into())
    }
}

/// Compiles `<root>/<file>`; imports are resolved and compiled in now.
pub fn compile(engine: &Engine, root: &Path, file: &str) -> Result<Compiled, CompileError> {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| CompileError {
        message: format!("{file}: cannot read: {e}"),
    })?;
    compile_text(engine, file, &text)
}

/// Compiles script text that came from `file` (relative name, for messages).
pub fn compile_text(engine: &Engine, file: &str, text: &str) -> Result<Compiled, CompileError> {
    DEPS.with(|d| *d.borrow_mut() = Some(BTreeSet::new()));
    let result = super::instance::with_current(None, || {
        engine.compile_into_self_contained(&Scope::new(), text)
    });
    let deps = DEPS.with(|d| d.borrow_mut().take()).unwrap_or_default();
    match result {
        Ok(mut ast) => {
            ast.set_source(file.to_string());
            Ok(Compiled {
                ast: Arc::new(ast),
                deps,
            })
        }
        Err(e) => Err(CompileError {
            message: super::instance::describe_error(file, &e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xmacro-loader-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("lib")).unwrap();
        d
    }

    #[test]
    fn imports_stay_inside() {
        assert!(check_import("lib/util").is_ok());
        for bad in [
            "../x",
            "/etc/passwd",
            "lib/../../x",
            "C:/x",
            "lib//x",
            "./x",
            "",
        ] {
            assert!(check_import(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compiles_with_libraries_and_records_them() {
        let d = tree("deps");
        std::fs::write(d.join("lib/util.rhai"), "fn double(x) { x * 2 }").unwrap();
        std::fs::write(
            d.join("a.rhai"),
            "import \"lib/util\" as u;\nlet y = u::double(21);",
        )
        .unwrap();
        let engine = super::super::engine::build(d.clone(), 100_000);
        let c = compile(&engine, &d, "a.rhai").unwrap();
        assert_eq!(
            c.deps.into_iter().collect::<Vec<_>>(),
            vec![d.join("lib/util.rhai")]
        );
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn errors_have_file_line_and_column() {
        let d = tree("errors");
        let engine = super::super::engine::build(d.clone(), 100_000);
        let e = compile_text(&engine, "broken.rhai", "let x = 1;\nlet y = ;\n").unwrap_err();
        assert!(e.message.starts_with("broken.rhai:2:"), "{}", e.message);
        std::fs::write(d.join("lib/bad.rhai"), "fn f() {\n  let = 2;\n}").unwrap();
        let e = compile_text(&engine, "a.rhai", "import \"lib/bad\" as b;").unwrap_err();
        assert!(e.message.starts_with("lib/bad.rhai:2:"), "{}", e.message);
        let e = compile_text(&engine, "a.rhai", "import \"../secret\" as s;").unwrap_err();
        assert!(e.message.contains("refused"), "{}", e.message);
        let e = compile_text(&engine, "a.rhai", "import \"/etc/hosts\" as s;").unwrap_err();
        assert!(e.message.contains("absolute"), "{}", e.message);
        let _ = std::fs::remove_dir_all(d);
    }
}
