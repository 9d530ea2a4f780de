//! Calendar fields of a UTC instant, for the two places that write times as text: SigV4's
//! `x-amz-date` (`push/sigv4.rs`) and hermes-local's GetConnection answer. A date crate for
//! this one conversion would be one more dependency in the gem's build.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    pub millisecond: i64,
}

impl Utc {
    /// Instants before 1970 are read as 1970-01-01T00:00:00Z: no clock here is set that early.
    pub fn at(t: SystemTime) -> Utc {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let (secs, millisecond) = (ms.div_euclid(1000), ms.rem_euclid(1000));
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Utc {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            millisecond,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_instants() {
        let at = |ms: u64| Utc::at(UNIX_EPOCH + Duration::from_millis(ms));
        let fields = |u: Utc| (u.year, u.month, u.day, u.hour, u.minute, u.second, u.millisecond);
        assert_eq!(fields(at(0)), (1970, 1, 1, 0, 0, 0, 0));
        // 2000-02-29: a leap day in a century year divisible by 400.
        assert_eq!(fields(at(951_782_400_123)), (2000, 2, 29, 0, 0, 0, 123));
        assert_eq!(fields(at(951_782_399_999)), (2000, 2, 28, 23, 59, 59, 999));
        assert_eq!(fields(at(1_795_597_502_871)), (2026, 11, 25, 9, 5, 2, 871));
        assert_eq!(fields(at(4_107_542_399_000)), (2100, 2, 28, 23, 59, 59, 0));
        assert_eq!(fields(at(4_107_542_400_000)), (2100, 3, 1, 0, 0, 0, 0));
    }
}
