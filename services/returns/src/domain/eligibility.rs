//! Whether the lines of a return request may come back: delivered, within the
//! channel's window from their delivery, not more than remains, not final sale.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use oms_platform::ids::Sku;

use super::policy::Policy;

/// What the returns service needs of one order line (read through the order
/// contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// The SKU of the line.
    pub sku: Sku,
    /// Units delivered (or collected).
    pub delivered: i32,
    /// When its latest delivered unit arrived; `None` before any did.
    pub delivery_time: Option<DateTime<Utc>>,
    /// The price of one unit as paid.
    pub unit_price: i64,
}

/// Which rule refused a line, as the contract names it in ErrorInfo metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// No unit of the SKU was delivered.
    NotDelivered,
    /// The channel's return window has passed since the delivery.
    Window {
        /// When the latest delivered unit arrived.
        delivery_time: DateTime<Utc>,
        /// The channel's window, in days.
        window_days: i32,
    },
    /// More units than remain to return.
    Quantity {
        /// Units asked for.
        requested: i32,
        /// Units delivered and not yet in another return.
        returnable: i32,
    },
    /// The channel's policy lists the SKU as final sale.
    FinalSale,
}

/// A line that may not be returned, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotEligible {
    /// The refused line's SKU.
    pub sku: Sku,
    /// The rule that refused it.
    pub rule: Rule,
}

impl Rule {
    /// The rule's name in ErrorInfo metadata, e.g. `window`.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::NotDelivered => "not_delivered",
            Rule::Window { .. } => "window",
            Rule::Quantity { .. } => "quantity",
            Rule::FinalSale => "final_sale",
        }
    }
}

/// Checks one requested line at `now`, in the contract's order: delivered,
/// window, quantity, final sale. `already` is the units of the SKU in the
/// order's other returns that still count.
pub fn check_line(
    line: &OrderLine,
    requested: i32,
    already: i32,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<(), NotEligible> {
    let refuse = |rule| {
        Err(NotEligible {
            sku: line.sku.clone(),
            rule,
        })
    };
    let delivery_time = match line.delivery_time {
        Some(time) if line.delivered > 0 => time,
        _ => return refuse(Rule::NotDelivered),
    };
    // A delivery time too late to add the window to has not run out.
    let window_end =
        delivery_time.checked_add_signed(Duration::days(i64::from(policy.window_days)));
    if window_end.is_some_and(|end| now > end) {
        return refuse(Rule::Window {
            delivery_time,
            window_days: policy.window_days,
        });
    }
    let returnable = line.delivered.saturating_sub(already).max(0);
    if requested > returnable {
        return refuse(Rule::Quantity {
            requested,
            returnable,
        });
    }
    if policy.is_final_sale(&line.sku) {
        return refuse(Rule::FinalSale);
    }
    Ok(())
}

/// Checks every requested `(sku, units)` against the order's lines; the first
/// refusal in request order. A SKU not on the order must have been refused as
/// bad input before.
pub fn check(
    order: &[OrderLine],
    requested: &[(Sku, i32)],
    already: &HashMap<Sku, i32>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<(), NotEligible> {
    for (sku, units) in requested {
        let Some(line) = order.iter().find(|line| &line.sku == sku) else {
            return Err(NotEligible {
                sku: sku.clone(),
                rule: Rule::NotDelivered,
            });
        };
        let already = already.get(sku).copied().unwrap_or(0);
        check_line(line, *units, already, policy, now)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap() + Duration::days(day)
    }

    fn delivered(units: i32, day: i64) -> OrderLine {
        OrderLine {
            sku: Sku::parse("TEE").unwrap(),
            delivered: units,
            delivery_time: Some(at(day)),
            unit_price: 1999,
        }
    }

    #[test]
    fn the_window_counts_whole_days_from_the_delivery() {
        let policy = Policy::default();
        let line = delivered(2, 0);
        assert_eq!(check_line(&line, 1, 0, &policy, at(30)), Ok(()));
        let late = check_line(&line, 1, 0, &policy, at(30) + Duration::seconds(1));
        assert_eq!(late.unwrap_err().rule.name(), "window");
    }

    #[test]
    fn each_rule_refuses_in_the_contracts_order() {
        let policy = Policy {
            final_sale_skus: [Sku::parse("TEE").unwrap()].into(),
            ..Policy::default()
        };
        let undelivered = OrderLine {
            delivered: 0,
            delivery_time: None,
            ..delivered(0, 0)
        };
        let rule = |line: &OrderLine, units, already, policy: &Policy| {
            check_line(line, units, already, policy, at(1))
                .unwrap_err()
                .rule
        };
        assert_eq!(rule(&undelivered, 1, 0, &policy), Rule::NotDelivered);
        assert_eq!(
            rule(&delivered(2, 0), 2, 1, &policy),
            Rule::Quantity {
                requested: 2,
                returnable: 1
            }
        );
        assert_eq!(rule(&delivered(2, 0), 1, 1, &policy), Rule::FinalSale);
        assert_eq!(
            check_line(&delivered(2, 0), 2, 0, &Policy::default(), at(1)),
            Ok(())
        );
    }

    #[test]
    fn units_in_other_returns_are_not_returnable_again() {
        let order = [delivered(3, 0)];
        let tee = Sku::parse("TEE").unwrap();
        let already = HashMap::from([(tee.clone(), 2)]);
        let policy = Policy::default();
        assert_eq!(
            check(&order, &[(tee.clone(), 1)], &already, &policy, at(2)),
            Ok(())
        );
        let refused = check(&order, &[(tee, 2)], &already, &policy, at(2)).unwrap_err();
        assert_eq!(
            refused.rule,
            Rule::Quantity {
                requested: 2,
                returnable: 1
            }
        );
    }
}
