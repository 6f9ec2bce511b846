//! What an instance is started from ([`InstanceSpec`]): one value the host
//! and the test runner both fill in, so an instance is built the same way,
//! under the same limits, wherever it runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::program::Program;
use crate::clock::Clock;
use crate::script::limits::Limits;
use crate::store::Store;
use crate::xows::Codec;

/// Everything one (script, codec) instance is started from, in one place
/// for the host and the test runner; [`super::Instance::start`] starts it, and
/// starts it again with the same parts (a top level retried, a script a
/// test restarts): fresh callbacks, timers and variables, the same store.
#[derive(Clone)]
pub struct InstanceSpec {
    /// The compiled script ([`crate::script::loader::program`]).
    pub program: Arc<Program>,
    /// The script's name (its file without `.rhai`).
    pub script: String,
    pub codec_name: String,
    pub codec: Codec,
    /// The codec's URL, as the script's `codec.url` shows it.
    pub codec_url: String,
    /// Every codec the script may reach by name (`codecs["name"]`).
    pub codecs: Arc<BTreeMap<String, Codec>>,
    /// The script's `args`.
    pub args: rhai::Map,
    /// The codec's `settings` from the config (what scripts read as
    /// `codec.settings`).
    pub settings: rhai::Map,
    pub store: Arc<Store>,
    /// The runtime its host calls and timers run on.
    pub rt: tokio::runtime::Handle,
    pub clock: Arc<dyn Clock>,
    /// The limits it runs within (the host's and the test runner's alike).
    pub limits: Limits,
    /// Where its log lines also go (`xmacro test` keeps them).
    pub log_sink: Option<LogSink>,
    /// Its `allow` list and audit trail ([`crate::script::guard::Guard::open`]:
    /// everything allowed, nothing recorded).
    pub guard: Arc<crate::script::guard::Guard>,
}

impl InstanceSpec {
    /// For unit tests: `program` as `script` on a codec that never
    /// connects, its store in `dir`, the default limits, no log sink.
    #[cfg(test)]
    pub(crate) fn unconnected(program: Arc<Program>, script: &str, dir: &std::path::Path) -> Self {
        let url = "ws://127.0.0.1:1/ws";
        InstanceSpec {
            program,
            script: script.into(),
            codec_name: "nowhere".into(),
            codec: Codec::spawn(crate::xows::CodecConfig::from_url(url).unwrap()),
            codec_url: url.into(),
            codecs: Arc::new(BTreeMap::new()),
            args: rhai::Map::new(),
            settings: rhai::Map::new(),
            guard: crate::script::guard::Guard::open(script),
            store: Arc::new(Store::open(dir, "nowhere", script).unwrap()),
            rt: tokio::runtime::Handle::current(),
            clock: Arc::new(crate::clock::SystemClock),
            limits: Limits::default(),
            log_sink: None,
        }
    }

    /// The span the instance's log lines carry (see [`super::context::InstanceCtx::span`]).
    pub fn span(&self) -> tracing::Span {
        span(&self.codec_name, &self.script)
    }
}

/// Receives an instance's log lines: level ("info", "warn", "error"), text.
pub type LogSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// The root span of the instance of `script` on `codec` (see
/// [`super::context::InstanceCtx::span`]).
pub fn span(codec: &str, script: &str) -> tracing::Span {
    tracing::info_span!(parent: None, "script", codec = %codec, script = %script)
}
