//! Validated values of an order. Personal data (email, phone) is wrapped so
//! that `Debug` never prints it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// Personal data: compared and stored as usual, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pii<T>(pub T);

impl<T> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<pii>")
    }
}

/// An email address, normalised: trimmed and lower case, at most 254 characters,
/// one `@` with a local part and a dotted domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(Pii<String>);

impl Email {
    /// Checks and normalises an email address.
    pub fn parse(value: &str) -> Result<Email, Invalid> {
        let email = value.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(char::is_whitespace)
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains("..")
                }
                None => false,
            };
        if !valid {
            return Err(Invalid::new("must be an email address"));
        }
        Ok(Email(Pii(email)))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0.0
    }
}

/// A phone number normalised to E.164: `+` and 8 to 15 digits, after removing
/// spaces, dashes, dots and brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(Pii<String>);

impl Phone {
    /// Checks a phone number and normalises it to E.164.
    pub fn parse(value: &str) -> Result<Phone, Invalid> {
        let trimmed = value.trim();
        let digits: String = trimmed
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let number = digits.strip_prefix('+').unwrap_or(&digits);
        let valid = trimmed.starts_with('+')
            && (8..=15).contains(&number.len())
            && number.bytes().all(|b| b.is_ascii_digit())
            && !number.starts_with('0');
        if !valid {
            return Err(Invalid::new(
                "must be an E.164 phone number: + and 8 to 15 digits",
            ));
        }
        Ok(Phone(Pii(format!("+{number}"))))
    }

    /// The number as text, e.g. `+4930123456`.
    pub fn as_str(&self) -> &str {
        &self.0.0
    }
}

/// A tag: 1 to 64 characters of `[a-z0-9._:-]`, upper case lowered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    /// Checks a tag, lowering its case.
    pub fn parse(value: &str) -> Result<Tag, Invalid> {
        let tag = value.to_lowercase();
        let valid = !tag.is_empty()
            && tag.len() <= 64
            && tag.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | ':' | '-')
            });
        if !valid {
            return Err(Invalid::new("must be 1 to 64 characters of [a-z0-9._:-]"));
        }
        Ok(Tag(tag))
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A channel's order reference: 1 to 128 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalReference(String);

impl ExternalReference {
    /// Checks a channel's order reference.
    pub fn parse(value: &str) -> Result<ExternalReference, Invalid> {
        if value.is_empty() || value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid::new("must be 1 to 128 printable ASCII characters"));
        }
        Ok(ExternalReference(value.to_owned()))
    }

    /// The reference as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub use oms_platform::ids::CurrencyCode;

/// An amount in minor units of the order's currency, zero or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Amount(i64);

impl Amount {
    /// Nothing.
    pub const ZERO: Amount = Amount(0);

    /// Checks an amount: zero or more.
    pub fn new(minor: i64) -> Result<Amount, Invalid> {
        if minor < 0 {
            return Err(Invalid::new("must not be negative"));
        }
        Ok(Amount(minor))
    }

    /// The amount in minor units.
    pub fn minor(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` past `i64::MAX`.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self * units`, or `None` past `i64::MAX`.
    pub fn checked_mul(self, units: i32) -> Option<Amount> {
        self.0.checked_mul(i64::from(units)).map(Amount)
    }

    /// `self - other`, never below zero.
    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount((self.0 - other.0).max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowered() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(
            Phone::parse("+49 (30) 123-456.78").unwrap().as_str(),
            "+493012345678"
        );
        for bad in ["030 1234567", "+49 30", "+49 30 12a4567", "+0301234567"] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_are_lowered_and_checked() {
        assert_eq!(Tag::parse("VIP:Gold").unwrap().as_str(), "vip:gold");
        assert!(Tag::parse("has space").is_err());
        assert!(Tag::parse("").is_err());
    }
}
