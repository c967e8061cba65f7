//! The `--since`/`--until` grammar. Admins type times the way they type them
//! to `ausearch -ts` and `journalctl --since`, so several forms are accepted,
//! all resolved to one instant:
//!
//! | form                                  | meaning                                  |
//! |---------------------------------------|------------------------------------------|
//! | `2024-05-01T09:30:00Z`, `...+02:00`   | RFC 3339, with its own offset            |
//! | `2024-05-01`                          | local midnight starting that day         |
//! | `2024-05-01 09:30`, `2024-05-01 09:30:15` (or `T`) | local time               |
//! | `now`, `today`, `yesterday`           | now; local midnight today / yesterday   |
//! | `90s`, `30m`, `1h`, `2d`, `1w` (optionally `ago`) | that long before now          |
//!
//! `--since` is inclusive and `--until` exclusive, so `--since yesterday
//! --until today` is exactly yesterday. Parsing takes "now" and the time zone
//! as arguments so it is testable without a clock.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

use crate::event::Timestamp;

/// A time the grammar does not accept.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("can't read time {input:?}: {reason} (try RFC 3339, YYYY-MM-DD[ HH:MM[:SS]], today, yesterday, now, or 30m/1h/2d for that long ago)")]
pub struct TimeError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses `input` relative to `now` (whose zone is used for local forms).
pub fn parse_time<Tz: TimeZone>(input: &str, now: &DateTime<Tz>) -> Result<Timestamp, TimeError> {
    let err = |reason| TimeError {
        input: input.to_owned(),
        reason,
    };
    let s = input.trim();
    let tz = now.timezone();
    let midnight =
        |d: NaiveDate| local(&tz, d.and_time(NaiveTime::MIN)).ok_or(err("no such local time"));
    match s {
        "" => return Err(err("empty")),
        "now" => return Ok(to_ts(now)),
        "today" => return midnight(now.date_naive()),
        "yesterday" => {
            let d = now.date_naive().pred_opt().ok_or(err("out of range"))?;
            return midnight(d);
        }
        _ => {}
    }
    if let Some(ago) = parse_ago(s) {
        let d = ago.ok_or(err("duration out of range"))?;
        let t = now
            .clone()
            .checked_sub_signed(d)
            .ok_or(err("out of range"))?;
        return Ok(to_ts(&t));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Timestamp::from_secs_nanos(
            t.timestamp(),
            t.timestamp_subsec_nanos(),
        ));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return midnight(d);
    }
    for fmt in [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return local(&tz, dt).ok_or(err("no such local time (DST gap?)"));
        }
    }
    Err(err("unknown form"))
}

/// `30m`, `1h ago`, `2d`: `None` when `s` is not of this form,
/// `Some(None)` when it is but overflows.
fn parse_ago(s: &str) -> Option<Option<Duration>> {
    let s = s.strip_suffix("ago").map(str::trim_end).unwrap_or(s);
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return None;
    }
    let unit_secs: i64 = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        _ => return None,
    };
    let n: i64 = match num.parse() {
        Ok(n) => n,
        Err(_) => return Some(None),
    };
    Some(n.checked_mul(unit_secs).and_then(Duration::try_seconds))
}

fn local<Tz: TimeZone>(tz: &Tz, dt: NaiveDateTime) -> Option<Timestamp> {
    match tz.from_local_datetime(&dt) {
        LocalResult::Single(t) => Some(to_ts(&t)),
        LocalResult::Ambiguous(a, _) => Some(to_ts(&a)),
        LocalResult::None => None,
    }
}

fn to_ts<Tz: TimeZone>(t: &DateTime<Tz>) -> Timestamp {
    Timestamp::from_secs_nanos(t.timestamp(), t.timestamp_subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn now() -> DateTime<FixedOffset> {
        // 2024-05-02 15:30:00 at UTC+2.
        DateTime::parse_from_rfc3339("2024-05-02T15:30:00+02:00").unwrap()
    }
    fn p(s: &str) -> String {
        parse_time(s, &now()).map(|t| t.to_rfc3339()).unwrap()
    }

    #[test]
    fn absolute_forms() {
        assert_eq!(p("2024-05-01T09:30:00Z"), "2024-05-01T09:30:00.000000000Z");
        assert_eq!(
            p("2024-05-01T09:30:00+02:00"),
            "2024-05-01T07:30:00.000000000Z"
        );
        assert_eq!(p("2024-05-01"), "2024-04-30T22:00:00.000000000Z");
        assert_eq!(p("2024-05-01 09:30"), "2024-05-01T07:30:00.000000000Z");
        assert_eq!(p("2024-05-01 09:30:15"), "2024-05-01T07:30:15.000000000Z");
        assert_eq!(p("2024-05-01T09:30"), "2024-05-01T07:30:00.000000000Z");
    }

    #[test]
    fn relative_forms() {
        assert_eq!(p("now"), "2024-05-02T13:30:00.000000000Z");
        assert_eq!(p("today"), "2024-05-01T22:00:00.000000000Z");
        assert_eq!(p("yesterday"), "2024-04-30T22:00:00.000000000Z");
        assert_eq!(p("1h"), "2024-05-02T12:30:00.000000000Z");
        assert_eq!(p("30m"), "2024-05-02T13:00:00.000000000Z");
        assert_eq!(p("2d"), "2024-04-30T13:30:00.000000000Z");
        assert_eq!(p("2 days ago"), "2024-04-30T13:30:00.000000000Z");
        assert_eq!(p("1w"), "2024-04-25T13:30:00.000000000Z");
        assert_eq!(p("90s ago"), "2024-05-02T13:28:30.000000000Z");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "tomorrowish",
            "2024-13-01",
            "5x",
            "h",
            "99999999999999999999h",
            "1h ago ago",
        ] {
            assert!(parse_time(bad, &now()).is_err(), "{bad}");
        }
    }
}
