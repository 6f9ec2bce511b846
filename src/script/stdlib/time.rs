//! Local date and time for schedules, quiet hours and bookings: `now()` (from
//! the host's clock, so tests can set it), its fields (`hour`, `minute`,
//! `weekday`, `date`, ...), formatting, arithmetic and comparison, parsing
//! `"HH:MM"` and `"YYYY-MM-DD HH:MM"`, and `unix_ms()` for durations.

use chrono::format::{Item, StrftimeItems};
use std::fmt::Write as _;

use chrono::{Datelike, NaiveDateTime, NaiveTime, TimeZone, Timelike};
use rhai::{Engine, EvalAltResult, INT, NativeCallContext};

use super::{NowFn, error};

/// A local date and time (no zone: the host's local time, as `daily` uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub NaiveDateTime);

impl DateTime {
    /// `2026-03-02T07:59:30`, as JSON and `to_string` write it.
    pub fn iso(&self) -> String {
        self.0.format("%Y-%m-%dT%H:%M:%S").to_string()
    }

    /// The time written with a strftime pattern, within the string limit
    /// (a pattern of a million `%c` writes twelve times its length).
    fn format(&self, ctx: &NativeCallContext, pattern: &str) -> Result<String, Box<EvalAltResult>> {
        if StrftimeItems::new(pattern).any(|i| matches!(i, Item::Error)) {
            return Err(error(
                "time",
                format!(
                    "format({pattern:?}): not a valid strftime pattern (try \"%H:%M\" or \"%Y-%m-%d\")"
                ),
            ));
        }
        // An offset (`%z`, `%:z`) is the host's local one, as for
        // JavaScript's `toISOString` partners; a time the zone skips (a DST
        // gap) or another failure is an error, never a panic.
        let mut out = super::sized::Capped::new(ctx, "format");
        let items = StrftimeItems::new(pattern);
        let written = match chrono::Local.from_local_datetime(&self.0).earliest() {
            Some(local) => write!(out, "{}", local.format_with_items(items)),
            None => write!(out, "{}", self.0.format_with_items(items)),
        };
        if written.is_err() {
            return Err(out.refusal().unwrap_or_else(|| {
                error(
                    "time",
                    format!("format({pattern:?}): this time cannot be written with that pattern"),
                )
            }));
        }
        Ok(out.text())
    }

    fn plus(&self, seconds: INT) -> Result<DateTime, Box<EvalAltResult>> {
        chrono::TimeDelta::try_seconds(seconds)
            .and_then(|d| self.0.checked_add_signed(d))
            .map(DateTime)
            .ok_or_else(|| error("time", "the date would be out of range"))
    }

    /// Whether the time of day lies in `[from, to)`, wrapping past midnight
    /// when `to` is earlier than `from` (quiet hours "22:00" to "07:00").
    fn between(&self, from: &str, to: &str) -> Result<bool, Box<EvalAltResult>> {
        let (from, to) = (parse_time(from)?, parse_time(to)?);
        let m = minutes(&self.0);
        Ok(if from <= to {
            from <= m && m < to
        } else {
            m >= from || m < to
        })
    }
}

fn minutes(t: &NaiveDateTime) -> INT {
    (t.hour() * 60 + t.minute()) as INT
}

/// `"07:30"` (or `"7:30"`, `"07:30:15"`) as minutes since midnight.
pub fn parse_time(text: &str) -> Result<INT, Box<EvalAltResult>> {
    let t = text.trim();
    NaiveTime::parse_from_str(t, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M:%S"))
        .map(|t| (t.hour() * 60 + t.minute()) as INT)
        .map_err(|_| {
            error(
                "time",
                format!("parse_time({text:?}): the time must be HH:MM, as \"07:30\""),
            )
        })
}

/// `"2026-03-02 07:59"`, with or without seconds, a `T` or a space.
pub fn parse_date(text: &str) -> Result<DateTime, Box<EvalAltResult>> {
    let t = text.trim();
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(DateTime(d));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(DateTime(d.and_time(NaiveTime::MIN)));
    }
    Err(error(
        "time",
        format!(
            "date({text:?}): expected \"YYYY-MM-DD HH:MM\" (seconds optional) or \"YYYY-MM-DD\""
        ),
    ))
}

pub fn register(engine: &mut Engine, now: NowFn) {
    engine
        .register_type_with_name::<DateTime>("DateTime")
        .register_fn("now", move |c: rhai::NativeCallContext| {
            DateTime(now(c.tag()))
        })
        .register_fn("date", parse_date)
        .register_fn("parse_time", parse_time)
        .register_fn("unix_ms", || -> INT {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as INT)
        })
        .register_get("year", |d: &mut DateTime| d.0.year() as INT)
        .register_get("month", |d: &mut DateTime| d.0.month() as INT)
        .register_get("day", |d: &mut DateTime| d.0.day() as INT)
        .register_get("hour", |d: &mut DateTime| d.0.hour() as INT)
        .register_get("minute", |d: &mut DateTime| d.0.minute() as INT)
        .register_get("second", |d: &mut DateTime| d.0.second() as INT)
        .register_get("minutes", |d: &mut DateTime| minutes(&d.0))
        .register_get("weekday", |d: &mut DateTime| d.0.format("%A").to_string())
        .register_get("day_of_week", |d: &mut DateTime| {
            d.0.weekday().number_from_monday() as INT
        })
        .register_get("is_weekend", |d: &mut DateTime| {
            d.0.weekday().number_from_monday() >= 6
        })
        .register_get("date", |d: &mut DateTime| {
            d.0.format("%Y-%m-%d").to_string()
        })
        .register_get("time", |d: &mut DateTime| d.0.format("%H:%M").to_string())
        .register_fn(
            "format",
            |c: NativeCallContext, d: &mut DateTime, p: &str| d.format(&c, p),
        )
        .register_fn("add_seconds", |d: &mut DateTime, n: INT| d.plus(n))
        .register_fn("add_minutes", |d: &mut DateTime, n: INT| {
            d.plus(n.saturating_mul(60))
        })
        .register_fn("add_hours", |d: &mut DateTime, n: INT| {
            d.plus(n.saturating_mul(3600))
        })
        .register_fn("add_days", |d: &mut DateTime, n: INT| {
            d.plus(n.saturating_mul(86_400))
        })
        .register_fn("is_between", |d: &mut DateTime, from: &str, to: &str| {
            d.between(from, to)
        })
        .register_fn("-", |a: DateTime, b: DateTime| -> INT {
            (a.0 - b.0).num_seconds() as INT
        })
        .register_fn("==", |a: DateTime, b: DateTime| a == b)
        .register_fn("!=", |a: DateTime, b: DateTime| a != b)
        .register_fn("<", |a: DateTime, b: DateTime| a < b)
        .register_fn("<=", |a: DateTime, b: DateTime| a <= b)
        .register_fn(">", |a: DateTime, b: DateTime| a > b)
        .register_fn(">=", |a: DateTime, b: DateTime| a >= b)
        .register_fn("to_string", |d: &mut DateTime| d.iso())
        .register_fn("to_debug", |d: &mut DateTime| d.iso());
}

#[cfg(test)]
mod tests {
    use super::super::testing::{engine, engine_at, message_of};
    use chrono::TimeZone;
    use rhai::INT;

    #[test]
    fn now_has_the_fields_a_schedule_needs() {
        let e = engine(); // Monday 2026-03-02 07:59:30
        let s: String = e
            .eval(r#"let t = now(); `${t.year}-${t.month}-${t.day} ${t.hour}:${t.minute}:${t.second} ${t.weekday} ${t.day_of_week} ${t.is_weekend}`"#)
            .unwrap();
        assert_eq!(s, "2026-3-2 7:59:30 Monday 1 false");
        let s: String = e.eval("let t = now(); t.date + \" \" + t.time").unwrap();
        assert_eq!(s, "2026-03-02 07:59");
        let m: INT = e.eval("now().minutes").unwrap();
        assert_eq!(m, 7 * 60 + 59);
    }

    #[test]
    fn formatting_follows_strftime_and_refuses_bad_patterns() {
        let s: String = engine().eval(r#"now().format("%A %d.%m. %H:%M")"#).unwrap();
        assert_eq!(s, "Monday 02.03. 07:59");
        let e = engine().run(r#"now().format("%Q");"#).unwrap_err();
        assert!(message_of(&e).contains("strftime"), "{e}");
        let code: String = engine()
            .eval(r#"let p = ""; p.pad(400000, "%c"); let c = ""; try { now().format(p); } catch (e) { c = e.code; } c"#)
            .unwrap();
        assert_eq!(code, "limit", "text longer than a string may be");
    }

    #[test]
    fn an_offset_in_a_pattern_is_the_local_one_and_never_a_panic() {
        let s: String = engine()
            .eval(r#"let s = ""; try { s = now().format("%Y-%m-%dT%H:%M:%S%:z"); } catch (e) { s = e.message; } s"#)
            .unwrap();
        let offset = chrono::Local
            .from_local_datetime(
                &chrono::NaiveDate::from_ymd_opt(2026, 3, 2)
                    .unwrap()
                    .and_hms_opt(7, 59, 30)
                    .unwrap(),
            )
            .earliest()
            .map(|t| t.format("%:z").to_string());
        match offset {
            Some(z) => assert_eq!(s, format!("2026-03-02T07:59:30{z}")),
            None => assert!(s.contains("cannot be written"), "{s}"),
        }
    }

    #[test]
    fn parse_time_gives_minutes_and_a_catchable_error() {
        let m: INT = engine().eval(r#"parse_time("22:30")"#).unwrap();
        assert_eq!(m, 22 * 60 + 30);
        let msg: String = engine()
            .eval(r#"let m = ""; try { parse_time("25:00"); } catch (e) { m = e.message; } m"#)
            .unwrap();
        assert!(msg.contains("HH:MM"), "{msg}");
    }

    #[test]
    fn quiet_hours_wrap_past_midnight() {
        let late = engine_at("2026-03-02 23:15:00");
        assert!(
            late.eval::<bool>(r#"now().is_between("22:00", "07:00")"#)
                .unwrap()
        );
        let early = engine_at("2026-03-02 06:59:00");
        assert!(
            early
                .eval::<bool>(r#"now().is_between("22:00", "07:00")"#)
                .unwrap()
        );
        let day = engine_at("2026-03-02 07:00:00");
        assert!(
            !day.eval::<bool>(r#"now().is_between("22:00", "07:00")"#)
                .unwrap()
        );
        assert!(
            day.eval::<bool>(r#"now().is_between("07:00", "18:00")"#)
                .unwrap()
        );
    }

    #[test]
    fn dates_parse_compare_and_add() {
        let e = engine();
        assert!(
            e.eval::<bool>(r#"date("2026-03-02 08:00") > now()"#)
                .unwrap()
        );
        let s: INT = e.eval(r#"date("2026-03-02 08:00") - now()"#).unwrap();
        assert_eq!(s, 30);
        let d: String = e
            .eval(r#"now().add_days(6).add_minutes(1).to_string()"#)
            .unwrap();
        assert_eq!(d, "2026-03-08T08:00:30");
        let w: String = e.eval(r#"date("2026-03-07").weekday"#).unwrap();
        assert_eq!(w, "Saturday");
        let e2 = e.run(r#"date("next tuesday");"#).unwrap_err();
        assert!(message_of(&e2).contains("YYYY-MM-DD"), "{e2}");
    }
}
