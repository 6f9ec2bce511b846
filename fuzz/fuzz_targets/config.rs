//! Config parsing: any text gives a config or an error with a place, never
//! a panic, and the error never carries an environment secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmacro::config::Config;

const SECRET: &str = "fuzz-secret-4f2a";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |_: &str| Some(SECRET.to_string());
    if let Err(e) = Config::parse(std::path::Path::new("/fuzz/xmacro.toml"), text, &env) {
        let msg = e.to_string();
        assert!(!msg.contains(SECRET), "a secret in an error: {msg}");
        assert!(
            msg.starts_with("/fuzz/xmacro.toml:"),
            "an error without its place: {msg}"
        );
    }
});
