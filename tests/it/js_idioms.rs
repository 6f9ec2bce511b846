//! The JavaScript idioms ports wrote helpers for, in a running script:
//! `clearTimeout` of a real timer and of one never set (`()`), `join`,
//! `Number`/`isNaN` and numbers written as JavaScript writes them.

use std::sync::Arc;

use chrono::NaiveDate;
use xmacro::clock::vclock::VirtualClock;

use crate::common::rig::{self, Reports, TempDir};
use crate::common::within;

const SCRIPT: &str = r#"
let countdown = ();
fn restart() {
    countdown.cancel();                    // nothing to cancel the first time
    countdown = set_timeout(|| report("countdown fired"), 100);
}
restart();
restart();                                 // the first countdown is cancelled
let never = set_timeout(|| report("never"), 50);
clear_timeout(never);
let ticker = set_interval(|| report("never ticks"), 30);
clear_interval(ticker);
clear_timeout(());
let temp = 22.0;
let level = number(" 70 ");
report(`${["a", 2, 21.5, temp, ()].join("|")} ${num_str(temp)} ${level + 5} ${is_nan("12px")}`);
"#;

#[tokio::test]
async fn javascript_idioms_have_their_natural_form() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("js-idioms");
    dir.write("idioms.rhai", SCRIPT);
    let start = NaiveDate::from_ymd_opt(2026, 11, 21)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let clock = Arc::new(VirtualClock::new(start, chrono_tz::UTC));
    let mut opts = rig::options(&dir, vec![rig::codec("room", &sim)]);
    opts.clock = clock.clone();
    let host = rig::start(opts).await;
    rig::advance(&host, &clock, 1000).await;
    reports.idle(&host).await;
    assert_eq!(
        reports.seen,
        ["a|2|21.5|22| 22 75 true", "countdown fired"],
        "{}",
        rig::logs().lock().unwrap()
    );
    assert_eq!(clock.pending(), 0, "nothing is left to fire");
    within("shutdown", host.shutdown()).await;
}
