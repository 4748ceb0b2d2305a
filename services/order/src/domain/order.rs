//! A new order as PlaceOrder accepts it, and its totals.

use std::fmt;

use chrono::{DateTime, Utc};
use oms_platform::ids::Quantity;
use serde::{Deserialize, Serialize};

use super::{
    Actor, Channel, Invalid, Sku,
    values::{Amount, CurrencyCode, Email, ExternalReference, Phone, Pii, Tag},
};

/// Who ordered. Personal data throughout.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// The customer's name.
    pub name: Pii<String>,
    /// Where the order's emails go, if given.
    pub email: Option<Email>,
    /// Where the carrier calls, if given.
    pub phone: Option<Phone>,
}

/// A postal address. Personal data: `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Address {
    /// Who receives the parcel.
    pub recipient_name: String,
    /// The company, if any.
    pub company: String,
    /// Street lines, first to last.
    pub lines: Vec<String>,
    /// The city.
    pub city: String,
    /// The region or state, where the country uses one.
    pub region: String,
    /// The postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country_code: String,
    /// The recipient's phone, for the carrier.
    pub phone: String,
    /// Latitude and longitude, when the channel knows them.
    pub geo: Option<(f64, f64)>,
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Address(<pii>)")
    }
}

oms_platform::code_enum! {
    /// How the customer receives the goods (`oms.common.v1.DeliveryMethod`).
    pub enum DeliveryMethod {
        /// Shipped by carrier to the shipping address.
        Ship = 1 => "SHIP",
        /// Collected by the customer at a store.
        Pickup = 2 => "PICKUP",
    }
}

/// The delivery option of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Shipped, or collected at a store.
    pub method: DeliveryMethod,
    /// `oms.common.v1.ServiceLevel`; 0 when unspecified.
    pub service_level: i16,
    /// The store the customer collects from, for pickup.
    pub pickup_location_id: Option<String>,
}

/// How the customer pays: tokens and codes, never a card number. `Debug`
/// prints the kind only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PaymentMethod {
    /// A card, by the PSP's token.
    Card {
        /// The PSP's token of the card.
        token: String,
    },
    /// A merchant gift card.
    GiftCard {
        /// The gift card's code.
        code: String,
    },
    /// Pay later against an invoice.
    Invoice {
        /// The customer's billing reference, if any.
        billing_reference: String,
    },
}

impl fmt::Debug for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PaymentMethod::Card { .. } => "Card(<token>)",
            PaymentMethod::GiftCard { .. } => "GiftCard(<code>)",
            PaymentMethod::Invoice { .. } => "Invoice(<reference>)",
        })
    }
}

/// One line as sold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    /// The SKU sold.
    pub sku: Sku,
    /// Units sold.
    pub quantity: Quantity,
    /// The price of one unit, in minor units of the order's currency.
    pub unit_price: Amount,
}

/// An exchange's replacement order: which return, which original order, and
/// the credit of the returned goods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// The return the exchange replaces goods of.
    pub return_id: String,
    /// The order the returned goods came from.
    pub original_order_id: String,
    /// The credit of the returned goods, in minor units.
    pub credit_minor: i64,
}

/// An order as placed, every field checked, with its totals computed once.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// The channel that sold it.
    pub channel: Channel,
    /// The channel's own reference of the order, unique per channel.
    pub external_reference: ExternalReference,
    /// Who ordered.
    pub customer: Customer,
    /// Where it goes; `None` for pickup.
    pub shipping_address: Option<Address>,
    /// What was sold, in the channel's order.
    pub lines: Vec<NewLine>,
    /// The currency of every amount.
    pub currency: CurrencyCode,
    /// How the customer receives the goods.
    pub delivery: Delivery,
    /// The price of shipping.
    pub shipping_price: Amount,
    /// How the customer pays; `None` when an exchange's credit covers it.
    pub payment_method: Option<PaymentMethod>,
    /// Notes the channel sent with the order.
    pub notes: Vec<Pii<String>>,
    /// Tags to find the order by.
    pub tags: Vec<Tag>,
    /// When the channel says it was placed; the time of recording when `None`.
    pub place_time: Option<DateTime<Utc>>,
    /// Who placed it.
    pub actor: Actor,
    /// The exchange it replaces goods of, for a replacement order.
    pub exchange: Option<Exchange>,
    /// [`totals`] of the lines, the shipping price and the exchange's credit.
    pub totals: Totals,
}

/// The amounts of an order, computed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Quantity times unit price, over every line.
    pub lines_total: Amount,
    /// The shipping price.
    pub shipping_total: Amount,
    /// An exchange's credit.
    pub credit_total: Amount,
    /// What the customer pays: lines plus shipping minus credit, never below zero.
    pub grand_total: Amount,
    /// Units over every line.
    pub item_count: i32,
}

/// Computes the totals of `lines`; `Err` when an amount overflows.
pub fn totals(lines: &[NewLine], shipping: Amount, credit: Amount) -> Result<Totals, Invalid> {
    let too_large = || Invalid::new("the order's amounts are too large");
    let mut lines_total = Amount::ZERO;
    let mut item_count: i32 = 0;
    for line in lines {
        let line_total = line
            .unit_price
            .checked_mul(line.quantity.get())
            .ok_or_else(too_large)?;
        lines_total = lines_total.checked_add(line_total).ok_or_else(too_large)?;
        item_count = item_count
            .checked_add(line.quantity.get())
            .ok_or_else(too_large)?;
    }
    let before_credit = lines_total.checked_add(shipping).ok_or_else(too_large)?;
    Ok(Totals {
        lines_total,
        shipping_total: shipping,
        credit_total: credit,
        grand_total: before_credit.saturating_sub(credit),
        item_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, quantity: i32, price: i64) -> NewLine {
        NewLine {
            sku: Sku::parse(sku).unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
            unit_price: Amount::new(price).unwrap(),
        }
    }

    #[test]
    fn totals_add_lines_and_shipping_and_take_the_credit_off() {
        let lines = [line("a", 2, 1999), line("b", 1, 500)];
        let totals = totals(
            &lines,
            Amount::new(495).unwrap(),
            Amount::new(1000).unwrap(),
        )
        .unwrap();
        assert_eq!(totals.lines_total.minor(), 4498);
        assert_eq!(totals.grand_total.minor(), 4498 + 495 - 1000);
        assert_eq!(totals.item_count, 3);
    }

    #[test]
    fn a_credit_above_the_price_leaves_nothing_to_pay() {
        let totals = totals(
            &[line("a", 1, 100)],
            Amount::ZERO,
            Amount::new(500).unwrap(),
        )
        .unwrap();
        assert_eq!(totals.grand_total, Amount::ZERO);
    }

    #[test]
    fn amounts_that_overflow_are_refused() {
        assert!(totals(&[line("a", 3, i64::MAX / 2)], Amount::ZERO, Amount::ZERO).is_err());
    }

    #[test]
    fn personal_data_never_shows_in_debug() {
        let address = Address {
            city: "Berlin".into(),
            ..Default::default()
        };
        let pii = Pii("ada@example.com".to_owned());
        let card = PaymentMethod::Card {
            token: "tok_visa".into(),
        };
        let printed = format!("{address:?} {pii:?} {card:?}");
        assert!(
            !printed.contains("Berlin")
                && !printed.contains("ada")
                && !printed.contains("tok_visa")
        );
    }
}
