//! The one-shot commands (`get`, `query`, `set`, `command`, `feedback`),
//! like Cisco's clixows: resolve the codec, connect once, print JSON.

use std::io::{IsTerminal, Read, Write};

use serde_json::{Map, Value};

use crate::app::AppError;
use crate::cli::{AuthArg, CommandArgs, FeedbackArgs, PathArgs, Target};
use crate::config::Config;
use crate::xows::path::{Path, Root};
use crate::xows::tls::parse_pin;
use crate::xows::{AuthMode, Codec, CodecConfig, Password, TlsMode};

/// Builds the codec settings from a URL or a configured name plus flags.
fn resolve(target: &Target) -> Result<CodecConfig, AppError> {
    let is_url = target.codec.contains("://");
    let mut cfg = if is_url {
        CodecConfig::from_url(&target.codec).map_err(|e| AppError::Usage(e.to_string()))?
    } else {
        let file = target.config.as_ref().ok_or_else(|| {
            AppError::Usage(format!(
                "{:?} is not a URL (ws://... or wss://...), and no --config was given to look it up in",
                target.codec
            ))
        })?;
        let config = Config::load(file).map_err(|e| AppError::Usage(e.to_string()))?;
        let names: Vec<&str> = config.codecs.iter().map(|c| c.name.as_str()).collect();
        config
            .codec(&target.codec)
            .ok_or_else(|| {
                AppError::Usage(format!(
                    "{}: no codec named {:?} (configured: {})",
                    file.display(),
                    target.codec,
                    names.join(", ")
                ))
            })?
            .config
            .clone()
    };
    cfg.request_timeout = target.timeout;
    cfg.connect_timeout = target.timeout;
    if target.auth == AuthArg::Subprotocol {
        cfg.auth = AuthMode::SubProtocol;
    }
    if target.legacy {
        cfg.legacy = true;
    }
    if let Some(fp) = &target.fingerprint {
        cfg.tls = TlsMode::Pin(parse_pin(fp).map_err(AppError::Usage)?);
    } else if let Some(ca) = &target.ca {
        cfg.tls = TlsMode::Ca(ca.clone());
    } else if target.insecure {
        cfg.tls = TlsMode::Insecure;
    }
    match &target.password {
        Some(p) => cfg.password = Password(p.clone()),
        None if is_url && std::io::stdin().is_terminal() => {
            let prompt = format!("Password for {} at {}: ", cfg.username, cfg.name);
            cfg.password = Password(
                rpassword::prompt_password(prompt)
                    .map_err(|e| AppError::Usage(format!("reading the password: {e}")))?,
            );
        }
        None => {}
    }
    Ok(cfg)
}

async fn open(target: &Target) -> Result<Codec, AppError> {
    let cfg = resolve(target)?;
    Codec::connect(cfg).await.map_err(AppError::from)
}

fn parse_path(words: &[String], roots: &[Root], what: &str) -> Result<Path, AppError> {
    let path = Path::from_words(words).map_err(|e| AppError::Usage(e.to_string()))?;
    match path.root() {
        Some(r) if roots.contains(&r) => Ok(path),
        _ => Err(AppError::Usage(format!(
            "{what} must start with {}: got {path}",
            roots
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        ))),
    }
}

/// Prints a JSON value: pretty on a terminal, compact otherwise.
fn print_json(v: &Value) -> Result<(), AppError> {
    let mut out = std::io::stdout().lock();
    let text = if out.is_terminal() {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    }
    .map_err(|e| AppError::Failed(e.to_string()))?;
    writeln!(out, "{text}")
        .and_then(|_| out.flush())
        .map_err(|e| AppError::Failed(format!("writing the output: {e}")))
}

pub async fn get(args: PathArgs) -> Result<(), AppError> {
    let path = parse_path(&args.path, &[Root::Status, Root::Configuration], "the path")?;
    let codec = open(&args.target).await?;
    let v = codec.get(&path).await?;
    codec.close().await;
    print_json(&v)
}

pub async fn query(args: PathArgs) -> Result<(), AppError> {
    let path = parse_path(
        &args.path,
        &[Root::Status, Root::Configuration],
        "the query",
    )?;
    let codec = open(&args.target).await?;
    let v = codec.query(&path).await?;
    codec.close().await;
    print_json(&v)
}

pub async fn set(args: PathArgs) -> Result<(), AppError> {
    let (value, words) = args
        .path
        .split_last()
        .filter(|(_, w)| !w.is_empty())
        .ok_or_else(|| AppError::Usage("set needs a path and a value".into()))?;
    let path = parse_path(words, &[Root::Configuration], "the path")?;
    let codec = open(&args.target).await?;
    codec.set(&path, Value::String(value.clone())).await?;
    codec.close().await;
    print_json(&Value::Bool(true))
}

/// Splits command words into the path and `Name=Value` arguments (a
/// repeated name becomes an array; values are sent as strings, as the
/// codecs' own clients do).
pub fn command_args(words: &[String]) -> Result<(Path, Map<String, Value>), AppError> {
    let mut path_words = Vec::new();
    let mut params = Map::new();
    for w in words {
        match w.split_once('=') {
            Some((name, value)) => {
                if name.is_empty() {
                    return Err(AppError::Usage(format!("{w:?}: an argument needs a name")));
                }
                let v = Value::String(value.to_string());
                match params.get_mut(name) {
                    Some(Value::Array(a)) => a.push(v),
                    Some(prev) => *prev = Value::Array(vec![prev.take(), v]),
                    None => {
                        params.insert(name.to_string(), v);
                    }
                }
            }
            None if params.is_empty() => path_words.push(w.clone()),
            None => {
                return Err(AppError::Usage(format!(
                    "{w:?} comes after Name=Value arguments; put the whole command path first"
                )));
            }
        }
    }
    if path_words.is_empty() {
        return Err(AppError::Usage("no command path given".into()));
    }
    let path = Path::from_words(&path_words).map_err(|e| AppError::Usage(e.to_string()))?;
    if matches!(path.root(), Some(r) if r != Root::Command) {
        return Err(AppError::Usage(format!("{path} is not a command path")));
    }
    Ok((path, params))
}

pub async fn command(args: CommandArgs) -> Result<(), AppError> {
    let (path, params) = command_args(&args.words)?;
    let body = match &args.body {
        None => None,
        Some(f) if f.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| AppError::Usage(format!("reading the body from stdin: {e}")))?;
            Some(text)
        }
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| AppError::Usage(format!("--body {}: {e}", f.display())))?,
        ),
    };
    let codec = open(&args.target).await?;
    let v = codec.command(&path, params, body).await?;
    codec.close().await;
    print_json(&v)
}

pub async fn feedback(args: FeedbackArgs) -> Result<(), AppError> {
    let path = Path::from_words(&args.path).map_err(|e| AppError::Usage(e.to_string()))?;
    let rooted = path.0.first() == Some(&crate::xows::path::Segment::AnyDepth)
        || matches!(
            path.root(),
            Some(Root::Status | Root::Configuration | Root::Event)
        );
    if !rooted {
        return Err(AppError::Usage(format!(
            "feedback paths start with Status, Configuration, Event or **: got {path}"
        )));
    }
    let codec = open(&args.target).await?;
    let mut sub = codec.subscribe(&path, args.current).await?;
    let stop = crate::app::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            ev = sub.next() => match ev {
                Some(doc) => print_json(&doc)?,
                None => break,
            },
        }
    }
    drop(sub);
    codec.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn w(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn command_words_split_into_path_and_arguments() {
        let (p, a) = command_args(&w("Audio Volume Set Level=60")).unwrap();
        assert_eq!(p.to_string(), "Audio Volume Set");
        assert_eq!(Value::Object(a), json!({"Level":"60"}));
        let (_, a) = command_args(&w(
            "Video Matrix Assign ConnectorId=2 ConnectorId=3 ConnectorId=4",
        ))
        .unwrap();
        assert_eq!(Value::Object(a), json!({"ConnectorId":["2","3","4"]}));
        let (_, a) = command_args(&w("Dial Number=a=b")).unwrap();
        assert_eq!(a["Number"], "a=b");
        assert!(command_args(&w("Level=60")).is_err());
        assert!(command_args(&w("Audio Level=60 Volume")).is_err());
        assert!(command_args(&w("Status Audio Volume")).is_err());
    }
}
