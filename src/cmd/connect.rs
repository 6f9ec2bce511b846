//! The connection flags every connecting command shares
//! ([`crate::cli::ConnectArgs`]) applied to codec settings through
//! [`crate::config::codec::apply_choices`], the same function a `[[codec]]` table goes
//! through; a mistake names its flag.

use crate::cli::{AuthArg, ConnectArgs};
use crate::config::codec::{self, Choices};
use crate::error::AppError;
use crate::xows::{AuthMode, CodecConfig, Password};

/// Applies the flags to settings from a URL or a config table.
pub fn apply_flags(cfg: &mut CodecConfig, args: &ConnectArgs) -> Result<(), AppError> {
    let choices = Choices {
        password: args.password.clone().map(Password),
        fingerprint: args.fingerprint.clone(),
        ca: args.ca.clone(),
        insecure: args.insecure,
        auth: args.auth.map(|a| match a {
            AuthArg::Basic => AuthMode::Basic,
            AuthArg::Subprotocol => AuthMode::SubProtocol,
        }),
        legacy: args.legacy.then_some(true),
        ..Default::default()
    };
    codec::apply_choices(cfg, &choices).map_err(|e| {
        AppError::Usage(match e.key {
            "url" => e.why,
            flag => format!("--{flag}: {}", e.why),
        })
    })
}
