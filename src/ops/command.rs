//! Where the command line meets the status server: `xmacro status`, and
//! the part of `xmacro run` that decides whether and where to serve.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::access::{HttpOptions, read_token_file};
use super::server::Ops;
use super::snapshot::Status;
use crate::cli::StatusArgs;
use crate::config::HttpConfig;
use crate::error::AppError;

/// Where `run` serves, from its flags and the config: `--http` wins over
/// `[http] listen`; `--sim` alone serves on a free loopback port.
pub fn http_options(
    flag: Option<SocketAddr>,
    token_flag: Option<PathBuf>,
    config: Option<&HttpConfig>,
    sim: bool,
) -> Result<Option<HttpOptions>, AppError> {
    let listen = flag
        .or_else(|| config.and_then(|c| c.listen))
        .or_else(|| sim.then(|| SocketAddr::from(([127, 0, 0, 1], 0))));
    let Some(listen) = listen else {
        if token_flag.is_some() {
            return Err(AppError::Usage(
                "--http-token-file without --http (or [http] listen): nothing to protect".into(),
            ));
        }
        return Ok(None);
    };
    let token_file = token_flag.or_else(|| config.and_then(|c| c.token_file.clone()));
    let token = match token_file {
        Some(f) => Some(read_token_file(&f).map_err(|e| AppError::Usage(e.to_string()))?),
        None => None,
    };
    let opts = HttpOptions { listen, token };
    opts.check().map_err(|e| AppError::Usage(e.to_string()))?;
    Ok(Some(opts))
}

/// Binds, prints `status page on http://ADDR/` on stdout, and serves in
/// the background for the life of the process.
pub async fn start_server(opts: HttpOptions) -> Result<Arc<Ops>, AppError> {
    let listener = opts
        .bind()
        .await
        .map_err(|e| AppError::Usage(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| AppError::Failed(e.to_string()))?;
    let ops = Ops::new(opts.token);
    println!("status page on http://{addr}/");
    tracing::info!("status page on http://{addr}/ (also /api/status, /metrics, /healthz, /readyz)");
    let serving = ops.clone();
    tokio::spawn(async move {
        if let Err(e) = super::server::serve(listener, serving, std::future::pending()).await {
            tracing::error!("the status server stopped: {e}");
        }
    });
    Ok(ops)
}

/// `xmacro status`.
pub async fn status(args: StatusArgs) -> Result<(), AppError> {
    let token = match &args.token_file {
        Some(f) => Some(read_token_file(f).map_err(|e| AppError::Usage(e.to_string()))?),
        None => None,
    };
    let base = args.http.trim_end_matches('/');
    let connect_err = |e: super::http::HttpError| match e {
        super::http::HttpError::Url(..) => AppError::Usage(e.to_string()),
        super::http::HttpError::Timeout(..) => AppError::Timeout(e.to_string()),
        _ => AppError::Connection(e.to_string()),
    };
    if args.ready {
        let a = super::http::get(&format!("{base}/readyz"), token.as_deref(), args.timeout)
            .await
            .map_err(connect_err)?;
        print!("{}", a.body);
        return match a.status {
            200 => Ok(()),
            401 => Err(AppError::Connection(
                "the status server wants a token (--token-file)".into(),
            )),
            _ => Err(AppError::Failed("not ready".into())),
        };
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("codec", &args.codec),
        ("tag", &args.tag),
        ("script", &args.script),
    ] {
        if let Some(v) = v {
            query.append_pair(k, v);
        }
    }
    let query = query.finish();
    let url = if query.is_empty() {
        format!("{base}/api/status")
    } else {
        format!("{base}/api/status?{query}")
    };
    let a = super::http::get(&url, token.as_deref(), args.timeout)
        .await
        .map_err(connect_err)?;
    match a.status {
        200 => {}
        401 => {
            return Err(AppError::Connection(format!(
                "{base} wants a token: give --token-file FILE"
            )));
        }
        code => {
            return Err(AppError::Connection(format!(
                "{url} answered HTTP {code}: {}",
                a.body.trim()
            )));
        }
    }
    let status: Status = serde_json::from_str(&a.body)
        .map_err(|e| AppError::Failed(format!("{url}: not a status answer: {e}")))?;
    if args.json {
        println!("{}", a.body);
    } else {
        print!("{}", super::table::render(&status));
    }
    match super::table::exit_code(&status) {
        0 => Ok(()),
        _ => Err(AppError::Failed(format!("the host is {}", status.health))),
    }
}
