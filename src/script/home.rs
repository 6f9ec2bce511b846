//! Where a callback was defined. A closure (or a named `fn` passed as a
//! callback) made inside a library lives in that library's module, not in
//! the script's own functions: calling it later from the script's
//! environment fails with `Function not found: anon$...`. Each library's
//! module keeps its functions together with the environment they were
//! defined in (the library's other functions, its imports, its constants),
//! so a callback is called through the module that defines it.

use std::collections::HashSet;
use std::sync::Arc;

use rhai::{AST, ImmutableString, Module, Position};

/// Every library module a compiled script reaches, directly or through
/// other libraries, each once, with its source name made once (a callback
/// names it in every call).
#[derive(Default)]
pub struct Libraries {
    modules: Vec<(Arc<Module>, Option<ImmutableString>)>,
}

/// Where a function lives and how many parameters it declares.
pub struct Home<'a> {
    /// The library module, or `None` for the script's own functions.
    pub module: Option<&'a Arc<Module>>,
    /// The library's source name (`None` for the script's own functions).
    pub source: Option<&'a ImmutableString>,
    /// Declared parameters (curried ones included).
    pub params: usize,
    /// Where its body starts in its file.
    pub body: Position,
}

impl Libraries {
    /// Collects the libraries compiled into `ast`.
    pub fn of(ast: &AST) -> Libraries {
        let mut out = Libraries::default();
        let mut seen = HashSet::new();
        if let Some(resolver) = ast.resolver() {
            for (_, m) in resolver.iter() {
                out.add(m, &mut seen);
            }
        }
        out
    }

    fn add(&mut self, m: &Arc<Module>, seen: &mut HashSet<*const Module>) {
        if !seen.insert(Arc::as_ptr(m)) {
            return;
        }
        self.modules.push((m.clone(), m.id().map(Into::into)));
        for (_, sub) in m.iter_sub_modules() {
            self.add(sub, seen);
        }
    }

    /// Finds function `name`: the script's own first, then each library.
    /// With `arity`, only a function taking that many parameters counts.
    pub fn find<'a>(&'a self, ast: &AST, name: &str, arity: Option<usize>) -> Option<Home<'a>> {
        let in_module = |m: &Module| {
            m.iter_script_fn_info()
                .find(|(_, _, n, p, _)| *n == name && arity.is_none_or(|a| a == *p))
                .map(|(_, _, _, p, def)| (p, def.body.start_position()))
        };
        if let Some((params, body)) = in_module(ast.shared_lib()) {
            return Some(Home {
                module: None,
                source: None,
                params,
                body,
            });
        }
        self.modules.iter().find_map(|(m, source)| {
            in_module(m).map(|(params, body)| Home {
                module: Some(m),
                source: source.as_ref(),
                params,
                body,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_is_found_in_the_library_that_defines_it() {
        let d = std::env::temp_dir().join(format!("xmacro-home-{}", std::process::id()));
        std::fs::create_dir_all(d.join("lib")).unwrap();
        std::fs::write(
            d.join("lib/a.rhai"),
            "import \"lib/b\" as b;\nfn fa(x) { x }",
        )
        .unwrap();
        std::fs::write(d.join("lib/b.rhai"), "fn fb(x, y) { x + y }").unwrap();
        let engine = super::super::engine::build(d.clone(), 100_000);
        let c = super::super::loader::compile_text(
            &engine,
            "main.rhai",
            "import \"lib/a\" as a;\nfn own() { 1 }",
        )
        .unwrap();
        let libs = Libraries::of(&c.ast);
        assert!(libs.find(&c.ast, "own", Some(0)).unwrap().module.is_none());
        let a = libs.find(&c.ast, "fa", None).unwrap();
        assert_eq!((a.module.unwrap().id(), a.params), (Some("lib/a.rhai"), 1));
        assert_eq!(a.source.map(|s| s.as_str()), Some("lib/a.rhai"));
        let b = libs.find(&c.ast, "fb", Some(2)).unwrap();
        assert_eq!(b.module.unwrap().id(), Some("lib/b.rhai"));
        assert!(libs.find(&c.ast, "fb", Some(1)).is_none());
        assert!(libs.find(&c.ast, "nowhere", None).is_none());
        let _ = std::fs::remove_dir_all(d);
    }
}
