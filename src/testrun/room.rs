//! One simulated room of a test: an in-process simulator on 127.0.0.1:0,
//! the host's connection to it, the scripts loaded on it (one instance of
//! each, which can be restarted with its store), and what they logged.
//! Acting as the room goes straight to the device's control methods or its
//! model (a person answering a call); the scripts see the effect over
//! their socket, as on a codec.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::script::instance::{Instance, InstanceSpec, Program};
use crate::script::limits::Limits;
use crate::sim::control::{self, Action};
use crate::sim::device::State;
use crate::sim::{Device, DeviceOptions, SimOptions};
use crate::store::{Backend, DEFAULT_QUOTA, InstanceId, Store};
use crate::xows::path::Path;
use crate::xows::protocol::RpcError;
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

/// What a test gives to start a script on a room (the room adds its
/// codec and the script's store).
#[derive(Clone)]
pub struct Launch {
    pub program: Arc<Program>,
    pub args: rhai::Map,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    pub logs: Logs,
    /// Every room of the test by name (`codecs["name"]` in scripts).
    pub codecs: Arc<BTreeMap<String, Codec>>,
}

/// A script loaded on the room.
struct Loaded {
    name: String,
    /// What it was started from, to start it again.
    spec: InstanceSpec,
    instance: Arc<Instance>,
}

/// A running simulated room.
pub struct Room {
    pub name: String,
    device: Arc<Device>,
    pub codec: Codec,
    url: String,
    server: Mutex<Option<oneshot::Sender<()>>>,
    scripts: Mutex<Vec<Loaded>>,
    /// The device's activity after the last round trip (`u64::MAX`: none).
    flushed_at: AtomicU64,
    /// Round trips made to wait for the scripts.
    round_trips: AtomicU64,
    /// What scripts on this room read as `codec.settings`.
    pub settings: rhai::Map,
}

/// Why a room refused what a test asked of it (the test fails with it).
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// No port for the simulator.
    #[error("sim(): cannot listen on 127.0.0.1: {0}")]
    Listen(std::io::Error),
    /// The simulator's address or URL is unusable.
    #[error("sim(): {0}")]
    Address(String),
    /// The room's URL does not make a codec's settings.
    #[error("{0}")]
    Url(crate::xows::ConnectError),
    /// The host could not connect to the simulator.
    #[error("sim(): cannot connect to the simulated room: {0}")]
    Connect(crate::xows::Error),
    /// The device refused a control method or a person's act.
    #[error("{0}")]
    Device(String),
    /// Not a control method a test may call.
    #[error("{0}: not a method a test can call")]
    NotAControl(String),
    /// A recorded feedback document that is no JSON object.
    #[error("a feedback document is a JSON object")]
    NotAnObject,
    /// `room.get` with a path that is none.
    #[error("room.get({path:?}): {why}")]
    Path { path: String, why: String },
    /// The script runs here already.
    #[error(
        "{script} is already running on {room}; use room.restart({script:?}) to start it again"
    )]
    Running { script: String, room: String },
    /// No script of that name was loaded here.
    #[error("no script named {script} was loaded on {room}")]
    NotLoaded { script: String, room: String },
    /// The script's store did not open.
    #[error("its store: {0}")]
    Store(crate::store::StoreError),
}

impl Room {
    /// Starts a simulator and connects the host to it.
    pub async fn start(name: &str, options: DeviceOptions) -> Result<Room, RoomError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(RoomError::Listen)?;
        let addr = listener
            .local_addr()
            .map_err(|e| RoomError::Address(e.to_string()))?;
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
        let mut cfg = CodecConfig::from_url(&url).map_err(|e| RoomError::Address(e.to_string()))?;
        cfg.name = name.to_string();
        let codec = Codec::connect(cfg).await.map_err(RoomError::Connect)?;
        Ok(Room {
            name: name.to_string(),
            device,
            codec,
            url,
            server: Mutex::new(Some(stop)),
            scripts: Mutex::new(Vec::new()),
            flushed_at: AtomicU64::new(u64::MAX),
            round_trips: AtomicU64::new(0),
            settings: rhai::Map::new(),
        })
    }

    fn scripts(&self) -> std::sync::MutexGuard<'_, Vec<Loaded>> {
        self.scripts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a control method (`SetStatus`, `Event`, ...) on the device.
    pub fn control(&self, method: &str, params: Value) -> Result<Value, RoomError> {
        let out = match control::handle(&self.device, method, &params) {
            Action::Reply(r) => {
                r.map_err(|e| RoomError::Device(format!("{method}: {}", e.message)))
            }
            _ => Err(RoomError::NotAControl(method.to_string())),
        };
        self.device.run_deferred();
        out
    }

    /// Acts as a person in the room on the device's model (answering a
    /// call, placing one), then runs what the model deferred.
    pub fn person<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, RpcError>,
    ) -> Result<T, RoomError> {
        let out = f(&mut self.device.lock());
        self.device.run_deferred();
        out.map_err(|e| RoomError::Device(e.message))
    }

    /// Plays one feedback document into the room: Status and
    /// Configuration change the model (with feedback), events are emitted.
    pub fn inject(&self, feedback: &Value) -> Result<(), RoomError> {
        let Value::Object(parts) = feedback else {
            return Err(RoomError::NotAnObject);
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
    pub fn get(&self, path: &str) -> Result<Value, RoomError> {
        let p = Path::parse(path).map_err(|e| RoomError::Path {
            path: path.to_string(),
            why: e.to_string(),
        })?;
        Ok(self.device.lock().get(&p.0).unwrap_or(Value::Null))
    }

    /// Refuses a script that runs here already (one instance per room).
    pub fn can_load(&self, script: &str) -> Result<(), RoomError> {
        if self.scripts().iter().any(|l| l.name == script) {
            return Err(RoomError::Running {
                script: script.to_string(),
                room: self.name.clone(),
            });
        }
        Ok(())
    }

    fn not_loaded(&self, script: &str) -> RoomError {
        RoomError::NotLoaded {
            script: script.to_string(),
            room: self.name.clone(),
        }
    }

    /// Starts a script on this room (from inside the test's runtime),
    /// with its store from `stores`; refused when it runs here already.
    pub fn load(
        &self,
        script: &str,
        launch: Launch,
        stores: Arc<dyn Backend>,
    ) -> Result<(), RoomError> {
        self.can_load(script)?;
        let store = Store::load(InstanceId::new(&self.name, script), stores, DEFAULT_QUOTA)
            .map_err(RoomError::Store)?;
        let spec = self.spec(script, launch, Arc::new(store));
        let instance = Instance::start(&spec);
        self.scripts().push(Loaded {
            name: script.to_string(),
            spec,
            instance,
        });
        Ok(())
    }

    /// How `script` starts on this room (from inside the test's runtime):
    /// its log lines go to the test's log too.
    fn spec(&self, script: &str, launch: Launch, store: Arc<Store>) -> InstanceSpec {
        let logs = launch.logs;
        let who = format!("{}@{}", script, self.name);
        InstanceSpec {
            program: launch.program,
            script: script.to_string(),
            codec_name: self.name.clone(),
            codec: self.codec.clone(),
            codec_url: self.url.clone(),
            codecs: launch.codecs,
            args: launch.args,
            settings: self.settings.clone(),
            store,
            rt: tokio::runtime::Handle::current(),
            clock: launch.clock,
            limits: launch.limits,
            log_sink: Some(Arc::new(move |level: &str, text: &str| {
                logs.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(LogLine {
                        script: who.clone(),
                        level: level.to_ascii_lowercase(),
                        text: text.to_string(),
                    });
            })),
            guard: crate::script::guard::Guard::open(script),
        }
    }

    /// Stops a script (`on_unload` runs) and starts it again with the same
    /// arguments and store, as a restarted codec or a reloaded file would.
    pub async fn restart(&self, script: &str) -> Result<(), RoomError> {
        let (old, spec) = {
            let all = self.scripts();
            let l = all
                .iter()
                .find(|l| l.name == script)
                .ok_or_else(|| self.not_loaded(script))?;
            (l.instance.clone(), l.spec.clone())
        };
        old.stop().await;
        let fresh = Instance::start(&spec);
        if let Some(l) = self.scripts().iter_mut().find(|l| l.name == script) {
            l.instance = fresh;
        }
        Ok(())
    }

    /// What a script stored, key by key.
    pub fn store(&self, script: &str) -> Result<serde_json::Map<String, Value>, RoomError> {
        let all = self.scripts();
        let l = all
            .iter()
            .find(|l| l.name == script)
            .ok_or_else(|| self.not_loaded(script))?;
        let store = &l.spec.store;
        Ok(store
            .keys()
            .into_iter()
            .filter_map(|k| store.get(&k).map(|v| (k, v)))
            .collect())
    }

    /// Whether every script here is idle with no fire-and-forget command
    /// waiting for its answer, and the sum of their job counts.
    pub fn idle(&self) -> (bool, u64) {
        let all = self.scripts();
        all.iter().fold((true, 0), |(all, sum), l| {
            let (idle, n) = l.instance.idle();
            let answered = crate::script::send::in_flight(&l.instance.ctx) == 0;
            (all && idle && answered, sum + n)
        })
    }

    /// Makes sure everything the simulator queued for the host has been
    /// received: a round trip on the host's connection, unless the device
    /// has sent nothing since the last one (a timer that fired and made no
    /// codec call costs no round trip). Whether it made one.
    pub async fn barrier(&self) -> bool {
        if self.device.activity() == self.flushed_at.load(Ordering::SeqCst) {
            return false;
        }
        crate::host::round_trip(&self.codec).await;
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        self.flushed_at
            .store(self.device.activity(), Ordering::SeqCst);
        true
    }

    /// How many round trips [`Room::barrier`] has made.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Commands the scripts sent, in order, with their outcome:
    /// `#{ path, params, result }` or `#{ path, params, error }`.
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
                let mut entry = json!({ "path": path, "params": params });
                if let Some(e) = c.get("Error") {
                    entry["error"] = json!({
                        "code": e.get("code").cloned().unwrap_or(Value::Null),
                        "message": e.get("message").cloned().unwrap_or(Value::Null),
                        "data": e.get("data").cloned().unwrap_or(Value::Null),
                    });
                } else if let Some(r) = c.get("Result") {
                    entry["result"] = r.clone();
                }
                entry
            })
            .collect()
    }

    /// Stops the scripts (`on_unload` runs), the connection and the simulator.
    pub async fn stop(&self) {
        let all = std::mem::take(&mut *self.scripts());
        for l in all {
            l.instance.stop().await;
        }
        self.codec.close().await;
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(s) = server {
            let _ = s.send(());
        }
    }
}

/// Puts the project's panels meant for a room with these tags on it, as
/// `run` would have saved them before the test begins (so they are not
/// among the commands the scripts sent).
pub fn save_panels(
    room: &Room,
    panels: &super::panels::TestPanels,
    tags: &[String],
) -> Result<(), RoomError> {
    let entry = crate::config::CodecEntry {
        name: room.name.clone(),
        tags: tags.to_vec(),
        config: crate::xows::CodecConfig::from_url(&room.url).map_err(RoomError::Url)?,
    };
    let mut st = room.device.lock();
    for p in panels.for_room(&entry) {
        st.panels.insert(p.id.clone(), p.body.clone());
    }
    Ok(())
}
