//! Instance slots: one per script and codec, starting the instance once
//! its codec is connected, starting it again while its codec (not its
//! code) stops its top level, and stopping instances side by side.

use std::sync::{Arc, Mutex};

use tracing::{Instrument, error, info, warn};

use std::collections::BTreeMap;

use super::{Host, Running, Slot};
use crate::script::instance::{Instance, InstanceSpec};
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
    /// Starts `running` of `name` on each codec its scope picks (or only on
    /// `only`); where another version ran before (`previous`), that one
    /// starts again if this one's top level fails.
    pub(super) fn start_instances(
        &mut self,
        name: &str,
        running: &Arc<Running>,
        only: Option<&str>,
        previous: &BTreeMap<String, Arc<Running>>,
    ) -> Vec<Slot> {
        let mut targets = self.targets_of(&running.codecs);
        targets.retain(|c| only.is_none_or(|o| o == c));
        // Their stores in a few reads, not one round trip each.
        self.stores
            .preload(targets.iter().map(|c| (c.as_str(), name)));
        targets
            .into_iter()
            .filter_map(|codec| {
                let before = previous
                    .get(&codec)
                    .filter(|p| p.version != running.version);
                self.start_on(name, running, &codec, before.cloned())
            })
            .collect()
    }

    /// Starts `running` of `name` on one codec.
    pub(super) fn start_on(
        &mut self,
        name: &str,
        running: &Arc<Running>,
        codec_name: &str,
        fallback: Option<Arc<Running>>,
    ) -> Option<Slot> {
        let store = match self.store(name, codec_name) {
            Ok(s) => s,
            Err(e) => {
                // Said as what it is (a damaged database, say), on the
                // status page too: not started, and why.
                let why = format!("not started: its store cannot be read: {e}");
                error!(script = %name, codec = %codec_name, "{why}");
                crate::telemetry::board().failed(name, codec_name, &why);
                crate::telemetry::board().started(name, codec_name, false);
                return None;
            }
        };
        let codec = self.codecs.get(codec_name)?.clone();
        let sink =
            super::failures::failure_sink(self.failures.clone(), name, codec_name, running.version);
        let spec = InstanceSpec {
            program: running.program.clone(),
            script: name.to_string(),
            codec_name: codec_name.to_string(),
            codec: codec.clone(),
            codec_url: self.urls[codec_name].clone(),
            codecs: self.codecs.clone(),
            args: running.args.clone(),
            settings: self.settings_of(codec_name),
            guard: running.guard.clone(),
            store,
            rt: tokio::runtime::Handle::current(),
            clock: self.opts.clock.clone(),
            limits: self.opts.limits.clone(),
            log_sink: Some(sink),
        };
        let cell: Arc<Mutex<Option<Arc<Instance>>>> = Arc::default();
        let span = spec.span();
        let starter = Starter::spawn(starter(spec, cell.clone()).instrument(span));
        Some(Slot {
            codec,
            codec_name: codec_name.to_string(),
            instance: cell,
            starter,
            running: running.clone(),
            fallback,
        })
    }

    /// The `allow` list and audit trail of version `version` of `name`,
    /// shared by its instances (the list as the config says now).
    pub(super) fn guard(&self, name: &str, version: u64) -> Arc<crate::script::guard::Guard> {
        crate::script::guard::Guard::new(
            name,
            &format!("{version:016x}"),
            self.opts.scripts.get(name).and_then(|s| s.allow.clone()),
            self.auditor.clone(),
        )
    }

    /// A codec's `settings` as its scripts read them (`codec.settings`).
    fn settings_of(&self, codec: &str) -> rhai::Map {
        self.opts
            .settings
            .get(codec)
            .map(super::rhai_map)
            .unwrap_or_default()
    }

    /// Restarts every script's instance on these codecs (their settings
    /// changed), each with the version it ran; instances on other codecs
    /// go on untouched.
    pub(super) async fn restart_on(&mut self, codecs: &std::collections::BTreeSet<String>) {
        if codecs.is_empty() {
            return;
        }
        let names: Vec<String> = self.scripts.keys().cloned().collect();
        for name in names {
            let Some(l) = self.scripts.get_mut(&name) else {
                continue;
            };
            let (theirs, keep): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut l.slots)
                .into_iter()
                .partition(|s| codecs.contains(&s.codec_name));
            l.slots = keep;
            let again: Vec<(String, Arc<Running>, Option<Arc<Running>>)> = theirs
                .iter()
                .map(|s| (s.codec_name.clone(), s.running.clone(), s.fallback.clone()))
                .collect();
            stop_slots(theirs).await;
            let mut restarted = Vec::new();
            for (codec, running, fallback) in again {
                if let Some(slot) = self.start_on(&name, &running, &codec, fallback) {
                    restarted.push(codec);
                    if let Some(l) = self.scripts.get_mut(&name) {
                        l.slots.push(slot);
                    }
                }
            }
            if !restarted.is_empty() {
                info!(script = %name, "restarted on {}: its settings changed", restarted.join(", "));
            }
        }
    }

    fn store(&mut self, script: &str, codec: &str) -> Result<Arc<Store>, crate::store::StoreError> {
        self.stores.instance(codec, script)
    }
}

/// The hold a slot keeps on its starter task: a channel the task watches,
/// not a reference to the task. A `JoinHandle` kept the finished task's
/// whole allocation (room for its largest state, about 1.2 KiB) alive for
/// as long as the instance ran: 36 MiB on a host carrying 30,000.
pub(super) struct Starter(tokio::sync::oneshot::Sender<()>);

impl Starter {
    /// Runs `task` until it ends or the starter is dropped.
    pub(super) fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Starter {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            tokio::select! {
                biased;
                _ = stopped => {}
                () = task => {}
            }
        });
        Starter(stop)
    }

    /// Whether the task has ended (or was stopped).
    pub(super) fn is_finished(&self) -> bool {
        self.0.is_closed()
    }

    /// Stops the task at its next pause (as dropping the starter does).
    pub(super) fn stop(self) {}
}

/// Starts an instance once its codec is connected, and starts it again,
/// after a growing pause, while its top level is stopped by its codec
/// rather than its code (see [`crate::script::retry`]): logged once, shown
/// as retrying on the status page meanwhile.
async fn starter(spec: InstanceSpec, cell: Arc<Mutex<Option<Arc<Instance>>>>) {
    let mut tries = 0u32;
    loop {
        let mut state = spec.codec.watch_state();
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
        let inst = Instance::start(&spec);
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
    }
}

/// Stops instances side by side (each runs its `on_unload`).
pub(super) async fn stop_slots(slots: Vec<Slot>) {
    let stops = slots.into_iter().map(|s| async move {
        s.starter.stop();
        let inst = s.instance.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(inst) = inst {
            inst.stop().await;
        }
    });
    futures_util::future::join_all(stops).await;
}

#[cfg(test)]
mod tests {
    use super::Starter;
    use crate::script::memory::Account;
    use std::time::Duration;

    /// Waits for `cond`, yielding to the runtime, for at most 5 s.
    async fn until(what: &str, mut cond: impl FnMut() -> bool) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !cond() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_starter_whose_task_ended_keeps_none_of_the_task_s_memory() {
        let account = Account::new();
        // A task whose state holds 700 bytes across a pause (under tokio's
        // threshold for boxing a future apart from its task: 2 KiB in a
        // debug build, 16 KiB in release).
        let starter = account.enter(u64::MAX, || {
            Starter::spawn(async {
                let big = [7u8; 700];
                tokio::task::yield_now().await;
                std::hint::black_box(&big);
            })
        });
        assert!(account.used() >= 700, "the task is allocated");
        until("the task to end", || starter.is_finished()).await;
        // What is left is the stop channel, not the task.
        until("the task's memory to be freed", || account.used() < 400).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn stopping_a_starter_drops_its_task() {
        let (dropped_tx, dropped) = tokio::sync::oneshot::channel::<()>();
        let starter = Starter::spawn(async move {
            let _on_drop = dropped_tx;
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        assert!(!starter.is_finished());
        starter.stop();
        tokio::time::timeout(Duration::from_secs(5), dropped)
            .await
            .expect("the task was dropped")
            .expect_err("nothing is sent, the sender goes with the task");
    }
}
