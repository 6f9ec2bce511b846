//! Compiling scripts: imports resolve only inside the scripts directory
//! (no `..`, no absolute paths) and are compiled in, so a script that
//! compiles is complete; the libraries each script uses are recorded so a
//! library change reloads exactly the scripts that import it.
//!
//! Confinement holds on real paths: a symlink that leads outside the
//! scripts directory is refused. A compile is bounded: a time budget that
//! libraries' top-level code counts against, a cap on distinct libraries
//! and on import statements, a size cap per file, and each library is
//! evaluated once per compile however often it is imported.
//!
//! The compile session (libraries read, modules built) and the import stack
//! are kept on the thread ([`super::OnThread`]): Rhai calls the module
//! resolver from inside `compile_into_self_contained` with no context at
//! all (`resolve(engine, None, path, Position::NONE)`), and one engine
//! serves every compile, so nothing of ours reaches the resolver but the
//! thread.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rhai::{AST, Engine, EvalAltResult, Module, Position, Scope};

use super::instance::Program;

/// How long one compile may take, libraries' top-level code included.
pub const COMPILE_BUDGET: Duration = Duration::from_secs(5);
/// Memory a compile may allocate and keep, libraries' top-level code
/// included (the same as a running instance's default budget).
pub const COMPILE_MEMORY: u64 = 64 << 20;
/// Distinct libraries one script may pull in, directly or not.
pub const MAX_LIBRARIES: usize = 64;
/// `import` statements one compile may resolve (each library is evaluated
/// once per compile; later imports of it reuse that module).
pub const MAX_IMPORTS: usize = 4096;
/// Modules one library's tree may hold, counting a library each time it is
/// imported: Rhai keeps imports as nested sub-modules and indexes the
/// whole tree, so libraries that import each other twice at every level
/// would grow exponentially.
pub const MAX_MODULE_TREE: u64 = 4096;
/// Bytes of one script or library file.
pub const MAX_SOURCE: u64 = 4 << 20;

/// What the compile running on this thread has resolved so far.
#[derive(Default)]
pub(crate) struct Session {
    /// Library files read (for reloads).
    deps: BTreeSet<PathBuf>,
    /// Each library's module, evaluated once.
    modules: HashMap<String, Arc<Module>>,
    /// Import statements resolved.
    imports: usize,
    /// Each library's module tree size (see [`MAX_MODULE_TREE`]).
    sizes: HashMap<String, u64>,
    /// The text of each library read, by path in the scripts directory.
    texts: std::collections::BTreeMap<String, String>,
    /// Libraries to read from here instead of the scripts directory (a
    /// version kept whole, compiled again after its files changed).
    overlay: Option<std::collections::BTreeMap<String, String>>,
}

/// Runs `f` with the compile running on this thread.
fn compiling<R>(f: impl FnOnce(&RefCell<Option<Session>>) -> R) -> R {
    super::on_thread(|t| f(&t.compile))
}

/// Runs `f` with the imports being resolved on this thread (to report
/// cycles), each with the size of the module tree it has gathered so far.
fn stack<R>(f: impl FnOnce(&RefCell<Vec<(String, u64)>>) -> R) -> R {
    super::on_thread(|t| f(&t.imports))
}

/// Why a script or library file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The scripts directory itself cannot be resolved.
    #[error("scripts directory {}: {source}", dir.display())]
    ScriptsDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// The file's real path cannot be resolved (it does not exist...).
    #[error("cannot read {}: {source}", path.display())]
    Resolve {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Its real path leads outside the scripts directory.
    #[error("{rel} refused: it resolves to {}, outside the scripts directory", real.display())]
    Outside { rel: String, real: PathBuf },
    /// Opening or reading it failed.
    #[error("cannot read {rel}: {source}")]
    Read { rel: String, source: std::io::Error },
    /// It is larger than [`MAX_SOURCE`].
    #[error("{rel} refused: larger than {} MB", MAX_SOURCE >> 20)]
    TooBig { rel: String },
}

/// Reads `<root>/<rel>` if its real path (symlinks resolved) is inside the
/// real scripts directory, and it is not too big.
pub fn read_confined(root: &Path, rel: &str) -> Result<String, ReadError> {
    let path = root.join(rel);
    let real_root = root
        .canonicalize()
        .map_err(|source| ReadError::ScriptsDir {
            dir: root.to_path_buf(),
            source,
        })?;
    let real = path
        .canonicalize()
        .map_err(|source| ReadError::Resolve { path, source })?;
    if !real.starts_with(&real_root) {
        return Err(ReadError::Outside {
            rel: rel.to_string(),
            real,
        });
    }
    let read = |source| ReadError::Read {
        rel: rel.to_string(),
        source,
    };
    let file = std::fs::File::open(&real).map_err(read)?;
    let mut text = String::new();
    file.take(MAX_SOURCE + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    if text.len() as u64 > MAX_SOURCE {
        return Err(ReadError::TooBig {
            rel: rel.to_string(),
        });
    }
    Ok(text)
}

/// Why an `import` was refused (the script's error names the library).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The path leaves the scripts directory or is malformed.
    #[error(
        "import {path:?} refused: {why}; imports name a file inside the scripts directory, as \"lib/util\""
    )]
    Path { path: String, why: &'static str },
    /// The library imports itself, directly or not.
    #[error("import cycle: {chain}")]
    Cycle { chain: String },
    /// More than [`MAX_IMPORTS`] import statements resolved in one compile.
    #[error("too many imports: more than {MAX_IMPORTS} in one script and its libraries")]
    TooManyImports,
    /// More than [`MAX_LIBRARIES`] distinct libraries.
    #[error("too many libraries: a script may use at most {MAX_LIBRARIES}")]
    TooManyLibraries,
    /// A version kept whole imports a library it did not import then.
    #[error("{rel} is not part of the version kept (it was not imported then)")]
    NotKept { rel: String },
    /// A library's module tree would pass [`MAX_MODULE_TREE`].
    #[error(
        "imports nest too widely: {importer} would hold more than {MAX_MODULE_TREE} modules (counting a library each time it is imported)"
    )]
    TooWide { importer: String },
    /// The library's file was not read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// A compile failure, with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    /// `file:line:col: what`.
    pub message: String,
    /// Line and column in the compiled text itself of what failed, when
    /// the text itself failed (editors mark it there).
    pub at: Option<(usize, usize)>,
    /// The library an `import` of the text named, when that library (or
    /// one it imports) failed: Rhai resolves imports without their place,
    /// so editors find the `import` by this name.
    pub import: Option<String>,
}

/// A compiled script and the library files it depends on.
#[derive(Debug)]
pub struct Compiled {
    pub ast: Arc<AST>,
    pub deps: BTreeSet<PathBuf>,
    /// The text compiled.
    pub source: String,
    /// The text of every library it imports, as compiled, by path in the
    /// scripts directory (`lib/util.rhai`).
    pub libraries: std::collections::BTreeMap<String, String>,
}

/// Whether an import path stays inside the scripts directory.
pub fn check_import(path: &str) -> Result<(), ImportError> {
    let bad = |why: &'static str| {
        Err(ImportError::Path {
            path: path.to_string(),
            why,
        })
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
        let refuse = |e: ImportError| -> Box<EvalAltResult> {
            EvalAltResult::ErrorInModule(
                path.into(),
                EvalAltResult::ErrorRuntime(e.to_string().into(), Position::NONE).into(),
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
        if stack(|s| s.borrow().iter().any(|(r, _)| *r == rel)) {
            let chain = stack(|s| {
                s.borrow()
                    .iter()
                    .map(|(r, _)| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            });
            let chain = format!("{chain} -> {rel}");
            return Err(refuse(ImportError::Cycle { chain }));
        }
        let cached = compiling(|s| -> Result<Option<Arc<Module>>, ImportError> {
            let mut s = s.borrow_mut();
            let Some(s) = s.as_mut() else { return Ok(None) };
            s.imports += 1;
            if s.imports > MAX_IMPORTS {
                return Err(ImportError::TooManyImports);
            }
            if let Some(m) = s.modules.get(&rel) {
                return Ok(Some(m.clone()));
            }
            if s.modules.len() >= MAX_LIBRARIES {
                return Err(ImportError::TooManyLibraries);
            }
            Ok(None)
        });
        if let Some(m) = cached.map_err(refuse)? {
            let size = compiling(|s| {
                s.borrow()
                    .as_ref()
                    .and_then(|s| s.sizes.get(&rel).copied())
                    .unwrap_or(1)
            });
            add_to_importer(size).map_err(refuse)?;
            return Ok(m);
        }
        let kept = compiling(|s| {
            let s = s.borrow();
            let overlay = s.as_ref()?.overlay.as_ref()?;
            Some(
                overlay
                    .get(&rel)
                    .cloned()
                    .ok_or_else(|| ImportError::NotKept { rel: rel.clone() }),
            )
        });
        let text = match kept {
            Some(t) => t.map_err(refuse)?,
            None => read_confined(&self.root, &rel).map_err(|e| refuse(e.into()))?,
        };
        compiling(|s| {
            if let Some(s) = s.borrow_mut().as_mut() {
                s.texts.insert(rel.clone(), text.clone());
            }
        });
        let file = self.root.join(&rel);
        compiling(|s| {
            if let Some(s) = s.borrow_mut().as_mut() {
                s.deps.insert(file.clone());
            }
        });
        let version = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(&text, &mut h);
            std::hash::Hasher::finish(&h)
        };
        if let Some(why) = stopped_before(&file, version) {
            let e = EvalAltResult::ErrorTerminated(
                format!("{why} (when compiled before; it runs again once it changes)").into(),
                Position::NONE,
            );
            return Err(EvalAltResult::ErrorInModule(rel, e.into(), pos).into());
        }
        stack(|s| s.borrow_mut().push((rel.clone(), 1)));
        let started = std::time::Instant::now();
        let result = (|| {
            let mut ast = engine
                .compile(&text)
                .map_err(|e| EvalAltResult::ErrorInModule(rel.clone(), e.into(), pos))?;
            ast.set_source(rel.clone());
            let module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
                .map_err(|e| EvalAltResult::ErrorInModule(rel.clone(), e, pos))?;
            Ok(Arc::new(module))
        })();
        let size = stack(|s| s.borrow_mut().pop()).map_or(1, |(_, n)| n);
        // Remembered only when this library itself spent most of the
        // budget, not when others before it in the compile did.
        if let Err(EvalAltResult::ErrorInModule(_, inner, _)) = &result
            && let EvalAltResult::ErrorTerminated(why, _) = &**inner
            && started.elapsed() >= COMPILE_BUDGET / 2
        {
            remember_stopped(file, version, why.to_string());
        }
        let module = result.map_err(|e: EvalAltResult| Box::new(e))?;
        compiling(|s| {
            if let Some(s) = s.borrow_mut().as_mut() {
                s.modules.insert(rel.clone(), module.clone());
                s.sizes.insert(rel, size);
            }
        });
        add_to_importer(size).map_err(refuse)?;
        Ok(module)
    }
}

/// Library versions (file, content hash) whose top level was stopped by a
/// budget: importing them again fails at once instead of spending a whole
/// compile budget on every compile that imports them.
static STOPPED: std::sync::Mutex<Option<HashMap<PathBuf, (u64, String)>>> =
    std::sync::Mutex::new(None);

fn stopped_before(file: &Path, version: u64) -> Option<String> {
    let stopped = STOPPED.lock().unwrap_or_else(|p| p.into_inner());
    match stopped.as_ref()?.get(file) {
        Some((v, why)) if *v == version => Some(why.clone()),
        _ => None,
    }
}

fn remember_stopped(file: PathBuf, version: u64, why: String) {
    STOPPED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(file, (version, why));
}

/// Counts an imported module tree of `size` into the library importing it.
fn add_to_importer(size: u64) -> Result<(), ImportError> {
    stack(|s| {
        let mut s = s.borrow_mut();
        let Some((importer, total)) = s.last_mut() else {
            return Ok(());
        };
        *total = total.saturating_add(size);
        if *total > MAX_MODULE_TREE {
            return Err(ImportError::TooWide {
                importer: importer.clone(),
            });
        }
        Ok(())
    })
}

/// Compiles `<root>/<file>`; imports are resolved and compiled in now.
pub fn compile(engine: &Engine, root: &Path, file: &str) -> Result<Compiled, CompileError> {
    let text = read_confined(root, file).map_err(|e| CompileError {
        message: format!("{file}: {e}"),
        at: None,
        import: None,
    })?;
    compile_text(engine, file, &text)
}

/// A compiled script version and the library files it was built from.
pub struct Built {
    pub program: Arc<Program>,
    /// The libraries it imports (a change of one reloads it).
    pub deps: BTreeSet<PathBuf>,
    /// The text compiled, and its libraries' (see [`Compiled`]).
    pub source: String,
    pub libraries: std::collections::BTreeMap<String, String>,
}

/// Compiles `<root>/<file>` (its imports compiled in) with `engine` into
/// the program its instances share (see [`super::instance::InstanceSpec`]).
pub fn program(engine: &Arc<Engine>, root: &Path, file: &str) -> Result<Built, CompileError> {
    let compiled = compile(engine, root, file)?;
    Ok(Built {
        program: Arc::new(Program::new(engine.clone(), compiled.ast, file.to_string())),
        deps: compiled.deps,
        source: compiled.source,
        libraries: compiled.libraries,
    })
}

/// Compiles script text that came from `file` (relative name, for messages),
/// within [`COMPILE_BUDGET`] and the import limits.
pub fn compile_text(engine: &Engine, file: &str, text: &str) -> Result<Compiled, CompileError> {
    compile_with(engine, file, text, None)
}

/// Compiles a version kept whole: `text`, with its libraries read from
/// `libraries` (by path in the scripts directory), not from the files.
pub fn compile_kept(
    engine: &Engine,
    file: &str,
    text: &str,
    libraries: &std::collections::BTreeMap<String, String>,
) -> Result<Compiled, CompileError> {
    compile_with(engine, file, text, Some(libraries.clone()))
}

fn compile_with(
    engine: &Engine,
    file: &str,
    text: &str,
    overlay: Option<std::collections::BTreeMap<String, String>>,
) -> Result<Compiled, CompileError> {
    let session = Session {
        overlay,
        ..Session::default()
    };
    let outer = compiling(|s| s.replace(Some(session)));
    let account = super::memory::Account::new();
    let result = super::instance::with_current(None, || {
        account.enter(COMPILE_MEMORY, || {
            super::budget::with_budget(COMPILE_BUDGET, || {
                engine.compile_into_self_contained(&Scope::new(), text)
            })
        })
    });
    let session = compiling(|s| s.replace(outer)).unwrap_or_default();
    let deps = session.deps;
    match result {
        Ok(mut ast) => {
            ast.set_source(file.to_string());
            Ok(Compiled {
                ast: Arc::new(ast),
                deps,
                source: text.to_string(),
                libraries: session.texts,
            })
        }
        Err(e) => {
            let mut message = super::diagnose::describe_error(file, &e);
            if !message.starts_with(&format!("{file}:")) {
                message.push_str(&format!(" (imported by {file})"));
            }
            let (at, import) = match &*e {
                EvalAltResult::ErrorInModule(name, _, _) => (None, Some(name.to_string())),
                other => {
                    let pos = other.position();
                    (pos.line().map(|l| (l, pos.position().unwrap_or(1))), None)
                }
            };
            if import.is_none()
                && let Some(hint) = super::hints::for_compile_error(text, &message, at)
            {
                message.push_str(&format!("; hint: {hint}"));
            }
            Err(CompileError {
                message,
                at,
                import,
            })
        }
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
    fn a_kept_version_compiles_with_its_own_libraries_not_the_files_now() {
        let d = tree("kept");
        std::fs::write(d.join("lib/util.rhai"), "fn n() { 1 }").unwrap();
        let engine = super::super::engine::build(d.clone(), 100_000);
        let text = "import \"lib/util\" as u;\nconst N = u::n();";
        let first = compile_text(&engine, "a.rhai", text).unwrap();
        assert_eq!(first.source, text);
        assert_eq!(
            first.libraries,
            [("lib/util.rhai".to_string(), "fn n() { 1 }".to_string())].into()
        );
        // The library changes on disk (to one that does not compile): the
        // kept version still compiles with the text it had.
        std::fs::write(d.join("lib/util.rhai"), "fn n() {").unwrap();
        assert!(compile_text(&engine, "a.rhai", text).is_err());
        let again = compile_kept(&engine, "a.rhai", text, &first.libraries).unwrap();
        assert_eq!(again.libraries, first.libraries);
        let e = compile_kept(&engine, "a.rhai", text, &Default::default()).unwrap_err();
        assert!(
            e.message.contains("not part of the version kept"),
            "{}",
            e.message
        );
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn errors_have_file_line_and_column() {
        let d = tree("errors");
        let engine = super::super::engine::build(d.clone(), 100_000);
        let e = compile_text(&engine, "broken.rhai", "let x = 1;\nlet y = ;\n").unwrap_err();
        assert!(e.message.starts_with("broken.rhai:2:"), "{}", e.message);
        assert_eq!(e.at, Some((2, 9)));
        std::fs::write(d.join("lib/bad.rhai"), "fn f() {\n  let = 2;\n}").unwrap();
        let e = compile_text(&engine, "a.rhai", "\nimport \"lib/bad\" as b;").unwrap_err();
        assert!(e.message.starts_with("lib/bad.rhai:2:"), "{}", e.message);
        assert_eq!(
            e.import.as_deref(),
            Some("lib/bad.rhai"),
            "the library that failed"
        );
        assert_eq!(e.at, None);
        let e = compile_text(&engine, "a.rhai", "import \"../secret\" as s;").unwrap_err();
        assert!(e.message.contains("refused"), "{}", e.message);
        let e = compile_text(&engine, "a.rhai", "import \"/etc/hosts\" as s;").unwrap_err();
        assert!(e.message.contains("absolute"), "{}", e.message);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_symlink_leading_outside_the_scripts_directory_is_refused() {
        let d = tree("symlink");
        let outside = d.with_extension("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("evil.rhai"), "fn f() { 1 }").unwrap();
        let scripts = d.join("scripts");
        std::fs::create_dir_all(scripts.join("lib")).unwrap();
        std::os::unix::fs::symlink(outside.join("evil.rhai"), scripts.join("lib/evil.rhai"))
            .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", scripts.join("lib/passwd.rhai")).unwrap();
        std::os::unix::fs::symlink(outside.join("evil.rhai"), scripts.join("top.rhai")).unwrap();
        // A link that stays inside is fine.
        std::fs::write(scripts.join("lib/real.rhai"), "fn g() { 2 }").unwrap();
        std::os::unix::fs::symlink(
            scripts.join("lib/real.rhai"),
            scripts.join("lib/alias.rhai"),
        )
        .unwrap();
        let engine = super::super::engine::build(scripts.clone(), 100_000);
        for lib in ["lib/evil", "lib/passwd"] {
            let e =
                compile_text(&engine, "a.rhai", &format!("import \"{lib}\" as x;")).unwrap_err();
            assert!(
                e.message.contains("outside the scripts directory"),
                "{}",
                e.message
            );
        }
        let e = compile(&engine, &scripts, "top.rhai").unwrap_err();
        assert!(
            e.message.contains("outside the scripts directory"),
            "{}",
            e.message
        );
        compile_text(&engine, "a.rhai", "import \"lib/alias\" as x; x::g();").unwrap();
        let _ = std::fs::remove_dir_all(d);
        let _ = std::fs::remove_dir_all(outside);
    }

    #[test]
    fn libraries_imported_twice_at_every_level_are_bounded() {
        let d = tree("fanout");
        for i in 0..25 {
            let body = if i < 24 {
                format!(
                    "import \"lib/l{n}\" as a;\nimport \"lib/l{n}\" as b;\nfn f{i}() {{ {i} }}",
                    n = i + 1
                )
            } else {
                "fn f24() { 24 }".to_string()
            };
            std::fs::write(d.join(format!("lib/l{i}.rhai")), body).unwrap();
        }
        let engine = super::super::engine::build(d.clone(), 100_000);
        // Evaluated naively this is 2^25 library runs; in a thread so a
        // regression fails the test instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        let root = d.clone();
        std::thread::spawn(move || {
            let _ = tx.send(compile_text(
                &engine,
                "a.rhai",
                "import \"lib/l0\" as l; l::f0();",
            ));
        });
        let e = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the compile finishes")
            .unwrap_err();
        assert!(e.message.contains("nest too widely"), "{}", e.message);
        // Ten levels of the same shape are fine, each library read once.
        let engine = super::super::engine::build(root.clone(), 100_000);
        let c = compile_text(&engine, "a.rhai", "import \"lib/l14\" as l; l::f14();").unwrap();
        assert_eq!(c.deps.len(), 11);
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_library_whose_top_level_never_ends_is_stopped_by_the_compile_budget() {
        let d = tree("toplevel");
        std::fs::write(d.join("lib/spin.rhai"), "loop { sleep(1); }").unwrap();
        let engine = super::super::engine::build(d.clone(), u64::MAX);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(compile_text(&engine, "a.rhai", "import \"lib/spin\" as s;"));
        });
        let e = rx
            .recv_timeout(COMPILE_BUDGET * 10)
            .expect("the compile ends")
            .unwrap_err();
        assert!(e.message.starts_with("lib/spin.rhai:"), "{}", e.message);
        assert!(e.message.contains("budget"), "{}", e.message);
        // The next compile that imports it fails at once; a changed
        // library runs again.
        let engine = super::super::engine::build(d.clone(), u64::MAX);
        let t = std::time::Instant::now();
        let e = compile_text(&engine, "b.rhai", "import \"lib/spin\" as s;").unwrap_err();
        assert!(t.elapsed() < COMPILE_BUDGET, "{:?}", t.elapsed());
        assert!(e.message.contains("when compiled before"), "{}", e.message);
        std::fs::write(d.join("lib/spin.rhai"), "fn f() { 1 }").unwrap();
        compile_text(&engine, "b.rhai", "import \"lib/spin\" as s; s::f();").unwrap();
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn too_many_libraries_are_refused() {
        let d = tree("many");
        let mut main = String::new();
        for i in 0..=MAX_LIBRARIES {
            std::fs::write(d.join(format!("lib/m{i}.rhai")), "fn f() { 1 }").unwrap();
            main.push_str(&format!("import \"lib/m{i}\" as m{i};\n"));
        }
        let engine = super::super::engine::build(d.clone(), 100_000);
        let e = compile_text(&engine, "a.rhai", &main).unwrap_err();
        assert!(e.message.contains("too many libraries"), "{}", e.message);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_library_whose_top_level_hoards_memory_is_stopped_by_the_compile_budget() {
        let d = tree("hoard");
        std::fs::write(
            d.join("lib/hoard.rhai"),
            "let s = \"\"; s.pad(1000000, 'x'); let m = #{}; for i in 0..1000 { m[`k${i}`] = s + i; }",
        )
        .unwrap();
        let engine = super::super::engine::build(d.clone(), u64::MAX);
        let e = compile_text(&engine, "a.rhai", "import \"lib/hoard\" as h;").unwrap_err();
        assert!(e.message.starts_with("lib/hoard.rhai:"), "{}", e.message);
        assert!(
            e.message.contains("memory budget of 64 MB"),
            "{}",
            e.message
        );
        let _ = std::fs::remove_dir_all(d);
    }
}
