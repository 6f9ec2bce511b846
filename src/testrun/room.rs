//! One simulated room of a test: an in-process simulator on 127.0.0.1:0,
//! the host's connection to it, the scripts loaded on it, and what they
//! logged. Acting as the room goes straight to the device's control
//! methods; the scripts see the effect over their socket, as on a codec.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::script::instance::{Instance, InstanceCtx, Limits, Program};
use crate::sim::control::{self, Action};
use crate::sim::{Device, DeviceOptions, SimOptions};
use crate::store::{Backend, DEFAULT_QUOTA, InstanceId, Store};
use crate::xows::path::Path;
use crate::xows::{Codec, CodecConfig};

/// A line a script under test logged.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub script: String,
    pub level: String,
    pub text: String,
}

/// Shared log of a test (every room's scripts, in order).
pub type Logs = Arc<Mutex<Vec<LogLine>>>;

/// A running simulated room.
pub struct Room {
    pub name: String,
    device: Arc<Device>,
    pub codec: Codec,
    url: String,
    server: Mutex<Option<oneshot::Sender<()>>>,
    instances: Mutex<Vec<Arc<Instance>>>,
}

impl Room {
    /// Starts a simulator and connects the host to it.
    pub async fn start(name: &str, options: DeviceOptions) -> Result<Room, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("sim(): cannot listen on 127.0.0.1: {e}"))?;
        let addr = listener.local_addr().map_err(|e| format!("sim(): {e}"))?;
        let device = Device::new(options.clone());
        let sim = SimOptions {
            device: options,
            ..SimOptions::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(crate::sim::serve(listener, device.clone(), sim, async {
            let _ = stopped.await;
        }));
        let url = format!("ws://{addr}/ws");
        let mut cfg = CodecConfig::from_url(&url).map_err(|e| format!("sim(): {e}"))?;
        cfg.name = name.to_string();
        let codec = Codec::connect(cfg)
            .await
            .map_err(|e| format!("sim(): cannot connect to the simulated room: {e}"))?;
        Ok(Room {
            name: name.to_string(),
            device,
            codec,
            url,
            server: Mutex::new(Some(stop)),
            instances: Mutex::new(Vec::new()),
        })
    }

    /// Runs a control method (`SetStatus`, `Event`, ...) on the device.
    pub fn control(&self, method: &str, params: Value) -> Result<Value, String> {
        let out = match control::handle(&self.device, method, &params) {
            Action::Reply(r) => r.map_err(|e| format!("{method}: {}", e.message)),
            _ => Err(format!("{method}: not a method a test can call")),
        };
        self.device.run_deferred();
        out
    }

    /// Plays one feedback document into the room: Status and
    /// Configuration change the model (with feedback), events are emitted.
    pub fn inject(&self, feedback: &Value) -> Result<(), String> {
        let Value::Object(parts) = feedback else {
            return Err("a feedback document is a JSON object".into());
        };
        {
            let mut st = self.device.lock();
            for (root, v) in parts {
                match root.as_str() {
                    "Event" => st.publish(&json!({ "Event": v })),
                    "Status" | "Configuration" => st.set(&[], json!({ root: v })),
                    _ => {} // the subscription id and such
                }
            }
        }
        self.device.run_deferred();
        Ok(())
    }

    /// A value from the device's model (`"Status Audio Volume"`).
    pub fn get(&self, path: &str) -> Result<Value, String> {
        let p = Path::parse(path).map_err(|e| format!("room.get({path:?}): {e}"))?;
        Ok(self.device.lock().get(&p.0).unwrap_or(Value::Null))
    }

    /// Starts a script on this room.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        &self,
        script: &str,
        program: Arc<Program>,
        args: rhai::Map,
        clock: Arc<dyn Clock>,
        stores: Arc<dyn Backend>,
        limits: Limits,
        logs: &Logs,
        codecs: Arc<BTreeMap<String, Codec>>,
    ) -> Result<(), String> {
        let store = Store::load(InstanceId::new(&self.name, script), stores, DEFAULT_QUOTA)
            .map_err(|e| format!("room.load({script:?}): its store: {e}"))?;
        let ctx = InstanceCtx::new(
            script.to_string(),
            self.name.clone(),
            self.codec.clone(),
            self.url.clone(),
            codecs,
            args,
            Arc::new(store),
            tokio::runtime::Handle::current(),
            clock,
            limits,
        );
        let logs = logs.clone();
        let who = format!("{}@{}", script, self.name);
        ctx.set_log_sink(Arc::new(move |level: &str, text: &str| {
            logs.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(LogLine {
                    script: who.clone(),
                    level: level.to_ascii_lowercase(),
                    text: text.to_string(),
                });
        }));
        let inst = Instance::start(ctx, program);
        self.instances
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(inst);
        Ok(())
    }

    /// Whether every script here is idle, and the sum of their job counts.
    pub fn idle(&self) -> (bool, u64) {
        let all = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().fold((true, 0), |(all, sum), i| {
            let (idle, n) = i.idle();
            (all && idle, sum + n)
        })
    }

    /// A round trip on the host's connection: when it returns, everything
    /// the simulator queued for the host before it has been received.
    pub async fn barrier(&self) {
        crate::host::round_trip(&self.codec).await;
    }

    /// Commands the scripts sent, in order: `#{ path, params }`.
    pub fn commands(&self) -> Vec<Value> {
        let log = self.control("Inspect", json!({})).unwrap_or_default();
        log.get("Commands")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let path = c
                    .get("Path")
                    .or_else(|| c.get("Command"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let path = match path {
                    Value::Array(words) => Value::String(
                        words
                            .iter()
                            .map(|w| match w {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    other => other,
                };
                let params = c
                    .get("Params")
                    .or_else(|| c.get("Arguments"))
                    .cloned()
                    .unwrap_or(json!({}));
                json!({ "path": path, "params": params })
            })
            .collect()
    }

    /// Stops the scripts (`on_unload` runs), the connection and the simulator.
    pub async fn stop(&self) {
        let all = std::mem::take(&mut *self.instances.lock().unwrap_or_else(|p| p.into_inner()));
        for i in all {
            i.stop().await;
        }
        self.codec.close().await;
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(s) = server {
            let _ = s.send(());
        }
    }
}
