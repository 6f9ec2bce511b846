//! The one simulated device that every session talks to: its documents, the
//! sessions with their feedback subscriptions, boot phases, and the xAPI
//! methods (xGet, xQuery, xSet, xFeedback/*, xCommand/*).
//!
//! All state sits behind one mutex with short critical sections; a change
//! is cut down per subscription and queued to each session's writer without
//! ever waiting on a socket.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{builtin, query, status, xdoc};

mod methods;
pub mod model;
use crate::clock::Clock;
use crate::schema::{ParamError, Schema, check_params, with_defaults};
use crate::xows::doc;
use crate::xows::path::{Path, Segment};
use crate::xows::protocol::{RpcError, ServerRequest, code, feedback_text, method};

/// How many frames may wait for one session's writer before the session is
/// treated as stuck and dropped (a codec drops slow consumers too).
pub const SESSION_QUEUE: usize = 8192;
const COMMAND_LOG: usize = 1000;
/// Upgrade attempts kept for `xSim/Inspect` (8 bytes each).
pub const MAX_UPGRADES_KEPT: usize = 100_000;

/// Settings of the device itself.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// The public schema of the product, when given; else the built-in model.
    pub schema: Option<Arc<Schema>>,
    /// Feedback subscriptions one session may hold (then -31998).
    pub max_subscriptions: usize,
    /// `SystemUnit Boot`: how long upgrades answer 502, then requests -31997.
    pub boot_down: Duration,
    pub boot_not_ready: Duration,
    /// What automatic standby counts down on: the machine's clock, or the
    /// virtual one of `xmacro test`.
    pub clock: Arc<dyn Clock>,
    /// An HttpClient request no `xSim/HttpResponse` answers fails as on a
    /// device without network (`xmacro test`: a forgotten answer must not
    /// make a test green), instead of answering 200 with an empty body.
    pub http_unscripted_fails: bool,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            schema: None,
            max_subscriptions: 50,
            boot_down: Duration::from_secs(3),
            boot_not_ready: Duration::from_secs(2),
            clock: Arc::new(crate::clock::SystemClock),
            http_unscripted_fails: false,
        }
    }
}

/// A session's link to its writer.
pub(crate) struct SessionSlot {
    pub tx: mpsc::Sender<Message>,
    pub cancel: CancellationToken,
    pub legacy: bool,
    subs: Vec<(u64, Path)>,
    next_sub: u64,
}

/// A refusal configured by `xSim/Refuse`.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub method_prefix: String,
    pub error: RpcError,
    pub remaining: Option<u64>,
}

/// Everything behind the device's lock.
pub struct State {
    /// `{"Status": {...}, "Configuration": {...}}`.
    pub doc: Value,
    pub(crate) sessions: HashMap<u64, SessionSlot>,
    next_session: u64,
    pub(crate) next_call_id: u64,
    pub(crate) command_log: VecDeque<Value>,
    /// Requests received, by method (`xCommand` for every command), so a
    /// test can tell that a read never reached the device.
    pub(crate) requests: BTreeMap<String, u64>,
    pub(crate) panels: BTreeMap<String, String>,
    pub(crate) down_until: Option<Instant>,
    pub(crate) not_ready_until: Option<Instant>,
    pub(crate) frozen_until: Option<Instant>,
    pub(crate) delay: Duration,
    pub(crate) refusals: Vec<Refusal>,
    pub(crate) max_subscriptions: usize,
    /// A reboot asked for by the request being answered; it starts once the
    /// answer is on its way, as a codec answers `SystemUnit Boot` first.
    pub(crate) pending_reboot: Option<(Duration, Duration)>,
    /// Upgrades refused for wrong credentials.
    pub(crate) auth_failures: u64,
    /// `user:password` the upgrade accepts (changeable, as on a codec).
    pub(crate) credentials: String,
    /// Close codes clients sent (the last 100).
    pub(crate) closes: VecDeque<u16>,
    /// When upgrade attempts arrived (Unix ms, the last 10,000).
    pub(crate) upgrades: VecDeque<u64>,
    booted: Instant,
    /// The room beyond the Status document (calls, UI, HTTP, bookings).
    pub(crate) room: model::Room,
    /// The Status document after a boot.
    initial_status: Arc<Value>,
    /// Commands logged so far (the log keeps the last 1000).
    commands_logged: u64,
    /// See [`Device::activity`].
    activity: u64,
}

/// The simulated device.
pub struct Device {
    state: Mutex<State>,
    pub(crate) schema: Arc<Schema>,
    pub(crate) options: DeviceOptions,
}

/// The answer to one request plus frames to send right after it.
pub struct Reply {
    pub result: Result<Value, RpcError>,
    pub after: Vec<String>,
}

impl From<Result<Value, RpcError>> for Reply {
    fn from(result: Result<Value, RpcError>) -> Self {
        Reply {
            result,
            after: Vec::new(),
        }
    }
}

impl Device {
    /// A factory-new device.
    pub fn new(options: DeviceOptions) -> Arc<Device> {
        let builtin = Arc::new(builtin::schema());
        let mut config = builtin.default_configuration();
        let schema = options.schema.clone().unwrap_or(builtin);
        doc::merge(&mut config, &schema.default_configuration());
        let volume = config["Audio"]["DefaultVolume"].as_i64().unwrap_or(50);
        let now = options.clock.utc();
        let (bookings, booking_status) = model::bookings::initial(now);
        let mut template = match &options.schema {
            Some(product) => status::template(product),
            None => json!({}),
        };
        status::overlay(&mut template, &builtin::status_shape());
        let mut initial = template.clone();
        status::overlay(&mut initial, &builtin::initial_status(volume));
        status::overlay(&mut initial, &json!({ "Bookings": booking_status }));
        let room = model::Room {
            template,
            bookings,
            clock: Some(options.clock.clone()),
            http_unscripted_fails: options.http_unscripted_fails,
            ..Default::default()
        };
        let state = State {
            room,
            initial_status: Arc::new(initial.clone()),
            doc: json!({ "Status": initial, "Configuration": config }),
            sessions: HashMap::new(),
            next_session: 1,
            next_call_id: 1,
            command_log: VecDeque::new(),
            requests: BTreeMap::new(),
            panels: BTreeMap::new(),
            down_until: None,
            not_ready_until: None,
            frozen_until: None,
            delay: Duration::ZERO,
            refusals: Vec::new(),
            max_subscriptions: options.max_subscriptions,
            pending_reboot: None,
            auth_failures: 0,
            credentials: String::new(),
            closes: VecDeque::new(),
            upgrades: VecDeque::new(),
            booted: Instant::now(),
            commands_logged: 0,
            activity: 0,
        };
        Arc::new(Device {
            state: Mutex::new(state),
            schema,
            options,
        })
    }

    /// Runs the model's work that waits for an answer to be sent.
    pub fn run_deferred(&self) {
        model::run_deferred(&mut self.lock());
    }

    /// The device's lock (poisoning is ignored: the state stays usable).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes an upgrade attempt (the last [`MAX_UPGRADES_KEPT`] are kept,
    /// enough to follow a fleet of 10,000 codecs coming back twice over);
    /// tells whether upgrades are refused with
    /// 502 (the device is booting).
    pub fn upgrade_attempt(&self) -> bool {
        let mut st = self.lock();
        if st.upgrades.len() == MAX_UPGRADES_KEPT {
            st.upgrades.pop_front();
        }
        st.upgrades.push_back(crate::clock::now_us() / 1000);
        st.down_until.is_some_and(|t| Instant::now() < t)
    }

    /// Registers a session; its writer reads `rx`.
    pub(crate) fn attach(&self, legacy: bool) -> (u64, mpsc::Receiver<Message>, CancellationToken) {
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        let cancel = CancellationToken::new();
        let mut st = self.lock();
        let id = st.next_session;
        st.next_session += 1;
        st.sessions.insert(
            id,
            SessionSlot {
                tx,
                cancel: cancel.clone(),
                legacy,
                subs: Vec::new(),
                next_sub: 0,
            },
        );
        (id, rx, cancel)
    }

    /// Feedback subscriptions across all sessions.
    pub fn subscription_count(&self) -> usize {
        self.lock().sessions.values().map(|s| s.subs.len()).sum()
    }

    pub(crate) fn detach(&self, session: u64) {
        self.lock().sessions.remove(&session);
    }

    /// Handles one xAPI request of `session`.
    pub fn handle(&self, session: u64, req: &ServerRequest) -> Reply {
        let mut st = self.lock();
        st.activity += 1;
        let counted = if req.method.starts_with(method::COMMAND_PREFIX) {
            "xCommand".to_string()
        } else {
            match Path::from_json(&req.params["Path"]) {
                Ok(p) => format!("{} {p}", req.method),
                Err(_) => req.method.clone(),
            }
        };
        if let Some(n) = st.requests.get_mut(&counted) {
            *n += 1;
        } else if st.requests.len() < 256 {
            st.requests.insert(counted, 1);
        }
        let logged = st.commands_logged;
        let mut reply = self.answer(&mut st, session, req);
        if let Some(cmd) = req.method.strip_prefix(method::COMMAND_PREFIX) {
            st.log_outcome(session, cmd, &req.params, logged, &reply.result);
        }
        let legacy = st.sessions.get(&session).is_some_and(|s| s.legacy);
        let bookkeeping = req.method.starts_with("xFeedback/");
        if legacy
            && !bookkeeping
            && let Ok(v) = &mut reply.result
        {
            doc::stringify(v);
        }
        reply
    }

    /// Requests answered plus feedback frames queued, since the start:
    /// while it stays the same, the device has sent no session anything new.
    pub fn activity(&self) -> u64 {
        self.lock().activity
    }

    fn answer(&self, st: &mut State, session: u64, req: &ServerRequest) -> Reply {
        if st.not_ready_until.is_some_and(|t| Instant::now() < t) {
            return Err(RpcError::not_ready()).into();
        }
        if let Some(err) = st.refusal_for(&req.method) {
            return Err(err).into();
        }
        match req.method.as_str() {
            method::GET => st.x_get(&req.params).into(),
            method::QUERY => st.x_query(&req.params).into(),
            method::SET => st.x_set(&self.schema, &req.params).into(),
            method::SUBSCRIBE => st.subscribe(session, &req.params),
            method::UNSUBSCRIBE => st.unsubscribe(session, &req.params).into(),
            "xDoc" => xdoc::answer(&self.schema, &req.params).into(),
            m => match m.strip_prefix(method::COMMAND_PREFIX) {
                Some(cmd) => self.command(st, session, cmd, &req.params).into(),
                None => Err(RpcError::method_not_found()).into(),
            },
        }
    }

    fn command(
        &self,
        st: &mut State,
        session: u64,
        name: &str,
        params: &Value,
    ) -> Result<Value, RpcError> {
        let path = Path::parse(name).map_err(|_| RpcError::method_not_found())?;
        let (spec, _multiline) = self
            .schema
            .command(&path)
            .map_err(|_| RpcError::method_not_found())?;
        let empty = Map::new();
        let args = match params {
            Value::Object(m) => m,
            Value::Null => &empty,
            _ => {
                return Err(bad_usage(
                    "Missing or invalid parameter(s).",
                    "params must be an object",
                ));
            }
        };
        let args = check_params(spec, args).map_err(|e| match &e {
            ParamError::Missing(_) => bad_usage("Missing or invalid parameter(s).", e.to_string()),
            ParamError::Unknown { name, .. } | ParamError::BadValue { name, .. } => bad_usage(
                &format!("Bad argument to parameter \"{name}\"."),
                e.to_string(),
            ),
        })?;
        let name = path.to_string();
        st.log_command(session, &name, &args);
        model::execute(st, self, &name, &with_defaults(spec, &args))
    }
}

/// The error a codec gives for bad command arguments.
pub fn bad_usage(message: &str, detail: impl Into<String>) -> RpcError {
    RpcError::new(code::INVALID_PARAMS, format!("Bad usage: {message}")).with_data(detail.into())
}

fn path_param(params: &Value, key: &str) -> Result<Path, RpcError> {
    let raw = params
        .get(key)
        .ok_or_else(|| RpcError::invalid_params(format!("missing {key}")))?;
    Path::from_json(raw).map_err(|e| RpcError::invalid_params(format!("{key}: {e}")))
}

fn no_match(path: &Path) -> RpcError {
    RpcError::new(code::METHOD_NOT_FOUND, "No match on Path argument").with_data(path.to_string())
}

impl State {
    /// The value at a concrete path.
    pub fn get(&self, path: &[Segment]) -> Option<Value> {
        doc::get(&self.doc, path)
    }

    /// Sets a value (a leaf or a sub-document) and sends feedback for what
    /// changed.
    pub fn set(&mut self, path: &[Segment], value: Value) {
        if let Some(change) = doc::merge(&mut self.doc, &doc::wrap(path, value)) {
            self.publish(&change);
        }
    }

    /// Removes an array element and announces its ghost.
    pub fn remove(&mut self, path: &[Segment]) -> bool {
        match doc::remove_element(&mut self.doc, path) {
            Some(ghost) => {
                self.publish(&ghost);
                true
            }
            None => false,
        }
    }

    /// Emits an event at `path` (which starts with `Event`).
    pub fn emit(&mut self, path: &[Segment], payload: Value) {
        self.publish(&doc::wrap(path, payload));
    }

    /// Queues a change to every matching subscription of every session,
    /// one message per subscription. A session whose queue is full is
    /// dropped rather than waited for.
    pub fn publish(&mut self, change: &Value) {
        for frame in self.frames_for(change) {
            self.activity += 1;
            if frame.0.try_send(Message::text(frame.1)).is_err() {
                tracing::warn!("simulator: a session's queue is full; dropping that session");
                frame.2.cancel();
            }
        }
    }

    /// The frames a change produces, with each session's queue and handle.
    pub(crate) fn frames_for(
        &self,
        change: &Value,
    ) -> Vec<(mpsc::Sender<Message>, String, CancellationToken)> {
        let mut out = Vec::new();
        for slot in self.sessions.values() {
            for (id, q) in &slot.subs {
                if let Some(Value::Object(mut part)) = query::select(change, &q.0) {
                    if slot.legacy {
                        part.values_mut().for_each(doc::stringify);
                    }
                    out.push((
                        slot.tx.clone(),
                        feedback_text(*id, &part),
                        slot.cancel.clone(),
                    ));
                }
            }
        }
        out
    }

    /// Starts a reboot: every session is cut, upgrades answer 502 for
    /// `down`, then requests answer -31997 for `not_ready`; the Status
    /// document starts afresh (configuration survives, as on a codec).
    pub fn reboot(&mut self, down: Duration, not_ready: Duration) {
        for slot in self.sessions.values() {
            slot.cancel.cancel();
        }
        self.sessions.clear();
        let now = Instant::now();
        self.down_until = Some(now + down);
        self.not_ready_until = Some(now + down + not_ready);
        let volume = self
            .doc
            .pointer("/Configuration/Audio/DefaultVolume")
            .and_then(Value::as_i64)
            .unwrap_or(50);
        let mut status = (*self.initial_status).clone();
        status::overlay(&mut status, &builtin::initial_status(volume));
        self.doc["Status"] = status;
        self.room.call_started.clear();
        self.room.webviews.clear();
        model::standby::activity(self);
        self.booted = now + down;
    }
}
