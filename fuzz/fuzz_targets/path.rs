//! Path parsing: never panics, and a parsed path survives its JSON form and
//! its display form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmacro::xows::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Path::parse(text) {
        let json = p.to_json();
        assert_eq!(
            Path::from_json(&json).ok().as_ref(),
            Some(&p),
            "JSON round trip of {text:?}"
        );
        let shown = p.to_string();
        assert_eq!(
            Path::parse(&shown).ok().as_ref(),
            Some(&p),
            "display round trip of {text:?} via {shown:?}"
        );
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = Path::from_json(&v);
    }
});
