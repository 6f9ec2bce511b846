//! A compiled script version shared by all its instances ([`Program`]),
//! and how a function or closure of it is called: in the library it was
//! made in, with the script's imports and constants in reach.

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::{AST, Dynamic, Engine, EvalAltResult, FnPtr};

/// A compiled script version shared by all its instances.
pub struct Program {
    pub engine: Arc<Engine>,
    pub ast: Arc<AST>,
    /// The file, relative to the scripts directory, for messages.
    pub file: String,
    /// `file` as the source name a call runs under (made once).
    source: rhai::ImmutableString,
    /// The script's top-level imports (alias, module), so callbacks that run
    /// later still see `ui::alert(...)`.
    imports: Vec<(rhai::ImmutableString, Arc<rhai::Module>)>,
    /// The libraries compiled in, where callbacks made in them live.
    pub(super) libraries: crate::script::home::Libraries,
    /// The names the top level defines (shared with `fn`s and callbacks).
    shape: crate::script::toplevel::Shape,
}

impl Program {
    pub fn new(engine: Arc<Engine>, ast: Arc<AST>, file: String) -> Program {
        let (prepared, shape) = crate::script::toplevel::prepare(&ast);
        let ast = Arc::new(prepared);
        let mut imports = Vec::new();
        if let Some(resolver) = ast.resolver() {
            for stmt in ast.statements() {
                if let rhai::Stmt::Import(x, _) = stmt
                    && let (rhai::Expr::StringConstant(path, _), alias) = &**x
                    && let Some((_, m)) = resolver.iter().find(|(p, _)| *p == path.as_str())
                {
                    imports.push((alias.name.clone(), m.clone()));
                }
            }
        }
        let libraries = crate::script::home::Libraries::of(&ast);
        Program {
            engine,
            ast,
            source: file.as_str().into(),
            file,
            imports,
            libraries,
            shape,
        }
    }

    /// Calls `f` (living at `home`) with the job's tag and the script's
    /// constants (see [`super::job::JobCtx::call`]).
    pub(super) fn call_at(
        &self,
        tag: Dynamic,
        constants: &Constants,
        f: &FnPtr,
        home: Option<&crate::script::home::Home>,
        mut args: Vec<Dynamic>,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let mut global = self.engine.new_global_runtime_state();
        global.tag = tag;
        // Rhai gives an error that stops a function (a budget, a size
        // limit) the place of the call, and a callback has none: the place
        // of the callback in the script is the nearest one known.
        let place = home.map(|h| h.body);
        match home.and_then(|h| h.module.map(|m| (m, h.source))) {
            Some((m, source)) => {
                // The library's module first (Rhai finds a closure by its
                // hash in the first), then the script's own functions: a
                // library callback may call what the script handed it
                // (`f.call(x)` with the script's `fn` or closure), as it may
                // when called at once. Inside, the library's own functions
                // come before the script's (Rhai adds the library's
                // environment last, and the last added is searched first).
                global.lib.push(m.clone());
                global.lib.push(self.ast.shared_lib().clone());
                global.source = source.cloned();
            }
            None => {
                global.lib.push(self.ast.shared_lib().clone());
                global.source = Some(self.source.clone());
            }
        }
        for (alias, m) in &self.imports {
            global.push_import(alias.clone(), m.clone());
        }
        global.constants = Some(constants.clone());
        let ctx = rhai::NativeCallContext::new_with_all_fields(
            &self.engine,
            f.fn_name(),
            None,
            &global,
            rhai::Position::NONE,
        );
        f.call_raw(&ctx, None, &mut args).map_err(|mut e| {
            if let Some(at) = place
                && e.is_system_exception()
                && e.position().is_none()
            {
                e.set_position(at);
            }
            e
        })
    }
}

impl Program {
    /// What the script's top level defines.
    pub(crate) fn shape(&self) -> &crate::script::toplevel::Shape {
        &self.shape
    }

    /// The file errors of a callback living at `home` are reported in: the
    /// library it was made in, or the script.
    pub(super) fn file_in(&self, home: Option<&crate::script::home::Home>) -> String {
        home.and_then(|h| h.source)
            .map_or_else(|| self.file.clone(), |s| s.to_string())
    }
}

/// The script's top-level constants, as Rhai's `global::` reads them.
pub type Constants = Arc<std::sync::RwLock<BTreeMap<rhai::ImmutableString, Dynamic>>>;
