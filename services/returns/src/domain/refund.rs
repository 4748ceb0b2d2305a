//! The refund amount of a return and the price difference of an exchange, as
//! the contract's file comment defines them. Pure arithmetic on minor units.

use super::policy::{Policy, ReturnReason, ShippingPayer};

/// One return line as the refund sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInput {
    /// The line's SKU.
    pub sku: String,
    /// Units refunded: restock + damaged once inspected, every requested unit before.
    pub units: i32,
    /// The price of one unit as paid, in minor units.
    pub unit_price: i64,
    /// Why the customer returns it: a merchant fault waives the fees.
    pub reason: ReturnReason,
}

/// One line of the computation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundLine {
    /// The line's SKU.
    pub sku: String,
    /// Units refunded.
    pub units: i32,
    /// The price of one unit as paid.
    pub unit_price: i64,
    /// Units times unit price.
    pub amount: i64,
    /// The fee kept of the amount; 0 when the merchant is at fault.
    pub restocking_fee: i64,
}

/// How the refund is made up, in minor units of the order's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breakdown {
    /// Each line, in request order.
    pub lines: Vec<RefundLine>,
    /// The lines' amounts together.
    pub lines_total: i64,
    /// The lines' restocking fees together.
    pub restocking_fee: i64,
    /// The label price the customer pays; 0 when the merchant pays.
    pub return_shipping_fee: i64,
    /// What the customer gets back: lines minus fees minus shipping, never
    /// below zero.
    pub total: i64,
    /// True before inspection.
    pub estimate: bool,
}

/// An amount too large for 64 bits: only reachable with absurd input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount out of range")]
pub struct Overflow;

/// `units × unit_price`, checked.
pub fn line_amount(units: i32, unit_price: i64) -> Result<i64, Overflow> {
    unit_price.checked_mul(i64::from(units)).ok_or(Overflow)
}

/// The refund of `lines` under `policy`, with the return label's price when
/// one was issued.
///
/// - each line: units × unit price; its restocking fee is
///   floor(amount × bps / 10000) unless its reason is the merchant's fault;
/// - return shipping: the label's price when the customer pays it and no line
///   is the merchant's fault; zero otherwise or without a label;
/// - total: lines − fees − shipping, never below zero.
pub fn breakdown(
    lines: &[RefundInput],
    policy: &Policy,
    label_price: Option<i64>,
    estimate: bool,
) -> Result<Breakdown, Overflow> {
    let mut out = Vec::with_capacity(lines.len());
    let mut lines_total: i64 = 0;
    let mut fees: i64 = 0;
    for line in lines {
        let amount = line_amount(line.units, line.unit_price)?;
        let restocking_fee = if line.reason.is_merchant_fault() {
            0
        } else {
            let fee = i128::from(amount) * i128::from(policy.restocking_fee_bps) / 10_000;
            i64::try_from(fee).map_err(|_| Overflow)?
        };
        lines_total = lines_total.checked_add(amount).ok_or(Overflow)?;
        fees = fees.checked_add(restocking_fee).ok_or(Overflow)?;
        out.push(RefundLine {
            sku: line.sku.clone(),
            units: line.units,
            unit_price: line.unit_price,
            amount,
            restocking_fee,
        });
    }
    let merchant_fault = lines.iter().any(|line| line.reason.is_merchant_fault());
    let return_shipping_fee = match label_price {
        Some(price) if policy.shipping_payer == ShippingPayer::Customer && !merchant_fault => price,
        _ => 0,
    };
    let total = lines_total
        .checked_sub(fees)
        .and_then(|rest| rest.checked_sub(return_shipping_fee))
        .ok_or(Overflow)?
        .max(0);
    Ok(Breakdown {
        lines: out,
        lines_total,
        restocking_fee: fees,
        return_shipping_fee,
        total,
        estimate,
    })
}

/// An exchange's replacement total and price difference (replacement total −
/// refund total): positive, the customer pays; negative, the customer gets it.
pub fn price_difference(
    replacement: &[(i32, i64)],
    refund_total: i64,
) -> Result<(i64, i64), Overflow> {
    let mut total: i64 = 0;
    for (units, unit_price) in replacement {
        total = total
            .checked_add(line_amount(*units, *unit_price)?)
            .ok_or(Overflow)?;
    }
    Ok((total, total.checked_sub(refund_total).ok_or(Overflow)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, units: i32, unit_price: i64, reason: ReturnReason) -> RefundInput {
        RefundInput {
            sku: sku.into(),
            units,
            unit_price,
            reason,
        }
    }

    fn policy(bps: i32, payer: ShippingPayer) -> Policy {
        Policy {
            restocking_fee_bps: bps,
            shipping_payer: payer,
            ..Policy::default()
        }
    }

    #[test]
    fn fees_are_floored_per_line_and_spare_merchant_faults() {
        let lines = [
            line("TEE", 3, 1999, ReturnReason::WrongSize),
            line("CAP", 1, 1500, ReturnReason::Defective),
        ];
        let refund = breakdown(
            &lines,
            &policy(1250, ShippingPayer::Merchant),
            Some(495),
            false,
        )
        .unwrap();
        // 3 × 1999 = 5997; 12.5 % of it is 749.625, floored to 749.
        assert_eq!(refund.lines[0].amount, 5997);
        assert_eq!(refund.lines[0].restocking_fee, 749);
        assert_eq!(refund.lines[1].restocking_fee, 0);
        assert_eq!(refund.lines_total, 7497);
        assert_eq!(refund.restocking_fee, 749);
        // The merchant pays the label.
        assert_eq!(refund.return_shipping_fee, 0);
        assert_eq!(refund.total, 6748);
    }

    #[test]
    fn the_customer_pays_the_label_unless_a_line_is_the_merchants_fault() {
        let customer = policy(0, ShippingPayer::Customer);
        let mind = [line("TEE", 1, 1999, ReturnReason::NoLongerNeeded)];
        let refund = breakdown(&mind, &customer, Some(495), false).unwrap();
        assert_eq!((refund.return_shipping_fee, refund.total), (495, 1504));

        let without_label = breakdown(&mind, &customer, None, true).unwrap();
        assert_eq!(
            (without_label.return_shipping_fee, without_label.total),
            (0, 1999)
        );
        assert!(without_label.estimate);

        let mixed = [
            line("TEE", 1, 1999, ReturnReason::NoLongerNeeded),
            line("CAP", 1, 1500, ReturnReason::WrongItem),
        ];
        let refund = breakdown(&mixed, &customer, Some(495), false).unwrap();
        assert_eq!((refund.return_shipping_fee, refund.total), (0, 3499));
    }

    #[test]
    fn the_total_never_goes_below_zero_and_missing_units_count_nothing() {
        let customer = policy(10_000, ShippingPayer::Customer);
        let refund = breakdown(
            &[line("TEE", 1, 300, ReturnReason::Other)],
            &customer,
            Some(495),
            false,
        )
        .unwrap();
        assert_eq!(refund.total, 0);

        let nothing = breakdown(
            &[line("TEE", 0, 1999, ReturnReason::Other)],
            &policy(0, ShippingPayer::Merchant),
            None,
            false,
        )
        .unwrap();
        assert_eq!((nothing.lines_total, nothing.total), (0, 0));
    }

    #[test]
    fn exchanges_settle_the_difference_both_ways_and_overflow_is_an_error() {
        assert_eq!(price_difference(&[(1, 2500)], 1999), Ok((2500, 501)));
        assert_eq!(price_difference(&[(2, 500)], 1999), Ok((1000, -999)));
        assert_eq!(price_difference(&[(i32::MAX, i64::MAX)], 0), Err(Overflow));
        assert_eq!(
            breakdown(
                &[line("A", 2, i64::MAX / 2 + 1, ReturnReason::Other)],
                &Policy::default(),
                None,
                true
            ),
            Err(Overflow)
        );
    }
}
