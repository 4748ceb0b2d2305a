//! Card data: recognising raw card numbers (PANs) so that a service can refuse
//! them before they reach its database or logs. The request guard
//! ([`crate::guard`]) applies it to every string field of every request.

/// Fewest digits of a card number.
const MIN_DIGITS: usize = 13;
/// Most digits of a card number.
const MAX_DIGITS: usize = 19;
/// Most digits of an E.164 phone number.
const MAX_PHONE_DIGITS: usize = 15;
/// Characters in a UUID's text form (8-4-4-4-12 hex digits).
const UUID_LENGTH: usize = 36;

/// True when `text` holds what looks like a raw card number: 13 to 19 digits,
/// optionally grouped by single spaces or dashes, that pass the Luhn check.
///
/// Numbers of other kinds that are written the same way are not card numbers:
/// - UUIDs are skipped (their dash-separated digit groups would pass for one in
///   about one id in twenty), and so are digits glued to a letter, as in hex ids
///   and tokens like `tok4242`;
/// - a run of 13 or 14 digits that passes the GS1 check digit is a GTIN (an
///   EAN-13 or GTIN-14 barcode number, which merchants use as SKUs), since one
///   GTIN in ten passes Luhn by chance. A 13- or 14-digit card number that
///   passes both checks goes through: those lengths are rare among cards;
/// - a run of at most 15 digits right after a `+` is a phone number in E.164
///   form (`+8613912345008`); longer runs after a `+` are still refused.
///
/// It allocates nothing and reads `text` once, so it can run on every string
/// of every request.
pub fn contains_card_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.iter().filter(|byte| byte.is_ascii_digit()).count() < MIN_DIGITS {
        return false;
    }
    let mut run = Run::default();
    let mut previous_separator = false;
    let mut previous = 0_u8;
    let mut at = 0;
    while at <= bytes.len() {
        // A UUID ends a run like any other character and starts none.
        let (byte, width) = match bytes.get(at) {
            Some(_) if is_uuid_at(bytes, at) => (b'_', UUID_LENGTH),
            Some(byte) => (*byte, 1),
            None => (0, 1),
        };
        if byte.is_ascii_digit() {
            if run.len == 0 {
                run.glued_left = previous.is_ascii_alphabetic();
                run.after_plus = previous == b'+';
            }
            run.push(byte - b'0');
            previous_separator = false;
        } else if matches!(byte, b' ' | b'-') && run.len > 0 && !previous_separator {
            previous_separator = true;
        } else {
            let glued_right = !previous_separator && byte.is_ascii_alphabetic();
            if !glued_right && run.is_card_number() {
                return true;
            }
            run = Run::default();
            previous_separator = false;
        }
        previous = byte;
        at += width;
    }
    false
}

/// A run of digits, possibly grouped, as read so far.
#[derive(Default)]
struct Run {
    /// The first `MAX_DIGITS` digits.
    digits: [u8; MAX_DIGITS],
    /// How many digits the run has, including any past `MAX_DIGITS`.
    len: usize,
    /// A letter came right before the first digit.
    glued_left: bool,
    /// A `+` came right before the first digit.
    after_plus: bool,
}

impl Run {
    fn push(&mut self, digit: u8) {
        if let Some(slot) = self.digits.get_mut(self.len) {
            *slot = digit;
        }
        self.len = self.len.saturating_add(1);
    }

    fn is_card_number(&self) -> bool {
        if self.glued_left || !(MIN_DIGITS..=MAX_DIGITS).contains(&self.len) {
            return false;
        }
        let digits = &self.digits[..self.len];
        let is_gtin = matches!(self.len, 13 | 14) && gs1(digits);
        let is_phone = self.after_plus && self.len <= MAX_PHONE_DIGITS;
        luhn(digits) && !is_gtin && !is_phone
    }
}

/// True when a UUID (8-4-4-4-12 hex digits) starts at `at`.
fn is_uuid_at(bytes: &[u8], at: usize) -> bool {
    let Some(candidate) = bytes.get(at..at.saturating_add(UUID_LENGTH)) else {
        return false;
    };
    candidate
        .iter()
        .enumerate()
        .all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(index, &digit)| {
            let digit = u32::from(digit);
            if index % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The GS1 check digit of GTINs: from the right, digits weigh 1, 3, 1, 3, ...
fn gs1(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(index, &digit)| u32::from(digit) * if index % 2 == 1 { 3 } else { 1 })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_are_found_in_any_grouping_and_other_numbers_are_not() {
        assert!(contains_card_number("4111111111111111"));
        assert!(contains_card_number("pay with 4111 1111 1111 1111 please"));
        assert!(contains_card_number("5500-0000-0000-0004"));
        assert!(!contains_card_number("4111111111111112"));
        assert!(!contains_card_number("order 123456789012"));
        assert!(!contains_card_number("tok_visa_4242"));
        assert!(!contains_card_number("+493012345678"));
        assert!(!contains_card_number(""));
    }

    #[test]
    fn identifiers_are_not_card_numbers_but_a_number_beside_one_is() {
        // Each of these UUIDs holds a dash-grouped digit run that passes Luhn.
        for id in [
            "abcdef01-2345-7123-8123-0a6789b12345",
            "0190f5a0-4111-7111-8111-11110abc1111",
        ] {
            assert!(!contains_card_number(id), "{id}");
            assert!(!contains_card_number(&format!("saga-{id}:capture:forward")));
            assert!(contains_card_number(&format!("{id} 4111 1111 1111 1111")));
        }
        assert!(!contains_card_number("tok4111111111111111"));
        assert!(!contains_card_number("4111111111111111x"));
        assert!(contains_card_number("card:4111111111111111."));
        assert!(contains_card_number("Straße 4111111111111111 東京"));
    }

    #[test]
    fn gtins_are_not_card_numbers_even_when_they_pass_luhn() {
        // GS1's own example EAN-13, and a GTIN-14: both pass Luhn as well.
        for gtin in ["5901234123457", "10040063813343"] {
            assert!(luhn(&digits(gtin)), "{gtin} passes Luhn");
            assert!(!contains_card_number(gtin), "{gtin}");
            assert!(!contains_card_number(&format!("sku {gtin}")), "{gtin}");
        }
        // A 14-digit (Diners) card number that fails the GS1 check is a card.
        assert!(!gs1(&digits("36000000000008")));
        assert!(contains_card_number("36000000000008"));
        // 15 or 16 digits are never GTINs here.
        assert!(contains_card_number("378282246310005"));
    }

    #[test]
    fn phone_numbers_in_e164_form_are_not_card_numbers() {
        assert!(luhn(&digits("8613912345008")));
        assert!(!contains_card_number("+8613912345008"));
        assert!(contains_card_number("8613912345008"));
        // Past 15 digits it is no phone number.
        assert!(contains_card_number("+4111111111111111"));
    }

    fn digits(text: &str) -> Vec<u8> {
        text.bytes().map(|byte| byte - b'0').collect()
    }
}
