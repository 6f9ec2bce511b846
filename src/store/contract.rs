//! What every [`Backend`] must do, as one check any backend's tests can
//! run: `open` gives a new handle on the same storage each time it is
//! called (so what one handle wrote, a later one must read), and the
//! storage starts empty.

use serde_json::json;

use super::backend::{Backend, InstanceId, Row};
use super::{DEFAULT_QUOTA, Store};

/// Pairs of names a careless mapping to file names would merge.
pub const LOOKALIKES: &[(&str, &str)] = &[
    ("会议室", "大厅室"),
    ("a b", "a_b"),
    ("room/1", "room_1"),
    ("..", "__"),
    ("x.json", "x"),
    ("Room", "room"),
];

fn sorted(mut rows: Vec<Row>) -> Vec<(String, String)> {
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows.into_iter()
        .map(|r| (r.key, String::from_utf8(r.value).unwrap()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs every promise of the backend contract; panics on the first broken.
pub fn check(open: &dyn Fn() -> Box<dyn Backend>) {
    let b = open();
    let id = InstanceId::new("boardroom", "volume");
    assert_eq!(b.load(&id).unwrap(), vec![], "a new store is empty");

    b.put(&id, "n", "1").unwrap();
    b.put(&id, "m", r#"{"a":[1,2]}"#).unwrap();
    b.put(&id, "n", "2").unwrap();
    b.put(&id, "", r#""empty key""#).unwrap();
    b.put(&id, "ключ \"'", r#""unicode""#).unwrap();
    let big = format!("\"{}\"", "x".repeat(1 << 20));
    b.put(&id, "big", &big).unwrap();
    b.delete(&id, "m").unwrap();
    b.delete(&id, "never-there").unwrap();
    drop(b);

    let b = open();
    let want = pairs(&[
        ("", r#""empty key""#),
        ("big", &big),
        ("n", "2"),
        ("ключ \"'", r#""unicode""#),
    ]);
    assert_eq!(
        sorted(b.load(&id).unwrap()),
        want,
        "what was acknowledged is read again"
    );

    for (i, (x, y)) in LOOKALIKES.iter().enumerate() {
        let as_scripts = [InstanceId::new("c", x), InstanceId::new("c", y)];
        let as_codecs = [InstanceId::new(x, "s"), InstanceId::new(y, "s")];
        for [p, q] in [as_scripts, as_codecs] {
            b.put(&p, "k", &format!("\"{x}{i}\"")).unwrap();
            b.put(&q, "k", &format!("\"{y}{i}\"")).unwrap();
        }
    }
    drop(b);
    let b = open();
    for (i, (x, y)) in LOOKALIKES.iter().enumerate() {
        for (codec, script, who) in [("c", *x, x), ("c", *y, y), (*x, "s", x), (*y, "s", y)] {
            let rows = b.load(&InstanceId::new(codec, script)).unwrap();
            assert_eq!(
                sorted(rows),
                pairs(&[("k", &format!("\"{who}{i}\""))]),
                "{codec:?}/{script:?} shares storage with a lookalike"
            );
        }
    }
    assert_eq!(
        sorted(b.load(&id).unwrap()),
        want,
        "other instances' writes do not touch this one"
    );

    // One rule for keys on every backend, kept by the store above them: a
    // key with a NUL character is refused (PostgreSQL's text cannot hold
    // one); NUL inside a value is fine (JSON escapes it).
    let backend: std::sync::Arc<dyn Backend> = std::sync::Arc::from(b);
    let nul = InstanceId::new("c", "nul");
    let store = Store::load(nul.clone(), backend.clone(), DEFAULT_QUOTA).unwrap();
    let e = store.set("a\0b", json!(1)).unwrap_err().to_string();
    assert!(
        e.contains("NUL") && e.contains("\"a\\0b\""),
        "a key with NUL: {e}"
    );
    store.set("k", json!("a\0b")).unwrap();
    assert_eq!(store.remove("a\0b").unwrap(), None);
    drop(store);
    let store = Store::load(nul, backend, DEFAULT_QUOTA).unwrap();
    assert_eq!(store.keys(), ["k"]);
    assert_eq!(store.get("k"), Some(json!("a\0b")));
}

/// The panel records on a backend: per codec, PanelId to hash, read again
/// by a later handle, apart from every script's entries and from other
/// codecs (lookalike names included).
pub fn check_panels(open: &dyn Fn() -> Box<dyn Backend>) {
    use super::PanelRecords;
    let records = |b: Box<dyn Backend>| PanelRecords::new(std::sync::Arc::from(b));
    let r = records(open());
    assert!(
        r.owned("boardroom").unwrap().is_empty(),
        "no panel saved yet"
    );
    r.saved("boardroom", "speeddial", "h1").unwrap();
    r.saved("boardroom", "lights", "h2").unwrap();
    r.saved("boardroom", "speeddial", "h3").unwrap();
    r.saved("boardroom", "gone", "h4").unwrap();
    r.removed("boardroom", "gone").unwrap();
    r.removed("boardroom", "never-there").unwrap();
    for (x, y) in LOOKALIKES {
        r.saved(x, "p", x).unwrap();
        r.saved(y, "p", y).unwrap();
    }
    drop(r);
    let r = records(open());
    let owned = r.owned("boardroom").unwrap();
    let want: Vec<(String, String)> = pairs(&[("lights", "h2"), ("speeddial", "h3")]);
    assert_eq!(
        owned.into_iter().collect::<Vec<_>>(),
        want,
        "read again by a new handle"
    );
    for (x, y) in LOOKALIKES {
        assert_eq!(r.owned(x).unwrap().get("p").map(String::as_str), Some(*x));
        assert_eq!(r.owned(y).unwrap().get("p").map(String::as_str), Some(*y));
    }
    let b: std::sync::Arc<dyn Backend> = std::sync::Arc::from(open());
    let script = Store::load(
        InstanceId::new("boardroom", "speeddial"),
        b.clone(),
        DEFAULT_QUOTA,
    )
    .unwrap();
    assert!(
        script.keys().is_empty(),
        "a script of the same name does not see the records"
    );
}

/// The bulk read ([`Backend::load_many`]): each asked instance gets what
/// [`Backend::load`] gives it, in the order asked (lookalike names apart,
/// other scripts of the same codec left out, instances with no entry
/// empty, one asked twice answered twice), and 20,000 instances (more than
/// SQLite's parameters, and than a fleet host's batch) cost one read, as
/// `reads` counts a backend's statements or round trips.
pub fn check_bulk<B: Backend>(open: &dyn Fn() -> B, reads: fn(&B) -> u64) {
    let b = open();
    let mut ids = Vec::new();
    for (x, y) in LOOKALIKES {
        for (codec, script) in [("c", *x), ("c", *y), (*x, "s"), (*y, "s")] {
            let id = InstanceId::new(codec, script);
            b.put(&id, "k", &format!("\"{codec}/{script}\"")).unwrap();
            b.put(&id, "n", "1").unwrap();
            ids.push(id);
        }
    }
    b.put(&InstanceId::new("c", "not-asked"), "k", "2").unwrap();
    drop(b);
    let b = open();
    ids.push(InstanceId::new("c", "never-written"));
    ids.push(ids[0].clone());
    for i in 0..20_000 {
        ids.push(InstanceId::new(&format!("room-{i:05}"), "a"));
    }
    b.put(&ids[ids.len() - 1], "last", "3").unwrap();
    let before = reads(&b);
    let got = b.load_many(&ids).unwrap();
    assert_eq!(reads(&b) - before, 1, "one read for 20,000 instances");
    assert_eq!(got.len(), ids.len(), "one answer per instance asked");
    for (id, rows) in ids.iter().zip(got) {
        assert_eq!(sorted(rows), sorted(b.load(id).unwrap()), "{id}");
    }
    let first = b.load_many(&ids[..1]).unwrap();
    let (codec, script) = (&ids[0].codec, &ids[0].script);
    assert_eq!(
        sorted(first.into_iter().next().unwrap()),
        pairs(&[("k", &format!("\"{codec}/{script}\"")), ("n", "1")])
    );
    assert_eq!(b.load_many(&[]).unwrap(), Vec::<Vec<Row>>::new());
}
