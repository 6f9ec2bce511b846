//! `xmacro rollout status|promote NAME|abort NAME`: asks a running host's
//! status server, as `xmacro status` does (`--http URL`, `--token-file`).
//! `status` reads `/api/status` and prints a line per script; `promote`
//! and `abort` POST to `/api/rollout/NAME/...` and print the host's answer.

use crate::cli::{RolloutAction, RolloutArgs};
use crate::error::AppError;
use crate::ops::{Status, http};

/// Asks the host and prints its answer.
pub async fn run(args: RolloutArgs) -> Result<(), AppError> {
    let token = super::status::token(args.token_file.as_deref())?;
    let base = args.http.trim_end_matches('/');
    let failed = super::status::request_failed;
    let (name, what) = match &args.action {
        RolloutAction::Status => {
            let url = format!("{base}/api/status");
            let (status, _) =
                super::status::fetch(base, &url, token.as_deref(), args.timeout, failed).await?;
            return super::out::print(&render(&status));
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
        200 => super::out::print(&a.body),
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
