//! RFC 3339 time stamps (`2026-11-24T18:53:20.123456789Z`) written without
//! chrono's formatter: the one place tracer's writer formats a
//! [`super::Timestamp`] (every record has a `time`, so this is on the hot
//! path of `tracer run`).
//!
//! The date and time of day come from Howard Hinnant's `civil_from_days`;
//! the `YYYY-MM-DDTHH:MM:SS.` prefix of the last second formatted is cached
//! per thread, so that at thousands of records per second only the nine
//! digits of the fraction are written per record. The output is exactly
//! what `chrono`'s `to_rfc3339_opts(SecondsFormat::Nanos, true)` writes for
//! every `i64` of nanoseconds (years 1677 to 2262: always four digits);
//! the property test below holds it to that.

use std::cell::Cell;

/// Length of a formatted time stamp.
pub const LEN: usize = 30;

/// (year, month, day, seconds into the day) of `secs` since the epoch, UTC:
/// the one civil-date routine (the report's local times use it too).
pub fn civil(secs: i64) -> (i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem)
}

/// `YYYY-MM-DDTHH:MM:SS` of a [`civil`] date, with a four-digit year
/// (callers keep the year in 0..=9999).
pub fn date_time((y, m, d, rem): (i64, i64, i64, i64)) -> [u8; 19] {
    let mut p = *b"0000-00-00T00:00:00";
    put_digits(&mut p[0..4], y as u64);
    put_digits(&mut p[5..7], m as u64);
    put_digits(&mut p[8..10], d as u64);
    put_digits(&mut p[11..13], (rem / 3600) as u64);
    put_digits(&mut p[14..16], (rem % 3600 / 60) as u64);
    put_digits(&mut p[17..19], (rem % 60) as u64);
    p
}

/// `YYYY-MM-DDTHH:MM:SS.` of `secs` since the epoch, UTC.
fn prefix(secs: i64) -> [u8; 20] {
    // An i64 of nanoseconds spans years 1677..=2262: four digits.
    let mut p = *b"0000-00-00T00:00:00.";
    p[..19].copy_from_slice(&date_time(civil(secs)));
    p
}

/// Writes `v` as exactly `out.len()` decimal digits (zero-padded).
pub fn put_digits(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

thread_local! {
    static LAST: Cell<(i64, [u8; 20])> = const { Cell::new((i64::MIN, [0; 20])) };
}

/// Formats `ns` nanoseconds since the Unix epoch.
pub fn format(ns: i64) -> [u8; LEN] {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u64;
    let p = LAST.with(|c| {
        let (s, p) = c.get();
        if s == secs {
            p
        } else {
            let p = prefix(secs);
            c.set((secs, p));
            p
        }
    });
    let mut out = [0u8; LEN];
    out[..20].copy_from_slice(&p);
    put_digits(&mut out[20..29], nanos);
    out[29] = b'Z';
    out
}

/// The formatted bytes as text (they are ASCII).
pub fn as_str(b: &[u8; LEN]) -> &str {
    // Only ASCII digits and `-T:.Z` are ever written.
    std::str::from_utf8(b).unwrap_or("1970-01-01T00:00:00.000000000Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, SecondsFormat};
    use proptest::prelude::*;

    fn chrono(ns: i64) -> String {
        DateTime::from_timestamp(
            ns.div_euclid(1_000_000_000),
            ns.rem_euclid(1_000_000_000) as u32,
        )
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Nanos, true)
    }

    #[test]
    fn edges_agree_with_chrono() {
        for ns in [
            0,
            -1,
            1,
            i64::MIN,
            i64::MAX,
            951_782_400_000_000_000, // 2000-02-29
            4_107_542_399_999_999_999,
            1_700_000_000_000_000_005,
        ] {
            assert_eq!(as_str(&format(ns)), chrono(ns), "{ns}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x13b),
            ..ProptestConfig::default()
        })]
        #[test]
        fn agrees_with_chrono(ns in any::<i64>(), step in 0i64..3_000_000_000) {
            // Also the cached path: the same second again, then the next.
            prop_assert_eq!(as_str(&format(ns)).to_owned(), chrono(ns));
            let again = ns.saturating_add(step % 1_000_000_000);
            prop_assert_eq!(as_str(&format(again)).to_owned(), chrono(again));
            let later = ns.saturating_add(step);
            prop_assert_eq!(as_str(&format(later)).to_owned(), chrono(later));
        }
    }
}
