//! What every [`AuditStore`] must do, as one check each backend's tests
//! run: `open` gives a new handle on the same storage each time (what one
//! wrote, a later one reads), and the storage starts empty.

use serde_json::json;

use super::record::{BodyDigest, Entry, Kind, Outcome, Record};
use super::{AuditStore, Filter};

/// A record at `at_ms` of `script` on `codec`, told apart by `n`.
pub fn sample(at_ms: i64, codec: &str, script: &str, n: i64) -> Record {
    Record {
        at_ms,
        codec: codec.into(),
        script: script.into(),
        version: format!("{n:016x}"),
        kind: Kind::Command,
        path: "Command Audio Volume Set".into(),
        params: json!({ "Level": n }),
        body: None,
        outcome: Outcome::Ok,
    }
}

/// The call [`sample`] records, as a script hands it over.
pub fn entry(at_ms: i64, codec: &str, script: &str, n: i64) -> Entry {
    let r = sample(at_ms, codec, script, n);
    Entry {
        at_ms,
        codec: r.codec,
        script: r.script.into(),
        version: r.version.into(),
        kind: r.kind,
        path: r.path,
        params: r.params.as_object().cloned().unwrap_or_default(),
        body: None,
        outcome: r.outcome,
    }
}

fn levels(rs: &[Record]) -> Vec<i64> {
    rs.iter()
        .map(|r| r.params["Level"].as_i64().unwrap())
        .collect()
}

/// Runs every promise of the contract; panics on the first broken.
pub fn check(open: &dyn Fn() -> Box<dyn AuditStore>) {
    let mut s = open();
    assert_eq!(s.read(&Filter::default()).unwrap(), vec![], "starts empty");
    let mut all = vec![
        sample(1_000, "room1", "volume", 1),
        sample(2_000, "room2", "volume", 2),
        sample(3_000, "room1", "lights", 3),
    ];
    let mut odd = sample(4_000, "会议室 \"'", "a b", 4);
    odd.kind = Kind::Set;
    odd.path = "Configuration Audio DefaultVolume".into();
    odd.params = json!({ "Level": 4, "Passphrase": "***", "list": [1, { "x": null }] });
    odd.body = Some(BodyDigest::of("line 1\nline 2\n"));
    odd.outcome = Outcome::Error {
        code: -32602,
        reason: "Bad \"value\"\nfor Level".into(),
    };
    all.push(odd);
    let mut denied = sample(5_000, "room1", "volume", 5);
    denied.kind = Kind::Subscribe;
    denied.outcome = Outcome::Denied;
    all.push(denied);
    s.append(&all[..2]).unwrap();
    s.append(&all[2..]).unwrap();
    s.append(&[]).unwrap();
    drop(s);

    let mut s = open();
    assert_eq!(
        s.read(&Filter::default()).unwrap(),
        all,
        "every field read again, oldest first, after reopening"
    );
    let by =
        |codec: Option<&str>, script: Option<&str>, since_ms: Option<i64>, limit: usize| Filter {
            codec: codec.map(str::to_string),
            script: script.map(str::to_string),
            since_ms,
            limit,
        };
    assert_eq!(
        levels(&s.read(&by(Some("room1"), None, None, 0)).unwrap()),
        [1, 3, 5]
    );
    assert_eq!(
        levels(&s.read(&by(None, Some("volume"), None, 0)).unwrap()),
        [1, 2, 5]
    );
    assert_eq!(
        levels(&s.read(&by(Some("room1"), Some("volume"), None, 0)).unwrap()),
        [1, 5]
    );
    assert_eq!(
        levels(&s.read(&by(None, None, Some(3_000), 0)).unwrap()),
        [3, 4, 5]
    );
    assert_eq!(
        levels(&s.read(&by(None, None, None, 2)).unwrap()),
        [4, 5],
        "a limit keeps the newest, still newest last"
    );
    assert_eq!(
        levels(&s.read(&by(Some("Room1"), None, None, 0)).unwrap()),
        [] as [i64; 0]
    );
    assert_eq!(
        levels(
            &s.read(&by(Some("会议室 \"'"), Some("a b"), None, 0))
                .unwrap()
        ),
        [4]
    );

    assert_eq!(s.prune(2_500, 100).unwrap(), 2, "older than the age bound");
    assert_eq!(levels(&s.read(&Filter::default()).unwrap()), [3, 4, 5]);
    assert_eq!(
        s.prune(0, 1).unwrap(),
        2,
        "beyond the count bound, oldest first"
    );
    drop(s);
    let mut s = open();
    assert_eq!(levels(&s.read(&Filter::default()).unwrap()), [5]);
    assert_eq!(s.prune(0, 1).unwrap(), 0);
}
