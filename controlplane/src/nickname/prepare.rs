//! PRECIS Nickname profile (RFC 8266, which obsoletes the RFC 7700 that RFC 7701 cites).
//!
//! Enforcement gives the form we store and publish: non-ASCII spaces mapped to SPACE, leading
//! and trailing spaces removed, inner runs collapsed, NFKC (which also folds full-width forms).
//! Comparison adds Unicode lower-casing before NFKC; two nicknames collide when their comparison
//! keys are equal. Keys are computed from the enforced form, so nicknames that would be
//! published identically always collide.

use precis_core::profile::{stabilize, Profile, Rules};
use precis_profiles::Nickname;

use super::error::NicknameError;
use super::header::MAX_NICKNAME_OCTETS;

/// A nickname after PRECIS enforcement, with its comparison key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PreparedNickname {
    display: String,
    key: String,
}

impl PreparedNickname {
    /// Applies the Nickname profile. Failures (disallowed code points, empty after trimming,
    /// too long) are 424.
    pub fn new(candidate: &str) -> Result<Self, NicknameError> {
        if candidate.len() > MAX_NICKNAME_OCTETS {
            return Err(NicknameError::Malformed("longer than 1023 octets"));
        }
        let profile = Nickname::new();
        let display = profile
            .enforce(candidate)
            .map_err(|_| NicknameError::Malformed("not a valid PRECIS nickname"))?
            .into_owned();
        // The key is taken from the enforced form, not from the raw input: lower-casing and
        // NFKC do not commute (U+03F9 GREEK CAPITAL LUNATE SIGMA enforces to Σ, whose lower case
        // depends on context, while its own lower case normalises to final ς), so keys of raw
        // inputs could differ for nicknames that are published identically. Found by fuzzing.
        let key = stabilize(display.as_str(), |s| {
            let s = profile.prepare(s)?;
            let s = profile.additional_mapping_rule(s)?;
            let s = profile.case_mapping_rule(s)?;
            profile.normalization_rule(s)
        })
        .map_err(|_| NicknameError::Malformed("not a valid PRECIS nickname"))?
        .into_owned();
        if display.len() > MAX_NICKNAME_OCTETS || key.is_empty() {
            return Err(NicknameError::Malformed("not a valid PRECIS nickname"));
        }
        Ok(Self { display, key })
    }

    /// The enforced form, which is what the room publishes.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The comparison key: equal keys mean the same nickname.
    pub fn key(&self) -> &str {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforcement_and_comparison() {
        let a = PreparedNickname::new("  Guybrush     Threepwood  ").unwrap();
        assert_eq!(a.display(), "Guybrush Threepwood");
        let b = PreparedNickname::new("guybrush threepwood").unwrap();
        assert_eq!(a.key(), b.key());
        // Full-width letters and a no-break space fold to the same key.
        let c = PreparedNickname::new("ＧＵＹＢＲＵＳＨ\u{00A0}threepwood").unwrap();
        assert_eq!(c.key(), a.key());
        assert_eq!(c.display(), "GUYBRUSH threepwood");
        // BOY and B0Y stay different (confusables are out of scope, RFC 7701 §7.1).
        assert_ne!(
            PreparedNickname::new("BOY").unwrap().key(),
            PreparedNickname::new("B0Y").unwrap().key()
        );
    }

    /// Fuzzing found two inputs that enforce to the same published form ("EΣoE") but had
    /// different keys when keys were computed from the raw input.
    #[test]
    fn same_published_form_means_same_key() {
        let lunate = PreparedNickname::new("E\u{03F9}oE").unwrap();
        let sigma = PreparedNickname::new("E\u{03A3}oE").unwrap();
        assert_eq!(lunate.display(), sigma.display());
        assert_eq!(lunate.key(), sigma.key());
        let crash = "\u{0663}~dEe\u{03F9}oE(\u{016A}\u{017A}E\u{017A}ECe\u{01FA}E\u{0170}d\u{047A}\u{017A}t\u{04FA}\u{017A}{\u{017A}t";
        let p = PreparedNickname::new(crash).unwrap();
        assert_eq!(PreparedNickname::new(p.display()).unwrap().key(), p.key());
    }

    #[test]
    fn invalid_nicknames_are_424() {
        for bad in ["", "   ", "\u{0007}bell", "a\u{200B}b"] {
            let e = PreparedNickname::new(bad).unwrap_err();
            assert_eq!(e.status_code(), 424, "{bad:?}");
        }
    }
}
