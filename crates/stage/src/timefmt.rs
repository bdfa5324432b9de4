//! Date and timestamp text without allocation: `YYYY-MM-DD` and
//! `YYYY-MM-DD HH:MM:SS[.fraction][Z]`, proleptic Gregorian, UTC.

use arrow::datatypes::TimeUnit;

/// Longest text written: a 6-digit-year timestamp with nanoseconds and `Z`.
pub(crate) const MAX_LEN: usize = 40;

/// Writes `days` since 1970-01-01 as a date; returns the length.
pub(crate) fn write_date(days: i32, out: &mut [u8; MAX_LEN]) -> usize {
    write_civil(i64::from(days), out)
}

/// Writes a timestamp of `unit` ticks since the epoch; returns the length.
pub(crate) fn write_timestamp(
    value: i64,
    unit: TimeUnit,
    utc_marker: bool,
    out: &mut [u8; MAX_LEN],
) -> usize {
    let (per_second, digits) = match unit {
        TimeUnit::Second => (1_i64, 0),
        TimeUnit::Millisecond => (1_000, 3),
        TimeUnit::Microsecond => (1_000_000, 6),
        TimeUnit::Nanosecond => (1_000_000_000, 9),
    };
    let seconds = value.div_euclid(per_second);
    let fraction = value.rem_euclid(per_second);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let mut len = write_civil(days, out);
    out[len] = b' ';
    len += 1;
    for part in [
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    ] {
        out[len] = b'0' + (part / 10) as u8;
        out[len + 1] = b'0' + (part % 10) as u8;
        out[len + 2] = b':';
        len += 3;
    }
    len -= 1; // no ':' after the seconds
    if digits > 0 {
        out[len] = b'.';
        len += 1;
        write_padded(fraction, digits, &mut out[len..len + digits]);
        len += digits;
    }
    if utc_marker {
        out[len] = b'Z';
        len += 1;
    }
    len
}

fn write_civil(days: i64, out: &mut [u8; MAX_LEN]) -> usize {
    let (year, month, day) = civil_from_days(days);
    let mut len = 0;
    if year < 0 {
        out[0] = b'-';
        len = 1;
    }
    let year_abs = year.unsigned_abs() as i64;
    let year_digits = if year_abs >= 10_000 {
        year_abs.to_string().len()
    } else {
        4
    };
    write_padded(year_abs, year_digits, &mut out[len..len + year_digits]);
    len += year_digits;
    out[len] = b'-';
    write_padded(month, 2, &mut out[len + 1..len + 3]);
    out[len + 3] = b'-';
    write_padded(day, 2, &mut out[len + 4..len + 6]);
    len + 6
}

fn write_padded(mut value: i64, digits: usize, out: &mut [u8]) {
    for slot in out[..digits].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Howard Hinnant's `civil_from_days`: (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(value: i64, unit: TimeUnit, z: bool) -> String {
        let mut out = [0; MAX_LEN];
        let len = write_timestamp(value, unit, z, &mut out);
        String::from_utf8(out[..len].to_vec()).unwrap()
    }

    fn date(days: i32) -> String {
        let mut out = [0; MAX_LEN];
        let len = write_date(days, &mut out);
        String::from_utf8(out[..len].to_vec()).unwrap()
    }

    #[test]
    fn dates_around_the_epoch_and_leap_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(date(11_016), "2000-02-29");
        assert_eq!(date(2_932_896), "9999-12-31");
        assert_eq!(date(-719_528), "0000-01-01");
    }

    #[test]
    fn timestamps_in_every_unit() {
        assert_eq!(ts(0, TimeUnit::Second, false), "1970-01-01 00:00:00");
        assert_eq!(
            ts(1_795_600_000_123, TimeUnit::Millisecond, false),
            "2026-11-25 09:46:40.123"
        );
        assert_eq!(
            ts(-1, TimeUnit::Microsecond, true),
            "1969-12-31 23:59:59.999999Z"
        );
        assert_eq!(
            ts(1_500_000_000_000_000_007, TimeUnit::Nanosecond, false),
            "2017-07-14 02:40:00.000000007"
        );
        assert_eq!(
            ts(253_402_214_400_000_000, TimeUnit::Microsecond, false),
            "9999-12-31 00:00:00.000000"
        );
    }

    #[test]
    fn every_day_of_four_centuries_round_trips_through_a_counter() {
        let (mut y, mut m, mut d) = (1900_i64, 1_i64, 1_i64);
        let month_len = |y: i64, m: i64| match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        for days in -25_567..120_000 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            d += 1;
            if d > month_len(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }
}
