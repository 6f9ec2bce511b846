//! `xmacro schema pull CODEC --out FILE`: ask a codec (or the simulator)
//! for the xDoc of each root and write it as the public schema's JSON
//! ([`crate::schema::xdoc`]), read back before it is written so a file
//! that `--schema` would refuse is never left behind. `check --codec`
//! uses the same pull without a file.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{SchemaArgs, SchemaCommand, Target};
use crate::error::AppError;
use crate::schema::{Kind, Schema, xdoc};
use crate::xows::protocol::Call;

/// The least time a whole root's xDoc may take (a real codec's Status is
/// large); `--timeout` may give more.
const MIN_PULL_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(args: SchemaArgs) -> Result<(), AppError> {
    let SchemaCommand::Pull(pull) = args.command;
    let doc = pull_document(&pull.target).await?;
    let count = doc["objects"].as_array().map_or(0, Vec::len);
    let text = serde_json::to_string_pretty(&doc).map_err(|e| AppError::Failed(e.to_string()))?;
    let out = &pull.out;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| AppError::Failed(format!("{}: {e}", dir.display())))?;
    }
    std::fs::write(out, text).map_err(|e| AppError::Failed(format!("{}: {e}", out.display())))?;
    super::out::line(&format!(
        "wrote {count} xAPI objects from {} to {} (use it with --schema {})",
        pull.target.codec,
        out.display(),
        out.display()
    ))
}

/// The codec's xAPI as the public schema's JSON document, checked by
/// reading it back.
pub async fn pull_document(target: &Target) -> Result<Value, AppError> {
    let codec = super::oneshot::open(target).await?;
    let timeout = target.timeout.max(MIN_PULL_TIMEOUT);
    let mut objects = Vec::new();
    let mut outcome = Ok(());
    for kind in Kind::ALL {
        let call = Call {
            method: "xDoc".into(),
            params: json!({ "Path": [kind.root()], "Type": "Schema" }),
        };
        match codec.call(call, timeout).await {
            Ok(doc) => match xdoc::objects(kind, &doc) {
                Ok(found) => objects.extend(found),
                Err(e) => {
                    outcome = Err(AppError::Failed(format!("{}: {e}", target.codec)));
                    break;
                }
            },
            Err(e) => {
                outcome = Err(AppError::at(&format!("xDoc {}", kind.root()))(e));
                break;
            }
        }
    }
    codec.close().await;
    outcome?;
    let doc = xdoc::document(objects, &crate::log::safe::redact_url(&target.codec));
    Schema::from_json(&doc, None).map_err(|e| {
        AppError::Failed(format!(
            "{}: the xDoc does not read as a schema: {e}",
            target.codec
        ))
    })?;
    Ok(doc)
}

/// The codec's xAPI as a schema, for `check --codec`.
pub async fn pull(target: &Target) -> Result<Schema, AppError> {
    let doc = pull_document(target).await?;
    Schema::from_json(&doc, None).map_err(|e| AppError::Failed(format!("{}: {e}", target.codec)))
}
