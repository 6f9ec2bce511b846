//! Top-level variables as the script's shared state. On a device a macro
//! is many hoisted functions sharing module-level `let`s; in Rhai a `fn`
//! sees only its parameters. Here every top-level `let`/`const` becomes a
//! shared cell right after it is defined (a `Share` statement is inserted
//! after it, the one closures use), the cells are kept per instance, and
//! the variable resolver hands a `fn` body or callback the cell of a name it
//! does not define itself: `fn`s read and write the script's variables, and
//! closures, `fn`s and the top level see one value.
//!
//! A shared variable is also read through its cell (not locked for the
//! length of a method call), so a closure can call itself (`tick.call()`
//! inside `tick`). A closure that names the variable it is being assigned
//! to (`let tick = || { ...; set_timeout(tick, 1000) }`) captures a cell
//! made before the `let` runs and filled when it has.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use rhai::{AST, Dynamic, EvalContext, FnArgsVec, Ident, ImmutableString, Module, Stmt};

/// What a script's top level defines, known from its AST.
#[derive(Debug, Default, Clone)]
pub struct Shape {
    /// Names the top level defines with `let` or `const`.
    names: HashSet<ImmutableString>,
    /// The script's source name: code running elsewhere (a library's
    /// functions) does not see the script's variables.
    source: Option<ImmutableString>,
}

/// Inserts a `Share` after every top-level `let` and `const` of `ast`, and
/// returns the new AST with the names it defines.
pub fn prepare(ast: &AST) -> (AST, Shape) {
    let mut names = HashSet::new();
    let mut statements = Vec::with_capacity(ast.statements().len() * 2);
    for stmt in ast.statements() {
        statements.push(stmt.clone());
        if let Stmt::Var(x, _, _) = stmt {
            let ident: &Ident = &x.0;
            names.insert(ident.name.clone());
            let list: FnArgsVec<(Ident, Option<std::num::NonZeroUsize>)> =
                std::iter::once((ident.clone(), None)).collect();
            statements.push(Stmt::Share(Box::new(list)));
        }
    }
    let body = AST::new(statements, Module::new());
    let mut prepared = ast.clone_functions_only().merge(&body);
    if let Some(source) = ast.source() {
        prepared.set_source(source);
    }
    let shape = Shape {
        names,
        source: ast.source().map(Into::into),
    };
    (prepared, shape)
}

/// One instance's top-level cells.
#[derive(Default)]
pub struct Cells {
    map: Mutex<HashMap<ImmutableString, Cell>>,
}

struct Cell {
    value: Dynamic,
    /// A `const`: handed out as a copy, so assigning to it fails.
    constant: bool,
    /// Made for a name used before its `let` ran; the `let` fills it.
    early: bool,
}

impl Cells {
    /// Empties the cells, so what they hold is dropped by the caller (a
    /// worker, whose stack takes a deeply nested value).
    pub fn clear(&self) {
        let all = std::mem::take(&mut *self.lock());
        drop(all);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ImmutableString, Cell>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The resolver's answer when it needs no instance: `Some(answer)` for a
/// variable in scope that is shared (read through its cell) or plainly
/// local, `None` when the script's top-level cells decide (see
/// [`resolve`]). Most variable reads end here, cheaply.
pub fn local(name: &str, ctx: &EvalContext) -> Option<Option<Dynamic>> {
    let v = ctx.scope().get(name)?;
    if v.is_shared() {
        return Some(Some(v.clone()));
    }
    (!at_top_level(ctx)).then_some(None)
}

fn at_top_level(ctx: &EvalContext) -> bool {
    ctx.call_level() == 0 && ctx.global_runtime_state().scope_level == 0
}

/// The variable resolver's part: `Some(cell)` when `name` is a shared
/// variable in reach, `None` to let Rhai look it up as usual.
pub fn resolve(shape: &Shape, cells: &Cells, name: &str, ctx: &mut EvalContext) -> Option<Dynamic> {
    let top_level = at_top_level(ctx);
    if let Some(v) = ctx.scope().get(name) {
        if v.is_shared() {
            return Some(v.clone());
        }
        if !(top_level && shape.names.contains(name) && in_script(shape, ctx)) {
            return None;
        }
        // A top-level variable just defined: from now on it lives in a
        // cell (the one made early for it, if any). A constant keeps its
        // place (Rhai will not replace it) and its value is copied.
        let constant = ctx.scope().is_constant(name) == Some(true);
        let value = v.clone();
        let mut map = cells.lock();
        let cell = match map.get_mut(name) {
            Some(c) if c.early => {
                c.early = false;
                c.constant = constant;
                if let Some(mut w) = c.value.write_lock::<Dynamic>() {
                    *w = value;
                }
                c.value.clone()
            }
            _ => {
                let cell = value.into_shared();
                let (early, value) = (false, cell.clone());
                map.insert(
                    name.into(),
                    Cell {
                        value,
                        early,
                        constant,
                    },
                );
                cell
            }
        };
        drop(map);
        if constant {
            return None;
        }
        if let Some(slot) = ctx.scope_mut().get_mut(name) {
            *slot = cell.clone();
        }
        return Some(cell);
    }
    if !shape.names.contains(name) || !in_script(shape, ctx) {
        return None;
    }
    let mut map = cells.lock();
    let cell = map.entry(name.into()).or_insert_with(|| Cell {
        value: Dynamic::UNIT.into_shared(),
        early: true,
        constant: false,
    });
    Some(if cell.constant {
        cell.value.flatten_clone()
    } else {
        cell.value.clone()
    })
}

fn in_script(shape: &Shape, ctx: &EvalContext) -> bool {
    shape.source.is_none() || ctx.source() == shape.source.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Runs `script` as an instance's top level would, printing into a list.
    fn run(script: &str) -> Result<Vec<String>, String> {
        let mut engine = rhai::Engine::new();
        let mut ast = engine.compile(script).map_err(|e| e.to_string())?;
        ast.set_source("main.rhai");
        let (ast, shape) = prepare(&ast);
        let cells = Arc::new(Cells::default());
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        engine.on_print(move |s| sink.lock().unwrap().push(s.to_string()));
        #[allow(deprecated)]
        engine.on_var(move |name, _, mut ctx| Ok(resolve(&shape, &cells, name, &mut ctx)));
        engine.run_ast(&ast).map_err(|e| e.to_string())?;
        Ok(std::mem::take(&mut *out.lock().unwrap()))
    }

    #[test]
    fn a_fn_reads_and_writes_top_level_variables() {
        let out = run(r#"
            let count = 0;
            let room = #{ names: [] };
            const LIMIT = 2;
            fn add(name) { if room.names.len() < LIMIT { room.names.push(name); count += 1; } }
            add("a"); add("b"); add("c");
            print(`${count} ${room.names}`);
        "#)
        .unwrap();
        assert_eq!(out, [r#"2 ["a", "b"]"#]);
    }

    #[test]
    fn a_closure_calls_itself_by_the_name_it_is_being_assigned_to() {
        let out = run(r#"
            let n = 0;
            let again = || { n += 1; if n < 3 { again.call() } else { n } };
            print(again.call());
        "#)
        .unwrap();
        assert_eq!(out, ["3"]);
    }

    #[test]
    fn parameters_and_locals_hide_top_level_variables() {
        let out = run(r#"
            let x = 1;
            fn param(x) { x + 10 }
            fn local() { let x = 5; x }
            print(`${param(2)} ${local()} ${x}`);
        "#)
        .unwrap();
        assert_eq!(out, ["12 5 1"]);
    }

    #[test]
    fn a_closure_sees_a_variable_declared_after_it() {
        let out = run("let f = || later * 2;\nlet later = 21;\nprint(f.call());").unwrap();
        assert_eq!(out, ["42"]);
    }

    #[test]
    fn a_name_nobody_defines_is_still_an_error() {
        let e = run("fn f() { nowhere } f();").unwrap_err();
        assert!(e.contains("Variable not found: nowhere"), "{e}");
    }

    #[test]
    fn variables_inside_top_level_blocks_stay_private() {
        let e = run("if true { let inner = 1; }\nfn f() { inner } f();").unwrap_err();
        assert!(e.contains("Variable not found: inner"), "{e}");
    }

    #[test]
    fn a_top_level_constant_stays_constant_in_a_fn() {
        let e = run("const C = 1;\nfn f() { C = 2; } f();").unwrap_err();
        assert!(e.to_lowercase().contains("constant"), "{e}");
    }
}
