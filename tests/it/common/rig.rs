//! A host running scripts from a temporary directory against in-process
//! simulators. Scripts report with `report(x)` (a Message Send command the
//! test watches), so every assertion is about behaviour seen on the codec.
//! A test that asserts something did *not* happen waits for the host to be
//! idle ([`Reports::idle`]), or moves a virtual clock ([`advance`]); it
//! never waits a quiet period.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use xmacro::clock::vclock::VirtualClock;
use xmacro::config::{CodecEntry, ScriptConfig};
use xmacro::host::{self, HostHandle, HostOptions};
use xmacro::sim::SimOptions;
use xmacro::xows::CodecConfig;

use super::{Raw, Sim, WAIT, within};

/// Prepended to every test script.
pub const PRELUDE: &str = "fn report(x) { xapi.Command.Message.Send(#{ Text: `${x}` }); }\n";

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("xmacro-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("scripts/lib")).unwrap();
        TempDir(d)
    }
    pub fn scripts(&self) -> PathBuf {
        self.0.join("scripts")
    }
    pub fn state(&self) -> PathBuf {
        self.0.join("state")
    }
    /// Writes a script (the prelude is added to top-level scripts).
    pub fn write(&self, rel: &str, body: &str) {
        let text = if rel.contains('/') {
            body.to_string()
        } else {
            format!("{PRELUDE}{body}")
        };
        let p = self.scripts().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Collected log output of this test binary (every test shares it; filter by
/// names unique to the test).
pub fn logs() -> Arc<Mutex<String>> {
    static BUF: OnceLock<Arc<Mutex<String>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(String::new()));
        let w = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || LogWriter(w.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<String>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().push_str(&String::from_utf8_lossy(b));
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits until a log line contains every needle.
pub async fn wait_log(needles: &[&str]) -> String {
    let buf = logs();
    within(&format!("a log line with {needles:?}"), async {
        loop {
            let found = buf
                .lock()
                .unwrap()
                .lines()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .map(str::to_string);
            if let Some(l) = found {
                return l;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Watches what scripts report on one simulator.
pub struct Reports {
    raw: Raw,
    pub seen: Vec<String>,
}

impl Reports {
    pub async fn new(sim: &Sim) -> Reports {
        let mut raw = Raw::connect(&sim.url()).await;
        raw.subscribe("Event Message Send").await;
        Reports {
            raw,
            seen: Vec::new(),
        }
    }

    /// Records one feedback document's report text.
    fn record(&mut self, f: &Value) {
        let t = f["Event"]["Message"]["Send"]["Text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.seen.push(t);
    }

    /// Waits for the next report (callers bound the wait with `within`).
    pub async fn next(&mut self) {
        let f = self.raw.next_feedback().await;
        self.record(&f);
    }

    /// Waits for a report equal to `text`.
    pub async fn expect(&mut self, text: &str) {
        if self.seen.iter().any(|s| s == text) {
            return;
        }
        let found = tokio::time::timeout(WAIT, async {
            while self.seen.last().map(String::as_str) != Some(text) {
                self.next().await;
            }
        })
        .await;
        assert!(found.is_ok(), "no report {text:?}; seen {:?}", self.seen);
    }

    /// The reports already sent, without waiting for more: a round trip on
    /// this socket brings every report the simulator queued before it.
    /// Returns the new ones.
    pub async fn flush(&mut self) -> Vec<String> {
        let from = self.seen.len();
        self.raw.barrier().await;
        while let Some(f) = self.raw.feedback.pop_front() {
            self.record(&f["params"]);
        }
        self.seen[from..].to_vec()
    }

    /// Waits until `host` is idle (every script done with what it was
    /// given, feedback in flight handled), then returns the reports that
    /// came since the last look: what scripts said in reaction to what the
    /// test did, and nothing more can come without something new.
    pub async fn idle(&mut self, host: &HostHandle) -> Vec<String> {
        let from = self.seen.len();
        within("the host to be idle", host.idle()).await;
        self.flush().await;
        self.seen[from..].to_vec()
    }

    /// The raw client (to drive the simulator).
    pub fn raw(&mut self) -> &mut Raw {
        &mut self.raw
    }
}

/// Moves a virtual clock `ms` ahead, firing what falls due one wait at a
/// time in time order and letting the host settle after each (so a timer
/// set by a callback fires in the same move when it is due).
pub async fn advance(host: &HostHandle, clock: &VirtualClock, ms: u64) {
    let until = clock.elapsed_ms() + ms;
    host.idle().await;
    while clock.fire_next(until) {
        within("the host to be idle", host.idle()).await;
    }
}

/// Emits `Event Sim <name>` with `value` on a simulator.
pub async fn emit(raw: &mut Raw, name: &str, value: Value) {
    raw.ok(
        "xSim/EmitEvent",
        json!({"Path": format!("Event Sim {name}"), "Value": value}),
    )
    .await;
}

/// A codec entry for a simulator.
pub fn codec(name: &str, sim: &Sim) -> CodecEntry {
    let mut config = CodecConfig::from_url(&sim.url()).unwrap();
    config.name = name.into();
    config.request_timeout = Duration::from_secs(2);
    CodecEntry {
        name: name.into(),
        tags: vec![],
        config,
    }
}

/// Host settings for a test: quick debounce.
pub fn options(dir: &TempDir, codecs: Vec<CodecEntry>) -> HostOptions {
    let mut o = HostOptions::new(dir.scripts(), dir.state(), codecs);
    o.debounce = Duration::from_millis(60);
    o
}

pub async fn start(opts: HostOptions) -> HostHandle {
    logs();
    within("the host to start", host::start(opts))
        .await
        .unwrap()
}

pub fn script_config(args: Value, codecs: Option<Vec<&str>>) -> ScriptConfig {
    ScriptConfig {
        codecs: codecs.map(|c| c.into_iter().map(str::to_string).collect()),
        args: toml::Value::try_from(args)
            .unwrap()
            .as_table()
            .cloned()
            .unwrap_or_default(),
        allow: None,
    }
}

pub fn scripts_map(items: Vec<(&str, ScriptConfig)>) -> BTreeMap<String, ScriptConfig> {
    items.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A simulator with default options.
pub async fn sim() -> Sim {
    Sim::start(SimOptions::default()).await
}

/// What `script` on `codec` has stored under `key` in the state directory
/// `state` (read beside a running host), or null.
pub fn stored(state: &Path, codec: &str, script: &str, key: &str) -> Value {
    xmacro::store::read(state, codec, script)
        .ok()
        .and_then(|mut m| m.remove(key))
        .unwrap_or(Value::Null)
}

/// `xmacro run` on `dir`'s scripts and state against `url` (empty password,
/// warnings and errors only, killed when dropped).
pub fn xmacro_run(dir: &TempDir, url: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"));
    run_args(&mut cmd, dir, url);
    cmd
}

/// The arguments and environment of [`xmacro_run`], added to `cmd` (which
/// may start the binary through a wrapper).
pub fn run_args(cmd: &mut tokio::process::Command, dir: &TempDir, url: &str) {
    cmd.arg("run")
        .arg(dir.scripts())
        .args(["--codec", url, "--state"])
        .arg(dir.state())
        .env("XMACRO_PASSWORD", "")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
}

/// [`xmacro_run`] in the background, its log on the test's stderr.
pub fn spawn_run(dir: &TempDir, url: &str) -> tokio::process::Child {
    xmacro_run(dir, url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap()
}
