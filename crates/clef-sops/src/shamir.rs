//! Shamir secret sharing over GF(2^8), compatible with sops (HashiCorp's scheme):
//! AES polynomial 0x11B, x-coordinates fixed to 1..=N in group order, each share
//! = the y-bytes followed by the one-byte x-coordinate.

use zeroize::Zeroizing;

/// A Shamir error (parameters or share shape; never secret material).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ShamirError {
    /// Threshold out of range.
    #[error(
        "shamir threshold must be at least 2 and at most the number of key groups ({parts}), got {threshold}"
    )]
    Threshold {
        /// The requested threshold.
        threshold: usize,
        /// Number of parts.
        parts: usize,
    },
    /// Too many parts.
    #[error("at most 255 key groups are supported")]
    TooManyParts,
    /// Shares are malformed or inconsistent.
    #[error("invalid Shamir shares")]
    BadShares,
}

fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

fn gf_inv(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8)
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u32;
    while e > 0 {
        if e & 1 == 1 {
            result = gf_mul(result, base);
        }
        base = gf_mul(base, base);
        e >>= 1;
    }
    result
}

/// Splits `secret` into `parts` shares, any `threshold` of which recover it.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    if parts > 255 {
        return Err(ShamirError::TooManyParts);
    }
    if threshold < 2 || threshold > parts {
        return Err(ShamirError::Threshold { threshold, parts });
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = (0..parts)
        .map(|_| Zeroizing::new(Vec::with_capacity(secret.len() + 1)))
        .collect();
    let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
    for &byte in secret {
        coeffs[0] = byte;
        crate::fill_random(&mut coeffs[1..]);
        for (i, share) in shares.iter_mut().enumerate() {
            let x = (i + 1) as u8;
            // Horner evaluation
            let mut y = 0u8;
            for &c in coeffs.iter().rev() {
                y = gf_mul(y, x) ^ c;
            }
            share.push(y);
        }
    }
    for (i, share) in shares.iter_mut().enumerate() {
        share.push((i + 1) as u8);
    }
    Ok(shares)
}

/// Recombines shares (each = y-bytes + x) by Lagrange interpolation at 0.
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    let len = shares
        .first()
        .map(|s| s.len())
        .ok_or(ShamirError::BadShares)?;
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err(ShamirError::BadShares);
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if *x == 0 || xs[..i].contains(x) {
            return Err(ShamirError::BadShares);
        }
    }
    let mut out = Zeroizing::new(vec![0u8; len - 1]);
    for (i, share) in shares.iter().enumerate() {
        // basis_i(0) = prod_{j != i} x_j / (x_j - x_i); subtraction is xor
        let mut basis = 1u8;
        for (j, xj) in xs.iter().enumerate() {
            if i != j {
                basis = gf_mul(basis, gf_mul(*xj, gf_inv(xj ^ xs[i])));
            }
        }
        for (o, y) in out.iter_mut().zip(share.iter()) {
            *o ^= gf_mul(*y, basis);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_combine_any_subset() {
        let secret: Vec<u8> = (0..32).collect();
        let shares = split(&secret, 3, 2).unwrap();
        assert!(shares.iter().all(|s| s.len() == 33));
        assert_eq!(shares.iter().map(|s| s[32]).collect::<Vec<_>>(), [1, 2, 3]);
        for (a, b) in [(0, 1), (0, 2), (1, 2), (2, 0)] {
            let got = combine(&[&shares[a], &shares[b]]).unwrap();
            assert_eq!(&*got, &secret);
        }
        let one = combine(&[&shares[0]]).unwrap();
        assert_ne!(&*one, &secret);
    }

    #[test]
    fn thresholds() {
        assert!(split(&[1], 2, 1).is_err());
        assert!(split(&[1], 2, 3).is_err());
        assert!(combine(&[]).is_err());
        assert!(combine(&[&[1, 1], &[2, 1]]).is_err());
    }

    #[test]
    fn inverse() {
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1);
        }
    }
}
