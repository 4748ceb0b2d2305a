//! What omsctl reads from its command line: channels, lines, amounts,
//! coordinates, statuses.

use oms_proto::{
    common::v1::{Channel, ChannelKind, GeoPoint, LineItem, Money, ServiceLevel},
    order::v1::OrderStatus,
};

use crate::Failure;

/// A channel from `web`, `app`, `call-center`, `marketplace:<name>`,
/// `store:<name>`.
pub fn parse_channel(text: &str) -> Result<Channel, Failure> {
    let (kind, name) = text.split_once(':').unwrap_or((text, ""));
    let kind = match kind {
        "web" => ChannelKind::Web,
        "app" => ChannelKind::App,
        "marketplace" => ChannelKind::Marketplace,
        "store" => ChannelKind::Store,
        "call-center" | "call_center" => ChannelKind::CallCenter,
        other => {
            return Err(Failure::Usage(format!(
                "unknown channel {other:?}; channels are web, app, call-center, marketplace:<name>, store:<name>"
            )));
        }
    };
    Ok(Channel {
        kind: kind as i32,
        name: name.to_owned(),
    })
}

pub fn parse_status(text: &str) -> Result<OrderStatus, Failure> {
    let name = format!(
        "ORDER_STATUS_{}",
        text.to_ascii_uppercase().replace('-', "_")
    );
    OrderStatus::from_str_name(&name).ok_or_else(|| {
        Failure::Usage(format!(
            "unknown order status {text:?}; e.g. pending, confirmed, shipped, delivered, rejected, cancelled, returned"
        ))
    })
}

pub fn parse_service_level(text: &str) -> Result<ServiceLevel, Failure> {
    match text {
        "standard" => Ok(ServiceLevel::Standard),
        "express" => Ok(ServiceLevel::Express),
        "same-day" | "same_day" => Ok(ServiceLevel::SameDay),
        other => Err(Failure::Usage(format!(
            "unknown service level {other:?}; levels are standard, express, same-day"
        ))),
    }
}

/// `SKU:QTY:PRICE` as a line in `currency`.
pub fn parse_line(text: &str, currency: &str) -> Result<LineItem, Failure> {
    let mut parts = text.split(':');
    let (Some(sku), Some(quantity), Some(price), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Failure::Usage(format!(
            "--line {text:?}: expected SKU:QUANTITY:UNIT_PRICE, e.g. TEE-M:2:19.99"
        )));
    };
    Ok(LineItem {
        sku: sku.to_owned(),
        quantity: parse_int(quantity, "--line quantity")?,
        unit_price: Some(Money {
            currency_code: currency.to_owned(),
            amount_minor: parse_amount(price)?,
        }),
    })
}

/// An integer argument.
pub fn parse_int(text: &str, what: &str) -> Result<i32, Failure> {
    text.trim()
        .parse()
        .map_err(|_| Failure::Usage(format!("{what} {text:?} is not a whole number")))
}

/// An amount in major units with up to two decimals ("19.99", "5") in minor
/// units, without going through floating point.
pub fn parse_amount(text: &str) -> Result<i64, Failure> {
    let bad = || Failure::Usage(format!("{text:?} is not an amount like 19.99"));
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(100)
        .and_then(|minor| minor.checked_add(if whole < 0 { -cents } else { cents }))
        .ok_or_else(bad)
}

pub fn parse_geo(text: &str) -> Result<GeoPoint, Failure> {
    let bad = || {
        Failure::Usage(format!(
            "--geo {text:?}: expected LAT,LON, e.g. 52.52,13.40"
        ))
    };
    let (latitude, longitude) = text.split_once(',').ok_or_else(bad)?;
    Ok(GeoPoint {
        latitude: latitude.trim().parse().map_err(|_| bad())?,
        longitude: longitude.trim().parse().map_err(|_| bad())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_become_minor_units_exactly() {
        assert_eq!(parse_amount("19.99").unwrap(), 1999);
        assert_eq!(parse_amount("5").unwrap(), 500);
        assert_eq!(parse_amount("0.5").unwrap(), 50);
        assert!(parse_amount("1.999").is_err());
        assert!(parse_amount("abc").is_err());
    }

    #[test]
    fn channels_read_as_operators_write_them() {
        let channel = parse_channel("marketplace:amazon-de").unwrap();
        assert_eq!(channel.kind, ChannelKind::Marketplace as i32);
        assert_eq!(channel.name, "amazon-de");
        assert!(parse_channel("fax").is_err());
    }

    #[test]
    fn a_line_needs_sku_quantity_and_price() {
        let line = parse_line("TEE-M:2:19.99", "EUR").unwrap();
        assert_eq!(line.quantity, 2);
        assert_eq!(line.unit_price.unwrap().amount_minor, 1999);
        assert!(parse_line("TEE-M:2", "EUR").is_err());
    }
}
