//! Keyset pages of list calls (`oms.common.v1.PageRequest`): the page size the
//! contracts allow and page tokens bound to the filters they came from, so a
//! token from one listing can never page another.
//!
//! A token is `<filters hash>.<cursor>`, where the cursor is the sort key of the
//! last item returned; the next page starts strictly after it, so items added
//! meanwhile never shift or repeat a page.
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
use prost::Message;
use uuid::Uuid;

use crate::{error::FieldViolations, idempotency::fingerprint};

/// The page size when the caller sends 0.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The largest page size a caller may ask for.
pub const MAX_PAGE_SIZE: i32 = 500;

/// The sort key of a listing's last item, written into page tokens.
pub trait Cursor: Sized {
    fn encode(&self) -> String;
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

/// Newest first by creation time, then id.
impl Cursor for (DateTime<Utc>, Uuid) {
    fn encode(&self) -> String {
        format!("{}.{}", self.0.timestamp_micros(), self.1)
    }

    fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('.')?;
        Some((
            DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            Uuid::parse_str(id).ok()?,
        ))
    }
}

/// One page of a listing as asked: how many items, and after which.
#[derive(Debug, Clone, PartialEq)]
pub struct Pages<C> {
    /// Items on the page.
    pub limit: i64,
    /// The cursor of the previous page's last item; `None` for the first page.
    pub after: Option<C>,
    filters: String,
}

impl<C: Cursor> Pages<C> {
    /// Reads the page of a request whose other fields are `filters` (the
    /// request with its page cleared). A size outside 0 to 500 is a violation
    /// of `page.page_size`, a token of other filters one of `page.page_token`.
    pub fn parse(
        page: Option<&PageRequest>,
        filters: &impl Message,
        violations: &mut FieldViolations,
    ) -> Pages<C> {
        let filters = hex(&fingerprint(filters)[..8]);
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
                .filter(|(hash, _)| *hash == filters)
                .and_then(|(_, cursor)| C::decode(cursor));
            if cursor.is_none() {
                violations.add("page.page_token", "not a token of these filters");
            }
            cursor
        };
        Pages {
            limit,
            after,
            filters,
        }
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
            Some(last) if more => format!("{}.{}", self.filters, cursor(last).encode()),
            _ => String::new(),
        };
        PageResponse { next_page_token }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use oms_proto::common::v1::Money;

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
}
