//! The sandboxed Rhai engine every script shares: limits on operations,
//! call depth and value sizes, a wall-clock budget per callback, a memory
//! budget per instance, no `eval`, imports only from inside the scripts
//! directory, and the registered API.

use std::path::PathBuf;
use std::sync::Arc;

use rhai::Engine;

use super::instance::{self, JobCtx};
use super::limits::{MAX_ARRAY, MAX_CALL_DEPTH, MAX_MAP, MAX_STRING};
use super::{api, budget, depth, loader, memory, send, stdlib, steps, toplevel};

/// Builds the engine for scripts under `scripts_dir`.
pub fn build(scripts_dir: PathBuf, max_operations: u64) -> Arc<Engine> {
    let mut engine = Engine::new();
    engine
        .set_max_operations(max_operations)
        .set_max_call_levels(MAX_CALL_DEPTH)
        .set_max_expr_depths(64, 32)
        .set_max_string_size(MAX_STRING)
        .set_max_array_size(MAX_ARRAY)
        .set_max_map_size(MAX_MAP)
        .set_max_modules(64)
        .disable_symbol("eval")
        .set_module_resolver(loader::SandboxResolver::new(scripts_dir));
    engine.on_progress(|ops| {
        if ops % 4 == 0
            && let Some(limit) = memory::over_budget()
        {
            return Some(memory::exceeded_message(limit).into());
        }
        if ops % 512 == 0 && budget::past_deadline() {
            Some(budget::exceeded_message().into())
        } else {
            None
        }
    });
    #[allow(deprecated)]
    engine.on_var(|name, _, mut ctx| {
        // A plain local or a shared variable needs no instance (most reads).
        if !api::GLOBAL_NAMES.contains(&name)
            && let Some(answer) = toplevel::local(name, &ctx)
        {
            return Ok(answer);
        }
        // Outside a job (a library's top level at compile time, `check`)
        // there is no instance: `xapi` is then an unknown variable.
        let Some(job) = JobCtx::of(ctx.tag()) else {
            return Ok(None);
        };
        Ok(api::global(&job.instance, name).or_else(|| {
            toplevel::resolve(
                job.program.shape(),
                job.instance.top_level(),
                name,
                &mut ctx,
            )
        }))
    });
    #[allow(deprecated)]
    engine.on_missing_function(|name, args, is_method, ctx| {
        if is_method {
            api::dispatch_command(Some(ctx.tag()), ctx.source(), name, args)
        } else {
            instance::job::call_library_closure(name, args, ctx)
        }
    });
    api::register(&mut engine);
    send::register(&mut engine);
    steps::register(&mut engine);
    depth::register(&mut engine);
    stdlib::register(&mut engine, Arc::new(local_now));
    Arc::new(engine)
}

/// An engine that only parses (it lives beside the tokenizer, which
/// needs it and nothing else of the runtime).
pub use super::lex::parser;

/// Local time on the running instance's clock (the host's, or a test's),
/// or the machine's outside an instance.
fn local_now(tag: Option<&rhai::Dynamic>) -> chrono::NaiveDateTime {
    tag.and_then(JobCtx::of).map_or_else(
        || chrono::Local::now().naive_local(),
        |j| j.instance.clock.now(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Arc<Engine> {
        build(std::env::temp_dir(), 100_000)
    }

    #[test]
    fn eval_is_refused() {
        let e = engine().compile(r#"eval("1 + 1")"#).unwrap_err();
        assert!(e.to_string().contains("eval"), "{e}");
    }

    #[test]
    fn runaway_loops_are_stopped() {
        let e = engine().run("loop {}").unwrap_err();
        assert!(
            matches!(*e, rhai::EvalAltResult::ErrorTooManyOperations(..)),
            "{e}"
        );
    }

    #[test]
    fn deep_recursion_is_stopped() {
        let e = engine().run("fn f(n) { f(n + 1) } f(0);").unwrap_err();
        assert!(
            e.to_string().to_lowercase().contains("stack overflow"),
            "{e}"
        );
    }

    #[test]
    fn string_doubling_is_stopped() {
        let e = engine()
            .run(r#"let s = "xx"; loop { s += s; }"#)
            .unwrap_err();
        assert!(
            matches!(*e, rhai::EvalAltResult::ErrorDataTooLarge(..)),
            "{e}"
        );
    }

    #[test]
    fn globals_need_a_running_instance() {
        // Outside an instance `xapi` is just an unknown variable.
        let e = engine().run("xapi.Status").unwrap_err();
        assert!(e.to_string().contains("xapi"), "{e}");
    }

    #[test]
    fn printing_keeps_rhai_s_format() {
        let plain = Engine::new();
        for v in [
            r#"[1, "a", #{b: [2.5, ()]}, 'c', true]"#,
            r#"#{x: [1, [2]], "y z": "w"}"#,
        ] {
            let ours: String = engine().eval(&format!("`${{{v}}}`")).unwrap();
            let theirs: String = plain.eval(&format!("`${{{v}}}`")).unwrap();
            assert_eq!(ours, theirs);
            let ours: String = engine().eval(&format!("({v}).to_debug()")).unwrap();
            let theirs: String = plain.eval(&format!("({v}).to_debug()")).unwrap();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn a_twelve_thousand_deep_value_is_refused_when_printed_or_sent() {
        let run = || {
            let mut deep = rhai::Dynamic::from_array(vec![]);
            for _ in 0..12_000 {
                deep = rhai::Dynamic::from_array(vec![deep]);
            }
            let e = engine();
            for shared in [false, true] {
                let mut scope = rhai::Scope::new();
                let value = if shared {
                    deep.clone().into_shared()
                } else {
                    deep.clone()
                };
                scope.push("a", value);
                let err = e.run_with_scope(&mut scope, "print(a)").unwrap_err();
                assert!(err.to_string().contains("nested deeper than"), "{err}");
                let err = e.run_with_scope(&mut scope, "debug(a)").unwrap_err();
                assert!(err.to_string().contains("nested deeper than"), "{err}");
                let text: String = e.eval_with_scope(&mut scope, "`x ${a}`").unwrap();
                assert!(text.contains("nested deeper than"), "{text}");
                let text: String = e.eval_with_scope(&mut scope, "a.to_string()").unwrap();
                assert!(text.contains("nested deeper than"), "{text}");
            }
            let err = api::from_dynamic(&deep).unwrap_err();
            assert!(err.to_string().contains("nested deeper than"), "{err}");
        };
        // On a thread like a script worker.
        std::thread::Builder::new()
            .stack_size(super::super::pool::STACK)
            .spawn(run)
            .unwrap()
            .join()
            .unwrap();
    }
}
