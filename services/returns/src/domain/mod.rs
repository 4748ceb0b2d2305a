//! The returns domain: the return state machine, return policies, eligibility
//! and the refund arithmetic. No tonic, no sqlx.
//!
//! - [`status`]: statuses, close reasons and the transition table.
//! - [`policy`]: a channel's return rules, return reasons, resolutions.
//! - [`eligibility`]: whether requested lines may come back.
//! - [`refund`]: the refund breakdown and an exchange's price difference.

pub mod eligibility;
pub mod policy;
pub mod refund;
pub mod status;

pub use oms_platform::ids::{
    Actor, ActorKind, Channel, CurrencyCode, LocationId, MintedId, MintedId as OrderId, Sku,
};

#[cfg(test)]
mod tests {
    use super::*;
    use oms_platform::assert_code_enum;
    use oms_proto::returns::v1 as pb;

    #[test]
    fn codes_and_names_are_the_contracts() {
        assert_code_enum!(status::ReturnStatus => pb::ReturnStatus, "RETURN_STATUS_");
        assert_code_enum!(status::CloseReason => pb::CloseReason, "CLOSE_REASON_");
        assert_code_enum!(policy::ShippingPayer => pb::ReturnShippingPayer, "RETURN_SHIPPING_PAYER_");
        assert_code_enum!(policy::ReturnReason => pb::ReturnReason, "RETURN_REASON_");
        assert_code_enum!(policy::Resolution => pb::ReturnResolution, "RETURN_RESOLUTION_");
    }
}
