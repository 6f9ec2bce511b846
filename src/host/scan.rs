//! Loading scripts: compare the scripts directory with what runs (by a
//! hash of each script, the libraries it imports and its config), compile
//! what changed, and swap a new version in only once it compiled.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{error, info, warn};

use super::slots::stop_slots;
use super::{Host, Loaded, Running, rhai_map};
use crate::config::Selector;
use crate::rollout::Snapshot;
use crate::script::files::list_scripts;
use crate::script::loader;

impl Host {
    fn fingerprint(&self, name: &str, file: &Path, deps: &BTreeSet<PathBuf>) -> Option<u64> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(file).ok()?.hash(&mut h);
        for d in deps {
            d.hash(&mut h);
            std::fs::read(d).unwrap_or_default().hash(&mut h);
        }
        if let Some(cfg) = self.opts.scripts.get(name) {
            cfg.codecs.hash(&mut h);
            cfg.args.to_string().hash(&mut h);
            cfg.allow.as_ref().map(|a| a.describe()).hash(&mut h);
        }
        Some(h.finish())
    }

    /// Compares the directory with what runs and brings them in line.
    pub(super) async fn scan(&mut self) {
        let found = match list_scripts(&self.opts.scripts_dir) {
            Ok(mut f) => {
                if let Some(only) = &self.opts.only {
                    f.retain(|name, _| name == only);
                }
                f
            }
            Err(e) => {
                error!(
                    "cannot read the scripts directory {}: {e}",
                    self.opts.scripts_dir.display()
                );
                return;
            }
        };
        let gone: Vec<String> = self
            .scripts
            .keys()
            .filter(|k| !found.contains_key(*k))
            .cloned()
            .collect();
        for name in gone {
            if let Some(old) = self.scripts.remove(&name) {
                stop_slots(old.slots).await;
                crate::telemetry::board().removed(&name);
                info!(script = %name, "stopped: its file was removed");
            }
        }
        for (name, file) in found {
            if self.opts.cancel_start.is_cancelled() {
                info!("asked to stop: the remaining scripts are not loaded");
                return;
            }
            let path = self.opts.scripts_dir.join(&file);
            let old_deps = self
                .scripts
                .get(&name)
                .map(|l| l.deps.clone())
                .unwrap_or_default();
            let Some(fp) = self.fingerprint(&name, &path, &old_deps) else {
                continue; // vanished between listing and reading
            };
            if self.scripts.get(&name).is_some_and(|l| l.fingerprint == fp) {
                continue;
            }
            self.load(&name, &file).await;
        }
    }

    async fn load(&mut self, name: &str, file: &str) {
        let compiled = {
            let engine = self.engine.clone();
            let root = self.opts.scripts_dir.clone();
            let file = file.to_string();
            tokio::task::spawn_blocking(move || loader::program(&engine, &root, &file))
                .await
                .unwrap_or_else(|e| {
                    Err(loader::CompileError {
                        message: format!("compiler panicked: {e}"),
                        at: None,
                        import: None,
                    })
                })
        };
        let path = self.opts.scripts_dir.join(file);
        let reloading = self.scripts.contains_key(name);
        let compiled = match compiled {
            Ok(c) => c,
            Err(e) => {
                crate::telemetry::board().compile_failed(name, file, &e.message);
                if reloading && self.staged.is_some() {
                    self.staged_compile_failed(name, file, &e.message).await;
                }
                if reloading {
                    error!(script = %name, "compile error, the running version stays: {}", e.message);
                    // Remember this content so the same broken save is reported once.
                    if let Some(fp) =
                        self.fingerprint(name, &path, &self.scripts[name].deps.clone())
                        && let Some(l) = self.scripts.get_mut(name)
                    {
                        l.fingerprint = fp;
                    }
                } else {
                    error!(script = %name, "compile error, not started: {}", e.message);
                    let fp = self.fingerprint(name, &path, &BTreeSet::new()).unwrap_or(0);
                    self.scripts.insert(
                        name.to_string(),
                        Loaded {
                            program: None,
                            fingerprint: fp,
                            deps: BTreeSet::new(),
                            slots: Vec::new(),
                        },
                    );
                }
                return;
            }
        };
        let fingerprint = self.fingerprint(name, &path, &compiled.deps).unwrap_or(0);
        let config = self.opts.scripts.get(name).cloned().unwrap_or_default();
        let snapshot = Snapshot {
            file: file.to_string(),
            source: compiled.source.clone(),
            libraries: compiled.libraries.clone(),
            args: Snapshot::args_text(&config.args),
            codecs: config.codecs.clone(),
            extra: config
                .allow
                .as_ref()
                .map(|a| ("allow".to_string(), a.describe()))
                .into_iter()
                .collect(),
        };
        let version = snapshot.version();
        let running = Arc::new(Running {
            version,
            program: compiled.program,
            args: rhai_map(&config.args),
            codecs: config.codecs,
            guard: self.guard(name, version),
        });
        let old = self.scripts.remove(name);
        if self.staged.is_some() {
            crate::telemetry::board().loaded(name, file, running.version, &self.targets(name));
            // What each codec runs is the rollout's to say.
            self.scripts.insert(
                name.to_string(),
                Loaded {
                    program: Some(running.clone()),
                    fingerprint,
                    deps: compiled.deps,
                    slots: old.map(|o| o.slots).unwrap_or_default(),
                },
            );
            self.staged_saved(name, snapshot, running).await;
            return;
        }
        // Old subscriptions and timers go before the new version starts.
        let mut previous = BTreeMap::new();
        if let Some(old) = old {
            for slot in &old.slots {
                previous.insert(slot.codec_name.clone(), slot.running.clone());
            }
            stop_slots(old.slots).await;
        }
        crate::telemetry::board().loaded(name, file, running.version, &self.targets(name));
        let slots = self.start_instances(name, &running, None, &previous);
        // Each instance logs "started" once its codec is connected: one line
        // per script and codec. A reload, or a script bound to no codec, is
        // worth a line of its own.
        if reloading {
            info!(script = %name, "reloaded; {} instance(s) restart", slots.len());
        } else if slots.is_empty() && self.targets(name).is_empty() {
            warn!(script = %name, "loaded, but bound to no codec: not running");
        } else if slots.is_empty() {
            warn!(script = %name, "loaded, but started on none of its codecs (see the errors above)");
        } else {
            tracing::debug!(
                script = %name,
                "compiled; {} instance(s) start as their codecs connect",
                slots.len()
            );
        }
        self.scripts.insert(
            name.to_string(),
            Loaded {
                program: Some(running),
                fingerprint,
                deps: compiled.deps,
                slots,
            },
        );
    }

    pub(super) fn targets(&self, name: &str) -> Vec<String> {
        let selectors = self.opts.scripts.get(name).and_then(|s| s.codecs.clone());
        self.targets_of(&selectors)
    }

    /// The codecs served here that `selectors` pick (all when `None`).
    pub(super) fn targets_of(&self, selectors: &Option<Vec<String>>) -> Vec<String> {
        self.opts
            .codecs
            .iter()
            .filter(|c| self.serving.serves(&c.name))
            .filter(|c| match selectors {
                None => true,
                Some(sel) => sel.iter().any(|s| Selector::parse(s).picks(c)),
            })
            .map(|c| c.name.clone())
            .collect()
    }
}
