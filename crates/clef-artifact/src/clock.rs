//! Timestamps as JavaScript's `Date.toISOString()` writes them
//! (`2026-12-01T14:45:00.123Z`), and `revision` ids (`<epoch ms>-<8 hex>`).

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for epoch milliseconds.
pub fn iso_ms(ms: i64) -> String {
    let secs = clef_sops::time::from_unix(ms.div_euclid(1000));
    let base = secs.strip_suffix('Z').unwrap_or(&secs);
    format!("{base}.{:03}Z", ms.rem_euclid(1000))
}

/// Parses an RFC 3339 timestamp (fraction and offset optional) to epoch
/// milliseconds. `None` for anything else.
pub fn parse_ms(s: &str) -> Option<i64> {
    let st = clef_sops::time::parse_rfc3339(s)?;
    let (y, mo, d, h, mi, sec) = st.fields;
    let days = clef_sops::time::days_from_civil(y, mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec)
        - i64::from(st.offset_min) * 60;
    let frac: String = st.frac.chars().chain("000".chars()).take(3).collect();
    Some(secs * 1000 + frac.parse::<i64>().ok()?)
}

/// A new revision id: `<epoch ms>-<8 hex>` (4 random bytes).
pub fn revision(ms: i64) -> String {
    let mut b = [0u8; 4];
    getrandom::getrandom(&mut b).expect("the OS random source failed");
    format!("{ms}-{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip() {
        // Date.UTC(2024, 0, 15, 10, 30, 0, 7) in node.
        let ms = 1_705_314_600_007;
        assert_eq!(iso_ms(ms), "2024-01-15T10:30:00.007Z");
        assert_eq!(parse_ms("2024-01-15T10:30:00.007Z"), Some(ms));
        assert_eq!(parse_ms("2024-01-15T11:30:00.007+01:00"), Some(ms));
        assert_eq!(parse_ms("2024-01-15T10:30:00Z"), Some(ms - 7));
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse_ms("2024-02-30T00:00:00Z"), None);
        assert_eq!(parse_ms("soon"), None);
        let r = revision(ms);
        assert!(r.starts_with("1705314600007-") && r.len() == 22, "{r}");
    }
}
