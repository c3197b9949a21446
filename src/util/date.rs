//! The date formats the standards name, written and read in one place:
//! `format_*` writes one, `parse_*` reads one. Lenient readers of real-world
//! dates (`content::date`, `parse::date`) build on these, not beside them.

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use std::fmt::Display;

/// RFC 3339 with `Z` for UTC, as Atom and JSON Feed want.
pub fn format_rfc3339<Tz: TimeZone>(d: &DateTime<Tz>) -> String
where
    Tz::Offset: Display,
{
    d.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// RFC 822 as RSS 2.0 wants it (RFC 2822 form, four-digit year).
pub fn format_rfc822(d: &DateTime<FixedOffset>) -> String {
    d.to_rfc2822()
}

/// An HTTP-date, IMF-fixdate form: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format_http_date(d: &DateTime<Utc>) -> String {
    d.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// An RFC 2822 date, or an RFC 3339 one where a document put that instead:
/// the strict reading, for documents we wrote.
pub fn parse_rfc822_or_rfc3339(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    DateTime::parse_from_rfc2822(s)
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
}

/// An HTTP-date in any of the three forms RFC 9110 requires recipients to accept.
pub fn parse_http_date(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc2822(v) {
        return Some(d.with_timezone(&Utc));
    }
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; asctime: "Sun Nov  6 08:49:37 1994".
    let rfc850 = v
        .strip_suffix(" GMT")
        .and_then(|s| NaiveDateTime::parse_from_str(s, "%A, %d-%b-%y %H:%M:%S").ok());
    let asctime = || {
        let squeezed = v.split_whitespace().collect::<Vec<_>>().join(" ");
        NaiveDateTime::parse_from_str(&squeezed, "%a %b %e %H:%M:%S %Y").ok()
    };
    rfc850.or_else(asctime).map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_round_trip() {
        let d = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(format_http_date(&d), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(d));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(d));
    }

    #[test]
    fn rfc3339_writes_z_for_utc() {
        let d = DateTime::parse_from_rfc3339("2026-12-01T10:00:00+00:00").unwrap();
        assert_eq!(format_rfc3339(&d), "2026-12-01T10:00:00Z");
        assert_eq!(format_rfc822(&d), "Tue, 1 Dec 2026 10:00:00 +0000");
    }
}
