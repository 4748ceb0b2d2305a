//! The payment domain: values that cannot hold an invalid amount or a secret in
//! the clear, and the payment state machine. No tonic, no sqlx.
//!
//! - [`method`]: payment methods (card token, gift card, invoice) and their
//!   display text.
//! - [`payment`]: statuses, transaction kinds, decline reasons, the transition
//!   table and the status derived from a payment's transactions.

pub mod method;
pub mod payment;

pub use oms_platform::ids::{Actor, ActorKind, CurrencyCode, MintedId as OrderId};
