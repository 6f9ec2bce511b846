//! JSON-RPC 2.0 and xAPI message types, error codes and method builders.
//!
//! No I/O here: the client, the simulator and the tests all build and read
//! frames through these types, so both ends of the wire agree by construction.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use super::path::{Path, Segment};

/// Error codes, as PROTOCOL.md lists them.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    /// Also: unknown command or path.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Also: unknown feedback Id, bad command arguments.
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    pub const UNEXPECTED_RESPONSE: i64 = -32099;
    /// A command failed; `data` may carry a `Cause` number.
    pub const COMMAND_ERROR: i64 = 1;
    pub const PERMISSION_DENIED: i64 = -31999;
    pub const SUBSCRIBER_COUNT_EXCEEDED: i64 = -31998;
    /// Right after boot.
    pub const NOT_READY: i64 = -31997;
}

/// Method names.
pub mod method {
    pub const GET: &str = "xGet";
    pub const QUERY: &str = "xQuery";
    pub const SET: &str = "xSet";
    pub const SUBSCRIBE: &str = "xFeedback/Subscribe";
    pub const UNSUBSCRIBE: &str = "xFeedback/Unsubscribe";
    pub const FEEDBACK_EVENT: &str = "xFeedback/Event";
    /// Prefix of every command method (`xCommand/Audio/Volume/Set`).
    pub const COMMAND_PREFIX: &str = "xCommand/";
}

/// The error object of a JSON-RPC error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: impl Into<Value>) -> Self {
        self.data = Some(data.into());
        self
    }

    pub fn method_not_found() -> Self {
        RpcError::new(code::METHOD_NOT_FOUND, "Method not found.")
    }

    pub fn invalid_params(detail: impl Into<Value>) -> Self {
        RpcError::new(code::INVALID_PARAMS, "Invalid params").with_data(detail)
    }

    pub fn not_ready() -> Self {
        RpcError::new(code::NOT_READY, "Not ready")
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)?;
        match &self.data {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(s)) => write!(f, ": {s}"),
            Some(d) => write!(f, ": {d}"),
        }
    }
}

/// A request as a client sends it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    pub jsonrpc: &'static str,
    pub id: u64,
    pub method: String,
    pub params: Value,
}

impl Request {
    pub fn new(id: u64, method: impl Into<String>, params: Value) -> Self {
        Request {
            jsonrpc: "2.0",
            id,
            method: method.into(),
            params,
        }
    }

    /// The frame text.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("a request always serializes")
    }
}

/// What a call asks the codec for, before it has an id.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub params: Value,
}

impl Call {
    pub fn get(path: &Path) -> Call {
        Call {
            method: method::GET.into(),
            params: json!({ "Path": path.to_json() }),
        }
    }

    pub fn query(query: &Path) -> Call {
        Call {
            method: method::QUERY.into(),
            params: json!({ "Query": query.to_json() }),
        }
    }

    pub fn set(path: &Path, value: Value) -> Call {
        Call {
            method: method::SET.into(),
            params: json!({ "Path": path.to_json(), "Value": value }),
        }
    }

    /// `path` is the command path, with or without the leading `Command`.
    pub fn command(path: &Path, params: Map<String, Value>, body: Option<String>) -> Call {
        let mut params = params;
        if let Some(body) = body {
            params.insert("body".into(), Value::String(body));
        }
        Call {
            method: command_method(path),
            params: Value::Object(params),
        }
    }

    pub fn subscribe(query: &Path, notify_current_value: bool) -> Call {
        Call {
            method: method::SUBSCRIBE.into(),
            params: json!({ "Query": query.to_json(), "NotifyCurrentValue": notify_current_value }),
        }
    }

    pub fn unsubscribe(id: u64) -> Call {
        Call {
            method: method::UNSUBSCRIBE.into(),
            params: json!({ "Id": id }),
        }
    }

    pub fn into_request(self, id: u64) -> Request {
        Request::new(id, self.method, self.params)
    }
}

/// `xCommand/Audio/Volume/Set` for `Command Audio Volume Set` or `Audio Volume Set`.
pub fn command_method(path: &Path) -> String {
    let segs: &[Segment] = match path.0.first() {
        Some(Segment::Name(n)) if n == "Command" => path.tail(),
        _ => &path.0,
    };
    format!("{}{}", method::COMMAND_PREFIX, Path::slash_joined(segs))
}

/// A frame as either side may receive it; `result`/`error` keep "present
/// but null" apart from "absent".
#[derive(Debug, Default, Deserialize)]
struct RawMessage {
    jsonrpc: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    method: Option<String>,
    params: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    error: Option<Value>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A frame as the client sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A successful answer.
    Response { id: Value, result: Value },
    /// An error answer (the id may be null when the codec could not read ours).
    Error { id: Value, error: RpcError },
    /// A feedback notification: subscription Id plus the rooted document.
    Feedback { id: u64, document: Value },
    /// Any other notification.
    Notification { method: String, params: Value },
}

/// Why an incoming frame was not understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a JSON-RPC 2.0 object")]
    NotJsonRpc,
    #[error("a response holds both result and error")]
    BothResultAndError,
    #[error("a message holds neither method, result nor error")]
    Empty,
    #[error("malformed error object: {0}")]
    BadError(String),
    #[error("feedback without a numeric Id")]
    FeedbackWithoutId,
}

/// Decodes a frame received by a client.
pub fn decode_incoming(text: &str) -> Result<Incoming, DecodeError> {
    let raw: RawMessage =
        serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    if raw.jsonrpc.as_ref().and_then(Value::as_str) != Some("2.0") {
        return Err(DecodeError::NotJsonRpc);
    }
    match (raw.method, raw.result, raw.error) {
        (_, Some(_), Some(_)) => Err(DecodeError::BothResultAndError),
        (_, Some(result), None) => Ok(Incoming::Response {
            id: raw.id.unwrap_or(Value::Null),
            result,
        }),
        (_, None, Some(error)) => {
            let error: RpcError =
                serde_json::from_value(error).map_err(|e| DecodeError::BadError(e.to_string()))?;
            Ok(Incoming::Error {
                id: raw.id.unwrap_or(Value::Null),
                error,
            })
        }
        (Some(method), None, None) => {
            let params = raw.params.unwrap_or(Value::Null);
            if method == method::FEEDBACK_EVENT {
                let Value::Object(mut map) = params else {
                    return Err(DecodeError::FeedbackWithoutId);
                };
                let id = map
                    .remove("Id")
                    .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                    .ok_or(DecodeError::FeedbackWithoutId)?;
                Ok(Incoming::Feedback {
                    id,
                    document: Value::Object(map),
                })
            } else {
                Ok(Incoming::Notification { method, params })
            }
        }
        (None, None, None) => Err(DecodeError::Empty),
    }
}

/// A request as a server (the simulator) receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRequest {
    /// `Value::Null` when the client sent none: the answer still goes out.
    pub id: Value,
    pub method: String,
    pub params: Value,
}

/// Decodes a frame received by a server; the error is the answer to send.
pub fn decode_request(text: &str) -> Result<ServerRequest, (Value, RpcError)> {
    let raw: RawMessage = serde_json::from_str(text).map_err(|e| {
        (
            Value::Null,
            RpcError::new(code::PARSE_ERROR, "Parse error").with_data(e.to_string()),
        )
    })?;
    let id = raw.id.unwrap_or(Value::Null);
    let invalid = |id: Value, why: &str| {
        (
            id,
            RpcError::new(code::INVALID_REQUEST, "Invalid Request").with_data(why.to_string()),
        )
    };
    if raw.jsonrpc.as_ref().and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(id, "jsonrpc must be \"2.0\""));
    }
    if !(id.is_null() || id.is_string() || id.is_number()) {
        return Err(invalid(Value::Null, "id must be a string or a number"));
    }
    let Some(method) = raw.method else {
        return Err(invalid(id, "method missing"));
    };
    Ok(ServerRequest {
        id,
        method,
        params: raw.params.unwrap_or(Value::Null),
    })
}

/// A success response frame.
pub fn response_text(id: &Value, result: &Value) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string()
}

/// An error response frame.
pub fn error_text(id: &Value, error: &RpcError) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "error": error }).to_string()
}

/// A feedback notification frame: the rooted document plus the subscription Id.
pub fn feedback_text(subscription: u64, document: &Map<String, Value>) -> String {
    let mut params = document.clone();
    params.insert("Id".into(), Value::from(subscription));
    json!({ "jsonrpc": "2.0", "method": method::FEEDBACK_EVENT, "params": params }).to_string()
}

/// The path in `params[key]`, written as words (`"Status Audio Volume"`)
/// or as the wire's array (what the simulator's methods accept).
pub fn path_param(params: &Value, key: &str) -> Result<Path, RpcError> {
    let raw = params
        .get(key)
        .ok_or_else(|| RpcError::invalid_params(format!("missing {key}")))?;
    match raw {
        Value::String(s) => Path::parse(s),
        other => Path::from_json(other),
    }
    .map_err(|e| RpcError::invalid_params(format!("{key}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_documented_requests() {
        let p = Path::parse("Status SystemUnit Uptime").unwrap();
        let r = Call::get(&p).into_request(7);
        assert_eq!(
            r.to_text(),
            r#"{"jsonrpc":"2.0","id":7,"method":"xGet","params":{"Path":["Status","SystemUnit","Uptime"]}}"#
        );
        let c = Call::command(
            &Path::parse("Command UserInterface Extensions Panel Save").unwrap(),
            serde_json::from_value(json!({"PanelId":"p1"})).unwrap(),
            Some("<Extensions/>".into()),
        );
        assert_eq!(c.method, "xCommand/UserInterface/Extensions/Panel/Save");
        assert_eq!(c.params, json!({"PanelId":"p1","body":"<Extensions/>"}));
        assert_eq!(
            command_method(&Path::parse("Dial").unwrap()),
            "xCommand/Dial"
        );
    }

    #[test]
    fn decodes_every_incoming_shape() {
        assert_eq!(
            decode_incoming(r#"{"jsonrpc":"2.0","id":"a1336","result":62974}"#).unwrap(),
            Incoming::Response {
                id: json!("a1336"),
                result: json!(62974)
            }
        );
        assert_eq!(
            decode_incoming(r#"{"jsonrpc":"2.0","id":null,"result":null}"#).unwrap(),
            Incoming::Response {
                id: Value::Null,
                result: Value::Null
            }
        );
        let e = decode_incoming(r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"Invalid params","data":"Unknown feedback ID."}}"#).unwrap();
        let Incoming::Error { error, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(error.code, code::INVALID_PARAMS);
        assert_eq!(
            error.to_string(),
            "Invalid params (code -32602): Unknown feedback ID."
        );
        assert_eq!(
            decode_incoming(r#"{"jsonrpc":"2.0","method":"xFeedback/Event","params":{"Status":{"Audio":{"Volume":60}},"Id":3}}"#).unwrap(),
            Incoming::Feedback { id: 3, document: json!({"Status":{"Audio":{"Volume":60}}}) }
        );
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(matches!(
            decode_incoming("nope"),
            Err(DecodeError::NotJson(_))
        ));
        assert_eq!(
            decode_incoming(
                r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"x"}}"#
            ),
            Err(DecodeError::BothResultAndError)
        );
        assert_eq!(
            decode_incoming(r#"{"jsonrpc":"2.0","id":1}"#),
            Err(DecodeError::Empty)
        );
        assert_eq!(
            decode_incoming(r#"{"id":1,"result":1}"#),
            Err(DecodeError::NotJsonRpc)
        );
        assert_eq!(
            decode_incoming(r#"{"jsonrpc":"2.0","method":"xFeedback/Event","params":{}}"#),
            Err(DecodeError::FeedbackWithoutId)
        );
    }

    #[test]
    fn server_side_decoding() {
        let r = decode_request(r#"{"jsonrpc":"2.0","method":"xGet","params":{"Path":["Status"]}}"#)
            .unwrap();
        assert_eq!(r.id, Value::Null);
        let (id, e) = decode_request("{").unwrap_err();
        assert_eq!((id, e.code), (Value::Null, code::PARSE_ERROR));
        let (id, e) = decode_request(r#"{"jsonrpc":"1.0","id":5,"method":"x"}"#).unwrap_err();
        assert_eq!((id, e.code), (json!(5), code::INVALID_REQUEST));
        let (_, e) = decode_request(r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#).unwrap_err();
        assert_eq!(e.code, code::INVALID_REQUEST);
    }
}
