//! What one job runs in ([`JobCtx`]: its instance, program and the
//! script's constants), carried per call in Rhai's tag, and the calls host
//! code makes into the script from inside a job: a callback with JSON
//! arguments, a function or closure handed to a host function, a closure a
//! library made.

use std::sync::Arc;

use rhai::{Dynamic, EvalAltResult, FnPtr};
use serde_json::Value;

use super::context::InstanceCtx;
use super::program::{Constants, Program};

/// What one job runs in, passed per call: Rhai carries a `tag` in every
/// call's runtime state (`CallFnOptions::with_tag` for the top level, the
/// global state built for each callback), and host code reads it back from
/// `NativeCallContext::tag()` or `EvalContext::tag()`.
#[derive(Clone)]
pub struct JobCtx {
    pub instance: Arc<InstanceCtx>,
    pub program: Arc<Program>,
    pub constants: Constants,
    /// How many timers deep the running callback is (a timer set from a
    /// timer's callback is one deeper); 0 when it is not a timer's.
    pub timer_nesting: u8,
}

impl JobCtx {
    /// The tag that carries this context through Rhai's calls.
    pub fn tag(&self) -> Dynamic {
        Dynamic::from(self.clone())
    }

    /// The context a tag carries (`None` outside a job, as in `check` or a
    /// unit test's engine).
    pub fn of(tag: &Dynamic) -> Option<JobCtx> {
        tag.read_lock::<JobCtx>().map(|j| j.clone())
    }

    /// Calls a script function or closure outside the top-level run, with
    /// the script's functions and imports in reach; one made in a library
    /// runs in that library's environment.
    pub(crate) fn call(
        &self,
        f: &FnPtr,
        args: Vec<Dynamic>,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let program = &self.program;
        let arity = f.curry().len() + args.len();
        let home = program
            .libraries
            .find(&program.ast, f.fn_name(), Some(arity));
        program.call_at(self.tag(), &self.constants, f, home.as_ref(), args)
    }
}

/// Calls a script function or closure the way callbacks are called (in
/// the library it was made in), from host code running a job.
pub(crate) fn call_in_program(
    c: &rhai::NativeCallContext,
    f: &FnPtr,
    args: Vec<Dynamic>,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let job = c
        .tag()
        .and_then(JobCtx::of)
        .ok_or_else(|| crate::script::fault::usage("this works inside a running script"))?;
    job.call(f, args)
}

/// Calls a closure made in a library from the script: Rhai looks an
/// anonymous function up among the running code's own functions only, so a
/// closure a library returned (`let g = relay::shouter(); g.call("hi")`)
/// fails with `Function not found: anon$...`. The engine's missing-function
/// hook calls this; it finds the closure in the library that made it and
/// calls it there, with that library's environment, at the current call
/// depth. `None` when `name` is no such closure (the hook goes on).
pub(crate) fn call_library_closure(
    name: &str,
    args: &mut [&mut Dynamic],
    mut ctx: rhai::EvalContext,
) -> Result<Option<Dynamic>, Box<EvalAltResult>> {
    // Closures are named `anon$<hash>`; no name a script writes looks so.
    if !name.starts_with("anon$") {
        return Ok(None);
    }
    let Some(job) = JobCtx::of(ctx.tag()) else {
        return Ok(None);
    };
    let program = &job.program;
    let Some(module) = program
        .libraries
        .find(&program.ast, name, Some(args.len()))
        .and_then(|h| h.module.cloned())
    else {
        return Ok(None);
    };
    let mut frame = ctx
        .new_frame()
        .with_namespace(module)
        .with_new_caching_layer();
    frame.call_fn_raw(name, false, false, args).map(Some)
}

/// Calls a script callback with JSON arguments; a closure declared with
/// fewer parameters than given (`|| ...` for a feedback callback) gets fewer.
/// On an error, also the file it is reported in (the library the callback
/// was made in, or the script). The callback's home is looked up once.
pub(super) fn call_fnptr(
    job: &JobCtx,
    f: &FnPtr,
    args: Vec<Value>,
) -> (Option<String>, Result<(), Box<EvalAltResult>>) {
    let program = &job.program;
    let mut values: Vec<Dynamic> = Vec::with_capacity(args.len());
    for a in args {
        values.push(crate::script::convert::json_to_dynamic(&a));
    }
    let declared = program.libraries.find(&program.ast, f.fn_name(), None);
    if let Some(h) = &declared {
        values.truncate(h.params.saturating_sub(f.curry().len()));
    }
    // The function taking what is passed (another only where it is
    // overloaded by arity, or declares more than is given).
    let arity = f.curry().len() + values.len();
    let home = declared.filter(|h| h.params == arity).or_else(|| {
        program
            .libraries
            .find(&program.ast, f.fn_name(), Some(arity))
    });
    let r = program
        .call_at(job.tag(), &job.constants, f, home.as_ref(), values)
        .map(|_| ());
    let file = r.as_ref().err().map(|_| program.file_in(home.as_ref()));
    (file, r)
}
