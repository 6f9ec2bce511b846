//! `xmacro status`: asks a running host's status server (`run --http`)
//! for `/api/status` (or only `/readyz`), prints it as tables or as its
//! JSON, and says in the exit code whether the host is healthy.

use crate::cli::StatusArgs;
use crate::error::AppError;
use crate::ops::access::read_token_file;
use crate::ops::{Status, http, table};

/// Where `status` asks when neither `--http` nor a running host's record
/// says.
const DEFAULT_HTTP: &str = "http://127.0.0.1:9090";

/// Asks the host, prints what it says, and fails unless it is healthy.
pub async fn run(args: StatusArgs) -> Result<(), AppError> {
    let token = token(args.token_file.as_deref())?;
    let (url, guessed) = match &args.http {
        Some(url) => (url.clone(), None),
        None => {
            let state = super::state::project_state_dir(None);
            match super::state::recorded_status_url(&state) {
                Some(url) => (url, None),
                None => (DEFAULT_HTTP.to_string(), Some(state)),
            }
        }
    };
    let base = url.trim_end_matches('/');
    let connect_err = |e: http::HttpError| match (request_failed(e), &guessed) {
        (AppError::Connection(e), Some(state)) => AppError::Connection(format!(
            "{e} (no running host recorded its address in {}: start one here with `xmacro run`, or give --http URL)",
            state.display()
        )),
        (e, _) => e,
    };
    if args.ready {
        let a = http::get(&format!("{base}/readyz"), token.as_deref(), args.timeout)
            .await
            .map_err(connect_err)?;
        super::out::print(&a.body)?;
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
    let (status, body) = fetch(base, &url, token.as_deref(), args.timeout, connect_err).await?;
    if args.json {
        super::out::line(&body)?;
    } else {
        super::out::print(&table::render(&status))?;
    }
    if status.health == "ok" {
        Ok(())
    } else {
        Err(AppError::Unhealthy(status.health))
    }
}

/// What a failed request to the status server means: a bad `--http` is
/// the user's, a timeout is a timeout, the rest a connection failure.
pub(super) fn request_failed(e: http::HttpError) -> AppError {
    match e {
        http::HttpError::Url(..) => AppError::Usage(e.to_string()),
        http::HttpError::Timeout(..) => AppError::Timeout(e.to_string()),
        _ => AppError::Connection(e.to_string()),
    }
}

/// The token from `--token-file`, if given.
pub(super) fn token(file: Option<&std::path::Path>) -> Result<Option<String>, AppError> {
    file.map(|f| read_token_file(f).map_err(|e| AppError::Usage(e.to_string())))
        .transpose()
}

/// `/api/status` at `url` (of the status server at `base`), read as a
/// [`Status`], with the body as it came; `failed` says what a failed
/// request means.
pub(super) async fn fetch(
    base: &str,
    url: &str,
    token: Option<&str>,
    timeout: std::time::Duration,
    failed: impl FnOnce(http::HttpError) -> AppError,
) -> Result<(Status, String), AppError> {
    let a = http::get(url, token, timeout).await.map_err(failed)?;
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
    Ok((status, a.body))
}
