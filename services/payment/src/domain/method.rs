//! How a customer pays: a PSP card token, a gift card or an invoice. Tokens and
//! gift card codes are secrets: their `Debug` never prints them, and only their
//! display text ("card ending 4242") is stored.

use std::fmt;

use oms_platform::ids::Invalid;

/// A PSP card token or gift card code: 1 to 128 printable ASCII characters,
/// never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Checks a token or code: 1 to 128 printable ASCII characters.
    pub fn parse(value: &str) -> Result<Secret, Invalid> {
        if value.is_empty() {
            return Err(Invalid::new("required"));
        }
        if value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid::new("must be 1 to 128 printable ASCII characters"));
        }
        Ok(Secret(value.to_owned()))
    }

    /// The secret itself, for the PSP only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last four characters, safe to show.
    fn last_four(&self) -> &str {
        let start = self.0.len().saturating_sub(4);
        &self.0[start..]
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

oms_platform::code_enum! {
    /// The kind of a payment method (`oms.payment.v1.PaymentMethodKind`).
    pub enum MethodKind {
        /// A PSP card token.
        Card = 1 => "CARD",
        /// A merchant gift card.
        GiftCard = 2 => "GIFT_CARD",
        /// Pay later against an invoice.
        Invoice = 3 => "INVOICE",
    }
}

/// A payment method with what the PSP needs to charge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentMethod {
    /// A card tokenised by the PSP.
    Card {
        /// The PSP's token of the card.
        token: Secret,
    },
    /// A merchant gift card with a balance.
    GiftCard {
        /// The gift card's code.
        code: Secret,
    },
    /// Pay later; the billing reference is optional and not secret.
    Invoice {
        /// The customer's billing reference; may be empty.
        billing_reference: String,
    },
}

impl PaymentMethod {
    /// The contract's kind of this method.
    pub fn kind(&self) -> MethodKind {
        match self {
            PaymentMethod::Card { .. } => MethodKind::Card,
            PaymentMethod::GiftCard { .. } => MethodKind::GiftCard,
            PaymentMethod::Invoice { .. } => MethodKind::Invoice,
        }
    }

    /// Text safe to show and log: never the token or the code in full.
    pub fn display(&self) -> String {
        match self {
            PaymentMethod::Card { token } => format!("card ending {}", token.last_four()),
            PaymentMethod::GiftCard { code } => format!("gift card ending {}", code.last_four()),
            PaymentMethod::Invoice { .. } => "invoice".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_and_display_shows_only_the_last_four() {
        let token = Secret::parse("tok_visa_4242").unwrap();
        assert_eq!(format!("{token:?}"), "Secret(..)");
        let card = PaymentMethod::Card { token };
        assert_eq!(card.display(), "card ending 4242");
        assert!(!format!("{card:?}").contains("tok_visa"));
        let gift = PaymentMethod::GiftCard {
            code: Secret::parse("GC-EUR-5000-7781").unwrap(),
        };
        assert_eq!(gift.display(), "gift card ending 7781");
    }

    #[test]
    fn empty_or_unprintable_secrets_are_refused() {
        assert!(Secret::parse("").is_err());
        assert!(Secret::parse("tok with space").is_err());
        assert!(Secret::parse(&"t".repeat(129)).is_err());
    }
}
