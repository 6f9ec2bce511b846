//! Instance slots: one per script and codec, starting the instance once
//! its codec is connected, starting it again while its codec (not its
//! code) stops its top level, and stopping instances side by side.

use std::sync::{Arc, Mutex};

use tracing::{Instrument, error, info, warn};

use super::{Host, Slot};
use crate::script::instance::{Instance, InstanceCtx, Program};
use crate::script::retry::{self, TopLevelEnd};
use crate::store::Store;

impl Slot {
    /// Whether its codec is up or on its first attempt: the instance is
    /// about to start (not waiting for a codec that is down).
    pub(super) fn codec_coming(&self) -> bool {
        use crate::xows::ConnState;
        matches!(
            *self.codec.watch_state().borrow(),
            ConnState::Connecting | ConnState::Connected
        )
    }
}

impl Host {
    /// Starts `name` on each codec it is bound to (or only on `only`).
    pub(super) fn start_instances(
        &mut self,
        name: &str,
        program: &Arc<Program>,
        only: Option<&str>,
    ) -> Vec<Slot> {
        let args: rhai::Map = self
            .opts
            .scripts
            .get(name)
            .and_then(|s| rhai::serde::to_dynamic(&s.args).ok())
            .and_then(|d| d.try_cast::<rhai::Map>())
            .unwrap_or_default();
        let mut slots = Vec::new();
        let targets = self.targets(name);
        for codec_name in targets.into_iter().filter(|c| only.is_none_or(|o| o == c)) {
            let store = match self.store(name, &codec_name) {
                Ok(s) => s,
                Err(e) => {
                    // Said as what it is (a damaged database, say), on the
                    // status page too: not started, and why.
                    let why = format!("not started: its store cannot be read: {e}");
                    error!(script = %name, codec = %codec_name, "{why}");
                    crate::telemetry::board().failed(name, &codec_name, &why);
                    crate::telemetry::board().started(name, &codec_name, false);
                    continue;
                }
            };
            let codec = self.codecs[&codec_name].clone();
            let ctx = InstanceCtx::new(
                name.to_string(),
                codec_name.clone(),
                codec.clone(),
                self.urls[&codec_name].clone(),
                self.codecs.clone(),
                args.clone(),
                store,
                tokio::runtime::Handle::current(),
                self.opts.clock.clone(),
                self.opts.limits.clone(),
            );
            let cell: Arc<Mutex<Option<Arc<Instance>>>> = Arc::default();
            let span = ctx.span();
            let starter =
                tokio::spawn(starter(ctx, program.clone(), cell.clone()).instrument(span));
            slots.push(Slot {
                codec,
                codec_name,
                instance: cell,
                starter,
            });
        }
        slots
    }

    fn store(&mut self, script: &str, codec: &str) -> Result<Arc<Store>, crate::store::StoreError> {
        self.stores.instance(codec, script)
    }
}

/// Starts an instance once its codec is connected, and starts it again,
/// after a growing pause, while its top level is stopped by its codec
/// rather than its code (see [`crate::script::retry`]): logged once, shown
/// as retrying on the status page meanwhile.
async fn starter(
    mut ctx: Arc<InstanceCtx>,
    program: Arc<Program>,
    cell: Arc<Mutex<Option<Arc<Instance>>>>,
) {
    let mut tries = 0u32;
    loop {
        let mut state = ctx.codec.watch_state();
        loop {
            let now = state.borrow_and_update().clone();
            if now.is_connected() {
                break;
            }
            if let crate::xows::ConnState::Failed(why) = now {
                error!("not started: the codec cannot be used: {why}");
                return;
            }
            if state.changed().await.is_err() {
                return;
            }
        }
        let inst = Instance::start(ctx.clone(), program.clone());
        *cell.lock().unwrap_or_else(|p| p.into_inner()) = Some(inst.clone());
        let why = match inst.top_level_ended().await {
            TopLevelEnd::Retry(why) => why,
            TopLevelEnd::Ran if tries > 0 => {
                info!("started after {} tries", tries + 1);
                return;
            }
            TopLevelEnd::Ran | TopLevelEnd::Failed => return,
        };
        tries += 1;
        let pause = retry::pause(tries, rand::random::<f64>());
        if tries == 1 {
            warn!(
                "top level stopped by its codec, not its code: {why}; starting it again in {:.1}s, then after pauses growing to a minute until it runs",
                pause.as_secs_f64()
            );
        } else {
            tracing::debug!(
                "top level stopped by its codec again (try {tries}): {why}; next try in {:.1}s",
                pause.as_secs_f64()
            );
        }
        // Its feedback and timers go, and `on_unload` runs, before the next
        // try; on a task of its own, so a stop of the slot meanwhile does
        // not cut it short.
        drop(inst);
        let old = cell.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(old) = old {
            let _ = tokio::spawn(async move { old.stop().await }).await;
        }
        tokio::time::sleep(pause).await;
        ctx = again(&ctx);
    }
}

/// A fresh context for the same script on the same codec, with the same
/// store and limits (a top level started again).
fn again(ctx: &InstanceCtx) -> Arc<InstanceCtx> {
    InstanceCtx::new(
        ctx.script.clone(),
        ctx.codec_name.clone(),
        ctx.codec.clone(),
        ctx.codec_url.clone(),
        ctx.codecs.clone(),
        ctx.args.clone(),
        ctx.store.clone(),
        ctx.rt.clone(),
        ctx.clock.clone(),
        ctx.limits.clone(),
    )
}

/// Stops instances side by side (each runs its `on_unload`).
pub(super) async fn stop_slots(slots: Vec<Slot>) {
    let stops = slots.into_iter().map(|s| async move {
        s.starter.abort();
        let inst = s.instance.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(inst) = inst {
            inst.stop().await;
        }
    });
    futures_util::future::join_all(stops).await;
}
