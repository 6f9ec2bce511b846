//! `xmacro run`: resolve the scripts directory, codecs and settings from
//! flags and config (the config read once, here), then hand over to the
//! host until a stop signal. `--sim` starts a simulated codec in this
//! process and drives gentle demo activity ([`super::demo`]) on it, so the
//! bundled scripts visibly react.

use std::path::PathBuf;
use std::sync::Arc;

use tracing::{Instrument, info, warn};

use crate::cli::RunArgs;
use crate::config::{CodecEntry, Config, DEFAULT_SCRIPTS};
use crate::error::AppError;
use crate::fleet::shard::{self, Shard};
use crate::host::{self, ConfigSeen, HostOptions};
use crate::ops::{HttpOptions, Ops};
use crate::schema::Schema;
use crate::xows::CodecConfig;
use crate::{check, sim};

/// Runs the scripts until a stop signal.
pub async fn run(args: RunArgs) -> Result<(), AppError> {
    let shard = match &args.shard {
        Some(s) => Some(Shard::parse(s, &shard::host_name())?),
        None => None,
    };
    let config = read_config(&args, shard)?;
    let (scripts_dir, only) = scripts(&args, config.as_ref())?;
    if let Some(cfg) = &config {
        host::check_script_names(cfg, &scripts_dir)?;
    }
    if let Some(file) = &args.schema {
        warn_of_unknown_paths(file, &scripts_dir, only.as_deref())?;
    }
    let mut codecs = codecs(&args, config.as_ref())?;
    let demo = match args.sim {
        true => Some(start_sim(&mut codecs).await?),
        false => None,
    };
    check_codecs(&codecs, config.as_ref())?;
    host_wide(&mut codecs, config.as_ref());
    crate::fleet::fds::prepare_for(codecs.len());
    let ops = status_server(&args, config.as_ref()).await?;
    let state = state_dir(&args, config.as_ref(), &scripts_dir);
    // Where `xmacro status` in this project finds the status server.
    let _record = match (&ops, config.as_ref().and_then(|c| c.postgres.as_ref())) {
        (Some((_, addr)), None) => {
            super::state::StatusRecord::write(&state, &format!("http://{addr}/"))
        }
        _ => None,
    };
    let ops = ops.map(|(ops, _)| ops);
    let mut opts = HostOptions::new(scripts_dir, state, codecs);
    opts.shard = shard;
    opts.only = only;
    if let Some(cfg) = config {
        from_config(&mut opts, cfg, args.state.is_some());
        if args.sim
            && let Some(seen) = opts.config.as_mut()
        {
            seen.fleet = false;
            opts.fleet_size = Some(opts.codecs.len());
        }
    }
    if let Some(dir) = &args.panels {
        if !dir.is_dir() {
            return Err(AppError::Usage(format!(
                "--panels {}: not a folder",
                dir.display()
            )));
        }
        opts.panels = Some(dir.clone());
    }
    if let (Some(shard), None) = (opts.shard, &opts.postgres) {
        warn!(
            "--shard {shard} with the store in a local directory ({}): a codec that moves to another shard starts there without its stored state, and nothing stops two hosts serving one codec; set state = \"postgres://...\" (docs/scaling.md)",
            opts.state_dir.display()
        );
    }
    let demo_task = demo.map(|url| {
        tokio::spawn(super::demo::activity(url).instrument(tracing::info_span!("demo")))
    });
    let result = serve(opts, ops.as_deref()).await;
    if let Some(t) = demo_task {
        t.abort();
    }
    result
}

/// The config, when there is one: read once, here (the host gets what was
/// read). A shard keeps only its own codecs of the fleet's config.
fn read_config(args: &RunArgs, shard: Option<Shard>) -> Result<Option<Config>, AppError> {
    let Some(file) = crate::config::discover(args.config.as_deref()) else {
        return Ok(None);
    };
    // --sim connects the simulator alone: the fleet's codec tables are
    // checked, but none is resolved, so no codec password is needed.
    let config = match args.sim {
        true => Config::parse_keeping(
            &file,
            &Config::read_text(&file)?,
            &|k| std::env::var(k).ok(),
            &|_| false,
        )?,
        false => Config::load_shard(&file, shard)?,
    };
    info!("config {}", file.display());
    if args.sim && config.fleet_size > 0 {
        info!(
            "--sim: the simulated codec stands in for the {} codec(s) of the config, which are not connected",
            config.fleet_size
        );
    }
    Ok(Some(config))
}

/// The scripts directory, and the one script to run when a file is
/// given (it runs alone, with its folder as the scripts root).
fn scripts(args: &RunArgs, config: Option<&Config>) -> Result<(PathBuf, Option<String>), AppError> {
    Ok(match &args.dir {
        Some(p) if p.is_file() || p.extension().is_some_and(|e| e == "rhai") => {
            let (dir, name) = crate::script::files::split_script_file(p)
                .map_err(|e| AppError::Usage(e.to_string()))?;
            (dir, Some(name))
        }
        Some(d) => (d.clone(), None),
        None => (
            config.map_or_else(|| PathBuf::from(DEFAULT_SCRIPTS), |c| c.scripts.clone()),
            None,
        ),
    })
}

/// `--schema`: warns at load of every xAPI path and parameter the scripts
/// name that the schema lacks; the scripts run anyway.
fn warn_of_unknown_paths(
    file: &std::path::Path,
    scripts_dir: &std::path::Path,
    only: Option<&str>,
) -> Result<(), AppError> {
    let schema = Schema::load(file, None)?;
    let findings = check::schema_findings(scripts_dir, only, &schema)?;
    for f in findings {
        warn!("{f} (per {}; the script runs anyway)", file.display());
    }
    Ok(())
}

/// Where the store keeps its files: `--state`, else the config's, else
/// the user's data folder ([`super::state::default_state_dir`]).
fn state_dir(args: &RunArgs, config: Option<&Config>, scripts: &std::path::Path) -> PathBuf {
    args.state
        .clone()
        .or_else(|| config.map(|c| c.state.clone()))
        .unwrap_or_else(|| super::state::default_state_dir(scripts))
}

/// The config's codecs, then each `--codec URL` with the connection flags
/// applied (named by host and port).
fn codecs(args: &RunArgs, config: Option<&Config>) -> Result<Vec<CodecEntry>, AppError> {
    let mut codecs: Vec<CodecEntry> = config.map(|c| c.codecs.clone()).unwrap_or_default();
    for url in &args.codecs {
        let mut cfg = CodecConfig::from_url(url).map_err(crate::xows::Error::from)?;
        super::connect::apply_flags(&mut cfg, &args.connect)?;
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
    Ok(codecs)
}

/// `--sim`: a simulated codec in this process, named "sim", added to the
/// codecs; gives its URL for the demo activity.
async fn start_sim(codecs: &mut Vec<CodecEntry>) -> Result<String, AppError> {
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
    codecs.push(CodecEntry {
        name: "sim".into(),
        tags: vec!["sim".into()],
        config: cfg,
    });
    Ok(url)
}

/// Refuses nothing to run against (though a shard may serve none of a
/// small fleet's codecs: that is no mistake), and a name used twice.
fn check_codecs(codecs: &[CodecEntry], config: Option<&Config>) -> Result<(), AppError> {
    if codecs.is_empty() && config.is_none_or(|c| c.fleet_size == 0) {
        let config = match config {
            Some(c) => format!("{} has no [[codec]] table", c.file.display()),
            None => "no config found (--config FILE, XMACRO_CONFIG, ./xmacro.toml)".into(),
        };
        return Err(AppError::Usage(format!(
            "no codec to run against: {config}; give --codec URL, or --sim for a simulated codec \
             (`xmacro init DIR` starts a project)"
        )));
    }
    let mut names = std::collections::HashSet::new();
    for c in codecs {
        if !names.insert(c.name.clone()) {
            return Err(AppError::Usage(format!(
                "codec name {:?} is used twice",
                c.name
            )));
        }
    }
    Ok(())
}

/// Every codec's connection attempts, at start-up and on reconnect, count
/// against one host-wide limit (`connect_rate`, [`crate::xows::pace`]), and
/// one task keeps all their links alive ([`crate::xows::pinger`]).
fn host_wide(codecs: &mut [CodecEntry], config: Option<&Config>) {
    let rate = config.map_or(crate::xows::pace::DEFAULT_CONNECT_RATE, |c| c.connect_rate);
    let pace = crate::xows::ConnectPace::new(rate);
    let pings = config.map_or(crate::xows::pinger::DEFAULT_PING_RATE, |c| c.ping_rate);
    let pinger = crate::xows::pinger::Pinger::with_rate(pings);
    for c in codecs.iter_mut() {
        c.config.connect_pace = Some(pace.clone());
        c.config.pinger = Some(pinger.clone());
    }
    tracing::debug!(
        "connection attempts limited to {rate} a second and keepalive pings to {pings} a second, host-wide ({} codec(s))",
        codecs.len()
    );
}

/// What the host takes from the config: the scripts' bindings and args,
/// the config itself as read (watched and reloaded), the fleet's size,
/// the store's quota, and its database unless `--state` names a folder.
fn from_config(opts: &mut HostOptions, cfg: Config, state_given: bool) {
    opts.config = Some(ConfigSeen::of(&cfg));
    opts.fleet_size = Some(cfg.fleet_size + opts.codecs.len() - cfg.codecs.len());
    opts.store_quota = cfg.store_quota.unwrap_or(opts.store_quota);
    if !state_given {
        opts.postgres = cfg.postgres;
    }
    opts.scripts = cfg.script;
    opts.rollout = cfg.rollout;
    opts.panels = Some(cfg.panels);
    opts.panel = cfg.panel;
    opts.settings = cfg.settings;
    opts.audit = Some(cfg.audit);
}

/// Starts the status server when the flags or the config ask for it:
/// binds, prints `status page on http://ADDR/` on stdout, and serves in the
/// background for the life of the process (it says 503 on `/readyz` until
/// the host has started).
async fn status_server(
    args: &RunArgs,
    config: Option<&Config>,
) -> Result<Option<(Arc<Ops>, std::net::SocketAddr)>, AppError> {
    let Some(opts) = HttpOptions::choose(
        args.http,
        args.http_token_file.clone(),
        config.map(|c| &c.http),
        args.sim,
    )?
    else {
        return Ok(None);
    };
    let listener = opts.bind().await?;
    let addr = listener
        .local_addr()
        .map_err(|e| AppError::Failed(e.to_string()))?;
    let ops = Ops::new(opts.token);
    super::out::note(&format!("status page on http://{addr}/"));
    info!(
        "status page on http://{addr}/ (also /api/status, /metrics, /healthz, /readyz); `xmacro status` in this project finds it"
    );
    let serving = ops.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::ops::server::serve(listener, serving, std::future::pending()).await {
            tracing::error!("the status server stopped: {e}");
        }
    });
    Ok(Some((ops, addr)))
}

/// Runs the host until a stop signal; SIGHUP reloads the config and every
/// script. Signals are caught from the start of `main`, so one that came
/// while the host was starting acts as soon as it has started (instances
/// that started get their `on_unload`).
async fn serve(opts: HostOptions, ops: Option<&Ops>) -> Result<(), AppError> {
    crate::signals::hangup_reloads();
    let (entries, state) = (opts.codecs.clone(), opts.state_dir.clone());
    if let Some(ops) = ops
        && opts.audit.is_some()
    {
        ops.attach_audit(opts.audit_source());
    }
    let mut hangups = crate::signals::hangups();
    let early = opts.cancel_start.clone();
    let watcher = tokio::spawn(async move {
        crate::signals::shutdown().await;
        early.cancel();
    });
    let handle = host::start(opts).await;
    watcher.abort();
    let handle = handle?;
    if let Some(ops) = ops {
        ops.attach(handle.codecs(), &entries, &state);
        if let Some(control) = handle.rollout_control() {
            ops.attach_rollout(control);
        }
    }
    let stop = crate::signals::shutdown();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Ok(()) = hangups.changed() => {
                info!("SIGHUP: reloading the config and the scripts");
                handle.rescan();
            }
        }
    }
    info!("shutting down");
    handle.shutdown().await;
    Ok(())
}
