//! The figures of one (SKU, location) and the rules about changing them.

/// The stored figures of one (SKU, location); everything else derives from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StockFigures {
    pub on_hand: i32,
    pub reserved: i32,
    pub safety_stock: i32,
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

/// Why AdjustStock changed on hand. Mirrors `oms.inventory.v1.AdjustmentReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustmentReason {
    Receipt = 1,
    Damage = 2,
    Loss = 3,
    Found = 4,
    Correction = 5,
    Return = 6,
    ExpiredGoods = 7,
    InternalUse = 8,
}

/// The sign of a delta a reason allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Positive,
    Negative,
    Either,
}

impl AdjustmentReason {
    pub fn from_code(code: i32) -> Option<AdjustmentReason> {
        Some(match code {
            1 => AdjustmentReason::Receipt,
            2 => AdjustmentReason::Damage,
            3 => AdjustmentReason::Loss,
            4 => AdjustmentReason::Found,
            5 => AdjustmentReason::Correction,
            6 => AdjustmentReason::Return,
            7 => AdjustmentReason::ExpiredGoods,
            8 => AdjustmentReason::InternalUse,
            _ => return None,
        })
    }

    pub fn code(self) -> i16 {
        self as i16
    }

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

/// What a ledger entry records. Mirrors `oms.inventory.v1.StockMovementKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovementKind {
    Count = 1,
    Adjustment = 2,
    TransferOut = 3,
    TransferIn = 4,
    Reserve = 5,
    Release = 6,
    Expire = 7,
    Commit = 8,
    Restock = 9,
    SafetyStock = 10,
}

impl MovementKind {
    pub fn from_code(code: i32) -> Option<MovementKind> {
        Some(match code {
            1 => MovementKind::Count,
            2 => MovementKind::Adjustment,
            3 => MovementKind::TransferOut,
            4 => MovementKind::TransferIn,
            5 => MovementKind::Reserve,
            6 => MovementKind::Release,
            7 => MovementKind::Expire,
            8 => MovementKind::Commit,
            9 => MovementKind::Restock,
            10 => MovementKind::SafetyStock,
            _ => return None,
        })
    }

    pub fn code(self) -> i16 {
        self as i16
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
