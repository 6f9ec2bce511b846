//! `steps([f, ms, g, ms, h])`: the counterpart of a JavaScript async
//! function that does something, `await sleep(ms)`, then something else
//! (dip the volume, send DTMF, restore it). Each run of functions is its
//! own job with its own budget; between them no worker is held and the
//! script's other callbacks run. A pause is counted from the end of the
//! step before it. A step that fails is logged with its place and the
//! steps after it are dropped, as an exception ends an async function.
//! `steps` returns a handle whose `.cancel()` drops the steps not yet run.

use std::sync::{Arc, Mutex};

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, INT, NativeCallContext};

use super::api::{Handle, timer, usage};
use super::instance::job::call_in_program;

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Checks the list: functions, and pauses in milliseconds (0 or more).
fn validate(list: &Array) -> RhaiResult<()> {
    for (i, d) in list.iter().enumerate() {
        let ok = d.is::<FnPtr>() || d.as_int().is_ok_and(|ms| ms >= 0);
        if !ok {
            return Err(usage(format!(
                "steps([...]): item {i} is {} ({d}); give functions and pauses in milliseconds, as steps([|| a(), 500, || b()])",
                d.type_name()
            )));
        }
    }
    Ok(())
}

/// A running sequence: `.cancel()` drops the steps not yet run.
#[derive(Clone)]
pub struct Steps(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    cancelled: bool,
    /// The timer of the next run of steps.
    next: Option<Handle>,
}

impl Steps {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cancel(&mut self) -> bool {
        let mut s = self.lock();
        let was = !s.cancelled;
        s.cancelled = true;
        if let Some(mut h) = s.next.take() {
            h.off();
        }
        was
    }
}

/// Runs the functions from `from` up to the next pause, then schedules the
/// rest after that pause.
fn run(
    c: &NativeCallContext,
    steps: &Steps,
    list: Arc<Array>,
    mut from: usize,
) -> RhaiResult<Dynamic> {
    while let Some(item) = list.get(from) {
        if steps.lock().cancelled {
            break;
        }
        if let Ok(ms) = item.as_int() {
            schedule(c.tag(), steps, list.clone(), from + 1, ms)?;
            return Ok(Dynamic::UNIT);
        }
        let f = item.clone_cast::<FnPtr>();
        let _ = call_in_program(c, &f, Vec::new())?;
        from += 1;
    }
    Ok(Dynamic::UNIT)
}

fn schedule(
    tag: Option<&Dynamic>,
    steps: &Steps,
    list: Arc<Array>,
    from: usize,
    ms: INT,
) -> RhaiResult<()> {
    if from >= list.len() {
        return Ok(());
    }
    let me = steps.clone();
    #[allow(deprecated)] // volatile, not deprecated (see its note)
    let next = FnPtr::from_fn("steps", move |c: NativeCallContext, _| {
        run(&c, &me, list.clone(), from)
    })?;
    let handle = timer(tag, next, ms, false)?;
    steps.lock().next = Some(handle);
    Ok(())
}

/// Registers `steps`.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Steps>("steps")
        .register_fn("cancel", Steps::cancel)
        .register_fn(
            "steps",
            |c: NativeCallContext, list: Array| -> RhaiResult<Steps> {
                validate(&list)?;
                let steps = Steps(Arc::default());
                schedule(c.tag(), &steps, Arc::new(list), 0, 0)?;
                Ok(steps)
            },
        );
}
