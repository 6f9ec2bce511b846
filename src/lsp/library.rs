//! The script API and standard library as an editor shows them: each name
//! with its signature and a line or two of documentation (the same words
//! as docs/scripting.md, which a test keeps in step).

/// One name a script can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub name: &'static str,
    /// How it is called (or, for a value, what it is).
    pub signature: &'static str,
    pub doc: &'static str,
    /// A function (or method), not a value.
    pub callable: bool,
}

const fn f(name: &'static str, signature: &'static str, doc: &'static str) -> Item {
    Item {
        name,
        signature,
        doc,
        callable: true,
    }
}

const fn v(name: &'static str, signature: &'static str, doc: &'static str) -> Item {
    Item {
        name,
        signature,
        doc,
        callable: false,
    }
}

/// Names every script sees.
pub const GLOBALS: &[Item] = &[
    v(
        "xapi",
        "xapi",
        "The codec this instance runs on: `xapi.Status.Audio.Volume.get()`, `xapi.Command.Dial(#{ Number: \"a@b.c\" })`, `xapi.get(\"Status Audio Volume\")`.",
    ),
    v(
        "codec",
        "codec: #{ name, url }",
        "Facts about the codec this instance runs on: `codec.name`, `codec.url`.",
    ),
    v(
        "codecs",
        "codecs[name]",
        "Every configured codec by name: `codecs[\"huddle-1\"]` has the same API as `xapi`; `codecs.keys()` lists the names.",
    ),
    v(
        "args",
        "args: map",
        "This script's `args` from the config (`[script.NAME] args`); an empty map when none.",
    ),
    v(
        "store",
        "store",
        "Durable key-value state of this script on this codec: `store.get(key)`, `store.set(key, value)`, `store.remove(key)`, `store.keys()`.",
    ),
    f(
        "set_timeout",
        "set_timeout(f, ms) -> handle",
        "Runs `f` once after `ms` milliseconds; the handle's `.cancel()` stops it. Timers stop when the script is reloaded or removed.",
    ),
    f(
        "set_interval",
        "set_interval(f, ms) -> handle",
        "Runs `f` every `ms` milliseconds (10 ms at the shortest); the handle's `.cancel()` stops it.",
    ),
    f(
        "daily",
        "daily(\"HH:MM\", f) -> handle",
        "Runs `f` every day at that local time; the handle's `.cancel()` stops it.",
    ),
    f(
        "steps",
        "steps([f, ms, g, ms, h]) -> handle",
        "Runs `f`, waits `ms` milliseconds, runs `g`, and so on, each step its own callback; `.cancel()` drops the steps not yet run.",
    ),
    f(
        "sleep",
        "sleep(s)",
        "Pauses this callback for `s` seconds (it counts against the callback's 5 s budget and holds this script's events back).",
    ),
    f(
        "now_us",
        "now_us() -> int",
        "Microseconds since the Unix epoch (timestamps, latency measurements).",
    ),
    f(
        "print",
        "print(x)",
        "Logs `x` at info level, tagged with the codec and script.",
    ),
    f(
        "warn",
        "warn(x)",
        "Logs `x` at warn level, tagged with the codec and script.",
    ),
    f(
        "error",
        "error(x)",
        "Logs `x` at error level, tagged with the codec and script.",
    ),
    f(
        "debug",
        "debug(x)",
        "Rhai's debug print, logged at debug level (`RUST_LOG=debug`).",
    ),
    f(
        "json_parse",
        "json_parse(text) -> value",
        "Any JSON value: maps, arrays, `INT`, `FLOAT`, strings, `true`/`false`, `()` for `null`. A malformed text is a catchable error `#{ code: \"json\", message }`.",
    ),
    f(
        "json_stringify",
        "json_stringify(v) -> string\njson_stringify(v, indent) -> string",
        "JSON text of any value; `()` is `null`; a function is an error.",
    ),
    f(
        "now",
        "now() -> DateTime",
        "The local date and time: `year month day hour minute second`, `minutes` (since midnight), `weekday`, `day_of_week`, `is_weekend`, `date`, `time`; `.format(pattern)`, `.add_days(n)`, `.is_between(\"22:00\", \"07:00\")`.",
    ),
    f(
        "date",
        "date(\"2026-03-02 07:59\") -> DateTime",
        "A `DateTime` from text (seconds optional, `T` or space, or a date alone).",
    ),
    f(
        "parse_time",
        "parse_time(\"07:30\") -> int",
        "Minutes since midnight (compare with `now().minutes`).",
    ),
    f(
        "unix_ms",
        "unix_ms() -> int",
        "Milliseconds since 1970 (to measure durations).",
    ),
    f(
        "regex",
        "regex(pattern) -> Regex",
        "A compiled regular expression (Rust syntax, linear time): `.test(s)`, `.find(s)`, `.find_all(s)`, `.captures(s)`, `.replace(s, with)`, `.replace_first(s, with)`, `.split(s)`.",
    ),
    f(
        "random",
        "random() -> float\nrandom(lo, hi) -> int",
        "A float in [0, 1); an integer in [lo, hi], both included.",
    ),
];

/// Methods of `xapi` (and of `codecs[name]`) besides the path roots.
pub const XAPI: &[Item] = &[
    f(
        "get",
        "xapi.get(\"Status Audio Volume\") -> value",
        "Reads a status or configuration value (xGet).",
    ),
    f(
        "set",
        "xapi.set(\"Configuration Audio DefaultVolume\", value)",
        "Sets a configuration (xSet).",
    ),
    f(
        "query",
        "xapi.query(\"Status ** DisplayName\") -> map",
        "xQuery with `**` wildcards; the result is rooted at the top.",
    ),
    f(
        "command",
        "xapi.command(\"Audio Volume Set\", #{ Level: 60 }[, body]) -> map",
        "Runs a command (xCommand) and gives its result map; a multi-line command takes its text as the third argument.",
    ),
    f(
        "send",
        "xapi.send(\"Audio Volume Set\", #{ Level: 30 })",
        "Runs a command without waiting for it; a refusal is logged with its file:line:col.",
    ),
    f(
        "on",
        "xapi.on(\"Event ...\", f) -> handle",
        "Feedback: calls `f` with the value at the path on every change (or event); the handle's `.off()` stops it.",
    ),
    f(
        "once",
        "xapi.once(\"Status Call\", f) -> handle",
        "Feedback, once.",
    ),
    f(
        "on_connection",
        "xapi.on_connection(|up| ...)",
        "Hears about connection loss (`false`) and recovery (`true`).",
    ),
];

/// The roots of an xAPI path as scripts write them.
pub const ROOTS: &[Item] = &[
    v(
        "Status",
        "xapi.Status",
        "Status values: `.get()`, `.on(f)`, `.once(f)`.",
    ),
    v(
        "Config",
        "xapi.Config",
        "Configurations (`Configuration` too): `.get()`, `.set(v)`, `.on(f)`.",
    ),
    v(
        "Command",
        "xapi.Command",
        "Commands: `xapi.Command.Audio.Volume.Set(#{ Level: 60 })`, `.send(#{...})` to not wait.",
    ),
    v("Event", "xapi.Event", "Events: `.on(f)`, `.once(f)`."),
];

/// Methods on a path, by what it leads to.
pub const PATH_METHODS: &[Item] = &[
    f(
        "get",
        "path.get() -> value",
        "Reads the value at the path (xGet).",
    ),
    f(
        "set",
        "path.set(value)",
        "Sets the configuration at the path (xSet).",
    ),
    f(
        "on",
        "path.on(f) -> handle",
        "Calls `f` with the value at the path on every change (or event); the handle's `.off()` stops it.",
    ),
    f(
        "once",
        "path.once(f) -> handle",
        "Like `on`, for the first change only.",
    ),
    f(
        "query",
        "path.query(\"** Name\") -> map",
        "xQuery below the path.",
    ),
    f(
        "send",
        "xapi.Command.X.Y.send(#{...})",
        "Runs the command without waiting for it; a refusal is logged with its file:line:col.",
    ),
];

/// `store.` methods.
pub const STORE: &[Item] = &[
    f(
        "get",
        "store.get(key) -> value or ()",
        "The value kept under `key`, or `()`.",
    ),
    f(
        "set",
        "store.set(key, value)",
        "Keeps `value` (anything JSON holds) under `key`, on disk before it returns; an error (quota, nesting, disk) is catchable and changes nothing.",
    ),
    f("remove", "store.remove(key)", "Forgets `key`."),
    f("keys", "store.keys() -> array", "Every key kept."),
];

/// `codec.` fields.
pub const CODEC: &[Item] = &[
    v(
        "name",
        "codec.name: string",
        "The codec's name in the config.",
    ),
    v("url", "codec.url: string", "The codec's URL."),
    v(
        "settings",
        "codec.settings: map",
        "This codec's settings from the config: its [[codec]] settings over [defaults] settings.",
    ),
];

/// What `name` is when written after `receiver.` (`store`, `codec`, `xapi`,
/// a path), or alone (`receiver` `None`).
pub fn find(receiver: Option<&str>, name: &str) -> Option<&'static Item> {
    let list: &[Item] = match receiver {
        None => GLOBALS,
        Some("store") => STORE,
        Some("codec") => CODEC,
        Some("xapi") => XAPI,
        Some(_) => PATH_METHODS,
    };
    list.iter().find(|i| i.name == name)
}

/// Markdown for hover and completion documentation.
pub fn markdown(item: &Item) -> String {
    format!("```rhai\n{}\n```\n{}", item.signature, item.doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_offered_is_one_the_scripting_guide_documents() {
        let guide = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scripting.md"),
        )
        .unwrap();
        for item in GLOBALS.iter().chain(XAPI).chain(STORE) {
            let called = format!("{}(", item.name);
            assert!(
                guide.contains(&called) || !item.callable,
                "{} is not in docs/scripting.md",
                item.name
            );
        }
        for item in GLOBALS.iter().filter(|i| !i.callable) {
            assert!(guide.contains(&format!("`{}`", item.name)), "{}", item.name);
        }
    }

    #[test]
    fn names_are_found_by_where_they_are_written() {
        assert_eq!(find(None, "set_timeout").unwrap().name, "set_timeout");
        assert!(find(Some("store"), "keys").is_some());
        assert!(find(Some("store"), "set_timeout").is_none());
        assert!(
            find(Some("Volume"), "get")
                .unwrap()
                .signature
                .starts_with("path.get")
        );
    }
}
