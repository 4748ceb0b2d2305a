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

#[cfg(test)]
mod tests {
    use super::*;
    use oms_platform::assert_code_enum;
    use oms_proto::payment::v1 as pb;

    #[test]
    fn codes_and_names_are_the_contracts() {
        assert_code_enum!(payment::PaymentStatus => pb::PaymentStatus, "PAYMENT_STATUS_");
        assert_code_enum!(payment::TransactionKind => pb::TransactionKind, "TRANSACTION_KIND_");
        assert_code_enum!(payment::TransactionStatus => pb::TransactionStatus, "TRANSACTION_STATUS_");
        assert_code_enum!(payment::DeclineReason => pb::DeclineReason, "DECLINE_REASON_");
        assert_code_enum!(method::MethodKind => pb::PaymentMethodKind, "PAYMENT_METHOD_KIND_");
    }
}
