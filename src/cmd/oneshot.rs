//! The one-shot commands (`get`, `query`, `set`, `command`, `feedback`),
//! like Cisco's clixows: resolve the codec, connect once, print JSON.

use std::io::{IsTerminal, Read};

use serde_json::{Map, Value};

use crate::cli::{CommandArgs, FeedbackArgs, PathArgs, Target};
use crate::config::Config;
use crate::error::AppError;
use crate::xows::path::{Path, Root, Segment};
use crate::xows::{Codec, CodecConfig, Password};

/// Builds the codec settings from a URL or a configured name plus flags.
fn resolve(target: &Target) -> Result<CodecConfig, AppError> {
    // "10.0.0.5/ws" or "codec:443" is a URL without its scheme, not a name.
    let is_url = target.codec.contains(['/', ':']);
    let mut cfg = if is_url {
        CodecConfig::from_url(&target.codec).map_err(crate::xows::Error::from)?
    } else {
        let file = crate::config::discover(target.config.as_deref()).ok_or_else(|| {
            AppError::Usage(format!(
                "{:?} is not a URL (ws://... or wss://...), and there is no config to look it up in \
                 (--config FILE, XMACRO_CONFIG, or ./xmacro.toml)",
                target.codec
            ))
        })?;
        // -p or XMACRO_PASSWORD wins over the config's password source,
        // which is then not read (it may name a variable not set here).
        let config = match target.connect.password {
            Some(_) => Config::load_without_passwords(&file)?,
            None => Config::load(&file)?,
        };
        let names: Vec<String> = config.codecs.iter().map(|c| c.name.clone()).collect();
        config
            .codec(&target.codec)
            .ok_or_else(|| {
                AppError::Usage(format!(
                    "{}: no codec named {:?}{} (configured: {})",
                    file.display(),
                    target.codec,
                    crate::config::did_you_mean(&target.codec, names.iter()),
                    names.join(", ")
                ))
            })?
            .config
            .clone()
    };
    cfg.request_timeout = target.timeout;
    cfg.connect_timeout = target.timeout;
    super::connect::apply_flags(&mut cfg, &target.connect)?;
    // Without -p: a URL without a user (ws://127.0.0.1:8080/ws) means admin
    // with an empty password, as on a factory-new codec or the simulator: no
    // prompt. A user named in the URL gets asked, on a terminal.
    if target.connect.password.is_none()
        && is_url
        && url_names_user(&target.codec)
        && std::io::stdin().is_terminal()
    {
        let prompt = format!(
            "Password for {} at {} (Enter for an empty password): ",
            cfg.username, cfg.name
        );
        cfg.password = Password(
            rpassword::prompt_password(prompt)
                .map_err(|e| AppError::Usage(format!("reading the password: {e}")))?,
        );
    }
    Ok(cfg)
}

/// Whether a codec URL names its user (`wss://integrator@10.0.0.5/ws`).
fn url_names_user(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|u| !u.username().is_empty())
}

pub(crate) async fn open(target: &Target) -> Result<Codec, AppError> {
    let cfg = resolve(target)?;
    let empty = cfg.password.0.is_empty();
    let user = cfg.username.clone();
    Codec::connect(cfg).await.map_err(|e| match e {
        // Tried as admin with an empty password: say how to give one.
        crate::xows::Error::Connect(crate::xows::ConnectError::Auth { .. }) if empty => {
            AppError::EmptyPassword { user, source: e }
        }
        e => e.into(),
    })
}

fn parse_path(words: &[String], roots: &[Root], what: &str) -> Result<Path, AppError> {
    let path = Path::from_words(words)?;
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
    let pretty = std::io::stdout().is_terminal();
    print_value(v, pretty)
}

/// Prints one JSON value, pretty or as one line.
fn print_value(v: &Value, pretty: bool) -> Result<(), AppError> {
    let text = if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    }
    .map_err(|e| AppError::Failed(e.to_string()))?;
    super::out::line(&text)
}

pub async fn get(args: PathArgs) -> Result<(), AppError> {
    let path = parse_path(&args.path, &[Root::Status, Root::Configuration], "the path")?;
    let codec = open(&args.target).await?;
    let v = codec.get(&path).await.map_err(AppError::at(&path))?;
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
    let v = codec.query(&path).await.map_err(AppError::at(&path))?;
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
    codec
        .set(&path, Value::String(value.clone()))
        .await
        .map_err(AppError::at(&path))?;
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
    let path = Path::from_words(&path_words)?;
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
    let v = codec
        .command(&path, params, body)
        .await
        .map_err(AppError::at(&path))?;
    codec.close().await;
    print_json(&v)
}

/// Before following a Status or Configuration path, makes sure the codec
/// knows it: a typo would otherwise wait forever for feedback that never
/// comes. A name missing under a node that exists (`Status Audio Volumee`)
/// is refused with the nearest name; an element not present yet
/// (`Status Call[1]` with no call) is fine, and so are wildcards and events.
async fn known_path(codec: &Codec, path: &Path) -> Result<(), AppError> {
    let concrete = !path.0.iter().any(|s| matches!(s, Segment::AnyDepth));
    let below_root = path.0.len() > 1; // not worth fetching all of Status
    if !concrete || !below_root || !matches!(path.root(), Some(Root::Status | Root::Configuration))
    {
        return Ok(());
    }
    match codec.get(path).await {
        Ok(_) => return Ok(()),
        Err(crate::xows::Error::Codec(_)) => {}
        Err(e) => return Err(e.into()),
    }
    for n in 2..=path.0.len() {
        let prefix = Path(path.0[..n].to_vec());
        match codec.get(&prefix).await {
            Ok(_) => continue,
            Err(crate::xows::Error::Codec(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let Segment::Name(name) = &path.0[n - 1] else {
            return Ok(()); // an element that may appear later
        };
        let parent = Path(path.0[..n - 1].to_vec());
        let siblings: Vec<String> = match codec.get(&parent).await {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        return Err(AppError::Failed(format!(
            "{path} does not exist on the codec: no {name:?} under {parent}{}; no feedback would ever come",
            crate::config::did_you_mean(name, siblings.iter())
        )));
    }
    Ok(())
}

pub async fn feedback(args: FeedbackArgs) -> Result<(), AppError> {
    let path = Path::from_words(&args.path)?;
    let rooted = path.0.first() == Some(&Segment::AnyDepth)
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
    known_path(&codec, &path).await?;
    let mut sub = codec
        .subscribe(&path, args.current)
        .await
        .map_err(AppError::at(&path))?;
    let mut record = match &args.record {
        Some(file) => Some(
            crate::testrun::record::Recorder::create(file)
                .map_err(|e| AppError::Usage(format!("--record {}: {e}", file.display())))?,
        ),
        None => None,
    };
    let stop = crate::signals::shutdown();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            ev = sub.next() => match ev {
                // JSON lines, on a terminal too: one event, one line.
                Some(doc) => {
                    if let Some(r) = record.as_mut() {
                        r.write(&doc)
                            .map_err(|e| AppError::Failed(format!("writing the recording: {e}")))?;
                    }
                    print_value(&doc, false)?
                }
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
