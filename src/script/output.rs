//! What scripts log (`print`, `warn`, `error`): escaped so a script cannot
//! forge a log line, and rate limited per instance so a print loop cannot
//! fill the disk; what the limit holds back is counted in the next line.

use std::sync::Mutex;
use std::time::Instant;

use tracing::{Level, error, info, warn};

use super::instance::InstanceCtx;
use crate::log::ratelimit::{DEFAULT_BURST, RateLimit, Verdict};
use crate::log::safe::escape;

/// The limit of output made outside any instance (a library's top level
/// while it compiles). Each instance has its own, in its context, made with
/// it and gone with it: a new instance never inherits an old one's count.
static OUTSIDE: Mutex<RateLimit> = Mutex::new(RateLimit::new(DEFAULT_BURST));

/// Logs one line of script output at `level`, within the limit of the
/// instance that made it (`None` outside one).
pub fn line(ctx: Option<&InstanceCtx>, level: Level, text: &str) {
    let verdict = match ctx {
        Some(c) => c.log_limit().check(Instant::now()),
        None => OUTSIDE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .check(Instant::now()),
    };
    let Verdict::Log { suppressed } = verdict else {
        crate::telemetry::metrics().log_lines_suppressed.add(1);
        return;
    };
    if suppressed > 0 {
        warn!(
            "{suppressed} line(s) of this script's output were suppressed (more than {DEFAULT_BURST} a second)"
        );
    }
    let text = escape(text);
    if let Some(ctx) = ctx {
        ctx.note(level.as_str(), &text);
    }
    match level {
        Level::ERROR => error!("{text}"),
        Level::WARN => warn!("{text}"),
        _ => info!("{text}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::script::instance::{InstanceSpec, Program};

    #[tokio::test]
    async fn a_new_instance_never_inherits_a_former_instances_log_count() {
        let engine = Arc::new(rhai::Engine::new());
        let ast = Arc::new(engine.compile("").unwrap());
        let program = Arc::new(Program::new(engine, ast, "chatty.rhai".into()));
        let dir = std::env::temp_dir().join(format!("xmacro-output-{}", std::process::id()));
        let kept: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = kept.clone();
        let spec = InstanceSpec {
            log_sink: Some(Arc::new(move |_: &str, text: &str| {
                sink.lock().unwrap().push(text.to_string())
            })),
            ..InstanceSpec::unconnected(program, "chatty", &dir)
        };
        let codec = spec.codec.clone();
        // Instances come and go (a reload, a retried top level), each new
        // one often where the last one was freed: each spends its burst.
        for round in 0..20 {
            let ctx = InstanceCtx::new(&spec);
            for n in 0..DEFAULT_BURST {
                line(Some(&ctx), Level::INFO, &format!("{round} {n}"));
            }
            line(Some(&ctx), Level::INFO, "over the limit");
            drop(ctx);
            let fresh = InstanceCtx::new(&spec);
            line(Some(&fresh), Level::INFO, &format!("first of {round}"));
            let kept = kept.lock().unwrap();
            assert!(
                kept.last()
                    .is_some_and(|l| l == &format!("first of {round}")),
                "a fresh instance's first line was held back: {:?}",
                kept.last()
            );
            assert!(!kept.iter().any(|l| l == "over the limit"));
        }
        codec.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
