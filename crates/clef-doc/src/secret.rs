//! [`Secret`]: the one type for a secret string in memory, in every crate
//! (the document tree's values and comments, the scanner's findings, a
//! generated age identity, the artifact and agent plaintext).
//!
//! What it guarantees, by construction:
//! * the text is wiped from memory when the value is dropped (`zeroize`);
//! * `Debug` and `Display` never show it (`Secret(<redacted>)`,
//!   `<redacted>`), so a secret in a struct, an error or a log line prints
//!   redacted;
//! * it has no `serde` implementation: serializing it does not compile.
//!
//! The text is read on purpose through [`Secret::expose`] or `Deref` (`&s[..]`,
//! `s.as_str()`, `s.len()`): what comes out is then the caller's to keep out
//! of messages.

use std::fmt;
use std::ops::{Deref, DerefMut};

use zeroize::Zeroizing;

/// A secret string: zeroized on drop, redacted by `Debug` and `Display`,
/// never serialized. See the [module](self) documentation.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a value (moved, not copied).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The text, on purpose: for the output the user asked for, hashing,
    /// encryption. Never for a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A form that does not reveal the value, for reports: the first four
    /// characters of a value of 16 characters or more (usually a public
    /// prefix such as `ghp_`) and asterisks; a shorter value is all
    /// asterisks.
    pub fn redacted(&self) -> String {
        if self.0.chars().count() >= 16 {
            let head: String = self.0.chars().take(4).collect();
            format!("{head}*****")
        } else {
            "*****".to_string()
        }
    }

    /// The text as a [`Zeroizing`] string (still wiped on drop).
    pub fn into_zeroizing(self) -> Zeroizing<String> {
        self.0
    }
}

impl Deref for Secret {
    type Target = String;
    fn deref(&self) -> &String {
        &self.0
    }
}

impl DerefMut for Secret {
    fn deref_mut(&mut self) -> &mut String {
        &mut self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret::new(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret::new(s)
    }
}

impl From<Zeroizing<String>> for Secret {
    fn from(s: Zeroizing<String>) -> Secret {
        Secret(s)
    }
}

impl From<Secret> for Zeroizing<String> {
    fn from(s: Secret) -> Zeroizing<String> {
        s.0
    }
}

impl AsRef<str> for Secret {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Secret {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_str().as_ref()
    }
}

impl AsRef<[u8]> for Secret {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl PartialEq<str> for Secret {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == other
    }
}

impl PartialEq<&str> for Secret {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new(VALUE);
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(s.to_string(), "<redacted>");
        #[derive(Debug)]
        #[allow(dead_code, reason = "only Debug reads it")]
        struct Holder {
            value: Secret,
        }
        let h = format!("{:?}", Holder { value: s.clone() });
        assert!(!h.contains("abcdefgh"), "{h}");
        assert_eq!(s.expose(), VALUE);
        assert_eq!(&s[..], VALUE);
    }

    #[test]
    fn redacted_keeps_only_a_public_prefix_of_long_values() {
        assert_eq!(Secret::new(VALUE).redacted(), "ghp_*****");
        assert_eq!(Secret::new("hunter2").redacted(), "*****");
        assert_eq!(Secret::new("ééééééééééééééééé").redacted(), "éééé*****");
    }

    #[test]
    fn conversions_keep_the_text() {
        let z: Zeroizing<String> = Secret::from("abc").into();
        assert_eq!(z.as_str(), "abc");
        assert_eq!(Secret::from(z), "abc");
        assert_eq!(
            Secret::from(String::from("x")).into_zeroizing().as_str(),
            "x"
        );
    }
}
