//! The one timestamp format of Rumi's state files, audit lines and API answers: RFC 3339
//! in UTC with microseconds and a `Z` (`2026-11-26T10:00:00.123456Z`). Strings in this form
//! sort in time order.

use chrono::{DateTime, SecondsFormat, Utc};

/// `t` in Rumi's timestamp format.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Now, in Rumi's timestamp format.
pub fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_utc_with_microseconds() {
        let t = DateTime::parse_from_rfc3339("2026-11-26T10:00:00.5+02:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(rfc3339(t), "2026-11-26T08:00:00.500000Z");
        assert!(now_rfc3339().ends_with('Z'));
    }
}
