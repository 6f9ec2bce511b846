//! Staged rollouts over HTTP: each script's rollout in `/api/status` (and
//! so on the page and in `xmacro rollout status`), and the two actions,
//! `POST /api/rollout/NAME/promote` and `POST /api/rollout/NAME/abort`.
//!
//! The actions change what runs in every room, so they always need the
//! token, also on loopback, and only as `Authorization: Bearer`: a browser
//! sends a cached Basic password (or a cookie) with any page's form
//! post on its own, never a Bearer token, so a page open in a local
//! browser cannot promote or abort. Without the token the answer is 403
//! with what to do.

use std::collections::BTreeMap;
use std::sync::Arc;

use std::sync::RwLock;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::rollout::{Ask, Control, Request};

/// One script's rollout as `/api/status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RolloutStatus {
    /// `steady`, `soaking`, `rolled_back` or `aborted`.
    pub state: String,
    /// While soaking: when the soak ends (local time).
    pub until: Option<String>,
    /// The soak is over and promotion waits for this window.
    pub waiting_for_window: Option<String>,
    pub promoted: Option<String>,
    pub candidate: Option<String>,
    /// Why the candidate was rolled back.
    pub reason: Option<String>,
    /// How many of this host's codecs run each version.
    pub running: BTreeMap<String, usize>,
}

/// One line: the state in words, then the versions and their codecs.
pub fn line(name: &str, r: &RolloutStatus) -> String {
    let short = |v: &Option<String>| v.as_deref().unwrap_or("-").to_string();
    let state = match r.state.as_str() {
        "soaking" => match (&r.waiting_for_window, &r.until) {
            (Some(w), _) => format!("soaked, waiting for the window {w}"),
            (None, Some(t)) => format!("soaking until {t}"),
            (None, None) => "soaking".into(),
        },
        "rolled_back" => format!(
            "rolled back: {}",
            r.reason.as_deref().unwrap_or("(no reason kept)")
        ),
        other => other.to_string(),
    };
    let count = |v: &Option<String>| {
        v.as_ref()
            .and_then(|v| r.running.get(v))
            .copied()
            .unwrap_or(0)
    };
    let mut out = format!(
        "{name}: {state}; promoted {} on {} codec(s)",
        short(&r.promoted),
        count(&r.promoted)
    );
    if r.candidate.is_some() && r.candidate != r.promoted {
        out.push_str(&format!(
            ", candidate {} on {} codec(s)",
            short(&r.candidate),
            count(&r.candidate)
        ));
    }
    out
}

/// What the actions need: the token, and where requests go once a host
/// with `[rollout]` started.
#[derive(Default)]
pub struct Actions {
    token: Option<String>,
    control: RwLock<Option<Control>>,
}

impl Actions {
    pub fn new(token: Option<String>) -> Arc<Actions> {
        Arc::new(Actions {
            token,
            control: RwLock::new(None),
        })
    }

    /// Requests go to `control` from now on.
    pub fn attach(&self, control: Control) {
        *self.control.write().unwrap_or_else(|p| p.into_inner()) = Some(control);
    }

    fn control(&self) -> Option<Control> {
        self.control
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The action routes (outside the read-only routes' token check: these
/// check more strictly themselves).
pub fn router(actions: Arc<Actions>) -> Router {
    Router::new()
        .route("/api/rollout/{name}/promote", axum::routing::post(promote))
        .route("/api/rollout/{name}/abort", axum::routing::post(abort))
        .with_state(actions)
}

/// Whether a request may act: the token, as a Bearer token.
fn may_act(ops: &Actions, headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(token) = ops.token.as_deref() else {
        return Err(
            "rollout actions always need a token, also on loopback: start xmacro run with --http-token-file FILE (or [http] token_file) and send it (xmacro rollout promote NAME --token-file FILE)\n",
        );
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some();
    if bearer && super::access::presents(headers, token) {
        Ok(())
    } else {
        Err(
            "rollout actions need the token as Authorization: Bearer TOKEN (xmacro rollout promote NAME --token-file FILE)\n",
        )
    }
}

async fn act(ops: Arc<Actions>, headers: HeaderMap, script: String, request: Request) -> Response {
    if let Err(hint) = may_act(&ops, &headers) {
        return (StatusCode::FORBIDDEN, hint).into_response();
    }
    let Some(control) = ops.control() else {
        return (
            StatusCode::CONFLICT,
            "this host runs without [rollout]: every change goes everywhere at once\n",
        )
            .into_response();
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let asked = control.send(Ask {
        script,
        request,
        reply,
    });
    let answer = match asked {
        Ok(()) => answer.await.ok(),
        Err(_) => None,
    };
    match answer {
        Some(Ok(text)) => (StatusCode::OK, format!("{text}\n")).into_response(),
        Some(Err((code, why))) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::CONFLICT),
            format!("{why}\n"),
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "the host is stopping\n").into_response(),
    }
}

/// `POST /api/rollout/{name}/promote`.
async fn promote(
    State(ops): State<Arc<Actions>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    act(ops, headers, name, Request::Promote).await
}

/// `POST /api/rollout/{name}/abort`.
async fn abort(
    State(ops): State<Arc<Actions>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    act(ops, headers, name, Request::Abort).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, auth.parse().unwrap());
        h
    }

    #[test]
    fn an_action_needs_the_token_as_bearer_even_where_reading_needs_none() {
        let open = Actions::new(None);
        assert!(
            may_act(&open, &HeaderMap::new())
                .unwrap_err()
                .contains("always need a token")
        );
        let ops = Actions::new(Some("s3cret-token-0123456789".into()));
        assert!(may_act(&ops, &HeaderMap::new()).is_err());
        assert!(may_act(&ops, &headers("Bearer wrong-token-0123456789")).is_err());
        // The password of Basic is what a browser resends on its own.
        assert!(may_act(&ops, &headers("Basic eDpzM2NyZXQtdG9rZW4tMDEyMzQ1Njc4OQ==")).is_err());
        assert!(may_act(&ops, &headers("Bearer s3cret-token-0123456789")).is_ok());
    }

    #[test]
    fn a_line_says_the_state_the_versions_and_how_many_codecs_run_each() {
        let r = RolloutStatus {
            state: "soaking".into(),
            until: Some("2026-05-01 12:30:00".into()),
            waiting_for_window: None,
            promoted: Some("aaaa".into()),
            candidate: Some("bbbb".into()),
            reason: None,
            running: [("aaaa".to_string(), 4), ("bbbb".to_string(), 2)].into(),
        };
        assert_eq!(
            line("room", &r),
            "room: soaking until 2026-05-01 12:30:00; promoted aaaa on 4 codec(s), candidate bbbb on 2 codec(s)"
        );
        let back = RolloutStatus {
            state: "rolled_back".into(),
            reason: Some("lab-1: room.rhai:3:5: boom".into()),
            running: [("aaaa".to_string(), 6)].into(),
            ..r
        };
        assert_eq!(
            line("room", &back),
            "room: rolled back: lab-1: room.rhai:3:5: boom; promoted aaaa on 6 codec(s), candidate bbbb on 0 codec(s)"
        );
    }
}
