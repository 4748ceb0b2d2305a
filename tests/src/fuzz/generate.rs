//! Requests built from a message descriptor alone, so that an RPC added to a
//! contract is covered without a line of code here.
//!
//! - [`catalog`]: the fixed cases of one request message: empty; filled (every
//!   field at a plausible value, nested messages filled, lists of one); the
//!   filled request with one field at a time at each extreme of its kind
//!   ([`extremes`]); each list at 10,000 elements; the filled request's
//!   encoding truncated.
//! - [`random`]: a proptest strategy over the same values, mixed at random,
//!   with random bytes now and then; proptest shrinks a failing case towards
//!   fewer fields set.

use bytes::Bytes;
use proptest::{
    collection::vec,
    prelude::{BoxedStrategy, Just, Strategy, any},
    strategy::Union,
};
use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};

/// How deep nested messages are filled; deeper ones stay empty.
const MAX_DEPTH: usize = 5;
/// The length of the long list case.
pub const LONG_LIST: usize = 10_000;
/// A Luhn-valid test card number (Visa's), as a customer would type it.
pub const CARD_NUMBER: &str = "4111 1111 1111 1111";

/// One request to send.
#[derive(Debug, Clone)]
pub enum Case {
    /// A well-formed message.
    Message(DynamicMessage),
    /// Bytes that may not decode at all.
    Bytes(Vec<u8>),
}

impl Case {
    /// The bytes on the wire.
    pub fn encode(&self) -> Bytes {
        match self {
            Case::Message(message) => Bytes::from(message.encode_to_vec()),
            Case::Bytes(bytes) => Bytes::from(bytes.clone()),
        }
    }

    /// A short description of what the case holds, for a report: long strings
    /// and lists are cut.
    pub fn describe(&self) -> String {
        let text = match self {
            Case::Message(message) => message.to_text_format(),
            Case::Bytes(bytes) => format!("bytes {bytes:02x?}"),
        };
        shorten(&text, 400)
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

/// The values a field of `kind` is tried at, each with its name: the extremes
/// of numbers, NaN and the infinities, unknown enum numbers, and strings with
/// NUL, 100 KB, emoji and a card number.
pub fn extremes(kind: &Kind) -> Vec<(&'static str, Value)> {
    match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => vec![
            ("-1", Value::I32(-1)),
            ("i32::MIN", Value::I32(i32::MIN)),
            ("i32::MAX", Value::I32(i32::MAX)),
        ],
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => vec![
            ("-1", Value::I64(-1)),
            ("i64::MIN", Value::I64(i64::MIN)),
            ("i64::MAX", Value::I64(i64::MAX)),
        ],
        Kind::Uint32 | Kind::Fixed32 => vec![("u32::MAX", Value::U32(u32::MAX))],
        Kind::Uint64 | Kind::Fixed64 => vec![("u64::MAX", Value::U64(u64::MAX))],
        Kind::Double => vec![
            ("-1", Value::F64(-1.0)),
            ("NaN", Value::F64(f64::NAN)),
            ("inf", Value::F64(f64::INFINITY)),
            ("-inf", Value::F64(f64::NEG_INFINITY)),
        ],
        Kind::Float => vec![
            ("-1", Value::F32(-1.0)),
            ("NaN", Value::F32(f32::NAN)),
            ("inf", Value::F32(f32::INFINITY)),
            ("-inf", Value::F32(f32::NEG_INFINITY)),
        ],
        Kind::Bool => vec![("true", Value::Bool(true))],
        Kind::String => vec![
            ("NUL", Value::String("a\0b".to_owned())),
            ("100 KB", Value::String("x".repeat(100 * 1024))),
            ("emoji", Value::String("📦🚚💳👩🏽‍💻".to_owned())),
            ("card number", Value::String(CARD_NUMBER.to_owned())),
            ("card digits", Value::String(CARD_NUMBER.replace(' ', ""))),
        ],
        Kind::Bytes => vec![
            ("0xff 0x00", Value::Bytes(Bytes::from_static(&[0xff, 0x00]))),
            ("100 KB", Value::Bytes(Bytes::from(vec![0xa5; 100 * 1024]))),
        ],
        Kind::Enum(descriptor) => {
            let highest = descriptor.values().map(|value| value.number()).max();
            vec![
                ("-1", Value::EnumNumber(-1)),
                (
                    "unknown",
                    Value::EnumNumber(highest.unwrap_or(0).saturating_add(1)),
                ),
                ("i32::MAX", Value::EnumNumber(i32::MAX)),
            ]
        }
        Kind::Message(_) => Vec::new(),
    }
}

/// A value a well-behaved client might send for `field`, guessed from its
/// name, so that a filled request gets past the first checks more often.
pub fn plausible(field: &FieldDescriptor, depth: usize) -> Value {
    let name = field.name();
    match field.kind() {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(1),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 if name == "seconds" => {
            Value::I64(1_750_000_000)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(1),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(1),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(1),
        Kind::Double => Value::F64(1.5),
        Kind::Float => Value::F32(1.5),
        Kind::Bool => Value::Bool(true),
        Kind::String => Value::String(plausible_string(name).to_owned()),
        Kind::Bytes => Value::Bytes(Bytes::from_static(b"fuzz")),
        Kind::Enum(descriptor) => Value::EnumNumber(
            descriptor
                .values()
                .map(|value| value.number())
                .find(|number| *number != 0)
                .unwrap_or(0),
        ),
        Kind::Message(descriptor) => Value::Message(filled(&descriptor, depth + 1)),
    }
}

fn plausible_string(name: &str) -> &'static str {
    let singular = name.strip_suffix('s').unwrap_or(name);
    match singular {
        "currency_code" => "EUR",
        "country_code" => "DE",
        "sku" => "TEE-M",
        "email" => "ada@example.com",
        "phone" => "+49 30 1234567",
        "time_zone" => "Europe/Berlin",
        "tag" => "vip",
        "carrier" => "simulator",
        "location_id" | "from_location_id" | "to_location_id" | "pickup_location_id" => "wh-berlin",
        _ if singular.ends_with("_date") => "2025-06-15",
        _ if singular.ends_with("_id") || singular.ends_with("_key") => {
            "0190f5a2-1011-7abc-8d10-117f00000001"
        }
        _ => "fuzz",
    }
}

/// `descriptor` with every field at a plausible value (one of a oneof), lists
/// and maps of one, nested messages filled down to [`MAX_DEPTH`].
pub fn filled(descriptor: &MessageDescriptor, depth: usize) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    if depth >= MAX_DEPTH {
        return message;
    }
    for field in descriptor.fields() {
        let in_set_oneof = field
            .containing_oneof()
            .is_some_and(|oneof| oneof.fields().any(|other| message.has_field(&other)));
        if in_set_oneof {
            continue;
        }
        let value = if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                continue;
            };
            let key = map_key(&entry.map_entry_key_field().kind());
            let value = plausible(&entry.map_entry_value_field(), depth);
            Value::Map(std::iter::once((key, value)).collect())
        } else if field.is_list() {
            Value::List(vec![plausible(&field, depth)])
        } else {
            plausible(&field, depth)
        };
        message.set_field(&field, value);
    }
    message
}

fn map_key(kind: &Kind) -> MapKey {
    match kind {
        Kind::String => MapKey::String("fuzz".to_owned()),
        Kind::Bool => MapKey::Bool(true),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(1),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(1),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(1),
        _ => MapKey::U64(1),
    }
}

/// The fixed cases of a request message, each with a label naming what it
/// tries, e.g. `address.lines[0] = NUL`.
pub fn catalog(descriptor: &MessageDescriptor) -> Vec<(String, Case)> {
    let mut cases = vec![(
        "empty".to_owned(),
        Case::Message(DynamicMessage::new(descriptor.clone())),
    )];
    let base = filled(descriptor, 0);
    cases.push(("filled".to_owned(), Case::Message(base.clone())));
    cases.extend(
        variants(&base)
            .into_iter()
            .map(|(label, message)| (label, Case::Message(message))),
    );
    let encoded = base.encode_to_vec();
    for cut in [encoded.len() / 2, encoded.len().saturating_sub(1)] {
        if cut > 0 && cut < encoded.len() {
            cases.push((
                format!("filled, truncated to {cut} of {} bytes", encoded.len()),
                Case::Bytes(encoded[..cut].to_vec()),
            ));
        }
    }
    cases
}

/// `message` with one field changed at a time: each set scalar at each of its
/// extremes, each list at [`LONG_LIST`] elements, and the same inside every
/// set nested message (a list's first element stands for the others).
pub fn variants(message: &DynamicMessage) -> Vec<(String, DynamicMessage)> {
    let mut out = Vec::new();
    for (field, value) in message.fields() {
        let name = field.name();
        match value {
            Value::Message(inner) => {
                for (label, changed) in variants(inner) {
                    let mut copy = message.clone();
                    copy.set_field(&field, Value::Message(changed));
                    out.push((format!("{name}.{label}"), copy));
                }
            }
            Value::List(items) => {
                let Some(first) = items.first() else { continue };
                let mut long = message.clone();
                long.set_field(&field, Value::List(vec![first.clone(); LONG_LIST]));
                out.push((format!("{name} × {LONG_LIST}"), long));
                let element_variants = match first {
                    Value::Message(inner) => variants(inner)
                        .into_iter()
                        .map(|(label, changed)| (format!(".{label}"), Value::Message(changed)))
                        .collect(),
                    _ => extremes(&field.kind())
                        .into_iter()
                        .map(|(label, value)| (format!(" = {label}"), value))
                        .collect::<Vec<_>>(),
                };
                for (label, element) in element_variants {
                    let mut copy = message.clone();
                    let mut items = items.clone();
                    items[0] = element;
                    copy.set_field(&field, Value::List(items));
                    out.push((format!("{name}[0]{label}"), copy));
                }
            }
            Value::Map(entries) => {
                let Some((key, first)) = entries.iter().next() else {
                    continue;
                };
                let Kind::Message(entry) = field.kind() else {
                    continue;
                };
                let value_kind = entry.map_entry_value_field().kind();
                for (label, value) in extremes(&value_kind) {
                    let mut copy = message.clone();
                    copy.set_field(
                        &field,
                        Value::Map(std::iter::once((key.clone(), value)).collect()),
                    );
                    out.push((format!("{name}[{key:?}] = {label}"), copy));
                }
                let mut long = message.clone();
                long.set_field(
                    &field,
                    Value::Map(
                        (0..LONG_LIST)
                            .map(|n| (MapKey::String(format!("k{n}")), first.clone()))
                            .collect(),
                    ),
                );
                if matches!(key, MapKey::String(_)) {
                    out.push((format!("{name} × {LONG_LIST}"), long));
                }
            }
            _ => {
                for (label, extreme) in extremes(&field.kind()) {
                    let mut copy = message.clone();
                    copy.set_field(&field, extreme);
                    out.push((format!("{name} = {label}"), copy));
                }
            }
        }
    }
    out
}

/// Random requests of `descriptor`: each field unset or at a plausible, an
/// extreme or an arbitrary value; one case in ten is random bytes.
pub fn random(descriptor: &MessageDescriptor) -> BoxedStrategy<Case> {
    Union::new_weighted(vec![
        (
            9,
            message_strategy(descriptor, 0)
                .prop_map(Case::Message)
                .boxed(),
        ),
        (1, vec(any::<u8>(), 0..64).prop_map(Case::Bytes).boxed()),
    ])
    .boxed()
}

fn message_strategy(descriptor: &MessageDescriptor, depth: usize) -> BoxedStrategy<DynamicMessage> {
    let empty = DynamicMessage::new(descriptor.clone());
    if depth >= MAX_DEPTH {
        return Just(empty).boxed();
    }
    let fields: Vec<FieldDescriptor> = descriptor.fields().collect();
    let values: Vec<BoxedStrategy<Option<Value>>> = fields
        .iter()
        .map(|field| proptest::option::weighted(0.6, field_strategy(field, depth)).boxed())
        .collect();
    values
        .prop_map(move |values| {
            let mut message = empty.clone();
            for (field, value) in fields.iter().zip(values) {
                if let Some(value) = value {
                    message.set_field(field, value);
                }
            }
            message
        })
        .boxed()
}

fn field_strategy(field: &FieldDescriptor, depth: usize) -> BoxedStrategy<Value> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return Just(Value::Map(Default::default())).boxed();
        };
        let key_kind = entry.map_entry_key_field().kind();
        let value = value_strategy(&entry.map_entry_value_field(), depth);
        return vec((any::<u16>(), value), 0..3)
            .prop_map(move |entries| {
                Value::Map(
                    entries
                        .into_iter()
                        .map(|(key, value)| (number_key(&key_kind, key), value))
                        .collect(),
                )
            })
            .boxed();
    }
    if field.is_list() {
        return vec(value_strategy(field, depth), 0..4)
            .prop_map(Value::List)
            .boxed();
    }
    value_strategy(field, depth)
}

fn number_key(kind: &Kind, n: u16) -> MapKey {
    match kind {
        Kind::String => MapKey::String(format!("k{n}")),
        Kind::Bool => MapKey::Bool(n.is_multiple_of(2)),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(i32::from(n)),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(i64::from(n)),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(u32::from(n)),
        _ => MapKey::U64(u64::from(n)),
    }
}

/// One value of `field`'s kind: plausible first (what shrinking tends to),
/// then the extremes, then arbitrary values.
fn value_strategy(field: &FieldDescriptor, depth: usize) -> BoxedStrategy<Value> {
    let kind = field.kind();
    if let Kind::Message(descriptor) = &kind {
        return message_strategy(descriptor, depth + 1)
            .prop_map(Value::Message)
            .boxed();
    }
    let mut choices: Vec<BoxedStrategy<Value>> = vec![Just(plausible(field, depth)).boxed()];
    choices.extend(
        extremes(&kind)
            .into_iter()
            .map(|(_, value)| Just(value).boxed()),
    );
    choices.push(arbitrary(&kind));
    Union::new(choices).boxed()
}

fn arbitrary(kind: &Kind) -> BoxedStrategy<Value> {
    match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => any::<i32>().prop_map(Value::I32).boxed(),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => any::<i64>().prop_map(Value::I64).boxed(),
        Kind::Uint32 | Kind::Fixed32 => any::<u32>().prop_map(Value::U32).boxed(),
        Kind::Uint64 | Kind::Fixed64 => any::<u64>().prop_map(Value::U64).boxed(),
        Kind::Double => any::<f64>().prop_map(Value::F64).boxed(),
        Kind::Float => any::<f32>().prop_map(Value::F32).boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::String => any::<String>().prop_map(Value::String).boxed(),
        Kind::Bytes => vec(any::<u8>(), 0..32)
            .prop_map(|bytes| Value::Bytes(Bytes::from(bytes)))
            .boxed(),
        Kind::Enum(_) => any::<i32>().prop_map(Value::EnumNumber).boxed(),
        Kind::Message(descriptor) => {
            Just(Value::Message(DynamicMessage::new(descriptor.clone()))).boxed()
        }
    }
}

/// Whether `body` holds the card number of the cases, with or without its
/// spaces.
pub fn holds_card_number(body: &[u8]) -> bool {
    let spaced = CARD_NUMBER.as_bytes();
    let digits = CARD_NUMBER.replace(' ', "");
    [spaced, digits.as_bytes()]
        .iter()
        .any(|card| body.windows(card.len()).any(|window| window == *card))
}

/// Whether `body` decodes as a `descriptor` message: tonic answers INTERNAL
/// to a body that does not, by its own rule, before any handler runs.
pub fn decodes(descriptor: &MessageDescriptor, body: &[u8]) -> bool {
    DynamicMessage::decode(descriptor.clone(), body).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::descriptor_pool;

    fn descriptor(name: &str) -> MessageDescriptor {
        descriptor_pool()
            .get_message_by_name(name)
            .expect("a message of the contracts")
    }

    #[test]
    fn the_catalog_tries_every_nested_string_with_nul_and_a_card_number() {
        let cases = catalog(&descriptor("oms.order.v1.PlaceOrderRequest"));
        let labels: Vec<&str> = cases.iter().map(|(label, _)| label.as_str()).collect();
        for wanted in [
            "empty",
            "filled",
            "customer.name = NUL",
            "shipping_address.lines[0] = card number",
            "shipping_address.geo.latitude = NaN",
            "lines × 10000",
            "lines[0].quantity = i32::MIN",
            "lines[0].unit_price.amount_minor = i64::MAX",
            "channel.kind = unknown",
        ] {
            assert!(labels.contains(&wanted), "no case {wanted}");
        }
        assert!(labels.iter().any(|label| label.contains("truncated")));
    }

    #[test]
    fn a_filled_request_decodes_and_its_encoding_cut_by_one_byte_does_not() {
        let request = descriptor("oms.payment.v1.RefundRequest");
        let encoded = filled(&request, 0).encode_to_vec();
        assert!(decodes(&request, &encoded));
        assert!(!decodes(&request, &encoded[..encoded.len() - 1]));
    }
}
