//! `xmacro sim`: serve a simulated codec ([`crate::sim`]) on an address
//! until a stop signal, printing where (and the certificate's fingerprint
//! with `--tls`).
//!
//! `xmacro sim ctl URL ACTION` drives a running simulator from the shell
//! (a call comes in, someone clicks a widget, people walk in, an HTTP API
//! answers) or replays a scenario file with timings. Each action is one
//! `xSim/...` control method on the simulator's own socket; its answer is
//! printed as one JSON line.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};

use crate::cli::{Action, CtlArgs, ScenarioLine, SimArgs, SimCommand};
use crate::error::AppError;
use crate::schema::Schema;
use crate::sim;
use crate::xows::path::Path;
use crate::xows::protocol::Call;
use crate::xows::{Codec, CodecConfig, Password};

/// Serves the simulator, or runs `sim ctl`.
pub async fn run(args: SimArgs) -> Result<(), AppError> {
    if let Some(SimCommand::Ctl(ctl)) = args.command {
        return ctl_run(ctl).await.map_err(|e| match e {
            CtlError::Usage(u) => AppError::Usage(u),
            CtlError::Codec(c) => AppError::from(c),
            CtlError::Stopped { signal, what } => AppError::Stopped { signal, what },
        });
    }
    let schema = match &args.schema {
        Some(file) => Some(Arc::new(Schema::load(file, Some(&args.product))?)),
        None => None,
    };
    let tls = if args.tls {
        Some(
            sim::Identity::self_signed()
                .map_err(|e| AppError::Failed(format!("certificate: {e}")))?,
        )
    } else {
        None
    };
    // Each session is a descriptor: serve as many as the hard limit allows.
    let _ = crate::fleet::fds::raise_to_hard();
    // A taken or unusable address is a usage problem (exit 2), not "the codec refused".
    let listener = tokio::net::TcpListener::bind(args.listen.as_str())
        .await
        .map_err(|e| AppError::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| AppError::Failed(e.to_string()))?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    super::out::note(&format!("listening on {scheme}://{addr}/ws"));
    if let Some(id) = &tls {
        super::out::note(&format!("fingerprint {}", id.fingerprint()));
    }
    let options = sim::SimOptions {
        username: args.username,
        password: args.password,
        tls,
        device: sim::DeviceOptions {
            schema,
            max_subscriptions: args.max_subscriptions,
            ..Default::default()
        },
    };
    tracing::info!(
        "simulator ready: user {:?}, {} model",
        options.username,
        if options.device.schema.is_some() {
            "schema"
        } else {
            "built-in"
        }
    );
    sim::run(listener, options, crate::signals::shutdown())
        .await
        .map_err(|e| AppError::Failed(e.to_string()))
}

/// Why a `sim ctl` action failed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// Bad arguments or a bad scenario line (names the file and line).
    #[error("{0}")]
    Usage(String),
    /// The simulator could not be reached or refused the action.
    #[error(transparent)]
    Codec(#[from] crate::xows::Error),
    /// A stop signal (Ctrl-C, SIGTERM) ended a scenario before its end.
    #[error("{what}")]
    Stopped { signal: &'static str, what: String },
}

/// The latest time a scenario line may give (seconds from the start): a
/// day, the longest wait any control method takes.
pub const MAX_SCENARIO_SECS: f64 = crate::sim::args::MAX_WAIT.as_secs_f64();

fn parse_json(what: &str, text: &str) -> Result<Value, CtlError> {
    serde_json::from_str(text).map_err(|e| CtlError::Usage(format!("{what}: not JSON: {e}")))
}

fn path_text(words: &[String]) -> Result<String, CtlError> {
    Path::from_words(words)
        .map(|p| p.to_string())
        .map_err(|e| CtlError::Usage(e.to_string()))
}

/// The control call an action makes (`None` for a scenario).
pub fn control_call(action: &Action) -> Result<Option<Call>, CtlError> {
    let call = |method: &str, params: Value| {
        Ok(Some(Call {
            method: format!("xSim/{method}"),
            params,
        }))
    };
    match action {
        Action::IncomingCall { number, name } => call(
            "IncomingCall",
            json!({ "Number": number, "DisplayName": name.as_deref().unwrap_or(number) }),
        ),
        Action::Hangup { call_id } => call("Hangup", json!({ "CallId": call_id })),
        Action::WidgetClick {
            widget_id,
            kind,
            value,
        } => call(
            "WidgetAction",
            json!({ "WidgetId": widget_id, "Type": kind, "Value": value.as_deref().unwrap_or("") }),
        ),
        Action::PanelClick { panel_id } => call("PanelClick", json!({ "PanelId": panel_id })),
        Action::People { count } => call("People", json!({ "Count": count })),
        Action::HttpResponse {
            url,
            method,
            status,
            headers,
            body,
            body_file,
        } => {
            let body = match (body, body_file) {
                (Some(b), _) => b.clone(),
                (None, Some(f)) => std::fs::read_to_string(f)
                    .map_err(|e| CtlError::Usage(format!("{}: {e}", f.display())))?,
                (None, None) => String::new(),
            };
            call(
                "HttpResponse",
                json!({ "Url": url, "Method": method, "StatusCode": status,
                        "Headers": headers, "Body": body }),
            )
        }
        Action::Status { words } => {
            let (value, path) = words.split_last().expect("clap requires two words");
            let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
            call(
                "SetStatus",
                json!({ "Path": path_text(path)?, "Value": value }),
            )
        }
        Action::Event { path, json } => {
            let value = match json {
                Some(t) => parse_json("--json", t)?,
                None => json!({}),
            };
            call("Event", json!({ "Path": path_text(path)?, "Value": value }))
        }
        Action::CommandResult { command, json } => {
            let mut params = json!({ "Command": path_text(command)? });
            if let Some(t) = json {
                params["Result"] = parse_json("--json", t)?;
            }
            call("CommandResult", params)
        }
        Action::UiLog => call("UiLog", json!({})),
        Action::HttpRequests => call("HttpRequests", json!({})),
        Action::Inspect => call("Inspect", json!({})),
        Action::Scenario { .. } => Ok(None),
    }
}

/// A scenario: (seconds from the start, action), in file order.
pub fn parse_scenario(file: &std::path::Path, text: &str) -> Result<Vec<(f64, Action)>, CtlError> {
    let mut steps = Vec::new();
    let mut last = 0.0;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |why: String| CtlError::Usage(format!("{}:{}: {why}", file.display(), n + 1));
        let words = split_words(line).map_err(|w| at(w.to_string()))?;
        let (time, rest) = words.split_first().ok_or_else(|| at("empty line".into()))?;
        let secs: f64 = time
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| at(format!("{time:?} is not a time in seconds")))?;
        if secs > MAX_SCENARIO_SECS {
            return Err(at(format!(
                "{time} s is out of range (a scenario runs at most {MAX_SCENARIO_SECS} s, a day)"
            )));
        }
        if secs < last {
            return Err(at(format!(
                "{secs} s comes before the line above ({last} s)"
            )));
        }
        last = secs;
        let parsed =
            ScenarioLine::try_parse_from(rest).map_err(|e| at(e.to_string().trim().to_string()))?;
        if matches!(parsed.action, Action::Scenario { .. }) {
            return Err(at("a scenario cannot run another scenario".into()));
        }
        steps.push((secs, parsed.action));
    }
    Ok(steps)
}

/// Splits on whitespace, keeping 'single' or "double" quoted runs together.
fn split_words(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unclosed quote");
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Runs `xmacro sim ctl`.
async fn ctl_run(args: CtlArgs) -> Result<(), CtlError> {
    let steps = match &args.action {
        Action::Scenario { file } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| CtlError::Usage(format!("{}: {e}", file.display())))?;
            parse_scenario(file, &text)?
        }
        other => vec![(0.0, other.clone())],
    };
    let calls = steps
        .iter()
        .map(|(at, a)| Ok((*at, control_call(a)?.expect("scenarios are flattened"))))
        .collect::<Result<Vec<_>, CtlError>>()?;
    let mut config =
        CodecConfig::from_url(&args.url).map_err(|e| CtlError::Usage(e.to_string()))?;
    config.password = Password(args.password.clone());
    let total = calls.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let steps = async {
        let codec = Codec::connect(config).await?;
        let start = tokio::time::Instant::now();
        let mut outcome = Ok(());
        for (at, call) in calls {
            tokio::time::sleep_until(start + Duration::from_secs_f64(at)).await;
            let method = call.method.clone();
            match codec.call(call, Duration::from_secs(10)).await {
                Ok(result) => super::out::note(
                    &json!({ "at": at, "method": method, "result": result }).to_string(),
                ),
                Err(e) => {
                    outcome = Err(e.into());
                    break;
                }
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        codec.close().await;
        outcome
    };
    // A stop signal ends the wait between steps (the process exits next,
    // which closes the connection).
    tokio::select! {
        r = steps => r,
        signal = crate::signals::stopped() => {
            let done = done.load(std::sync::atomic::Ordering::SeqCst);
            Err(CtlError::Stopped {
                signal,
                what: format!("stopped by {signal} after {done} of {total} step(s)"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_lines_parse_with_their_times() {
        let text = "# demo\n0 people 3\n1.5 incoming-call alice@example.com --name 'Alice A'\n\n2 hangup\n";
        let steps = parse_scenario(std::path::Path::new("s.txt"), text).unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[1].0, 1.5);
        let call = control_call(&steps[1].1).unwrap().unwrap();
        assert_eq!(call.method, "xSim/IncomingCall");
        assert_eq!(call.params["DisplayName"], "Alice A");
    }

    #[test]
    fn bad_scenario_lines_name_file_and_line() {
        let e = parse_scenario(std::path::Path::new("s.txt"), "0 people 3\nsoon people 2\n")
            .unwrap_err();
        assert!(e.to_string().starts_with("s.txt:2:"), "{e}");
        let e = parse_scenario(std::path::Path::new("s.txt"), "1 fly-away\n").unwrap_err();
        assert!(e.to_string().starts_with("s.txt:1:"), "{e}");
        let e =
            parse_scenario(std::path::Path::new("s.txt"), "2 people 1\n1 people 2\n").unwrap_err();
        assert!(e.to_string().contains("before"), "{e}");
    }

    #[test]
    fn status_values_are_json_when_they_can_be() {
        let a = Action::Status {
            words: vec![
                "Status".into(),
                "Audio".into(),
                "Volume".into(),
                "70".into(),
            ],
        };
        let call = control_call(&a).unwrap().unwrap();
        assert_eq!(
            call.params,
            json!({"Path": "Status Audio Volume", "Value": 70})
        );
    }
}
