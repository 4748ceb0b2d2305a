//! Identifiers, quantities and currency codes every service shares, checked once at the edge:
//! a value of these types is valid by construction.

use std::fmt;

/// Why a value was refused; the message goes to the caller as a field violation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(&'static str);

impl Invalid {
    /// A refusal with this description (lower case, no trailing period).
    pub const fn new(description: &'static str) -> Invalid {
        Invalid(description)
    }
}

fn is_id_char(c: char, upper: bool) -> bool {
    c.is_ascii_lowercase()
        || c.is_ascii_digit()
        || matches!(c, '.' | '_' | '-')
        || (upper && c.is_ascii_uppercase())
}

/// An ISO 3166-1 alpha-2 country code, upper case, e.g. `DE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Checks the shape of a country code (two upper-case ASCII letters).
    pub fn parse(value: &str) -> Result<CountryCode, Invalid> {
        match value.as_bytes() {
            [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Ok(CountryCode([*a, *b])),
            _ => Err(Invalid::new("must be an ISO 3166-1 alpha-2 code, e.g. DE")),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters, checked in `parse`.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A merchant SKU: 1 to 64 characters of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sku(String);

impl Sku {
    /// Checks a SKU from a request or a stored row.
    pub fn parse(value: &str) -> Result<Sku, Invalid> {
        if value.is_empty() || value.len() > 64 || !value.chars().all(|c| is_id_char(c, true)) {
            return Err(Invalid::new("must be 1 to 64 characters of [A-Za-z0-9._-]"));
        }
        Ok(Sku(value.to_owned()))
    }

    /// The SKU as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A location id: 1 to 64 characters of `[a-z0-9._-]`, ordered byte-wise.
/// Read back from stored JSON through the same check.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct LocationId(String);

impl TryFrom<String> for LocationId {
    type Error = Invalid;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        LocationId::parse(&value)
    }
}

impl From<LocationId> for String {
    fn from(id: LocationId) -> String {
        id.0
    }
}

impl LocationId {
    /// Checks a location id from a request or a stored row.
    pub fn parse(value: &str) -> Result<LocationId, Invalid> {
        if value.is_empty() || value.len() > 64 || !value.chars().all(|c| is_id_char(c, false)) {
            return Err(Invalid::new("must be 1 to 64 characters of [a-z0-9._-]"));
        }
        Ok(LocationId(value.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An id the OMS minted: an order, payment, reservation, return, shipment or
/// saga id. It is a UUID in its canonical text form, 36 characters of
/// lower-case hex digits and dashes (8-4-4-4-12), as every service mints them.
///
/// This is the one parser of such ids, and common.proto states its rule: an
/// id that is not one names nothing, and the request is refused with
/// INVALID_ARGUMENT naming the field (a well-formed id of nothing is NOT_FOUND).
/// So no service holds stock or money for an order that cannot exist.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MintedId {
    uuid: uuid::Uuid,
    text: String,
}

impl MintedId {
    /// Checks an id a request names: required, and a UUID in canonical form.
    pub fn parse(value: &str) -> Result<MintedId, Invalid> {
        if value.is_empty() {
            return Err(Invalid::new("required"));
        }
        // At 36 characters only the hyphenated form parses; lower case makes it
        // the one spelling of the id.
        let canonical = value.len() == 36 && !value.bytes().any(|b| b.is_ascii_uppercase());
        match uuid::Uuid::try_parse(value) {
            Ok(uuid) if canonical => Ok(MintedId {
                uuid,
                text: value.to_owned(),
            }),
            _ => Err(Invalid::new(
                "must be an id the OMS minted: a lower-case UUID, e.g. 0190f5a0-8d3c-7b6e-9f00-1c2d3e4f5a6b",
            )),
        }
    }

    /// The id as a UUID.
    pub fn uuid(&self) -> uuid::Uuid {
        self.uuid
    }

    /// The id as text, as it was minted.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<uuid::Uuid> for MintedId {
    fn from(uuid: uuid::Uuid) -> MintedId {
        MintedId {
            uuid,
            text: uuid.to_string(),
        }
    }
}

impl fmt::Display for MintedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An order id of any printable shape: 1 to 128 printable ASCII characters.
///
/// Only the shipping service still takes order ids this way; it moves to
/// [`MintedId`] with its rewrite, and then this type goes. New code uses
/// [`MintedId`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderId(String);

impl OrderId {
    /// Checks an order id of any printable shape.
    pub fn parse(value: &str) -> Result<OrderId, Invalid> {
        if value.is_empty() || value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid::new("must be 1 to 128 printable ASCII characters"));
        }
        Ok(OrderId(value.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for LocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A number of units moved or held: at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(i32);

impl Quantity {
    /// Checks a count of units: at least 1.
    pub fn new(units: i32) -> Result<Quantity, Invalid> {
        if units < 1 {
            return Err(Invalid::new("must be at least 1"));
        }
        Ok(Quantity(units))
    }

    /// The number of units.
    pub fn get(self) -> i32 {
        self.0
    }
}

crate::code_enum! {
    /// Who caused a change, as recorded in the ledger. Mirrors `oms.common.v1.ActorKind`.
    pub enum ActorKind {
        /// The customer, through a sales channel.
        Customer = 1 => "CUSTOMER",
        /// A person in customer service or operations.
        Operator = 2 => "OPERATOR",
        /// An OMS service acting on its own (expiry, reconciliation).
        System = 3 => "SYSTEM",
        /// The saga coordinator, running a flow.
        Saga = 4 => "SAGA",
        /// A carrier, through its tracking events.
        Carrier = 5 => "CARRIER",
        /// A sales channel connector.
        Channel = 6 => "CHANNEL",
    }
}

/// The actor of a change: a kind and an id that is never PII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Who: a customer, operator, service, saga, carrier or channel.
    pub kind: ActorKind,
    /// Which one of them, e.g. an operator's login or a service's name; at most 128 characters.
    pub id: String,
}

impl Actor {
    /// Checks an actor from a request: its contract kind code (not 0) and its id.
    pub fn new(kind_code: i32, id: &str) -> Result<Actor, Invalid> {
        let kind = ActorKind::from_code(kind_code).ok_or(Invalid::new("kind is required"))?;
        if id.len() > 128 {
            return Err(Invalid::new("id must be at most 128 characters"));
        }
        Ok(Actor {
            kind,
            id: id.to_owned(),
        })
    }

    /// A service acting on its own, e.g. `system("oms-inventory")` expiring a hold.
    pub fn system(service: &str) -> Actor {
        Actor {
            kind: ActorKind::System,
            id: service.to_owned(),
        }
    }
}

/// A sales channel: a kind code (`oms.common.v1.ChannelKind`, never 0) and a name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Channel {
    /// The contract's `ChannelKind` code, 1 to 5.
    pub kind: i16,
    /// The channel's name, e.g. a marketplace or store id; empty for the web shop and call centre.
    pub name: String,
}

impl Channel {
    const MARKETPLACE: i32 = 3;
    const STORE: i32 = 4;

    /// Checks a channel from a request: its kind code and name.
    pub fn new(kind_code: i32, name: &str) -> Result<Channel, Invalid> {
        if !(1..=5).contains(&kind_code) {
            return Err(Invalid::new("kind is required"));
        }
        if name.is_empty() {
            if kind_code == Self::MARKETPLACE || kind_code == Self::STORE {
                return Err(Invalid(
                    "name is required for marketplace and store channels",
                ));
            }
        } else if name.len() > 64 || !name.chars().all(|c| is_id_char(c, false)) {
            return Err(Invalid::new(
                "name must be 1 to 64 characters of [a-z0-9._-]",
            ));
        }
        Ok(Channel {
            kind: kind_code as i16,
            name: name.to_owned(),
        })
    }
}

/// Checks an optional free-text note: at most `max` characters.
pub fn note(value: &str, max: usize) -> Result<String, Invalid> {
    if value.chars().count() > max {
        return Err(Invalid::new("too long"));
    }
    Ok(value.to_owned())
}

/// The ISO 4217 codes of currencies in use.
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB \
    BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB \
    EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD \
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP \
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON \
    RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP \
    TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

/// An ISO 4217 currency code in use, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CurrencyCode(String);

impl CurrencyCode {
    /// Checks a currency code: one of ISO 4217's codes in use.
    pub fn parse(value: &str) -> Result<CurrencyCode, Invalid> {
        let known = value.len() == 3
            && CURRENCIES
                .split_ascii_whitespace()
                .any(|code| code == value);
        if !known {
            return Err(Invalid::new("must be an ISO 4217 currency code"));
        }
        Ok(CurrencyCode(value.to_owned()))
    }

    /// The code as text, e.g. `EUR`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_kinds_are_the_contracts() {
        crate::assert_code_enum!(ActorKind => oms_proto::common::v1::ActorKind, "ACTOR_KIND_");
    }

    #[test]
    fn skus_keep_case_and_location_ids_are_lower_case() {
        assert!(Sku::parse("TEE-Blue_M.1").is_ok());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("tee blue").is_err());
        assert!(Sku::parse(&"a".repeat(65)).is_err());
        assert!(LocationId::parse("wh-berlin.1").is_ok());
        assert!(LocationId::parse("WH-Berlin").is_err());
    }

    #[test]
    fn a_country_code_is_two_upper_case_letters() {
        assert_eq!(
            CountryCode::parse("DE").map(|c| c.to_string()),
            Ok("DE".into())
        );
        assert!(CountryCode::parse("de").is_err());
        assert!(CountryCode::parse("DEU").is_err());
    }

    #[test]
    fn a_stored_location_id_is_checked_when_read_back() {
        let parsed: Result<LocationId, _> = serde_json::from_str("\"WH 1\"");
        assert!(parsed.is_err());
        let parsed: LocationId = serde_json::from_str("\"wh-1\"").unwrap();
        assert_eq!(parsed.as_str(), "wh-1");
    }

    #[test]
    fn a_minted_id_is_a_canonical_uuid_and_nothing_else() {
        let id = "0190f5a0-8d3c-7b6e-9f00-1c2d3e4f5a6b";
        let parsed = MintedId::parse(id).unwrap();
        assert_eq!(parsed.as_str(), id);
        assert_eq!(parsed.uuid().to_string(), id);
        assert_eq!(MintedId::from(parsed.uuid()), parsed);
        assert_eq!(MintedId::parse(""), Err(Invalid::new("required")));
        for other in [
            "order-1",
            "0190F5A0-8D3C-7B6E-9F00-1C2D3E4F5A6B",
            "0190f5a08d3c7b6e9f001c2d3e4f5a6b",
            "{0190f5a0-8d3c-7b6e-9f00-1c2d3e4f5a6b}",
            "urn:uuid:0190f5a0-8d3c-7b6e-9f00-1c2d3e4f5a6b",
            "0190f5a0-8d3c-7b6e-9f00-1c2d3e4f5a6",
            "0190f5a0-8d3c-7b6e-9f00-1c2d3e4f5a6bb",
            "0190f5a0+8d3c-7b6e-9f00-1c2d3e4f5a6b",
        ] {
            assert!(MintedId::parse(other).is_err(), "{other}");
        }
    }

    #[test]
    fn a_quantity_is_at_least_one() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(-3).is_err());
        assert_eq!(Quantity::new(2).map(Quantity::get), Ok(2));
    }

    #[test]
    fn marketplace_channels_need_a_name() {
        assert!(Channel::new(3, "").is_err());
        assert!(Channel::new(3, "amazon-de").is_ok());
        assert!(Channel::new(1, "").is_ok());
        assert!(Channel::new(0, "web").is_err());
        assert!(Channel::new(9, "web").is_err());
    }

    #[test]
    fn an_actor_needs_a_kind() {
        assert!(Actor::new(0, "x").is_err());
        assert_eq!(Actor::new(4, "saga-1").map(|a| a.kind), Ok(ActorKind::Saga));
    }

    #[test]
    fn only_currencies_in_use_are_accepted() {
        assert!(CurrencyCode::parse("EUR").is_ok());
        assert!(CurrencyCode::parse("eur").is_err());
        assert!(CurrencyCode::parse("XXX").is_err());
    }
}
