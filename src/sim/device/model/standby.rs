//! Automatic standby, as a device does it: after `Configuration Standby
//! Delay` minutes without activity the device goes to standby, and, where
//! the product has halfwake (its `Status Standby State` value space has
//! `Halfwake` and `Configuration Standby Halfwake Mode` is `Auto`), to
//! halfwake after two minutes first. Nothing counts down while
//! `Standby Control` is `Off`, while there is a call, or while people are
//! in the room (`RoomAnalytics PeoplePresence` is `Yes`).
//!
//! Activity restarts the countdown: a call starting, changing or ending,
//! people coming or going, someone using the touch panel (a widget, a
//! panel, a presentation), the standby commands (`Deactivate`, `Halfwake`,
//! `ResetTimer`), a change to the standby settings and a reboot. Using the
//! device also wakes it.
//!
//! The countdown waits on the device's clock ([`crate::clock::Clock`]), so
//! under `xmacro test` the virtual clock drives it like the scripts' timers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::p;
use crate::schema::{Entry, ValueSpace};
use crate::sim::device::{Device, State};
use crate::xows::path::Path;

/// Idle time after which a device with automatic halfwake goes there.
pub const HALFWAKE_AFTER: Duration = Duration::from_secs(120);

const STATE: &str = "Status Standby State";

/// Notes activity: the countdown starts again.
pub fn activity(st: &mut State) {
    st.room.activity_seq += 1;
    st.room.activity.notify_one();
}

/// Someone uses the device: it wakes (from halfwake or standby) and the
/// countdown starts again.
pub fn wake(st: &mut State) {
    if st.get(&p(STATE)).is_some_and(|s| s != "Off") {
        info!("room: woken up by use");
        st.set(&p(STATE), json!("Off"));
    }
    activity(st);
}

/// `Standby ResetTimer`: out of standby, and a countdown of `minutes` this
/// once (the configured delay when none is given).
pub fn reset_timer(st: &mut State, minutes: Option<i64>) {
    st.room.standby_delay_once = minutes.map(|m| Duration::from_secs(m.max(1) as u64 * 60));
    if st.get(&p(STATE)).is_some_and(|s| s == "Standby") {
        st.set(&p(STATE), json!("Off"));
    }
    activity(st);
}

/// What the countdown waits for: after `idle` without activity the device
/// enters `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub idle: Duration,
    pub state: &'static str,
}

fn text(st: &State, path: &str) -> String {
    st.get(&p(path))
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The next automatic step from the state the device is in; `None` when
/// nothing counts down.
pub fn next(st: &State, halfwake: bool) -> Option<Next> {
    let held = text(st, "Configuration Standby Control") == "Off"
        || st
            .get(&p("Status Call"))
            .and_then(|c| c.as_array().map(|a| !a.is_empty()))
            .unwrap_or(false)
        || text(st, "Status RoomAnalytics PeoplePresence") == "Yes";
    if held {
        return None;
    }
    let minutes = st
        .get(&p("Configuration Standby Delay"))
        .and_then(|v| v.as_u64())
        .unwrap_or(10);
    let delay = st
        .room
        .standby_delay_once
        .unwrap_or(Duration::from_secs(minutes.max(1) * 60));
    let auto_halfwake = halfwake && text(st, "Configuration Standby Halfwake Mode") == "Auto";
    match text(st, STATE).as_str() {
        "Standby" => None,
        "Off" if auto_halfwake && delay > HALFWAKE_AFTER => Some(Next {
            idle: HALFWAKE_AFTER,
            state: "Halfwake",
        }),
        _ => Some(Next {
            idle: delay,
            state: "Standby",
        }),
    }
}

/// Whether the product has a halfwake state at all.
fn has_halfwake(device: &Device) -> bool {
    let path = Path::parse(STATE).expect("valid");
    matches!(
        device.schema.lookup(&path).map(|n| &n.entry),
        Ok(Some(Entry::Status { valuespace: ValueSpace::Literal(v) })) if v.iter().any(|s| s == "Halfwake")
    )
}

/// Takes a step the countdown reached; a device that got there (or
/// deeper) some other way stays as it is.
fn enter(st: &mut State, step: Next) {
    let now = text(st, STATE);
    let deeper = match step.state {
        "Halfwake" => now == "Off",
        _ => now != "Standby",
    };
    if !deeper {
        return;
    }
    info!(
        "room: no activity for {} s: {}",
        step.idle.as_secs(),
        step.state.to_ascii_lowercase()
    );
    if step.state == "Standby" {
        st.room.standby_delay_once = None;
    }
    st.set(&p(STATE), Value::from(step.state));
}

/// Counts down on the device's clock until `stop`: one task per served
/// device.
pub async fn run(device: Arc<Device>, stop: CancellationToken) {
    let clock = device.options.clock.clone();
    let halfwake = has_halfwake(&device);
    let notify = device.lock().room.activity.clone();
    let mut seen = None;
    let mut idle = Duration::ZERO;
    loop {
        // Made before the state is read, so activity in between wakes it.
        let woken = notify.notified();
        let step = {
            let st = device.lock();
            if seen != Some(st.room.activity_seq) {
                seen = Some(st.room.activity_seq);
                idle = Duration::ZERO;
            }
            next(&st, halfwake)
        };
        let Some(step) = step else {
            tokio::select! {
                _ = woken => continue,
                _ = stop.cancelled() => return,
            }
        };
        tokio::select! {
            _ = clock.sleep(step.idle.saturating_sub(idle)) => {
                let mut st = device.lock();
                if seen == Some(st.room.activity_seq) {
                    idle = step.idle;
                    enter(&mut st, step);
                }
            }
            _ = woken => {}
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::device::DeviceOptions;

    #[test]
    fn a_countdown_step_never_brings_a_sleeping_device_back_up() {
        let device = Device::new(DeviceOptions::default());
        let mut st = device.lock();
        st.set(&p(STATE), json!("Standby"));
        let halfwake = Next {
            idle: HALFWAKE_AFTER,
            state: "Halfwake",
        };
        enter(&mut st, halfwake);
        assert_eq!(st.get(&p(STATE)), Some(json!("Standby")));
        st.set(&p(STATE), json!("Halfwake"));
        enter(&mut st, halfwake);
        assert_eq!(st.get(&p(STATE)), Some(json!("Halfwake")));
        enter(
            &mut st,
            Next {
                idle: Duration::from_secs(600),
                state: "Standby",
            },
        );
        assert_eq!(st.get(&p(STATE)), Some(json!("Standby")));
        assert_eq!(next(&st, true), None, "nothing counts down in standby");
    }

    #[test]
    fn halfwake_comes_first_only_where_the_product_and_the_setting_have_it() {
        let device = Device::new(DeviceOptions::default());
        let mut st = device.lock();
        let ten = Duration::from_secs(600);
        assert_eq!(next(&st, true).map(|n| n.state), Some("Halfwake"));
        assert_eq!(
            next(&st, false),
            Some(Next {
                idle: ten,
                state: "Standby"
            })
        );
        st.set(&p("Configuration Standby Halfwake Mode"), json!("Manual"));
        assert_eq!(next(&st, true).map(|n| n.idle), Some(ten));
        st.set(&p("Configuration Standby Delay"), json!(2));
        st.set(&p("Configuration Standby Halfwake Mode"), json!("Auto"));
        assert_eq!(
            next(&st, true).map(|n| n.state),
            Some("Standby"),
            "a delay of two minutes leaves no time for halfwake"
        );
    }
}
