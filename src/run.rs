//! `xmacro run` and `xmacro check`: resolve the scripts directory, codecs
//! and settings from flags and config, then hand over to the host (or the
//! checker). `--sim` starts a simulated codec in this process and drives
//! gentle demo activity on it, so the bundled scripts visibly react.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use tracing::info;

use crate::app::{AppError, shutdown_signal};
use crate::cli::{CheckArgs, RunArgs};
use crate::config::{CodecEntry, Config};
use crate::host::{self, HostOptions};
use crate::schema::Schema;
use crate::xows::path::Path as XPath;
use crate::xows::protocol::Call;
use crate::xows::tls::parse_pin;
use crate::xows::{Codec, CodecConfig, Password, TlsMode};
use crate::{check, sim};

pub async fn run(args: RunArgs) -> Result<(), AppError> {
    let config = match &args.config {
        Some(f) => Some(Config::load(f).map_err(|e| AppError::Usage(e.to_string()))?),
        None => None,
    };
    let scripts_dir = args
        .dir
        .clone()
        .or_else(|| config.as_ref().map(|c| c.scripts.clone()))
        .unwrap_or_else(|| PathBuf::from("scripts"));
    let state_dir = args
        .state
        .clone()
        .or_else(|| config.as_ref().map(|c| c.state.clone()))
        .unwrap_or_else(|| PathBuf::from(".xmacro/state"));
    let mut codecs: Vec<CodecEntry> = config
        .as_ref()
        .map(|c| c.codecs.clone())
        .unwrap_or_default();
    for url in &args.codecs {
        let mut cfg = CodecConfig::from_url(url).map_err(|e| AppError::Usage(e.to_string()))?;
        if let Some(p) = &args.password {
            cfg.password = Password(p.clone());
        }
        if let Some(fp) = &args.fingerprint {
            cfg.tls = TlsMode::Pin(parse_pin(fp).map_err(AppError::Usage)?);
        } else if args.insecure {
            cfg.tls = TlsMode::Insecure;
        }
        let name = match cfg.url.port() {
            Some(p) => format!("{}:{p}", cfg.name),
            None => cfg.name.clone(),
        };
        cfg.name = name.clone();
        codecs.push(CodecEntry {
            name,
            tags: Vec::new(),
            config: cfg,
        });
    }
    let mut demo = None;
    if args.sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| AppError::Failed(format!("starting the simulator: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| AppError::Failed(e.to_string()))?;
        tokio::spawn(sim::run(
            listener,
            sim::SimOptions::default(),
            std::future::pending(),
        ));
        let url = format!("ws://{addr}/ws");
        info!("simulated codec \"sim\" on {url} (user admin, empty password)");
        let mut cfg = CodecConfig::from_url(&url).map_err(|e| AppError::Failed(e.to_string()))?;
        cfg.name = "sim".into();
        demo = Some(cfg.clone());
        codecs.push(CodecEntry {
            name: "sim".into(),
            tags: vec!["sim".into()],
            config: cfg,
        });
    }
    if codecs.is_empty() {
        return Err(AppError::Usage(
            "no codec to run against: give --codec URL, --config FILE with [[codec]] tables, or --sim".into(),
        ));
    }
    let mut names = std::collections::HashSet::new();
    for c in &codecs {
        if !names.insert(c.name.clone()) {
            return Err(AppError::Usage(format!(
                "codec name {:?} is used twice",
                c.name
            )));
        }
    }
    let http = crate::ops::command::http_options(
        args.http,
        args.http_token_file.clone(),
        config.as_ref().map(|c| &c.http),
        args.sim,
    )?;
    let ops = match http {
        Some(h) => Some(crate::ops::command::start_server(h).await?),
        None => None,
    };
    let mut opts = HostOptions::new(scripts_dir, state_dir, codecs);
    if let Some(cfg) = config {
        opts.scripts = cfg.script;
        opts.config_file = Some(cfg.file);
    }
    let (entries, state) = (opts.codecs.clone(), opts.state_dir.clone());
    let demo_task = demo.map(|cfg| tokio::spawn(demo_activity(cfg)));
    let result = match host::start(opts).await {
        Ok(handle) => {
            if let Some(ops) = &ops {
                ops.attach(handle.codecs(), &entries, &state);
            }
            shutdown_signal().await;
            info!("shutting down");
            handle.shutdown().await;
            Ok(())
        }
        Err(e) => Err(AppError::Usage(e.to_string())),
    };
    if let Some(t) = demo_task {
        t.abort();
    }
    result
}

/// Every few seconds, something a room would see: volume changes, a widget
/// click, a call that connects and ends, people coming and going.
async fn demo_activity(cfg: CodecConfig) {
    let codec = Codec::spawn(cfg);
    let call = |method: &str, params: serde_json::Value| {
        let codec = codec.clone();
        let call = Call {
            method: method.to_string(),
            params,
        };
        async move {
            if let Err(e) = codec.call(call, Duration::from_secs(5)).await {
                tracing::debug!("demo step failed: {e}");
            }
        }
    };
    let pause = || tokio::time::sleep(Duration::from_secs(3));
    tokio::time::sleep(Duration::from_secs(2)).await;
    for round in 0u64.. {
        info!(target: "xmacro::demo", "the room's volume is turned up to 85");
        call("xCommand/Audio/Volume/Set", json!({"Level": 85})).await;
        pause().await;
        info!(target: "xmacro::demo", "someone taps the speed-dial button");
        call(
            "xSim/EmitEvent",
            json!({"Path": "Event UserInterface Extensions Widget Action",
                   "Value": {"WidgetId": "speeddial-1", "Type": "clicked", "Value": ""}}),
        )
        .await;
        pause().await;
        info!(target: "xmacro::demo", "{} people walk in", 3 + round % 6);
        call(
            "xSim/SetStatus",
            json!({"Path": "Status RoomAnalytics PeopleCount Current", "Value": 3 + round % 6}),
        )
        .await;
        pause().await;
        info!(target: "xmacro::demo", "a call comes in");
        call(
            "xSim/IncomingCall",
            json!({"Number": "alice@example.com", "DisplayName": "Alice"}),
        )
        .await;
        pause().await;
        info!(target: "xmacro::demo", "the calls end");
        let disconnect = XPath::parse("Call Disconnect").expect("valid");
        for _ in 0..8 {
            // Answers "no active call" once none is left.
            if codec
                .command(&disconnect, Default::default(), None)
                .await
                .is_err()
            {
                break;
            }
        }
        info!(target: "xmacro::demo", "the volume goes back to 45");
        call("xCommand/Audio/Volume/Set", json!({"Level": 45})).await;
        pause().await;
        call(
            "xSim/SetStatus",
            json!({"Path": "Status RoomAnalytics PeopleCount Current", "Value": 0}),
        )
        .await;
        pause().await;
    }
}

pub async fn check(args: CheckArgs) -> Result<(), AppError> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("scripts"));
    let schema = match &args.schema {
        Some(f) => Some(Schema::load(f, None).map_err(|e| AppError::Usage(e.to_string()))?),
        None => None,
    };
    let (count, problems) = check::check_dir(&dir, schema.as_ref()).map_err(AppError::Usage)?;
    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        println!(
            "{count} script(s) in {} compiled{}",
            dir.display(),
            if schema.is_some() {
                "; every literal xAPI path and parameter exists in the schema"
            } else {
                ""
            }
        );
        Ok(())
    } else {
        Err(AppError::Findings(problems.len()))
    }
}
