//! `GET /api/audit?codec=&script=&since=&limit=`: the audit trail of the
//! running host as a JSON array, newest last (the records of
//! `xmacro audit --json`). Read on a connection of its own, off the
//! async runtime; behind the same token check as every route.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::audit::{Filter, Source, parse_age};

/// The query string.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    pub codec: Option<String>,
    pub script: Option<String>,
    /// An age: `1h`, `7d`.
    pub since: Option<String>,
    /// At most this many (default 1000; 0 for all).
    pub limit: Option<usize>,
}

impl AuditQuery {
    /// The filter it asks for; a bad `since` is the caller's mistake.
    pub fn filter(&self) -> Result<Filter, String> {
        let since_ms = match self.since.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(
                crate::audit::now_ms()
                    - parse_age(s).map_err(|e| format!("since: {e}"))?.as_millis() as i64,
            ),
            None => None,
        };
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        Ok(Filter {
            codec: nonempty(&self.codec),
            script: nonempty(&self.script),
            since_ms,
            limit: self.limit.unwrap_or(1000),
        })
    }
}

/// Where the host keeps its audit trail, once it said (the status server
/// starts before the host has opened its store).
#[derive(Default)]
pub struct Trail(std::sync::RwLock<Option<Source>>);

impl Trail {
    /// Where `/api/audit` reads the trail from from now on.
    pub fn attach(&self, source: Source) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(source);
    }

    /// Where the trail is, once the host said.
    pub fn source(&self) -> Option<Source> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The handler of `GET /api/audit` (behind the server's token check).
pub async fn api_audit(State(trail): State<Arc<Trail>>, Query(q): Query<AuditQuery>) -> Response {
    let filter = match q.filter() {
        Ok(f) => f,
        Err(why) => return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    };
    let Some(source): Option<Source> = trail.source() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: the host has not opened its store yet\n",
        )
            .into_response();
    };
    let read = tokio::task::spawn_blocking(move || source.reader()?.read(&filter)).await;
    match read {
        Ok(Ok(records)) => {
            let list: Vec<serde_json::Value> = records.iter().map(|r| r.to_json()).collect();
            axum::Json(list).into_response()
        }
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_becomes_a_filter_and_a_bad_age_is_named() {
        let q = AuditQuery {
            codec: Some("room1".into()),
            script: Some(String::new()),
            since: Some("1h".into()),
            limit: None,
        };
        let f = q.filter().unwrap();
        assert_eq!(f.codec.as_deref(), Some("room1"));
        assert_eq!(f.script, None);
        assert!(f.since_ms.unwrap() <= crate::audit::now_ms() - 3_600_000);
        assert_eq!(f.limit, 1000);
        let bad = AuditQuery {
            since: Some("soon".into()),
            ..AuditQuery::default()
        };
        assert!(bad.filter().unwrap_err().contains("since: \"soon\""));
    }
}
