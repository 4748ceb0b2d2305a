//! A channel's return policy and the reasons a customer gives.

use std::collections::BTreeSet;

use oms_platform::ids::{Invalid, LocationId, Sku};

/// The most final-sale SKUs one policy may list.
pub const MAX_FINAL_SALE_SKUS: usize = 10_000;

oms_platform::code_enum! {
    /// Who pays for the return label (`oms.returns.v1.ReturnShippingPayer`).
    pub enum ShippingPayer {
        /// The merchant: the label is free for the customer.
        Merchant = 1 => "MERCHANT",
        /// The customer: the label's price comes off the refund, unless a
        /// line's reason is the merchant's fault.
        Customer = 2 => "CUSTOMER",
    }
}

/// A channel's return rules. [`Policy::default`] is the contract's default:
/// 30 days, no restocking fee, the merchant pays return shipping, no final-sale
/// SKUs, no auto-approval, goods go back where they shipped from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Days from delivery within which a return may be requested, 1 to 365.
    pub window_days: i32,
    /// The fee kept of each line's amount, in basis points, unless the
    /// merchant is at fault.
    pub restocking_fee_bps: i32,
    /// Who pays for the return label.
    pub shipping_payer: ShippingPayer,
    /// SKUs that may not be returned.
    pub final_sale_skus: BTreeSet<Sku>,
    /// Requests are approved at once, when there is somewhere for the goods
    /// to go.
    pub auto_approve: bool,
    /// Where returned goods go; the location they shipped from when `None`.
    pub return_location_id: Option<LocationId>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            window_days: 30,
            restocking_fee_bps: 0,
            shipping_payer: ShippingPayer::Merchant,
            final_sale_skus: BTreeSet::new(),
            auto_approve: false,
            return_location_id: None,
        }
    }
}

impl Policy {
    /// Checks the return window: 1 to 365 days.
    pub fn window_days(days: i32) -> Result<i32, Invalid> {
        if !(1..=365).contains(&days) {
            return Err(Invalid::new("must be 1 to 365"));
        }
        Ok(days)
    }

    /// Checks the restocking fee: 0 to 10000 basis points.
    pub fn restocking_fee_bps(bps: i32) -> Result<i32, Invalid> {
        if !(0..=10_000).contains(&bps) {
            return Err(Invalid::new("must be 0 to 10000 basis points"));
        }
        Ok(bps)
    }

    /// True when the policy lists `sku` as final sale.
    pub fn is_final_sale(&self, sku: &Sku) -> bool {
        self.final_sale_skus.contains(sku)
    }
}

oms_platform::code_enum! {
    /// Why a customer returns a line (`oms.returns.v1.ReturnReason`).
    pub enum ReturnReason {
        /// Changed mind, no longer needed.
        NoLongerNeeded = 1 => "NO_LONGER_NEEDED",
        /// Wrong size or fit.
        WrongSize = 2 => "WRONG_SIZE",
        /// Does not look or work as described. The merchant's fault.
        NotAsDescribed = 3 => "NOT_AS_DESCRIBED",
        /// Arrived broken or does not work. The merchant's fault.
        Defective = 4 => "DEFECTIVE",
        /// Not the item ordered. The merchant's fault.
        WrongItem = 5 => "WRONG_ITEM",
        /// Arrived too late to be of use.
        ArrivedLate = 6 => "ARRIVED_LATE",
        /// Anything else, said in the comment.
        Other = 7 => "OTHER",
    }
}

impl ReturnReason {
    /// The merchant's fault: no restocking fee, and the merchant pays the label.
    pub fn is_merchant_fault(self) -> bool {
        matches!(
            self,
            ReturnReason::NotAsDescribed | ReturnReason::Defective | ReturnReason::WrongItem
        )
    }
}

oms_platform::code_enum! {
    /// Refund or exchange (`oms.returns.v1.ReturnResolution`).
    pub enum Resolution {
        /// Money back to the original payment.
        Refund = 1 => "REFUND",
        /// A replacement order; the price difference is charged or refunded.
        Exchange = 2 => "EXCHANGE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_defects_wrong_items_and_misdescriptions_are_the_merchants_fault() {
        let faults: Vec<i32> = (0..=8)
            .filter_map(ReturnReason::from_code)
            .filter(|reason| reason.is_merchant_fault())
            .map(|reason| i32::from(reason.code()))
            .collect();
        assert_eq!(faults, vec![3, 4, 5]);
        assert_eq!(ReturnReason::from_code(0), None);
        assert_eq!(ReturnReason::from_code(8), None);
    }

    #[test]
    fn windows_and_fees_are_bounded() {
        assert!(Policy::window_days(1).is_ok() && Policy::window_days(365).is_ok());
        assert!(Policy::window_days(0).is_err() && Policy::window_days(366).is_err());
        assert!(
            Policy::restocking_fee_bps(0).is_ok() && Policy::restocking_fee_bps(10_000).is_ok()
        );
        assert!(Policy::restocking_fee_bps(-1).is_err());
        assert!(Policy::restocking_fee_bps(10_001).is_err());
    }
}
