//! The host's run loop: file changes (debounced) reload the config and
//! rescan the scripts, shard changes take a codec over or let it go, the
//! idle probe is answered, and a stop stops every instance and codec.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use super::slots::stop_slots;
use super::{Activity, ConfigSeen, Host, Slot, check_script_names};
use crate::config::Config;
use crate::xows::Codec;

impl Host {
    pub(super) async fn run(
        mut self,
        mut reload: mpsc::UnboundedReceiver<()>,
        mut probe: mpsc::UnboundedReceiver<oneshot::Sender<Activity>>,
        mut stop: oneshot::Receiver<oneshot::Sender<()>>,
        taken: Option<mpsc::UnboundedReceiver<String>>,
    ) {
        // Codecs another host took while the store database was unreachable.
        let mut taken = taken.unwrap_or_else(|| mpsc::unbounded_channel().1);
        let mut retry = tokio::time::interval(self.serving.retry);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        retry.reset();
        loop {
            tokio::select! {
                _ = retry.tick(), if self.serving.has_waiting() => {
                    for codec in self.serving.retry_waiting() {
                        self.take_over(&codec);
                    }
                }
                Some(codec) = taken.recv() => self.let_go(&codec).await,
                done = &mut stop => {
                    self.shutdown().await;
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
                Some(reply) = probe.recv() => {
                    let _ = reply.send(self.activity(!reload.is_empty()));
                }
                Some(()) = reload.recv() => {
                    // Debounce: wait for a quiet moment, then look once.
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep(self.opts.debounce) => break,
                            more = reload.recv() => if more.is_none() { break },
                        }
                    }
                    self.reload_config();
                    self.scan().await;
                    self.generation += 1;
                }
            }
        }
    }

    fn reload_config(&mut self) {
        let Some(seen) = self.opts.config.clone() else {
            return;
        };
        let file = &seen.file;
        // Only a new content is acted on, so one save is one message. Read
        // bounded and type-checked: a FIFO put in the config's place must
        // not hold the host's task (the parse below says what is wrong).
        let text = Config::read_text(file);
        let text_hash = text
            .as_ref()
            .map_or(0, |t| crate::config::text_hash(t.as_bytes()));
        if text_hash == seen.text_hash {
            return;
        }
        let loaded = text
            .and_then(|t| Config::parse_shard(file, &t, self.opts.shard))
            .and_then(|cfg| check_script_names(&cfg, &self.opts.scripts_dir).map(|()| cfg));
        let codecs = match loaded {
            Ok(cfg) => {
                let now = ConfigSeen::of(&cfg).codecs;
                if now != seen.codecs {
                    warn!(
                        "the [[codec]] list changed in {}; restart xmacro to connect to new codecs",
                        file.display()
                    );
                }
                self.opts.scripts = cfg.script;
                now
            }
            Err(e) => {
                error!("config not reloaded, keeping the running one: {e}");
                seen.codecs.clone()
            }
        };
        self.opts.config = Some(ConfigSeen {
            text_hash,
            codecs,
            ..seen
        });
    }

    /// What is under way now (see [`HostHandle::idle`]).
    fn activity(&self, reload_waiting: bool) -> Activity {
        let mut busy = reload_waiting;
        let (mut instances, mut posted) = (0, 0);
        for slot in self.scripts.values().flat_map(|l| &l.slots) {
            match &*slot.instance.lock().unwrap_or_else(|p| p.into_inner()) {
                Some(i) => {
                    let (idle, n) = i.idle();
                    busy |= !idle;
                    instances += 1;
                    posted += n;
                }
                // Not started yet: busy while its codec is coming up.
                None => busy |= !slot.starter.is_finished() && slot.codec_coming(),
            }
        }
        Activity {
            busy,
            mark: (self.generation, instances, posted),
        }
    }

    /// Connects to a codec this host now serves and starts the instances
    /// bound to it.
    fn take_over(&mut self, codec: &str) {
        self.generation += 1;
        let Some(entry) = self.opts.codecs.iter().find(|c| c.name == codec) else {
            return;
        };
        let mut codecs = (*self.codecs).clone();
        codecs.insert(codec.to_string(), Codec::spawn(entry.config.clone()));
        self.set_codecs(codecs);
        let names: Vec<String> = self.scripts.keys().cloned().collect();
        for name in names {
            let Some(program) = self.scripts[&name].program.clone() else {
                continue;
            };
            let slots = self.start_instances(&name, &program, Some(codec));
            if let Some(l) = self.scripts.get_mut(&name) {
                l.slots.extend(slots);
            }
        }
    }

    /// The codecs served from now on, published to the handle.
    fn set_codecs(&mut self, codecs: BTreeMap<String, Codec>) {
        self.codecs = Arc::new(codecs);
        self.codecs_seen.send_replace(self.codecs.clone());
    }

    /// Stops serving a codec another host took: its instances stop, its
    /// connection closes, and its lock is tried again every `lock_retry`
    /// (the codec is this host's by its shard, so it comes back when the
    /// other host lets go).
    async fn let_go(&mut self, codec: &str) {
        self.serving.lost_to_another(codec);
        self.stores.forget_codec(codec);
        let mut stopping = Vec::new();
        for l in self.scripts.values_mut() {
            let (theirs, keep) = std::mem::take(&mut l.slots)
                .into_iter()
                .partition(|s| s.codec_name == codec);
            l.slots = keep;
            stopping.extend(theirs);
        }
        let count = stopping.len();
        stop_slots(stopping).await;
        let mut codecs = (*self.codecs).clone();
        if let Some(c) = codecs.remove(codec) {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.close()).await;
        }
        self.set_codecs(codecs);
        warn!(
            codec = %codec,
            "stopped serving it here ({count} instance(s) stopped): another host holds its lock; trying again every {:?}",
            self.serving.retry
        );
    }

    async fn shutdown(&mut self) {
        let all: Vec<Slot> = std::mem::take(&mut self.scripts)
            .into_values()
            .flat_map(|l| l.slots)
            .collect();
        stop_slots(all).await;
        let closes = self.codecs.values().map(|c| {
            let c = c.clone();
            async move { c.close().await }
        });
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::future::join_all(closes),
        )
        .await;
        info!("stopped");
    }
}
