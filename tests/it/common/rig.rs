//! A host running scripts from a temporary directory against in-process
//! simulators. Scripts report with `report(x)` (a Message Send command the
//! test watches), so every assertion is about behaviour seen on the codec.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
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

    async fn pull(&mut self, wait: Duration) -> bool {
        let next = tokio::time::timeout(wait, self.raw.next_feedback()).await;
        match next {
            Ok(f) => {
                let t = f["Event"]["Message"]["Send"]["Text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                self.seen.push(t);
                true
            }
            Err(_) => false,
        }
    }

    /// Waits for a report equal to `text`.
    pub async fn expect(&mut self, text: &str) {
        if self.seen.iter().any(|s| s == text) {
            return;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::time::Instant::now() < deadline {
            if self.pull(Duration::from_millis(100)).await && self.seen.last().unwrap() == text {
                return;
            }
        }
        panic!("no report {text:?}; seen {:?}", self.seen);
    }

    /// Collects reports until none came for `quiet` (or for at most ten
    /// times that, when something keeps reporting) and returns the new ones.
    pub async fn settle(&mut self, quiet: Duration) -> Vec<String> {
        let from = self.seen.len();
        let cap = tokio::time::Instant::now() + quiet * 10;
        while tokio::time::Instant::now() < cap && self.pull(quiet).await {}
        self.seen[from..].to_vec()
    }

    /// The raw client (to drive the simulator).
    pub fn raw(&mut self) -> &mut Raw {
        &mut self.raw
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
    cmd.arg("run")
        .arg(dir.scripts())
        .args(["--codec", url, "--state"])
        .arg(dir.state())
        .env("XMACRO_PASSWORD", "")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// [`xmacro_run`] in the background, its log on the test's stderr.
pub fn spawn_run(dir: &TempDir, url: &str) -> tokio::process::Child {
    xmacro_run(dir, url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap()
}
