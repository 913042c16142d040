//! go-yaml v3 scalar resolution (`resolve.go`), Go's number parsing rules as
//! go-yaml uses them, timestamp parsing (`time.Parse` with go-yaml's formats)
//! and Go's float formatting.

/// What a scalar resolves to.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX` that fits a `u64`.
    Uint(u64),
    Float(f64),
    Str,
    /// A timestamp, already in Go's RFC 3339 (`MarshalText`) form.
    Time(String),
    /// `!!binary`: the decoded bytes.
    Binary(Vec<u8>),
}

const STR: &str = "!!str";
const BINARY: &str = "!!binary";

fn resolvable(tag: &str) -> bool {
    matches!(
        tag,
        "" | "!!str" | "!!bool" | "!!int" | "!!float" | "!!null" | "!!timestamp"
    )
}

fn resolve_map(s: &str) -> Option<Resolved> {
    Some(match s {
        "true" | "True" | "TRUE" => Resolved::Bool(true),
        "false" | "False" | "FALSE" => Resolved::Bool(false),
        "" | "~" | "null" | "Null" | "NULL" => Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Resolved::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

fn hint(s: &str) -> u8 {
    match s.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => 0,
    }
}

fn tag_of(r: &Resolved) -> &'static str {
    match r {
        Resolved::Null => "!!null",
        Resolved::Bool(_) => "!!bool",
        Resolved::Int(_) | Resolved::Uint(_) => "!!int",
        Resolved::Float(_) => "!!float",
        Resolved::Str => STR,
        Resolved::Time(_) => "!!timestamp",
        Resolved::Binary(_) => BINARY,
    }
}

/// The implicit tag of a plain scalar (go-yaml's `resolve("", s)`).
pub(crate) fn resolve_tag(s: &str) -> &'static str {
    tag_of(&resolve_plain(s, true))
}

/// Resolution of an untagged plain scalar. `timestamps` enables the
/// timestamp check (go-yaml only tries it for untagged or `!!timestamp`).
fn resolve_plain(s: &str, timestamps: bool) -> Resolved {
    let h = hint(s);
    if h == 0 {
        return Resolved::Str;
    }
    if let Some(r) = resolve_map(s) {
        return r;
    }
    match h {
        b'.' => {
            if let Some(f) = go_parse_float(s) {
                return Resolved::Float(f);
            }
        }
        b'D' | b'S' => {
            if let Some(t) = timestamps.then(|| parse_timestamp(s)).flatten() {
                return Resolved::Time(t);
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Some(i) = go_parse_int(&plain, 0) {
                return Resolved::Int(i);
            }
            if let Some(u) = go_parse_uint(&plain, 0) {
                return Resolved::Uint(u);
            }
            if let Some(f) = yaml_style_float(&plain)
                .then(|| go_parse_float(&plain))
                .flatten()
            {
                return Resolved::Float(f);
            }
            if let Some(rest) = plain.strip_prefix("0b") {
                if let Some(i) = go_parse_int(rest, 2) {
                    return Resolved::Int(i);
                }
                if let Some(u) = go_parse_uint(rest, 2) {
                    return Resolved::Uint(u);
                }
            } else if let Some(i) = plain
                .strip_prefix("-0b")
                .and_then(|r| go_parse_int(&format!("-{r}"), 2))
            {
                return Resolved::Int(i);
            }
            if let Some(rest) = plain.strip_prefix("0o") {
                if let Some(i) = go_parse_int(rest, 8) {
                    return Resolved::Int(i);
                }
                if let Some(u) = go_parse_uint(rest, 8) {
                    return Resolved::Uint(u);
                }
            } else if let Some(i) = plain
                .strip_prefix("-0o")
                .and_then(|r| go_parse_int(&format!("-{r}"), 8))
            {
                return Resolved::Int(i);
            }
        }
        _ => {}
    }
    Resolved::Str
}

/// go-yaml's `resolve(tag, in)` followed by the decoder's `!!binary`
/// handling. Errors never include the scalar.
pub(crate) fn resolve(tag: &str, s: &str) -> Result<Resolved, &'static str> {
    if !resolvable(tag) {
        if tag == BINARY {
            return decode_base64(s)
                .map(Resolved::Binary)
                .ok_or("!!binary value contains invalid base64 data");
        }
        return Ok(Resolved::Str);
    }
    if tag == STR {
        return Ok(Resolved::Str);
    }
    let r = resolve_plain(s, tag.is_empty() || tag == "!!timestamp");
    let rtag = tag_of(&r);
    if tag.is_empty() || tag == rtag {
        return Ok(r);
    }
    if let ("!!float", Resolved::Int(i)) = (tag, &r) {
        return Ok(Resolved::Float(*i as f64));
    }
    Err(match tag {
        "!!int" => "value cannot be decoded as an !!int",
        "!!float" => "value cannot be decoded as a !!float",
        "!!bool" => "value cannot be decoded as a !!bool",
        "!!null" => "value cannot be decoded as a !!null",
        "!!timestamp" => "value cannot be decoded as a !!timestamp",
        _ => "value cannot be decoded with its tag",
    })
}

/// Go's `underscoreOK`: underscores only between digits (or after a base
/// prefix).
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    if !b.is_empty() && (b[0] == b'-' || b[0] == b'+') {
        i = 1;
    }
    let mut hex = false;
    if b.len() - i >= 2 && b[i] == b'0' {
        let c = b[i + 1].to_ascii_lowercase();
        if c == b'b' || c == b'o' || c == b'x' {
            hex = c == b'x';
            i += 2;
            saw = b'0';
        }
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Digits of an unsigned Go integer literal in `base` (0 = detect prefix).
fn parse_unsigned_digits(s: &str, base: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let (base, digits) = if base == 0 {
        let b = s.as_bytes();
        if b[0] == b'0' && b.len() >= 2 {
            match b[1].to_ascii_lowercase() {
                b'x' => (16, &s[2..]),
                b'o' => (8, &s[2..]),
                b'b' => (2, &s[2..]),
                _ => (8, &s[1..]),
            }
        } else {
            (10, s)
        }
    } else {
        (base, s)
    };
    if digits.contains('_') && !underscore_ok(s) {
        return None;
    }
    let mut any = false;
    let mut v: u64 = 0;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(base)?;
        v = v.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
        any = true;
    }
    if !any {
        // "0x", "0b", "0o" alone are invalid ("0" itself has a digit).
        return None;
    }
    Some(v)
}

/// Go's `strconv.ParseInt(s, base, 64)`.
pub(crate) fn go_parse_int(s: &str, base: u32) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = parse_unsigned_digits(rest, base)?;
    if neg {
        if u <= i64::MAX as u64 + 1 {
            Some((u as i64).wrapping_neg())
        } else {
            None
        }
    } else if u <= i64::MAX as u64 {
        Some(u as i64)
    } else {
        None
    }
}

/// Go's `strconv.ParseUint(s, base, 64)` (no sign allowed).
pub(crate) fn go_parse_uint(s: &str, base: u32) -> Option<u64> {
    if s.starts_with(['+', '-']) {
        return None;
    }
    parse_unsigned_digits(s, base)
}

/// go-yaml's `yamlStyleFloat`:
/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms go-yaml can pass
/// it; `None` on syntax or overflow (range) errors.
pub(crate) fn go_parse_float(s: &str) -> Option<f64> {
    let cleaned: String;
    let s = if s.contains('_') {
        if !underscore_ok(s) {
            return None;
        }
        cleaned = s.chars().filter(|&c| c != '_').collect();
        &cleaned
    } else {
        s
    };
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if body == "inf" || body == "infinity" || body == "nan" {
        // Go accepts these spellings; go-yaml never reaches here with them
        // except through the '.' hint, which cannot start them.
        return None;
    }
    if body.starts_with("0x") {
        // Hexadecimal floats never reach this path from go-yaml's resolver
        // in a way that matters (they start with a digit and fail the
        // YAML float pattern); treat them as not a float.
        return None;
    }
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    if f.is_infinite() {
        // Out of range: Go reports ErrRange and go-yaml treats it as a string.
        return None;
    }
    Some(f)
}

/// go-yaml's `isBase60Float`:
/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
pub(crate) fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let c = b[0];
    if !(c == b'+' || c == b'-' || c.is_ascii_digit()) {
        return false;
    }
    let mut i = 0;
    if b[i] == b'-' || b[i] == b'+' {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    // One or more ":[0-5]?[0-9]" groups. The regex is backtracking-free here:
    // a group is ':' followed by one or two digits where a two-digit group
    // starts with 0-5.
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        let d1 = b.get(i + 1).copied().unwrap_or(0);
        let d2 = b.get(i + 2).copied().unwrap_or(0);
        if (b'0'..=b'5').contains(&d1) && d2.is_ascii_digit() {
            i += 3;
        } else if d1.is_ascii_digit() {
            i += 2;
        } else {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml's `isOldBool` (YAML 1.1 booleans that YAML 1.2 reads as strings).
pub(crate) fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

// ---------------------------------------------------------------------------
// Timestamps.

fn getnum(b: &[u8], i: &mut usize, fixed: bool) -> Option<u32> {
    let d0 = *b.get(*i)?;
    if !d0.is_ascii_digit() {
        return None;
    }
    match b.get(*i + 1) {
        Some(d1) if d1.is_ascii_digit() => {
            *i += 2;
            Some(u32::from(d0 - b'0') * 10 + u32::from(d1 - b'0'))
        }
        _ => {
            if fixed {
                return None;
            }
            *i += 1;
            Some(u32::from(d0 - b'0'))
        }
    }
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) {
                29
            } else {
                28
            }
        }
    }
}

/// go-yaml's `parseTimestamp` (formats `2006-1-2T15:4:5.999999999Z07:00`,
/// the same with a lowercase `t`, `2006-1-2 15:4:5.999999999` and
/// `2006-1-2`), returning Go's `time.Time.MarshalText` form.
pub(crate) fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let year: u32 = s[..4].parse().ok()?;
    let mut i = 5;
    let month = getnum(b, &mut i, false)?;
    if b.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let day = getnum(b, &mut i, false)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if i == b.len() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let with_zone = match b[i] {
        b'T' | b't' => true,
        b' ' => false,
        _ => return None,
    };
    i += 1;
    let hour = getnum(b, &mut i, false)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let minute = getnum(b, &mut i, false)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let second = getnum(b, &mut i, false)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut nanos: u32 = 0;
    if i + 1 < b.len() && (b[i] == b'.' || b[i] == b',') && b[i + 1].is_ascii_digit() {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[st..i];
        let mut taken: String = digits.chars().take(9).collect();
        while taken.len() < 9 {
            taken.push('0');
        }
        nanos = taken.parse().ok()?;
    }
    let zone = if with_zone {
        match b.get(i) {
            Some(b'Z') => {
                i += 1;
                "Z".to_owned()
            }
            Some(&sign @ (b'+' | b'-')) => {
                if b.len() < i + 6 || b[i + 3] != b':' {
                    return None;
                }
                let mut j = i + 1;
                let hh = getnum(b, &mut j, true)?;
                let mut j = i + 4;
                let mm = getnum(b, &mut j, true)?;
                if hh > 24 || mm > 60 {
                    return None;
                }
                i += 6;
                if hh == 0 && mm == 0 {
                    "Z".to_owned()
                } else {
                    format!("{}{hh:02}:{mm:02}", sign as char)
                }
            }
            _ => return None,
        }
    } else {
        "Z".to_owned()
    };
    if i != b.len() {
        return None;
    }
    let frac = if nanos == 0 {
        String::new()
    } else {
        let f = format!(".{nanos:09}");
        f.trim_end_matches('0').to_owned()
    };
    Some(format!(
        "{date}T{hour:02}:{minute:02}:{second:02}{frac}{zone}"
    ))
}

// ---------------------------------------------------------------------------
// Base64 (Go's StdEncoding.DecodeString: padded, strict, ignores \r and \n).

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'\r' && c != b'\n').collect();
    if !clean.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let chunks = clean.chunks(4);
    let n = chunks.len();
    for (idx, chunk) in clean.chunks(4).enumerate() {
        let last = idx + 1 == n;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut acc: u32 = 0;
        for &c in &chunk[..4 - pad] {
            acc = (acc << 6) | val(c)?;
        }
        match pad {
            0 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            1 => {
                // 18 bits: two bytes, the low 2 bits must be zero.
                if acc & 0x3 != 0 {
                    return None;
                }
                let acc = acc >> 2;
                out.extend_from_slice(&[(acc >> 8) as u8, acc as u8]);
            }
            _ => {
                if acc & 0xF != 0 {
                    return None;
                }
                out.push((acc >> 4) as u8);
            }
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Float formatting.

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` with go-yaml's spellings of
/// the special values (`.inf`, `-.inf`, `.nan`).
pub(crate) fn format_float_yaml(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".to_owned()
        } else {
            "-.inf".to_owned()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".to_owned()
        } else {
            "0".to_owned()
        };
    }
    // Shortest round-trip digits from Rust's exponent formatting.
    let e = format!("{:e}", f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let neg = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let mut s = String::from(neg);
        s.push_str(&digits[..1]);
        if nd > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            s.push('0');
        }
        s.push_str(&a.to_string());
        return s;
    }
    // %f with nd - dp fractional digits.
    let mut s = String::from(neg);
    if dp <= 0 {
        s.push_str("0.");
        for _ in 0..(-dp) {
            s.push('0');
        }
        s.push_str(&digits);
    } else if dp >= nd {
        s.push_str(&digits);
        for _ in 0..(dp - nd) {
            s.push('0');
        }
    } else {
        s.push_str(&digits[..dp as usize]);
        s.push('.');
        s.push_str(&digits[dp as usize..]);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Resolved {
        resolve("", s).unwrap_or(Resolved::Str)
    }

    #[test]
    fn ints() {
        assert_eq!(r("0x1F"), Resolved::Int(31));
        assert_eq!(r("0o17"), Resolved::Int(15));
        assert_eq!(r("017"), Resolved::Int(15));
        assert_eq!(r("0b101"), Resolved::Int(5));
        assert_eq!(r("1_000"), Resolved::Int(1000));
        assert_eq!(r("+12"), Resolved::Int(12));
        assert_eq!(r("-42"), Resolved::Int(-42));
        assert_eq!(r("0"), Resolved::Int(0));
        assert_eq!(r("-0"), Resolved::Int(0));
        assert_eq!(r("9223372036854775807"), Resolved::Int(i64::MAX));
        assert_eq!(r("-9223372036854775808"), Resolved::Int(i64::MIN));
        assert_eq!(
            r("9223372036854775808"),
            Resolved::Uint(9223372036854775808)
        );
        assert_eq!(
            r("18446744073709551616"),
            Resolved::Float(18446744073709551616.0)
        );
        assert_eq!(r("08"), Resolved::Float(8.0));
        assert_eq!(r("0x"), Resolved::Str);
        assert_eq!(r("1:20"), Resolved::Str);
        assert_eq!(r("0b-1"), Resolved::Int(-1));
    }

    #[test]
    fn floats_bools_nulls() {
        assert_eq!(r("1.5e3"), Resolved::Float(1500.0));
        assert_eq!(r(".5"), Resolved::Float(0.5));
        assert_eq!(r("1."), Resolved::Float(1.0));
        assert_eq!(r("-.Inf"), Resolved::Float(f64::NEG_INFINITY));
        assert_eq!(r("1e400"), Resolved::Str);
        assert!(matches!(r(".nan"), Resolved::Float(f) if f.is_nan()));
        assert_eq!(r("true"), Resolved::Bool(true));
        assert_eq!(r("TRUE"), Resolved::Bool(true));
        assert_eq!(r("tRue"), Resolved::Str);
        assert_eq!(r("yes"), Resolved::Str);
        assert_eq!(r("on"), Resolved::Str);
        assert_eq!(r("~"), Resolved::Null);
        assert_eq!(r(""), Resolved::Null);
        assert_eq!(r("NULL"), Resolved::Null);
        assert_eq!(r("nULL"), Resolved::Str);
    }

    #[test]
    fn tagged() {
        assert_eq!(resolve("!!str", "12"), Ok(Resolved::Str));
        assert_eq!(resolve("!!float", "3"), Ok(Resolved::Float(3.0)));
        assert!(resolve("!!int", "abc").is_err());
        assert_eq!(
            resolve("!!binary", "aGVsbG8="),
            Ok(Resolved::Binary(b"hello".to_vec()))
        );
        assert!(resolve("!!binary", "a").is_err());
        assert_eq!(resolve("!foo", "12"), Ok(Resolved::Str));
        assert_eq!(
            resolve("!!timestamp", "2024-01-02T03:04:05Z"),
            Ok(Resolved::Time("2024-01-02T03:04:05Z".into()))
        );
    }

    #[test]
    fn timestamps() {
        let t = |s: &str| parse_timestamp(s);
        assert_eq!(t("2024-01-02").as_deref(), Some("2024-01-02T00:00:00Z"));
        assert_eq!(t("2024-1-2").as_deref(), Some("2024-01-02T00:00:00Z"));
        assert_eq!(
            t("2024-01-02 10:00:00").as_deref(),
            Some("2024-01-02T10:00:00Z")
        );
        assert_eq!(
            t("2024-01-02T03:04:05Z").as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            t("2024-01-02t03:04:05.500Z").as_deref(),
            Some("2024-01-02T03:04:05.5Z")
        );
        assert_eq!(
            t("2024-01-02T03:04:05+01:00").as_deref(),
            Some("2024-01-02T03:04:05+01:00")
        );
        assert_eq!(
            t("2024-01-02T03:04:05-00:00").as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(t("2024-01-02T03:04:05"), None);
        assert_eq!(t("2024-02-30"), None);
        assert_eq!(t("2023-02-29"), None);
        assert_eq!(t("2024-02-29").as_deref(), Some("2024-02-29T00:00:00Z"));
        assert_eq!(t("2024-01-02 10:00:00 +01:00"), None);
        assert_eq!(t("12:30:00"), None);
    }

    #[test]
    fn float_format() {
        assert_eq!(format_float_yaml(1500.0), "1500");
        assert_eq!(format_float_yaml(1e-7), "1e-07");
        assert_eq!(format_float_yaml(1e23), "1e+23");
        assert_eq!(format_float_yaml(0.5), "0.5");
        assert_eq!(format_float_yaml(1.0), "1");
        assert_eq!(format_float_yaml(-0.0), "-0");
        assert_eq!(format_float_yaml(1234567.0), "1.234567e+06");
        assert_eq!(format_float_yaml(123456.0), "123456");
        assert_eq!(format_float_yaml(0.0001), "0.0001");
        assert_eq!(format_float_yaml(0.00001), "1e-05");
        assert_eq!(format_float_yaml(f64::INFINITY), ".inf");
        assert_eq!(format_float_yaml(f64::NEG_INFINITY), "-.inf");
        assert_eq!(format_float_yaml(f64::NAN), ".nan");
        assert_eq!(format_float_yaml(2.71), "2.71");
    }

    #[test]
    fn base60_and_old_bools() {
        assert!(is_base60_float("1:20"));
        assert!(is_base60_float("12:30:00"));
        assert!(is_base60_float("190:20:30.15"));
        assert!(!is_base60_float("1:2a"));
        assert!(!is_base60_float("12"));
        assert!(is_old_bool("yes"));
        assert!(!is_old_bool("true"));
    }
}
