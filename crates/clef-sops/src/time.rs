//! The little calendar arithmetic sops's timestamps need (no clock crate).

/// A parsed RFC 3339 timestamp: seconds since the epoch (UTC), the fractional
/// part as written, and the UTC offset in minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Local date-time fields.
    pub fields: (i64, u32, u32, u32, u32, u32),
    /// Fraction digits after the dot (may be empty).
    pub frac: String,
    /// Offset from UTC in minutes.
    pub offset_min: i32,
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)` (Go's `time.RFC3339` layout).
pub fn parse_rfc3339(s: &str) -> Option<Stamp> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = num(&s[0..4])? as i64;
    let month = num(&s[5..7])?;
    let day = num(&s[8..10])?;
    let hour = num(&s[11..13])?;
    let min = num(&s[14..16])?;
    let sec = num(&s[17..19])?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac = String::new();
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        frac = r[..n].to_owned();
        rest = &r[n..];
    }
    let offset_min = if rest == "Z" {
        0
    } else {
        let sign = match rest.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        if rest.len() != 6 || &rest[3..4] != ":" {
            return None;
        }
        let h = num(&rest[1..3])?;
        let m = num(&rest[4..6])?;
        if h > 23 || m > 59 {
            return None;
        }
        sign * (h * 60 + m) as i32
    };
    Some(Stamp {
        fields: (year, month, day, hour, min, sec),
        frac,
        offset_min,
    })
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Go's `t.Format(time.RFC3339)` of a parsed stamp: seconds precision, `Z` for
/// a zero offset. This is the AAD sops uses for the MAC.
pub fn go_rfc3339(st: &Stamp) -> String {
    let (y, mo, d, h, mi, s) = st.fields;
    let off = if st.offset_min == 0 {
        "Z".to_owned()
    } else {
        let sign = if st.offset_min < 0 { '-' } else { '+' };
        let a = st.offset_min.unsigned_abs();
        format!("{sign}{:02}:{:02}", a / 60, a % 60)
    };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{off}")
}

/// The current UTC time in Go's RFC 3339 form (`2026-11-24T00:02:41Z`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    from_unix(secs)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn from_unix(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date (year, month 1-12, day 1-31) of a day
/// counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m as u32, d as u32)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (month 1-12; Howard
/// Hinnant's `days_from_civil`), the inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn unix_formatting() {
        assert_eq!(from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(from_unix(1_795_478_561), "2026-11-24T00:02:41Z");
        assert_eq!(from_unix(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parse_and_go_format() {
        let st = parse_rfc3339("2026-11-24T00:02:41.500Z").unwrap();
        assert_eq!(go_rfc3339(&st), "2026-11-24T00:02:41Z");
        let st = parse_rfc3339("2026-11-24T01:02:41+01:00").unwrap();
        assert_eq!(go_rfc3339(&st), "2026-11-24T01:02:41+01:00");
        assert_eq!(
            go_rfc3339(&parse_rfc3339("2026-11-24T01:02:41+00:00").unwrap()),
            "2026-11-24T01:02:41Z"
        );
        assert!(parse_rfc3339("2026-02-30T00:00:00Z").is_none());
        assert!(parse_rfc3339("2026-11-24 00:02:41Z").is_none());
        assert!(parse_rfc3339("garbage").is_none());
    }
}
