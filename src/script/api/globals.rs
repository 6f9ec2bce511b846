//! The names every script sees: `xapi`, `codec`, `codecs`, `args` and
//! `store`, answered from the running instance's context.

use std::sync::Arc;

use rhai::{Dynamic, Engine, NativeCallContext};

use super::path::XPath;
use super::{RhaiResult, ctx, from_dynamic, store_failed, to_dynamic, usage};
use crate::script::instance::InstanceCtx;
use crate::script::pool::Pool;

/// `codecs["name"]`.
#[derive(Clone)]
pub struct Codecs;

/// The script's `store`.
#[derive(Clone)]
pub struct StoreHandle(Arc<crate::store::Store>);

/// The names [`global`] answers; they win over a script's own variables.
pub const GLOBAL_NAMES: [&str; 5] = ["xapi", "codec", "codecs", "args", "store"];

/// The value `name` stands for in every script (on_var).
pub fn global(ctx: &InstanceCtx, name: &str) -> Option<Dynamic> {
    Some(match name {
        "xapi" => Dynamic::from(XPath::root(ctx.codec.clone())),
        "codec" => {
            let mut m = rhai::Map::new();
            m.insert("name".into(), ctx.codec_name.clone().into());
            m.insert("url".into(), ctx.codec_url.clone().into());
            m.insert("settings".into(), ctx.settings.clone().into());
            m.into()
        }
        "codecs" => Dynamic::from(Codecs),
        "args" => ctx.args.clone().into(),
        "store" => Dynamic::from(StoreHandle(ctx.store.clone())),
        _ => return None,
    })
}

/// Registers `codecs[...]` and the `store` methods.
pub(super) fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Codecs>("codecs")
        .register_indexer_get(
            |c: NativeCallContext, _: &mut Codecs, name: &str| -> RhaiResult<XPath> {
                let ctx = ctx(c.tag())?;
                match ctx.codecs.get(name) {
                    Some(c) => Ok(XPath::root(c.clone())),
                    None => Err(usage(format!(
                        "codecs[{name:?}]: no such codec (configured: {})",
                        ctx.codecs.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))),
                }
            },
        )
        .register_fn(
            "keys",
            |c: NativeCallContext, _: &mut Codecs| -> RhaiResult<rhai::Array> {
                Ok(ctx(c.tag())?
                    .codecs
                    .keys()
                    .map(|k| k.clone().into())
                    .collect())
            },
        );

    engine
        .register_type_with_name::<StoreHandle>("store")
        .register_fn(
            "get",
            |s: &mut StoreHandle, key: &str| -> RhaiResult<Dynamic> {
                s.0.get(key).map_or(Ok(Dynamic::UNIT), |v| to_dynamic(&v))
            },
        )
        .register_fn(
            "set",
            |s: &mut StoreHandle, key: &str, v: Dynamic| -> RhaiResult<()> {
                let v = from_dynamic(&v)?;
                // A write may wait for the store (a database reconnecting).
                Pool::global()
                    .blocking(|| s.0.set(key, v))
                    .map_err(store_failed)
            },
        )
        .register_fn(
            "remove",
            |s: &mut StoreHandle, key: &str| -> RhaiResult<Dynamic> {
                match Pool::global()
                    .blocking(|| s.0.remove(key))
                    .map_err(store_failed)?
                {
                    Some(v) => to_dynamic(&v),
                    None => Ok(Dynamic::UNIT),
                }
            },
        )
        .register_fn("keys", |s: &mut StoreHandle| -> rhai::Array {
            s.0.keys().into_iter().map(Dynamic::from).collect()
        });
}
