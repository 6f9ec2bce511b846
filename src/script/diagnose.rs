//! What a script error says: `file:line:col: message`, pointing into the
//! file (script or library) where it happened, with a hint where Rhai's own
//! words would puzzle a script's author.

use rhai::EvalAltResult;

/// `file:line:col: message` for an error, pointing into the file (script or
/// library) where it happened.
pub fn describe_error(default_file: &str, err: &EvalAltResult) -> String {
    let mut file = default_file.to_string();
    let mut e = err;
    // The innermost call site with a place, for errors Rhai raises
    // without one (a data race).
    let mut call_site = None;
    loop {
        match e {
            EvalAltResult::ErrorInModule(name, inner, _) => {
                file = if name.ends_with(".rhai") {
                    name.to_string()
                } else {
                    format!("{name}.rhai")
                };
                e = inner;
            }
            EvalAltResult::ErrorInFunctionCall(_, src, inner, at) => {
                if !at.is_none() {
                    call_site = Some((file.clone(), *at));
                }
                if !src.is_empty() {
                    file = src.clone();
                }
                e = inner;
            }
            _ => break,
        }
    }
    let mut pos = e.position();
    if pos.is_none()
        && let Some((f, at)) = call_site
    {
        (file, pos) = (f, at);
    }
    let what = match e {
        EvalAltResult::ErrorDataRace(..) => format!(
            "{e}: a closure used a variable that the method running it holds (as `list.map(|x| list.len())`); copy it to a local first (`let n = list.len();`) and use the copy in the closure"
        ),
        EvalAltResult::ErrorTerminated(v, _) if v.is_string() => format!("terminated: {v}"),
        EvalAltResult::ErrorRuntime(v, _) if v.is_string() => v.to_string(),
        EvalAltResult::ErrorRuntime(v, _) if v.is_map() => {
            let m = v.clone().cast::<rhai::Map>();
            // The data says what the message is about (the path a "No
            // match on Path argument" means).
            let data = m
                .get("data")
                .filter(|d| !d.is_unit() && !d.to_string().is_empty())
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            format!(
                "uncaught error {}: {}{data}",
                m.get("code").map(|c| c.to_string()).unwrap_or_default(),
                m.get("message").map(|c| c.to_string()).unwrap_or_default()
            )
        }
        other => {
            let text = other.to_string();
            let suffix = format!(" ({pos})");
            text.strip_suffix(&suffix).unwrap_or(&text).to_string()
        }
    };
    let what = match super::hints::for_runtime_error(&what) {
        Some(hint) => format!("{what}; hint: {hint}"),
        None => what,
    };
    match (pos.line(), pos.position()) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}: {what}"),
        (Some(l), None) => format!("{file}:{l}: {what}"),
        _ => format!("{file}: {what}"),
    }
}
