//! `xmacro rollout status|promote NAME|abort NAME`: asks a running host's
//! status server, as `xmacro status` does (`--http URL`, `--token-file`).
//! `status` reads `/api/status` and prints a line per script; `promote`
//! and `abort` POST to `/api/rollout/NAME/...` and print the host's answer.

use crate::cli::{RolloutAction, RolloutArgs};
use crate::error::AppError;
use crate::ops::access::read_token_file;
use crate::ops::{Status, http};

/// Asks the host and prints its answer.
pub async fn run(args: RolloutArgs) -> Result<(), AppError> {
    let token = match &args.token_file {
        Some(f) => Some(read_token_file(f).map_err(|e| AppError::Usage(e.to_string()))?),
        None => None,
    };
    let base = args.http.trim_end_matches('/');
    let failed = |e: http::HttpError| match e {
        http::HttpError::Url(..) => AppError::Usage(e.to_string()),
        http::HttpError::Timeout(..) => AppError::Timeout(e.to_string()),
        _ => AppError::Connection(e.to_string()),
    };
    let (name, what) = match &args.action {
        RolloutAction::Status => {
            let url = format!("{base}/api/status");
            let a = http::get(&url, token.as_deref(), args.timeout)
                .await
                .map_err(failed)?;
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
            print!("{}", render(&status));
            return Ok(());
        }
        RolloutAction::Promote { name } => (name, "promote"),
        RolloutAction::Abort { name } => (name, "abort"),
    };
    if token.is_none() {
        return Err(AppError::Usage(format!(
            "rollout {what} needs the status server's token: give --token-file FILE"
        )));
    }
    let mut url =
        url::Url::parse(base).map_err(|e| AppError::Usage(format!("--http {base}: {e}")))?;
    url.path_segments_mut()
        .map_err(|()| AppError::Usage(format!("--http {base}: not an http:// URL")))?
        .pop_if_empty()
        .extend(["api", "rollout", name.as_str(), what]);
    let url = url.to_string();
    let a = http::post(&url, token.as_deref(), args.timeout)
        .await
        .map_err(failed)?;
    match a.status {
        200 => {
            print!("{}", a.body);
            Ok(())
        }
        403 => Err(AppError::Connection(format!(
            "{base} refused: {}",
            a.body.trim()
        ))),
        _ => Err(AppError::Failed(a.body.trim().to_string())),
    }
}

/// `xmacro rollout status`: a line per script with a rollout.
fn render(status: &Status) -> String {
    let mut out = String::new();
    for s in &status.scripts {
        if let Some(r) = &s.rollout {
            out.push_str(&crate::ops::rollout::line(&s.name, r));
            out.push('\n');
        }
    }
    if out.is_empty() {
        out.push_str("no staged rollouts: the host runs without [rollout] (every change goes everywhere at once)\n");
    }
    out
}
