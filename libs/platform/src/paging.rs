//! Keyset pages of list calls (`oms.common.v1.PageRequest`): the page size the
//! contracts allow and page tokens bound to the RPC and the filters they came
//! from, so a token from one listing can never page another.
//!
//! A token is `<binding>.<cursor>`. The binding is a hash of the request's full
//! proto name (one request type per RPC) and its filters (the request with its
//! page cleared); the cursor is the sort key of the last item returned. The next
//! page starts strictly after it, so items added meanwhile never shift or
//! repeat a page. Both are written in the letters `a` to `p`, one per half
//! byte: a token holds no digits, so it can never pass for a card number,
//! which the request guard ([`crate::guard`]) refuses in every string field.
//! Callers treat tokens as opaque.
//!
//! ```
//! # use oms_platform::{error::FieldViolations, paging::Pages};
//! # use oms_proto::common::v1::{Money, PageRequest};
//! let filters = Money { currency_code: "EUR".into(), amount_minor: 0 };
//! let mut violations = FieldViolations::new();
//! let pages = Pages::<uuid::Uuid>::parse(Some(&PageRequest::default()), &filters, &mut violations);
//! assert!(violations.is_empty());
//! let mut rows: Vec<uuid::Uuid> = (0..51).map(|_| uuid::Uuid::now_v7()).collect(); // fetched `pages.fetch()` rows
//! let page = pages.finish(&mut rows, |id| *id);
//! assert_eq!(rows.len(), 50);
//! assert!(!page.next_page_token.is_empty());
//! ```

use chrono::{DateTime, Utc};
use oms_proto::common::v1::{PageRequest, PageResponse};
use prost::Name;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::FieldViolations;

/// The page size when the caller sends 0.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The largest page size a caller may ask for.
pub const MAX_PAGE_SIZE: i32 = 500;

/// The sort key of a listing's last item, written into page tokens.
///
/// A key of one value encodes without a `.`: the parts of a tuple key are
/// joined with it.
pub trait Cursor: Sized {
    /// The key as text.
    fn encode(&self) -> String;
    /// The key back from its text; `None` when the text is not one.
    fn decode(text: &str) -> Option<Self>;
}

impl Cursor for Uuid {
    fn encode(&self) -> String {
        self.to_string()
    }

    fn decode(text: &str) -> Option<Self> {
        Uuid::parse_str(text).ok()
    }
}

/// To the microsecond, as Postgres keeps it.
impl Cursor for DateTime<Utc> {
    fn encode(&self) -> String {
        self.timestamp_micros().to_string()
    }

    fn decode(text: &str) -> Option<Self> {
        DateTime::from_timestamp_micros(text.parse().ok()?)
    }
}

/// Any text (a location id may hold a `.`), as the hex of its UTF-8 bytes.
impl Cursor for String {
    fn encode(&self) -> String {
        hex(self.as_bytes())
    }

    fn decode(text: &str) -> Option<Self> {
        let bytes = (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        String::from_utf8(bytes).ok()
    }
}

macro_rules! integer_cursor {
    ($($integer:ty),*) => {$(
        impl Cursor for $integer {
            fn encode(&self) -> String {
                self.to_string()
            }

            fn decode(text: &str) -> Option<Self> {
                text.parse().ok()
            }
        }
    )*};
}

integer_cursor!(i16, i32, i64);

/// Two keys, e.g. newest first by creation time, then id.
impl<A: Cursor, B: Cursor> Cursor for (A, B) {
    fn encode(&self) -> String {
        format!("{}.{}", self.0.encode(), self.1.encode())
    }

    fn decode(text: &str) -> Option<Self> {
        let (a, b) = text.split_once('.')?;
        Some((A::decode(a)?, B::decode(b)?))
    }
}

/// Three keys, e.g. a rank, then a pair that makes it unique.
impl<A: Cursor, B: Cursor, C: Cursor> Cursor for (A, B, C) {
    fn encode(&self) -> String {
        format!(
            "{}.{}.{}",
            self.0.encode(),
            self.1.encode(),
            self.2.encode()
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let (a, rest) = text.split_once('.')?;
        let (b, c) = rest.split_once('.')?;
        Some((A::decode(a)?, B::decode(b)?, C::decode(c)?))
    }
}

/// One page of a listing as asked: how many items, and after which.
#[derive(Debug, Clone, PartialEq)]
pub struct Pages<C> {
    /// Items on the page.
    pub limit: i64,
    /// The cursor of the previous page's last item; `None` for the first page.
    pub after: Option<C>,
    binding: String,
}

impl<C: Cursor> Pages<C> {
    /// Reads the page of a request whose other fields are `filters`: the
    /// request with its page cleared, of the RPC's own request type (a
    /// `prost::Name`, so a `prost::Message` that knows its full name). A size
    /// outside 0 to 500 is a violation of `page.page_size`; a token of another
    /// RPC or of other filters one of `page.page_token`.
    pub fn parse(
        page: Option<&PageRequest>,
        filters: &impl Name,
        violations: &mut FieldViolations,
    ) -> Pages<C> {
        let binding = binding(filters);
        let page = page.cloned().unwrap_or_default();
        let limit = match page.page_size {
            0 => DEFAULT_PAGE_SIZE,
            size @ 1..=MAX_PAGE_SIZE => i64::from(size),
            _ => {
                violations.add("page.page_size", "must be 0 to 500");
                DEFAULT_PAGE_SIZE
            }
        };
        let after = if page.page_token.is_empty() {
            None
        } else {
            let cursor = page
                .page_token
                .split_once('.')
                .filter(|(hash, _)| *hash == binding)
                .and_then(|(_, cursor)| String::from_utf8(from_letters(cursor)?).ok())
                .and_then(|cursor| C::decode(&cursor));
            if cursor.is_none() {
                violations.add("page.page_token", "not a token of this list and filters");
            }
            cursor
        };
        Pages {
            limit,
            after,
            binding,
        }
    }

    /// [`Pages::parse`] of a whole list request: `take_page` takes the page
    /// out of a copy of `request`, and what is left are the filters.
    ///
    /// `Pages::of_request(request, |r| r.page.take(), violations)`
    pub fn of_request<R: Name + Clone>(
        request: &R,
        take_page: impl FnOnce(&mut R) -> Option<PageRequest>,
        violations: &mut FieldViolations,
    ) -> Pages<C> {
        let mut filters = request.clone();
        let page = take_page(&mut filters);
        Pages::parse(page.as_ref(), &filters, violations)
    }

    /// Rows to fetch: one more than the page, to learn whether another follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts `rows` (fetched with [`Pages::fetch`]) to the page and says where
    /// the next one starts.
    pub fn finish<T>(&self, rows: &mut Vec<T>, cursor: impl Fn(&T) -> C) -> PageResponse {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_page_token = match rows.last() {
            Some(last) if more => {
                let cursor = letters(cursor(last).encode().as_bytes());
                format!("{}.{cursor}", self.binding)
            }
            _ => String::new(),
        };
        PageResponse { next_page_token }
    }
}

/// What ties a token to its RPC and filters: the first 8 bytes of SHA-256 over
/// the filters' full type name and their encoding (deterministic: maps are
/// generated as BTreeMaps).
fn binding<M: Name>(filters: &M) -> String {
    let mut hash = Sha256::new();
    hash.update(M::full_name());
    // The name never holds a NUL, so name and bytes cannot run into each other.
    hash.update([0]);
    hash.update(filters.encode_to_vec());
    letters(&hash.finalize()[..8])
}

/// `bytes` written with the letters `a` to `p`, one per half byte.
fn letters(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|byte| [byte >> 4, byte & 0x0f])
        .map(|half| char::from(b'a' + half))
        .collect()
}

/// The bytes of [`letters`]; `None` when `text` is not such letters.
fn from_letters(text: &str) -> Option<Vec<u8>> {
    let half = |letter: u8| (b'a'..=b'p').contains(&letter).then(|| letter - b'a');
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [high, low] => Some(half(*high)? << 4 | half(*low)?),
            _ => None,
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use oms_proto::common::v1::Money;
    use prost::Message as _;

    use super::*;

    fn filters(currency: &str) -> Money {
        Money {
            currency_code: currency.into(),
            amount_minor: 0,
        }
    }

    fn request(size: i32, token: &str) -> PageRequest {
        PageRequest {
            page_size: size,
            page_token: token.into(),
        }
    }

    #[test]
    fn a_token_pages_on_from_the_last_item_of_the_same_filters_only() {
        let mut violations = FieldViolations::new();
        let first = Pages::<(DateTime<Utc>, Uuid)>::parse(
            Some(&request(2, "")),
            &filters("EUR"),
            &mut violations,
        );
        assert_eq!((first.limit, first.fetch(), first.after), (2, 3, None));
        let time = DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap();
        let mut rows: Vec<(DateTime<Utc>, Uuid)> = (0..3).map(|_| (time, Uuid::now_v7())).collect();
        let last = rows[1];
        let token = first.finish(&mut rows, |row| *row).next_page_token;
        assert_eq!(rows.len(), 2);

        let next = Pages::parse(Some(&request(2, &token)), &filters("EUR"), &mut violations);
        assert_eq!(next.after, Some(last));
        assert!(violations.is_empty());

        let other = Pages::<(DateTime<Utc>, Uuid)>::parse(
            Some(&request(2, &token)),
            &filters("USD"),
            &mut violations,
        );
        assert_eq!(other.after, None);
        assert_eq!(violations.violations()[0].field, "page.page_token");
    }

    #[test]
    fn a_token_holds_no_digits_so_it_never_looks_like_a_card_number() {
        let mut violations = FieldViolations::new();
        let pages = Pages::<(DateTime<Utc>, i64)>::parse(None, &filters("EUR"), &mut violations);
        // 1795000000123456 passes Luhn: written as it is, it would be refused.
        let time = DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap();
        let mut rows = vec![(time, 4_111_111_111_111_111); 51];
        let token = pages.finish(&mut rows, |row| *row).next_page_token;
        assert!(!token.is_empty());
        assert!(!token.bytes().any(|byte| byte.is_ascii_digit()), "{token}");
        assert!(!crate::card::contains_card_number(&token));
        let next = Pages::parse(Some(&request(50, &token)), &filters("EUR"), &mut violations);
        assert_eq!(next.after, Some(rows[49]));
        assert!(violations.is_empty());
    }

    #[test]
    fn the_last_page_has_no_token_and_sizes_are_checked() {
        let mut violations = FieldViolations::new();
        let pages = Pages::<Uuid>::parse(None, &filters("EUR"), &mut violations);
        assert_eq!(pages.limit, DEFAULT_PAGE_SIZE);
        let mut rows = vec![Uuid::now_v7(); 50];
        assert_eq!(pages.finish(&mut rows, |id| *id).next_page_token, "");

        for size in [-1, 501] {
            let mut violations = FieldViolations::new();
            Pages::<Uuid>::parse(Some(&request(size, "")), &filters("EUR"), &mut violations);
            assert_eq!(violations.violations()[0].field, "page.page_size");
        }
        let mut violations = FieldViolations::new();
        Pages::<Uuid>::parse(
            Some(&request(10, "zz.nonsense")),
            &filters("EUR"),
            &mut violations,
        );
        assert_eq!(violations.violations()[0].field, "page.page_token");
    }

    #[test]
    fn a_token_of_another_rpc_is_refused_even_when_the_filters_encode_alike() {
        // Both encode to no bytes at all; only the request type tells them apart.
        let (money, page) = (Money::default(), PageRequest::default());
        assert_eq!(money.encode_to_vec(), page.encode_to_vec());
        let mut violations = FieldViolations::new();
        let first = Pages::<Uuid>::parse(Some(&request(1, "")), &money, &mut violations);
        let mut rows = vec![Uuid::now_v7(), Uuid::now_v7()];
        let token = first.finish(&mut rows, |id| *id).next_page_token;

        let same = Pages::<Uuid>::parse(Some(&request(1, &token)), &money, &mut violations);
        assert_eq!(same.after, Some(rows[0]));
        assert!(violations.is_empty());
        let other = Pages::<Uuid>::parse(Some(&request(1, &token)), &page, &mut violations);
        assert_eq!(other.after, None);
        assert_eq!(violations.violations()[0].field, "page.page_token");
    }

    #[test]
    fn a_request_is_read_as_its_page_and_the_rest_as_its_filters() {
        use oms_proto::inventory::v1::ListLocationsRequest;
        let request = ListLocationsRequest {
            page: Some(request(2, "")),
            active: Some(true),
            ..Default::default()
        };
        let filters = ListLocationsRequest {
            page: None,
            ..request.clone()
        };
        let mut violations = FieldViolations::new();
        let of_request = Pages::<Uuid>::of_request(&request, |r| r.page.take(), &mut violations);
        let parsed = Pages::<Uuid>::parse(request.page.as_ref(), &filters, &mut violations);
        assert_eq!(of_request, parsed);
        assert_eq!(of_request.limit, 2);
        assert!(violations.is_empty());
    }

    #[test]
    fn every_key_comes_back_from_its_text() {
        fn round_trip<C: Cursor + PartialEq + std::fmt::Debug>(key: C) {
            assert_eq!(C::decode(&key.encode()), Some(key));
        }
        round_trip(String::new());
        round_trip("wh.berlin-1/Straße 東京".to_owned());
        round_trip((-7_i16, "a.b".to_owned()));
        round_trip((i32::MIN, "tee.m".to_owned(), "wh.1".to_owned()));
        round_trip((3_i16, "amazon-de".to_owned(), 12_i32));
        round_trip(i64::MAX);
        let time = DateTime::from_timestamp_micros(-1).unwrap();
        round_trip((time, Uuid::now_v7()));

        // prost::Message has a `decode` too: the trait is named.
        assert_eq!(<String as Cursor>::decode("4"), None);
        assert_eq!(<String as Cursor>::decode("zz"), None);
        assert_eq!(<String as Cursor>::decode("c3"), None, "not UTF-8");
        assert_eq!(<(i16, String)>::decode("1"), None);
        assert_eq!(<(i32, String, String)>::decode("1.61"), None);
        assert_eq!(<i64 as Cursor>::decode("1.5"), None);
    }
}
