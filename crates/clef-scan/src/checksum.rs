//! Checksums and structure that vendors document for their tokens.
//!
//! A token whose checksum verifies was almost certainly issued by the vendor
//! (a random 30-character body matches a 32-bit checksum once in 4 billion
//! tries): it is reported with high confidence even where the entropy or
//! placeholder filters would have dropped it. A token whose checksum does not
//! verify was not issued by the vendor (a test value, a typo, a made-up
//! example): it is still reported, never hidden, with a low severity and the
//! reason.
//!
//! | rule | what is checked | where it is documented |
//! |---|---|---|
//! | `github-pat`, `github-oauth-token`, `github-user-to-server-token`, `github-server-to-server-token`, `github-refresh-token` (40 characters) | the last 6 characters are the base62 (`0-9A-Za-z`) CRC-32 (IEEE) of the 30-character body after `gh?_` | GitHub, "Behind GitHub's new authentication token formats" (2021-04-05) |
//! | `npm-access-token` | the same scheme after `npm_` | npm, "Announcing npm's new access token format" (2021-09-23) |
//! | `age-secret-key` | the Bech32 checksum (BIP-173) over the HRP `age-secret-key-` and a 32-byte key | age specification (C2SP age.md), BIP-173 |
//! | `pypi-upload-token` | the body is base64url of a version-2 macaroon whose location is `pypi.org` (structure only: a broken one is `Invalid`, a well-formed one gets no verdict) | PyPI help, "API tokens"; libmacaroons v2 format |
//! | `jwt` | the header is base64url JSON naming an `alg` (structure only, as for PyPI) | RFC 7519 / RFC 7515 |
//!
//! Slack, Stripe, AWS and most others document no checksum; their findings
//! carry none.

use base64::Engine as _;

/// What a checksum says of a matched token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// The vendor's checksum (or structure) verifies.
    Valid,
    /// It does not: the value was not issued by the vendor.
    Invalid,
}

/// Verify `secret` (what rule `rule` matched) against its vendor's checksum.
/// `None` when the rule's vendor documents none, or the value is not of the
/// checksummed shape (a 76-character `ghr_` refresh token).
pub fn verify(rule: &str, secret: &str) -> Option<Checksum> {
    let ok = match rule {
        "github-pat"
        | "github-oauth-token"
        | "github-user-to-server-token"
        | "github-server-to-server-token"
        | "github-refresh-token"
        | "npm-access-token" => {
            // only the 4-character prefix + 30 + 6 layout carries the CRC
            let b = secret.as_bytes();
            if b.len() != 40 || b[3] != b'_' {
                return None;
            }
            base62_crc32(&b[4..34]).as_bytes() == &b[34..]
        }
        "age-secret-key" => age_bech32(secret),
        // structure, not a checksum: anyone can write a well-formed one, so
        // it can only say "not issued" (broken structure), never "issued"
        "pypi-upload-token" if !pypi_macaroon(secret) => false,
        "jwt" if !jwt_header(secret) => false,
        _ => return None,
    };
    Some(if ok {
        Checksum::Valid
    } else {
        Checksum::Invalid
    })
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 6-character base62 CRC-32 of `body` (GitHub's and npm's token
/// checksum), left-padded with `0`.
pub fn base62_crc32(body: &[u8]) -> String {
    let mut n = u64::from(crc32fast::hash(body));
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const BECH32: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn bech32_polymod(values: impl Iterator<Item = u8>) -> u32 {
    const GEN: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// Bech32 (BIP-173, constant 1) checksum of `hrp` and 5-bit `data`.
pub fn bech32_checksum(hrp: &str, data: &[u8]) -> [u8; 6] {
    let h = hrp.as_bytes();
    let pm = bech32_polymod(
        h.iter()
            .map(|c| c >> 5)
            .chain([0])
            .chain(h.iter().map(|c| c & 31))
            .chain(data.iter().copied())
            .chain([0; 6]),
    ) ^ 1;
    let mut out = [0u8; 6];
    for (i, o) in out.iter_mut().enumerate() {
        *o = BECH32[((pm >> (5 * (5 - i))) & 31) as usize];
    }
    out
}

/// An age secret key: HRP `age-secret-key-`, a 32-byte key (52 data
/// characters) and a valid Bech32 checksum; one case throughout.
fn age_bech32(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let Some((hrp, rest)) = lower.rsplit_once('1') else {
        return false;
    };
    if hrp != "age-secret-key-" || rest.len() != 58 {
        return false;
    }
    let data: Option<Vec<u8>> = rest
        .bytes()
        .map(|c| BECH32.iter().position(|&x| x == c).map(|p| p as u8))
        .collect();
    let Some(data) = data else {
        return false;
    };
    let (payload, sum) = data.split_at(52);
    let want = bech32_checksum(hrp, payload);
    sum.iter()
        .zip(want)
        .all(|(&d, w)| BECH32[usize::from(d)] == w)
}

fn b64url(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

/// `pypi-` + base64url of a version-2 macaroon: version byte 2, then the
/// location field (type 1) holding `pypi.org` or `test.pypi.org`, then the
/// identifier field (type 2).
fn pypi_macaroon(token: &str) -> bool {
    let Some(bin) = token.strip_prefix("pypi-").and_then(b64url) else {
        return false;
    };
    let [2, 1, len, rest @ ..] = bin.as_slice() else {
        return false;
    };
    let len = usize::from(*len);
    let Some(location) = rest.get(..len) else {
        return false;
    };
    (location == b"pypi.org" || location == b"test.pypi.org") && rest.get(len) == Some(&2)
}

/// A JWT's header: base64url of a JSON object with a string `alg`.
fn jwt_header(token: &str) -> bool {
    token
        .split('.')
        .next()
        .and_then(b64url)
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .is_some_and(|h| h.get("alg").is_some_and(serde_json::Value::is_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random base62 body (tests must not depend on
    /// a generator crate).
    fn body(seed: u64, n: usize) -> String {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                BASE62[(x % 62) as usize] as char
            })
            .collect()
    }

    #[test]
    fn github_checksum_matches_published_vectors() {
        // bodies and checksums of expired GitHub tokens published in
        // therootcompany/base62-token.js (they pin the alphabet order and
        // that the CRC covers the body only)
        assert_eq!(base62_crc32(b"zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ"), "0mLq17");
        assert_eq!(base62_crc32(b"adE7dp8rHP6gUTuPwxLTZjZdtya3sV"), "0UQzQM");
        assert_eq!(base62_crc32(b"H3xbiBdlzffNx7Y56iNsPw3joObj7U"), "2nO29h");
        assert_eq!(base62_crc32(b""), "000000");
    }

    #[test]
    fn generated_github_and_npm_tokens_verify_and_tampered_ones_do_not() {
        for (seed, (rule, prefix)) in [
            ("github-pat", "ghp_"),
            ("github-oauth-token", "gho_"),
            ("github-user-to-server-token", "ghu_"),
            ("github-server-to-server-token", "ghs_"),
            ("github-refresh-token", "ghr_"),
            ("npm-access-token", "npm_"),
        ]
        .into_iter()
        .enumerate()
        {
            let b = body(seed as u64 + 1, 30);
            let token = format!("{prefix}{b}{}", base62_crc32(b.as_bytes()));
            assert_eq!(verify(rule, &token), Some(Checksum::Valid), "{rule}");
            // one character of the body changed
            let c = if &token[10..11] == "A" { "B" } else { "A" };
            let bad = format!("{}{c}{}", &token[..10], &token[11..]);
            assert_eq!(verify(rule, &bad), Some(Checksum::Invalid), "{rule}");
            // one character of the checksum changed
            let c = if token.ends_with('A') { "B" } else { "A" };
            let bad = format!("{}{c}", &token[..39]);
            assert_eq!(verify(rule, &bad), Some(Checksum::Invalid), "{rule}");
        }
        // other lengths carry no checksum
        assert_eq!(
            verify("github-refresh-token", &format!("ghr_{}", body(9, 76))),
            None
        );
        assert_eq!(verify("aws-access-key-id", "AKIA0000000000000000"), None);
    }

    #[test]
    fn age_keys_verify_in_either_case() {
        let data: Vec<u8> = body(3, 52).bytes().map(|c| c % 32).collect();
        let chars: String = data
            .iter()
            .map(|&d| BECH32[usize::from(d)] as char)
            .collect();
        let sum = bech32_checksum("age-secret-key-", &data);
        let key = format!("age-secret-key-1{chars}{}", String::from_utf8_lossy(&sum));
        assert_eq!(verify("age-secret-key", &key), Some(Checksum::Valid));
        assert_eq!(
            verify("age-secret-key", &key.to_ascii_uppercase()),
            Some(Checksum::Valid)
        );
        let c = if key.ends_with('q') { "p" } else { "q" };
        let bad = format!("{}{c}", &key[..key.len() - 1]);
        assert_eq!(verify("age-secret-key", &bad), Some(Checksum::Invalid));
    }

    #[test]
    fn age_key_checksum_agrees_with_age_keygen() {
        // a key made by the real age-keygen, when it is installed
        let Ok(out) = std::process::Command::new("age-keygen").output() else {
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let key = text
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .expect("age-keygen prints a key");
        assert_eq!(verify("age-secret-key", key), Some(Checksum::Valid));
    }

    #[test]
    fn pypi_macaroons_and_jwt_headers() {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let mut mac = vec![2, 1, 8];
        mac.extend_from_slice(b"pypi.org");
        mac.extend_from_slice(&[2, 0x1f]);
        mac.extend_from_slice(body(5, 60).as_bytes());
        let good = format!("pypi-{}", b64(&mac));
        assert!(good.starts_with("pypi-AgEIcHlwaS5vcmc"));
        assert_eq!(verify("pypi-upload-token", &good), None);
        let bad = format!("pypi-AgEIcHlwaS5vcmc{}", body(6, 80));
        assert_eq!(verify("pypi-upload-token", &bad), Some(Checksum::Invalid));

        let jwt = format!(
            "{}.{}.{}",
            b64(br#"{"alg":"HS256","typ":"JWT"}"#),
            b64(br#"{"sub":"1"}"#),
            body(7, 43)
        );
        assert_eq!(verify("jwt", &jwt), None);
        let fake = format!("eyJ{}.eyJ{}.{}", body(8, 20), body(9, 20), body(10, 30));
        assert_eq!(verify("jwt", &fake), Some(Checksum::Invalid));
    }
}
