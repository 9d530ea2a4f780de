//! Times the way API Gateway writes them: epoch milliseconds in events, ISO 8601 in the
//! management API's GetConnection.

use std::time::{SystemTime, UNIX_EPOCH};

use hermes_core::utc::Utc;

pub(crate) fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2026-11-25T09:15:02.871Z`, as the management API's GetConnection writes times.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let u = Utc::at(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        u.year, u.month, u.day, u.hour, u.minute, u.second, u.millisecond
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn iso8601_matches_known_instants() {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(iso8601(at(0)), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day in a century year divisible by 400).
        assert_eq!(iso8601(at(951_782_400_123)), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(at(1_795_597_502_871)), "2026-11-25T09:05:02.871Z");
    }
}
