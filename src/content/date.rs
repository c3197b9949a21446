//! Dates as people write them in front matter: `2018-07-23 20:00:00 -0000`,
//! `2018-07-23`, RFC 3339, with or without a zone. No library reads all of
//! them (YAML parsers see `-0000` dates as strings), so this parser does.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

/// Why a date did not parse; the text names the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateError(pub String);

impl std::fmt::Display for DateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parse a front-matter date. Dates without a zone are read in `tz`.
pub fn parse_date(text: &str, tz: Tz) -> Result<DateTime<FixedOffset>, DateError> {
    let s = text.trim();
    let (date_part, rest) = split_date(s)?;
    let date = parse_ymd(date_part)?;
    let rest = rest.trim_start_matches(['T', 't', ' ', '\t']);
    if rest.is_empty() {
        return Ok(localize(date.and_time(NaiveTime::MIN), tz));
    }
    // The time runs up to the first space or zone sign/letter after the seconds.
    let (time_text, zone_text) = split_time(rest);
    let time = parse_hms(time_text)?;
    let naive = date.and_time(time);
    let zone_text = zone_text.trim();
    if zone_text.is_empty() {
        return Ok(localize(naive, tz));
    }
    let offset = parse_zone(zone_text)?;
    offset
        .from_local_datetime(&naive)
        .single()
        .ok_or_else(|| DateError(format!("{s:?} is not a representable time")))
}

fn split_date(s: &str) -> Result<(&str, &str), DateError> {
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (c == '-' && i > 0)))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    if end == 0 {
        return Err(DateError(format!(
            "{s:?} is not a date (expected YYYY-MM-DD)"
        )));
    }
    Ok((&s[..end], &s[end..]))
}

fn parse_ymd(s: &str) -> Result<NaiveDate, DateError> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok_shape = parts.len() == 3
        && parts[0].len() == 4
        && (1..=2).contains(&parts[1].len())
        && (1..=2).contains(&parts[2].len());
    if !ok_shape {
        return Err(DateError(format!(
            "{s:?} is not a date (expected YYYY-MM-DD)"
        )));
    }
    let num = |p: &str| p.parse::<u32>().ok();
    let (y, m, d) = match (num(parts[0]), num(parts[1]), num(parts[2])) {
        (Some(y), Some(m), Some(d)) => (y, m, d),
        _ => {
            return Err(DateError(format!(
                "{s:?} is not a date (expected YYYY-MM-DD)"
            )))
        }
    };
    NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(|| {
        DateError(if (1..=12).contains(&m) {
            format!("{s:?} is not a calendar date (day {d} is out of range for the month)")
        } else {
            format!("{s:?} is not a calendar date (month {m} does not exist)")
        })
    })
}

fn split_time(rest: &str) -> (&str, &str) {
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b' ' || c == b'\t' || c == b'Z' || c == b'z' || c == b'+' || (c == b'-' && i > 0) {
            break;
        }
        i += 1;
    }
    (&rest[..i], &rest[i..])
}

fn parse_hms(s: &str) -> Result<NaiveTime, DateError> {
    let bad = || DateError(format!("{s:?} is not a time (expected HH:MM or HH:MM:SS)"));
    let (main, frac) = match s.split_once(['.', ',']) {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    let parts: Vec<&str> = main.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let h: u32 = parts[0].parse().map_err(|_| bad())?;
    let m: u32 = parts[1].parse().map_err(|_| bad())?;
    let sec: u32 = match parts.get(2) {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => 0,
    };
    let nanos = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let padded = format!("{f:0<9}");
            padded.parse::<u32>().map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
    };
    // A leap second (60) is clamped: feeds cannot carry it everywhere.
    NaiveTime::from_hms_nano_opt(h, m, sec.min(59), nanos).ok_or_else(|| {
        DateError(format!(
            "{s:?} is not a time (hour 0-23, minute and second 0-59)"
        ))
    })
}

fn parse_zone(z: &str) -> Result<FixedOffset, DateError> {
    let bad = || {
        DateError(format!(
            "{z:?} is not a time zone offset (expected Z, +HH:MM, +HHMM or UTC)"
        ))
    };
    match z {
        "Z" | "z" | "UTC" | "GMT" | "UT" => return FixedOffset::east_opt(0).ok_or_else(bad),
        _ => {}
    }
    let (sign, digits) = match z.as_bytes().first() {
        Some(b'+') => (1, &z[1..]),
        Some(b'-') => (-1, &z[1..]),
        _ => return Err(bad()),
    };
    let digits: String = digits.chars().filter(|&c| c != ':').collect();
    if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let h: i32 = digits[..2].parse().map_err(|_| bad())?;
    let m: i32 = if digits.len() == 4 {
        digits[2..].parse().map_err(|_| bad())?
    } else {
        0
    };
    if h > 23 || m > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

/// Read a date that `parse_date` rejects the way Jekyll (Ruby's `Time.parse`)
/// does, so that permalinks match the pages the site's generator wrote: a day
/// past the month's end rolls over (`2022-02-29` is March 1), and a garbled
/// time keeps its leading `HH:MM` (`14:4g5:00` is 14:04). `None` when even
/// that fails.
pub fn parse_date_lenient(text: &str, tz: Tz) -> Option<DateTime<FixedOffset>> {
    let s = text.trim();
    let (date_part, rest) = split_date(s).ok()?;
    let parts: Vec<&str> = date_part.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 {
        return None;
    }
    let (y, m, d): (i32, u32, u32) = (
        parts[0].parse().ok()?,
        parts[1].parse().ok()?,
        parts[2].parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let date =
        NaiveDate::from_ymd_opt(y, m, 1)?.checked_add_days(chrono::Days::new(u64::from(d - 1)))?;
    let rest = rest.trim_start_matches(['T', 't', ' ', '\t']);
    let mut tokens = rest.split_whitespace();
    let time_text = tokens.next().unwrap_or("");
    let digits = |t: &str| -> Option<u32> {
        let n: String = t.chars().take_while(char::is_ascii_digit).collect();
        if n.is_empty() || n.len() > 2 {
            None
        } else {
            n.parse().ok()
        }
    };
    // As Ruby's `Date._parse` reads it: `HH:MM[:SS[.frac]]`, seconds only
    // after whole minutes (`14:4g5:00` is 14:04), and a zone only right
    // after a time read whole (glued, `10:00Z`, or the next word).
    let lead = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
    let (time, zone_text) = match time_text.split_once(':') {
        Some((hs, rest)) if lead(hs) == hs.len() => {
            let (h, m) = (digits(hs)?, digits(rest)?);
            let mut used = hs.len() + 1 + lead(rest);
            let mut s = 0;
            let after = &time_text[used..];
            if let Some(st) = after.strip_prefix(':').filter(|st| lead(st) > 0) {
                s = digits(st).unwrap_or(0);
                used += 1 + lead(st);
                let frac = &time_text[used..];
                if let Some(f) = frac.strip_prefix('.').filter(|f| lead(f) > 0) {
                    used += 1 + lead(f);
                }
            }
            let tail = &time_text[used..];
            let zone = if tail.is_empty() {
                tokens.next()
            } else if tail.starts_with(['Z', '+', '-']) {
                Some(tail)
            } else {
                None
            };
            (NaiveTime::from_hms_opt(h, m, s)?, zone)
        }
        _ if time_text.is_empty() => (NaiveTime::MIN, None),
        _ => return None,
    };
    let naive = date.and_time(time);
    match zone_text.map(parse_zone) {
        Some(Ok(offset)) => offset.from_local_datetime(&naive).single(),
        _ => Some(localize(naive, tz)),
    }
}

/// Whether YAML (Ruby's Psych, as Jekyll reads front matter) takes `text`
/// for a timestamp without a zone, `YYYY-MM-DD HH:MM:SS[.frac]`: Jekyll
/// reads such a date as UTC, whatever the site's `timezone:`.
pub fn is_yaml_timestamp_without_zone(text: &str) -> bool {
    let s = text.trim();
    let Ok((date, rest)) = split_date(s) else {
        return false;
    };
    let d: Vec<&str> = date.split('-').collect();
    let digits = |t: &str, min: usize, max: usize| {
        (min..=max).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
    };
    if d.len() != 3 || !digits(d[0], 4, 4) || !digits(d[1], 1, 2) || !digits(d[2], 1, 2) {
        return false;
    }
    let Some(time) = rest
        .strip_prefix(['T', 't'])
        .or_else(|| rest.starts_with([' ', '\t']).then(|| rest.trim_start()))
    else {
        return false;
    };
    let (time, frac) = time.split_once('.').unwrap_or((time, ""));
    let t: Vec<&str> = time.split(':').collect();
    t.len() == 3
        && digits(t[0], 1, 2)
        && digits(t[1], 2, 2)
        && digits(t[2], 2, 2)
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A wall-clock time in `tz`; in a DST gap the time after the gap is used.
pub fn localize(naive: NaiveDateTime, tz: Tz) -> DateTime<FixedOffset> {
    let mut n = naive;
    for _ in 0..4 {
        if let Some(dt) = tz.from_local_datetime(&n).earliest() {
            return dt.fixed_offset();
        }
        n += chrono::Duration::minutes(30);
    }
    chrono::Utc.from_utc_datetime(&naive).fixed_offset()
}

/// The `YYYY-MM-DD-` prefix of a post's file name, and the rest of the stem.
pub fn split_file_name(stem: &str) -> Option<(NaiveDate, &str)> {
    let b = stem.as_bytes();
    if b.len() < 11 || b[4] != b'-' || b[7] != b'-' || b[10] != b'-' {
        return None;
    }
    let date = parse_ymd(&stem[..10]).ok()?;
    Some((date, &stem[11..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> String {
        parse_date(s, chrono_tz::UTC)
            .map(|d| d.to_rfc3339())
            .unwrap_or_else(|e| e.0)
    }

    #[test]
    fn forms_people_write() {
        assert_eq!(
            utc("2018-07-23 20:00:00 -0000"),
            "2018-07-23T20:00:00+00:00"
        );
        assert_eq!(utc("2018-07-23"), "2018-07-23T00:00:00+00:00");
        assert_eq!(utc("2018-07-23T20:00:00Z"), "2018-07-23T20:00:00+00:00");
        assert_eq!(
            utc("2018-07-23T20:00:00.5+02:00"),
            "2018-07-23T20:00:00.500+02:00"
        );
        assert_eq!(utc("2018-07-23 20:00"), "2018-07-23T20:00:00+00:00");
        assert_eq!(
            utc("2018-07-23 20:00:00 +0530"),
            "2018-07-23T20:00:00+05:30"
        );
        assert_eq!(utc("2018-7-3 8:05:00 UTC"), "2018-07-03T08:05:00+00:00");
    }

    #[test]
    fn errors_name_the_wrong_part() {
        assert!(utc("2024-04-17 14:4g5:00 -0000").contains("\"14:4g5:00\" is not a time"));
        assert!(utc("2022-02-29 07:10:00 -0000").contains("not a calendar date"));
        assert!(utc("99999-01-01").contains("is not a date"));
        assert!(utc("yesterday").contains("is not a date"));
        assert!(utc("2020-01-01 10:00:00 +9999").contains("time zone"));
    }

    #[test]
    fn zone_less_dates_use_the_site_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let d = parse_date("2024-07-01 12:00", berlin).unwrap();
        assert_eq!(d.to_rfc3339(), "2024-07-01T12:00:00+02:00");
        // 02:30 does not exist on 2024-03-31 in Berlin: the time after the gap.
        let gap = parse_date("2024-03-31 02:30", berlin).unwrap();
        assert_eq!(gap.to_rfc3339(), "2024-03-31T03:00:00+02:00");
    }

    #[test]
    fn lenient_reading_matches_jekyll() {
        let l = |s: &str| parse_date_lenient(s, chrono_tz::UTC).map(|d| d.to_rfc3339());
        assert_eq!(
            l("2022-02-29 07:10:00 -0000").as_deref(),
            Some("2022-03-01T07:10:00+00:00")
        );
        assert_eq!(
            l("2024-04-17 14:4g5:00 -0000").as_deref(),
            Some("2024-04-17T14:04:00+00:00")
        );
        // Seconds kept; a zone read only right after the time (Ruby's `Date._parse`).
        assert_eq!(
            l("2023-01-10 18:30:22 2023 -0800").as_deref(),
            Some("2023-01-10T18:30:22+00:00")
        );
        assert_eq!(
            l("2023-01-10 18:30:22 -0800 2023").as_deref(),
            Some("2023-01-10T18:30:22-08:00")
        );
        assert_eq!(
            l("2023-01-10 18:30:22.5+02:00 x").as_deref(),
            Some("2023-01-10T18:30:22+02:00")
        );
        assert_eq!(
            l("2024-04-17 14:4g5:30 -0800").as_deref(),
            Some("2024-04-17T14:04:00+00:00")
        );
        assert_eq!(l("2024-13-01"), None);
        assert_eq!(l("soon"), None);
    }

    /// Hugo sites write dates with a one-digit hour (issue 21).
    #[test]
    fn hugo_s_forms() {
        assert_eq!(utc("2022-05-10 8:30:00+00:00"), "2022-05-10T08:30:00+00:00");
        assert_eq!(
            utc("2021-03-04T10:00:00-05:00"),
            "2021-03-04T10:00:00-05:00"
        );
    }

    #[test]
    fn yaml_timestamps_without_zone() {
        assert!(is_yaml_timestamp_without_zone("2024-03-15 02:00:00"));
        assert!(is_yaml_timestamp_without_zone("2024-03-15T02:00:00.5"));
        assert!(!is_yaml_timestamp_without_zone("2024-03-15 02:00"));
        assert!(!is_yaml_timestamp_without_zone("2024-03-15 02:00:00 -0800"));
        assert!(!is_yaml_timestamp_without_zone("2024-03-15"));
        assert!(!is_yaml_timestamp_without_zone("2024-04-17 14:4g5:00"));
    }

    #[test]
    fn file_names() {
        let (d, rest) = split_file_name("2018-01-14-update").unwrap();
        assert_eq!(d.to_string(), "2018-01-14");
        assert_eq!(rest, "update");
        assert!(split_file_name("about").is_none());
        assert!(split_file_name("2018-02-30-x").is_none());
    }
}
