//! The figures of one (SKU, location) and the rules about changing them.

/// The stored figures of one (SKU, location); everything else derives from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StockFigures {
    /// Units physically there, held ones included.
    pub on_hand: i32,
    /// Units held by reservations.
    pub reserved: i32,
    /// Units kept back from sale.
    pub safety_stock: i32,
    /// Available at or below this is low stock; 0 for no alert.
    pub low_stock_threshold: i32,
}

impl StockFigures {
    /// What Reserve may take: on hand not yet held.
    pub fn available(&self) -> i32 {
        (self.on_hand - self.reserved).max(0)
    }

    /// What routing and channels may promise: available above the safety stock.
    pub fn sellable(&self) -> i32 {
        (self.available() - self.safety_stock).max(0)
    }

    /// Held units that on hand no longer covers, after a count or an adjustment.
    pub fn shortfall(&self) -> i32 {
        (self.reserved - self.on_hand).max(0)
    }

    /// At or under the low-stock threshold, when one is set.
    pub fn is_low(&self) -> bool {
        self.low_stock_threshold > 0 && self.available() <= self.low_stock_threshold
    }
}

oms_platform::code_enum! {
    /// Why AdjustStock changed on hand (`oms.inventory.v1.AdjustmentReason`).
    pub enum AdjustmentReason {
        /// Goods received from a supplier or production. Delta > 0.
        Receipt = 1 => "RECEIPT",
        /// Goods damaged and no longer sellable. Delta < 0.
        Damage = 2 => "DAMAGE",
        /// Goods lost or stolen. Delta < 0.
        Loss = 3 => "LOSS",
        /// Goods found that were not on record. Delta > 0.
        Found = 4 => "FOUND",
        /// A correction of an earlier mistake. Either sign.
        Correction = 5 => "CORRECTION",
        /// Goods returned outside the returns service. Delta > 0.
        Return = 6 => "RETURN",
        /// Goods past their expiry date written off. Delta < 0.
        ExpiredGoods = 7 => "EXPIRED_GOODS",
        /// Goods taken for internal use. Delta < 0.
        InternalUse = 8 => "INTERNAL_USE",
    }
}

/// The sign of a delta a reason allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// Units arrive: the delta is above 0.
    Positive,
    /// Units leave: the delta is below 0.
    Negative,
    /// Either way, never 0.
    Either,
}

impl AdjustmentReason {
    /// Goods arrive for receipts, finds and returns, leave for damage, loss,
    /// expiry and internal use; a correction goes either way.
    pub fn sign(self) -> Sign {
        match self {
            AdjustmentReason::Receipt | AdjustmentReason::Found | AdjustmentReason::Return => {
                Sign::Positive
            }
            AdjustmentReason::Damage
            | AdjustmentReason::Loss
            | AdjustmentReason::ExpiredGoods
            | AdjustmentReason::InternalUse => Sign::Negative,
            AdjustmentReason::Correction => Sign::Either,
        }
    }

    /// True when `delta` (never 0) fits the reason's sign.
    pub fn allows(self, delta: i32) -> bool {
        match self.sign() {
            Sign::Positive => delta > 0,
            Sign::Negative => delta < 0,
            Sign::Either => delta != 0,
        }
    }
}

oms_platform::code_enum! {
    /// What a ledger entry records (`oms.inventory.v1.StockMovementKind`).
    pub enum MovementKind {
        /// SetStock: on hand set from a count.
        Count = 1 => "COUNT",
        /// AdjustStock: on hand up or down for a reason.
        Adjustment = 2 => "ADJUSTMENT",
        /// TransferStock, source side: on hand down.
        TransferOut = 3 => "TRANSFER_OUT",
        /// TransferStock, destination side: on hand up.
        TransferIn = 4 => "TRANSFER_IN",
        /// Reserve: reserved up.
        Reserve = 5 => "RESERVE",
        /// Release: reserved down.
        Release = 6 => "RELEASE",
        /// A hold expired after its TTL: reserved down.
        Expire = 7 => "EXPIRE",
        /// CommitReservation: on hand and reserved both down.
        Commit = 8 => "COMMIT",
        /// Restock: on hand up.
        Restock = 9 => "RESTOCK",
        /// SetSafetyStock: safety stock changed.
        SafetyStock = 10 => "SAFETY_STOCK",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(on_hand: i32, reserved: i32, safety_stock: i32) -> StockFigures {
        StockFigures {
            on_hand,
            reserved,
            safety_stock,
            low_stock_threshold: 0,
        }
    }

    #[test]
    fn available_is_on_hand_not_held_and_never_negative() {
        assert_eq!(figures(5, 2, 0).available(), 3);
        assert_eq!(figures(2, 5, 0).available(), 0);
        assert_eq!(figures(2, 5, 0).shortfall(), 3);
        assert_eq!(figures(5, 2, 0).shortfall(), 0);
    }

    #[test]
    fn sellable_keeps_the_safety_stock_back() {
        assert_eq!(figures(10, 2, 3).sellable(), 5);
        assert_eq!(figures(10, 8, 3).sellable(), 0);
    }

    #[test]
    fn low_stock_needs_a_threshold() {
        let mut stock = figures(3, 0, 0);
        assert!(!stock.is_low());
        stock.low_stock_threshold = 3;
        assert!(stock.is_low());
        stock.on_hand = 4;
        assert!(!stock.is_low());
    }

    #[test]
    fn each_adjustment_reason_has_its_sign() {
        assert!(AdjustmentReason::Receipt.allows(5));
        assert!(!AdjustmentReason::Receipt.allows(-5));
        assert!(AdjustmentReason::Damage.allows(-1));
        assert!(!AdjustmentReason::Damage.allows(1));
        assert!(AdjustmentReason::Correction.allows(-1));
        assert!(AdjustmentReason::Correction.allows(1));
        assert!(!AdjustmentReason::Correction.allows(0));
        for code in 1..=8 {
            assert!(AdjustmentReason::from_code(code).is_some());
        }
        assert!(AdjustmentReason::from_code(0).is_none());
    }
}
