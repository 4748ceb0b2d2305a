//! Card data: recognising raw card numbers (PANs) so that a service can refuse
//! them before they reach its database or logs. Order and payment use it.

/// True when `text` holds what looks like a raw card number: 13 to 19 digits,
/// optionally grouped by single spaces or dashes, that pass the Luhn check.
///
/// Identifiers are not card numbers: UUIDs are skipped (their dash-separated
/// digit groups would pass for one in about one id in twenty), and so are
/// digits glued to a letter, as in hex ids and tokens like `tok4242`.
pub fn contains_card_number(text: &str) -> bool {
    let chars = mask_uuids(text);
    let mut digits: Vec<u8> = Vec::new();
    let mut previous_separator = false;
    let mut glued_left = false;
    let mut previous = '\u{0}';
    for c in chars.into_iter().chain(std::iter::once('\u{0}')) {
        if let Some(digit) = c.to_digit(10) {
            if digits.is_empty() {
                glued_left = previous.is_ascii_alphabetic();
            }
            digits.push(u8::try_from(digit).unwrap_or(0));
            previous_separator = false;
        } else if matches!(c, ' ' | '-') && !digits.is_empty() && !previous_separator {
            previous_separator = true;
        } else {
            let glued_right = !previous_separator && c.is_ascii_alphabetic();
            if !glued_left && !glued_right && (13..=19).contains(&digits.len()) && luhn(&digits) {
                return true;
            }
            digits.clear();
            previous_separator = false;
        }
        previous = c;
    }
    false
}

/// `text` with every UUID (8-4-4-4-12 hex digits) replaced by underscores.
fn mask_uuids(text: &str) -> Vec<char> {
    const LENGTH: usize = 36;
    let mut chars: Vec<char> = text.chars().collect();
    let mut start = 0;
    while start + LENGTH <= chars.len() {
        let candidate = &chars[start..start + LENGTH];
        let is_uuid = candidate.iter().enumerate().all(|(index, c)| match index {
            8 | 13 | 18 | 23 => *c == '-',
            _ => c.is_ascii_hexdigit(),
        });
        if is_uuid {
            chars[start..start + LENGTH].fill('_');
            start += LENGTH;
        } else {
            start += 1;
        }
    }
    chars
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
    }
}
