//! Dates as upstream feeds write them: RFC 822 in all its variants, RFC 3339 /
//! W3CDTF with parts missing, and `2020/1/10 14:33:00`. A date without a zone
//! is UTC (feedparser does the same).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

/// Parse any date format the corpus holds; `None` when it is not a date.
pub fn parse_date(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    if s.is_empty() || s.len() > 100 {
        return None;
    }
    w3cdtf(s).or_else(|| rfc822(s)).or_else(|| slashed(s))
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn build(
    y: i32,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    sec: u32,
    off_secs: i32,
) -> Option<DateTime<FixedOffset>> {
    let date = NaiveDate::from_ymd_opt(y, mo, d)?;
    // 24:00 and leap seconds occur; clamp rather than reject.
    let time = NaiveTime::from_hms_opt(h.min(23), mi.min(59), sec.min(59))?;
    let off = FixedOffset::east_opt(off_secs)?;
    off.from_local_datetime(&NaiveDateTime::new(date, time))
        .single()
}

/// `±hh:mm`, `±hhmm`, `±hh`, `Z`: seconds east of UTC.
fn numeric_zone(z: &str) -> Option<i32> {
    if z.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let (sign, rest) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    let (h, m) = match digits.len() {
        1 | 2 => (num(&digits)?, 0),
        3 => (num(digits.get(..1)?)?, num(digits.get(1..)?)?),
        4 => (num(digits.get(..2)?)?, num(digits.get(2..)?)?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h as i32 * 3600 + m as i32 * 60))
}

/// RFC 3339 and the W3CDTF profile of ISO 8601: `2003`, `2003-12`,
/// `2003-12-13`, `2003-12-13T18:30`, seconds, fractions, zone optional.
fn w3cdtf(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    if b.len() < 4 || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let (y, mo, d) = match parts.as_slice() {
        [y] if y.len() == 8 => (num(y.get(..4)?)?, num(y.get(4..6)?)?, num(y.get(6..)?)?),
        [y] if y.len() == 4 => (num(y)?, 1, 1),
        [y, m] if y.len() == 4 => (num(y)?, num(m)?, 1),
        [y, m, d] if y.len() == 4 => (num(y)?, num(m)?, num(d)?),
        _ => return None,
    };
    if rest.is_empty() {
        return build(y as i32, mo, d, 0, 0, 0, 0);
    }
    // Split the zone off the time: `Z`, or the last `+`/`-`.
    let (time, zone) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t.trim(), Some(0))
    } else if let Some(i) = rest.rfind(['+', '-']) {
        (rest[..i].trim(), Some(numeric_zone(rest[i..].trim())?))
    } else if let Some((t, z)) = rest.split_once(' ') {
        (t, Some(named_zone(z.trim())?))
    } else {
        (rest, None)
    };
    let time = time.split('.').next().unwrap_or("");
    let hms: Vec<&str> = time.split(':').collect();
    let (h, mi, sec) = match hms.as_slice() {
        [h, m] => (num(h)?, num(m)?, 0),
        [h, m, s] => (num(h)?, num(m)?, num(s)?),
        [hm] if hm.len() == 4 => (num(hm.get(..2)?)?, num(hm.get(2..)?)?, 0),
        [hms] if hms.len() == 6 => (
            num(hms.get(..2)?)?,
            num(hms.get(2..4)?)?,
            num(hms.get(4..)?)?,
        ),
        _ => return None,
    };
    build(y as i32, mo, d, h, mi, sec, zone.unwrap_or(0))
}

fn month(s: &str) -> Option<u32> {
    let m = s.get(..3)?.to_ascii_lowercase();
    let i = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|x| *x == m)?;
    Some(i as u32 + 1)
}

/// Named and military zones, in seconds east of UTC.
fn named_zone(z: &str) -> Option<i32> {
    if let Some(n) = numeric_zone(z) {
        return Some(n);
    }
    let z = z.to_ascii_lowercase();
    // `GMT+0100`, `UTC-05:00`.
    for p in ["gmt", "utc", "ut"] {
        if let Some(rest) = z.strip_prefix(p) {
            if rest.is_empty() {
                return Some(0);
            }
            if let Some(n) = numeric_zone(rest) {
                return Some(n);
            }
        }
    }
    let h = match z.as_str() {
        "z" => 0,
        "adt" => -3,
        "ast" | "at" | "edt" => -4,
        "est" | "et" | "cdt" => -5,
        "cst" | "ct" | "mdt" => -6,
        "mst" | "mt" | "pdt" => -7,
        "pst" | "pt" => -8,
        "met" | "cet" | "bst" => 1,
        "mest" | "cest" => 2,
        // RFC 822 military letters, with RFC 1123's corrected signs.
        m if m.len() == 1 => {
            let c = m.as_bytes()[0];
            match c {
                b'a'..=b'i' => -((c - b'a' + 1) as i32),
                b'k'..=b'm' => -((c - b'k' + 10) as i32),
                b'n'..=b'y' => (c - b'n' + 1) as i32,
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(h * 3600)
}

fn year(s: &str) -> Option<i32> {
    let y = num(s)? as i32;
    Some(match s.len() {
        1 | 2 => y + if y < 90 { 2000 } else { 1900 },
        4 => y,
        _ => return None,
    })
}

/// `hh:mm[:ss]` with an optional `AM`/`PM` token after it.
fn clock(t: &str, ampm: Option<&str>) -> Option<(u32, u32, u32)> {
    let p: Vec<&str> = t.split(':').collect();
    let (mut h, m, s) = match p.as_slice() {
        [h, m] => (num(h)?, num(m)?, 0),
        [h, m, s] => (num(h)?, num(m)?, num(s.split('.').next()?)?),
        _ => return None,
    };
    match ampm.map(str::to_ascii_lowercase).as_deref() {
        Some("pm") if h < 12 => h += 12,
        Some("am") if h == 12 => h = 0,
        _ => {}
    }
    Some((h, m, s))
}

/// RFC 822 and its variants: weekday optional and unchecked, month and day
/// in either order, 2-digit years, zone named, numeric, military or absent.
fn rfc822(s: &str) -> Option<DateTime<FixedOffset>> {
    let cleaned = s.replace(',', " ");
    let mut toks: Vec<&str> = cleaned.split_whitespace().collect();
    if toks
        .first()
        .is_some_and(|t| t.len() >= 3 && month(t).is_none() && num(t).is_none())
    {
        toks.remove(0); // the weekday, right or wrong
    }
    // `13-Dec-2003` style.
    let joined;
    if !toks.is_empty() && toks[0].matches('-').count() == 2 {
        joined = toks[0].replace('-', " ");
        let mut v: Vec<&str> = joined.split(' ').collect();
        v.extend_from_slice(&toks[1..]);
        return rfc822_tokens(&v);
    }
    rfc822_tokens(&toks)
}

fn rfc822_tokens(toks: &[&str]) -> Option<DateTime<FixedOffset>> {
    if toks.len() < 3 {
        return None;
    }
    let (d, mo) = match (num(toks[0]), month(toks[1]), month(toks[0]), num(toks[1])) {
        (Some(d), Some(m), _, _) => (d, m),
        (_, _, Some(m), Some(d)) => (d, m),
        _ => return None,
    };
    let y = year(toks[2])?;
    let mut rest = &toks[3..];
    let (mut h, mut mi, mut sec) = (0, 0, 0);
    if let Some(t) = rest.first() {
        if t.contains(':') {
            let ampm = rest
                .get(1)
                .filter(|a| a.eq_ignore_ascii_case("am") || a.eq_ignore_ascii_case("pm"))
                .copied();
            (h, mi, sec) = clock(t, ampm)?;
            rest = &rest[if ampm.is_some() { 2 } else { 1 }..];
        } else if t.len() == 4 && num(t).is_some() {
            // `03 Apr 02 1500 GMT`
            (h, mi) = (num(t.get(..2)?)?, num(t.get(2..)?)?);
            rest = &rest[1..];
        }
    }
    let off = match rest.first() {
        Some(z) => named_zone(z).unwrap_or(0),
        None => 0,
    };
    build(y, mo, d, h, mi, sec, off)
}

/// `2020/1/10 14:33:00` and `2020/01/10`.
fn slashed(s: &str) -> Option<DateTime<FixedOffset>> {
    let (date, time) = match s.split_once(' ') {
        Some((d, t)) => (d, Some(t.trim())),
        None => (s, None),
    };
    let p: Vec<&str> = date.split('/').collect();
    let [y, m, d] = p.as_slice() else {
        return None;
    };
    if y.len() != 4 {
        return None;
    }
    let (h, mi, sec) = match time {
        Some(t) => {
            let mut it = t.split_whitespace();
            let clk = it.next()?;
            clock(clk, it.next())?
        }
        None => (0, 0, 0),
    };
    build(num(y)? as i32, num(m)?, num(d)?, h, mi, sec, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> String {
        parse_date(s)
            .map(|d| d.naive_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| "none".into())
    }

    #[test]
    fn rfc822_variants() {
        assert_eq!(utc("Sat, 07 Sep 2002 00:00:01 GMT"), "2002-09-07T00:00:01Z");
        assert_eq!(utc("07 Sep 2002 00:00:01 GMT"), "2002-09-07T00:00:01Z");
        // Wrong weekday: ignored.
        assert_eq!(utc("Mon, 07 Sep 2002 00:00:01 GMT"), "2002-09-07T00:00:01Z");
        assert_eq!(utc("Sat, 07 Sep 02 00:00:01 GMT"), "2002-09-07T00:00:01Z");
        assert_eq!(utc("Tue, 10 Jun 97 04:00:00 EDT"), "1997-06-10T08:00:00Z");
        assert_eq!(utc("Thu, 01 Jan 2004 19:48:21 PST"), "2004-01-02T03:48:21Z");
        assert_eq!(utc("Thu, 01 Jan 2004 19:48:21 UT"), "2004-01-01T19:48:21Z");
        assert_eq!(utc("Thu, 01 Jan 2004 19:48:21 Z"), "2004-01-01T19:48:21Z");
        assert_eq!(utc("Thu, 01 Jan 2004 19:48:21 A"), "2004-01-01T20:48:21Z");
        assert_eq!(
            utc("Thu, 01 Jan 2004 19:48:21 +0130"),
            "2004-01-01T18:18:21Z"
        );
        assert_eq!(utc("Thu, 01 Jan 2004 19:48"), "2004-01-01T19:48:00Z");
        assert_eq!(utc("Sat, Dec 16 2023 02:02:33 PM"), "2023-12-16T14:02:33Z");
        assert_eq!(utc("03 Apr 02 1500 GMT"), "2002-04-03T15:00:00Z");
    }

    #[test]
    fn w3cdtf_variants() {
        assert_eq!(utc("2003-12-13T18:30:02Z"), "2003-12-13T18:30:02Z");
        assert_eq!(utc("2003-12-13T18:30:02.25+01:00"), "2003-12-13T17:30:02Z");
        assert_eq!(utc("2003-12-13T18:30-05:00"), "2003-12-13T23:30:00Z");
        assert_eq!(utc("2003-12-13T18:30"), "2003-12-13T18:30:00Z");
        assert_eq!(utc("2003-12-13"), "2003-12-13T00:00:00Z");
        assert_eq!(utc("2003-12"), "2003-12-01T00:00:00Z");
        assert_eq!(utc("2003"), "2003-01-01T00:00:00Z");
        assert_eq!(utc("2020/1/10 14:33:00"), "2020-01-10T14:33:00Z");
    }

    proptest::proptest! {
        #[test]
        fn any_string_never_panics(s in "\\PC{0,40}", t in "[0-9+:TZ -]{0,30}é?[0-9]{0,4}") {
            let _ = parse_date(&s);
            let _ = parse_date(&t);
            let _ = parse_date(&format!("2003{t}"));
            let _ = parse_date(&format!("Sat, 07 Sep 2002 {t}"));
        }
    }

    #[test]
    fn garbage_is_none() {
        for s in [
            "",
            "yesterday",
            "2003-13-45",
            "32 Jan 2004",
            "::",
            "9999999999-1-1",
        ] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }
}
