//! The xAPI methods the simulated device answers on its documents (xGet,
//! xQuery, xSet, xFeedback/Subscribe and /Unsubscribe), the refusals a test
//! configures, and the command log.

use serde_json::{Map, Value, json};

use super::{COMMAND_LOG, Reply, State, bad_usage, model, no_match, path_param};
use crate::schema::{Entry, Schema};
use crate::sim::query;
use crate::xows::doc;
use crate::xows::path::{Path, Root, Segment};
use crate::xows::protocol::{RpcError, code, feedback_text};

impl State {
    pub(super) fn refusal_for(&mut self, m: &str) -> Option<RpcError> {
        let pos = self
            .refusals
            .iter()
            .position(|r| m.starts_with(&r.method_prefix))?;
        let r = &mut self.refusals[pos];
        let err = r.error.clone();
        if let Some(n) = &mut r.remaining {
            *n -= 1;
            if *n == 0 {
                self.refusals.remove(pos);
            }
        }
        Some(err)
    }

    pub(super) fn refresh_uptime(&mut self) {
        let up = self.booted.elapsed().as_secs();
        if let Some(v) = self.doc.pointer_mut("/Status/SystemUnit/Uptime") {
            *v = Value::from(up);
        }
        let now = model::now_text(self);
        if let Some(v) = self.doc.pointer_mut("/Status/Time/SystemTime") {
            *v = Value::from(now);
        }
    }

    pub(super) fn x_get(&mut self, params: &Value) -> Result<Value, RpcError> {
        let path = path_param(params, "Path")?;
        if !matches!(path.root(), Some(Root::Status | Root::Configuration)) || path.has_wildcard() {
            return Err(RpcError::invalid_params(
                "Path must start with Status or Configuration and hold no **",
            ));
        }
        self.refresh_uptime();
        doc::get(&self.doc, &path.0).ok_or_else(|| no_match(&path))
    }

    pub(super) fn x_query(&mut self, params: &Value) -> Result<Value, RpcError> {
        let q = path_param(params, "Query")?;
        if !matches!(q.root(), Some(Root::Status | Root::Configuration)) {
            return Err(RpcError::invalid_params(
                "Query must start with Status or Configuration",
            ));
        }
        self.refresh_uptime();
        Ok(query::select(&self.doc, &q.0).unwrap_or_else(|| json!({})))
    }

    pub(super) fn x_set(&mut self, schema: &Schema, params: &Value) -> Result<Value, RpcError> {
        let path = path_param(params, "Path")?;
        let value = params
            .get("Value")
            .ok_or_else(|| RpcError::invalid_params("missing Value"))?;
        if path.root() != Some(Root::Configuration) || path.has_wildcard() {
            return Err(RpcError::invalid_params(
                "Path must be a Configuration path without **",
            ));
        }
        let node = schema
            .lookup(&path)
            .map_err(|e| no_match(&path).with_data(format!("{path}: {e}")))?;
        let Some(Entry::Configuration { valuespace, .. }) = &node.entry else {
            return Err(no_match(&path));
        };
        let v = valuespace
            .check(value)
            .map_err(|why| bad_usage("Illegal value.", format!("{path}: {why}")))?;
        self.set(&path.0, v);
        if path.0.get(1) == Some(&Segment::Name("Standby".into())) {
            model::standby::activity(self);
        }
        Ok(Value::Bool(true))
    }

    pub(super) fn subscribe(&mut self, session: u64, params: &Value) -> Reply {
        let q = match path_param(params, "Query") {
            Ok(q) => q,
            Err(e) => return Err(e).into(),
        };
        let rooted = matches!(q.0.first(), Some(Segment::AnyDepth))
            || matches!(
                q.root(),
                Some(Root::Status | Root::Configuration | Root::Event)
            );
        if !rooted {
            return Err(RpcError::invalid_params(
                "Query must start with Status, Configuration, Event or **",
            ))
            .into();
        }
        let notify = params.get("NotifyCurrentValue").and_then(Value::as_bool) == Some(true);
        let max = self.max_subscriptions;
        let Some(slot) = self.sessions.get_mut(&session) else {
            return Err(RpcError::new(code::INTERNAL_ERROR, "session gone")).into();
        };
        if slot.subs.len() >= max {
            return Err(RpcError::new(
                code::SUBSCRIBER_COUNT_EXCEEDED,
                "Subscriber count exceeded",
            ))
            .into();
        }
        let id = slot.next_sub;
        slot.next_sub += 1;
        slot.subs.push((id, q.clone()));
        let legacy = slot.legacy;
        let mut after = Vec::new();
        if notify {
            self.refresh_uptime();
            if let Some(Value::Object(mut current)) = query::select(&self.doc, &q.0) {
                if legacy {
                    current.values_mut().for_each(doc::stringify);
                }
                after.push(feedback_text(id, &current));
            }
        }
        Reply {
            result: Ok(json!({ "Id": id })),
            after,
        }
    }

    pub(super) fn unsubscribe(&mut self, session: u64, params: &Value) -> Result<Value, RpcError> {
        let id = params.get("Id").and_then(Value::as_u64);
        let slot = self.sessions.get_mut(&session);
        match (id, slot) {
            (Some(id), Some(slot)) if slot.subs.iter().any(|(s, _)| *s == id) => {
                slot.subs.retain(|(s, _)| *s != id);
                Ok(Value::Bool(true))
            }
            _ => Err(RpcError::invalid_params("Unknown feedback ID.")),
        }
    }

    pub(super) fn log_command(&mut self, session: u64, name: &str, args: &Map<String, Value>) {
        if self.command_log.len() == COMMAND_LOG {
            self.command_log.pop_front();
        }
        self.commands_logged += 1;
        self.command_log
            .push_back(json!({ "Session": session, "Command": name, "Params": args }));
    }

    /// Adds a command's outcome (`Result`, or `Error`) to its log entry;
    /// a command refused before it was logged (unknown, bad arguments, the
    /// device not ready) gets an entry with the arguments as sent.
    pub(super) fn log_outcome(
        &mut self,
        session: u64,
        method_tail: &str,
        params: &Value,
        logged_before: u64,
        outcome: &Result<Value, RpcError>,
    ) {
        if self.commands_logged == logged_before {
            let name = Path::parse(method_tail).map_or(method_tail.to_string(), |p| p.to_string());
            let args = params.as_object().cloned().unwrap_or_default();
            self.log_command(session, &name, &args);
        }
        if let Some(Value::Object(entry)) = self.command_log.back_mut() {
            match outcome {
                Ok(v) => entry.insert("Result".into(), v.clone()),
                Err(e) => entry.insert("Error".into(), json!(e)),
            };
        }
    }
}
