//! The string fields of every request message of the contracts, and the walk
//! that checks them in a message's wire format.
//!
//! [`RequestGuard`] is built once from the message descriptors: for each
//! message, the fields that are strings or lead to one (nested messages,
//! repeated fields, map entries), by number. Checking a message then reads its
//! tags and lengths with prost's own decoding helpers and looks each field up
//! in that table: no dynamic message, and no allocation unless the message has
//! repeated fields (their positions are counted) or a field is refused.

use std::{collections::HashMap, fmt::Write as _};

use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

use crate::{card::contains_card_number, error::FieldViolations};

/// Deeper nesting than this is refused by prost's decoder too (its recursion
/// limit); the walk leaves such a message to tonic rather than overflow.
const MAX_DEPTH: u32 = 100;

const NUL_REFUSED: &str = "must not contain NUL characters";
const CARD_REFUSED: &str = "must not hold a card number; send a PSP token";
const KEY_NUL_REFUSED: &str = "keys must not contain NUL characters";
const KEY_CARD_REFUSED: &str = "keys must not hold a card number";

/// A message that is not protobuf, or not of its type: prost would refuse it.
#[derive(Debug)]
struct Undecodable;

impl From<prost::DecodeError> for Undecodable {
    fn from(_: prost::DecodeError) -> Self {
        Undecodable
    }
}

/// Why the guard could not be built from the contracts' descriptors.
#[derive(Debug, thiserror::Error)]
#[error("the contracts' descriptors do not load: {0}")]
pub struct GuardError(String);

/// The rule every string field of every OMS request obeys (no NUL character,
/// no card number), compiled from the contracts' message descriptors.
#[derive(Debug)]
pub struct RequestGuard {
    /// The request message of each RPC of the `oms.` packages, by gRPC path
    /// (`/oms.inventory.v1.InventoryService/Reserve`), for RPCs whose request
    /// holds a string at all.
    requests: HashMap<String, usize>,
    /// Every message by full name, for [`RequestGuard::check_message`].
    names: HashMap<String, usize>,
    messages: Vec<Plan>,
}

/// The fields of one message that hold strings, sorted by number.
#[derive(Debug, Default)]
struct Plan {
    fields: Vec<Field>,
    /// How many of `fields` are repeated: each counts its elements.
    repeated: usize,
}

#[derive(Debug)]
struct Field {
    number: u32,
    name: String,
    kind: FieldKind,
    /// For a repeated field (a map too): the slot counting its elements.
    counter: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
enum FieldKind {
    Text,
    Message(usize),
    Map {
        text_key: bool,
        value: Option<MapValue>,
    },
}

#[derive(Debug, Clone, Copy)]
enum MapValue {
    Text,
    Message(usize),
}

impl RequestGuard {
    /// The guard of the OMS contracts (`oms_proto::FILE_DESCRIPTOR_SET`), built
    /// on first use and shared by every server of the process.
    pub fn contracts() -> Result<&'static RequestGuard, &'static GuardError> {
        static CONTRACTS: std::sync::LazyLock<Result<RequestGuard, GuardError>> =
            std::sync::LazyLock::new(|| {
                RequestGuard::from_descriptors(oms_proto::FILE_DESCRIPTOR_SET)
            });
        CONTRACTS.as_ref()
    }

    /// The guard of the RPCs and messages of an encoded
    /// `google.protobuf.FileDescriptorSet`.
    fn from_descriptors(descriptor_set: &[u8]) -> Result<RequestGuard, GuardError> {
        let pool =
            DescriptorPool::decode(descriptor_set).map_err(|err| GuardError(err.to_string()))?;
        let all: Vec<MessageDescriptor> = pool.all_messages().collect();
        let names: HashMap<String, usize> = all
            .iter()
            .enumerate()
            .map(|(index, message)| (message.full_name().to_owned(), index))
            .collect();
        let holds = holds_text(&all, &names);
        let messages = all
            .iter()
            .map(|message| plan(message, &names, &holds))
            .collect();
        let mut requests = HashMap::new();
        for service in pool.services() {
            if !service.package_name().starts_with("oms.") {
                continue;
            }
            for method in service.methods() {
                if let Some(&index) = names.get(method.input().full_name())
                    && holds[index]
                {
                    let path = format!("/{}/{}", service.full_name(), method.name());
                    requests.insert(path, index);
                }
            }
        }
        Ok(RequestGuard {
            requests,
            names,
            messages,
        })
    }

    /// Checks `message`, the encoded request of the RPC at gRPC path
    /// `rpc_path` (`/oms.order.v1.OrderService/PlaceOrder`): every refused
    /// field, named by path as the contracts name it (`customer.name`,
    /// `lines[1].sku`, `metadata[key]`).
    ///
    /// `Ok` for an RPC outside the contracts, a request without strings, and a
    /// message that does not decode: tonic answers that one itself.
    pub fn check(&self, rpc_path: &str, message: &[u8]) -> Result<(), FieldViolations> {
        match self.request(rpc_path) {
            Some(index) => self.check_index(index, message),
            None => Ok(()),
        }
    }

    /// [`RequestGuard::check`] of a message by its full name
    /// (`oms.order.v1.PlaceOrderRequest`), whether or not an RPC takes it.
    pub fn check_message(&self, full_name: &str, message: &[u8]) -> Result<(), FieldViolations> {
        match self.names.get(full_name) {
            Some(&index) => self.check_index(index, message),
            None => Ok(()),
        }
    }

    /// The request message of the RPC at `rpc_path`, if it has strings to check.
    pub(super) fn request(&self, rpc_path: &str) -> Option<usize> {
        self.requests.get(rpc_path).copied()
    }

    pub(super) fn check_index(&self, index: usize, message: &[u8]) -> Result<(), FieldViolations> {
        let mut walk = Walk::default();
        match walk.message(self, index, message, None, 0) {
            Ok(()) if walk.violations.is_empty() => Ok(()),
            Ok(()) => Err(walk.violations),
            // Not protobuf: not ours to judge.
            Err(_) => Ok(()),
        }
    }
}

/// Which messages hold a string at some depth, found by going over them until
/// nothing changes (a message may hold itself).
fn holds_text(all: &[MessageDescriptor], names: &HashMap<String, usize>) -> Vec<bool> {
    let mut holds = vec![false; all.len()];
    let target = |kind: &Kind| match kind {
        Kind::Message(message) => names.get(message.full_name()).copied(),
        _ => None,
    };
    loop {
        let mut changed = false;
        for (index, message) in all.iter().enumerate() {
            if holds[index] {
                continue;
            }
            let found = message.fields().any(|field| {
                matches!(field.kind(), Kind::String)
                    || target(&field.kind()).is_some_and(|target| holds[target])
            });
            if found {
                holds[index] = true;
                changed = true;
            }
        }
        if !changed {
            return holds;
        }
    }
}

fn plan(message: &MessageDescriptor, names: &HashMap<String, usize>, holds: &[bool]) -> Plan {
    let holding = |message: &MessageDescriptor| {
        names
            .get(message.full_name())
            .copied()
            .filter(|&index| holds[index])
    };
    let mut plan = Plan::default();
    for field in message.fields() {
        let kind = match field.kind() {
            Kind::String => FieldKind::Text,
            Kind::Message(entry) if field.is_map() => {
                let (key, value) = (entry.map_entry_key_field(), entry.map_entry_value_field());
                let value = match value.kind() {
                    Kind::String => Some(MapValue::Text),
                    Kind::Message(message) => holding(&message).map(MapValue::Message),
                    _ => None,
                };
                let text_key = matches!(key.kind(), Kind::String);
                if !text_key && value.is_none() {
                    continue;
                }
                FieldKind::Map { text_key, value }
            }
            Kind::Message(target) => match holding(&target) {
                Some(index) => FieldKind::Message(index),
                None => continue,
            },
            _ => continue,
        };
        plan.add(&field, kind);
    }
    plan.fields.sort_by_key(|field| field.number);
    plan
}

impl Plan {
    fn add(&mut self, field: &FieldDescriptor, kind: FieldKind) {
        let counter = (field.is_list() || field.is_map()).then(|| {
            self.repeated += 1;
            self.repeated - 1
        });
        self.fields.push(Field {
            number: field.number(),
            name: field.name().to_owned(),
            kind,
            counter,
        });
    }

    fn field(&self, number: u32) -> Option<&Field> {
        self.fields
            .binary_search_by_key(&number, |field| field.number)
            .ok()
            .and_then(|at| self.fields.get(at))
    }
}

/// Where a field sits in the request: its name, which element, and the path
/// of the message it is in.
struct Segment<'a> {
    parent: Option<&'a Segment<'a>>,
    name: &'a str,
    index: Index<'a>,
}

enum Index<'a> {
    None,
    Position(u32),
    Key(&'a str),
}

impl Segment<'_> {
    /// The path as the contracts write it: `shipping_address.lines[0]`.
    fn render(&self) -> String {
        let mut segments = Vec::new();
        let mut next = Some(self);
        while let Some(segment) = next {
            segments.push(segment);
            next = segment.parent;
        }
        let mut path = String::new();
        for segment in segments.iter().rev() {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(segment.name);
            match segment.index {
                Index::None => {}
                Index::Position(position) => {
                    let _ = write!(path, "[{position}]");
                }
                Index::Key(key) => {
                    path.push('[');
                    path.push_str(key);
                    path.push(']');
                }
            }
        }
        path
    }
}

/// The state of one check: element counters of the messages being read (a
/// stack of slots, one per repeated field), and what was refused.
#[derive(Default)]
struct Walk {
    counters: Vec<u32>,
    violations: FieldViolations,
}

impl Walk {
    fn message(
        &mut self,
        guard: &RequestGuard,
        index: usize,
        mut buf: &[u8],
        path: Option<&Segment<'_>>,
        depth: u32,
    ) -> Result<(), Undecodable> {
        if depth > MAX_DEPTH {
            return Err(Undecodable);
        }
        let Some(plan) = guard.messages.get(index) else {
            return Ok(());
        };
        let base = self.counters.len();
        self.counters.resize(base + plan.repeated, 0);
        while !buf.is_empty() {
            let (number, wire_type) = decode_key(&mut buf)?;
            let Some(field) = plan.field(number) else {
                skip_field(wire_type, number, &mut buf, DecodeContext::default())?;
                continue;
            };
            let value = length_delimited(wire_type, &mut buf)?;
            let position = match field.counter {
                Some(slot) => {
                    let counter = &mut self.counters[base + slot];
                    let position = *counter;
                    *counter = position.saturating_add(1);
                    Index::Position(position)
                }
                None => Index::None,
            };
            let segment = Segment {
                parent: path,
                name: &field.name,
                index: position,
            };
            match field.kind {
                FieldKind::Text => {
                    self.text(value, &segment, NUL_REFUSED, CARD_REFUSED)?;
                }
                FieldKind::Message(target) => {
                    self.message(guard, target, value, Some(&segment), depth + 1)?;
                }
                FieldKind::Map {
                    text_key,
                    value: map_value,
                } => {
                    self.entry(guard, value, segment, text_key, map_value, depth)?;
                }
            }
        }
        self.counters.truncate(base);
        Ok(())
    }

    /// One map entry (key 1, value 2). A refused key is named by the map field
    /// alone, never echoed; the value of a string key is named `field[key]`.
    fn entry(
        &mut self,
        guard: &RequestGuard,
        mut buf: &[u8],
        segment: Segment<'_>,
        text_key: bool,
        value_kind: Option<MapValue>,
        depth: u32,
    ) -> Result<(), Undecodable> {
        let (mut key, mut value) = (None, None);
        while !buf.is_empty() {
            let (number, wire_type) = decode_key(&mut buf)?;
            match number {
                1 if text_key => key = Some(length_delimited(wire_type, &mut buf)?),
                2 if value_kind.is_some() => value = Some(length_delimited(wire_type, &mut buf)?),
                _ => skip_field(wire_type, number, &mut buf, DecodeContext::default())?,
            }
        }
        let mut segment = segment;
        if text_key {
            let key = std::str::from_utf8(key.unwrap_or_default()).map_err(|_| Undecodable)?;
            let whole = Segment {
                parent: segment.parent,
                name: segment.name,
                index: Index::None,
            };
            if self.text(key.as_bytes(), &whole, KEY_NUL_REFUSED, KEY_CARD_REFUSED)? {
                return Ok(());
            }
            segment.index = Index::Key(key);
        }
        match (value_kind, value) {
            (Some(MapValue::Text), Some(value)) => {
                self.text(value, &segment, NUL_REFUSED, CARD_REFUSED)?;
            }
            (Some(MapValue::Message(target)), Some(value)) => {
                self.message(guard, target, value, Some(&segment), depth + 1)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks one string; true when it was refused.
    fn text(
        &mut self,
        value: &[u8],
        segment: &Segment<'_>,
        nul: &str,
        card: &str,
    ) -> Result<bool, Undecodable> {
        let text = std::str::from_utf8(value).map_err(|_| Undecodable)?;
        let has_nul = value.contains(&0);
        let has_card = contains_card_number(text);
        if has_nul {
            self.violations.add(segment.render(), nul);
        }
        if has_card {
            self.violations.add(segment.render(), card);
        }
        Ok(has_nul || has_card)
    }
}

/// The bytes of a length-delimited field; any other wire type is an error, as
/// it is to prost for a string or message field.
fn length_delimited<'a>(wire_type: WireType, buf: &mut &'a [u8]) -> Result<&'a [u8], Undecodable> {
    if wire_type != WireType::LengthDelimited {
        return Err(Undecodable);
    }
    let len = usize::try_from(decode_varint(buf)?).map_err(|_| Undecodable)?;
    if len > buf.len() {
        return Err(Undecodable);
    }
    let (value, rest) = buf.split_at(len);
    *buf = rest;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use oms_proto::{
        common::v1::{Actor, Address, CardToken, LineItem, PaymentMethod, payment_method::Method},
        order::v1::{Customer, PlaceOrderRequest},
        shipping::v1::ShipmentError,
    };
    use prost::Message as _;

    use super::*;

    const PLACE_ORDER: &str = "/oms.order.v1.OrderService/PlaceOrder";
    const CARD: &str = "4111 1111 1111 1111";

    fn guard() -> &'static RequestGuard {
        RequestGuard::contracts().unwrap()
    }

    fn refused(result: Result<(), FieldViolations>) -> Vec<(String, String)> {
        result
            .err()
            .map(|violations| {
                violations
                    .violations()
                    .iter()
                    .map(|v| (v.field.clone(), v.description.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn fields(result: Result<(), FieldViolations>) -> Vec<String> {
        refused(result)
            .into_iter()
            .map(|(field, _)| field)
            .collect()
    }

    fn order() -> PlaceOrderRequest {
        PlaceOrderRequest {
            external_reference: "web-1".into(),
            customer: Some(Customer {
                name: "Ada Lovelace".into(),
                email: "ada@example.com".into(),
                phone: "+8613912345008".into(),
            }),
            shipping_address: Some(Address {
                lines: vec!["Unter den Linden 77".into(), "Hof".into()],
                ..Default::default()
            }),
            lines: vec![
                LineItem {
                    sku: "TEE-M".into(),
                    quantity: 1,
                    unit_price: None,
                },
                LineItem {
                    sku: "5901234123457".into(),
                    quantity: 1,
                    unit_price: None,
                },
            ],
            payment_method: Some(PaymentMethod {
                method: Some(Method::Card(CardToken {
                    token: "tok_visa_4242".into(),
                })),
            }),
            tags: vec!["vip".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_clean_request_passes_and_so_do_phone_numbers_and_gtins() {
        assert_eq!(
            fields(guard().check(PLACE_ORDER, &order().encode_to_vec())),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_refused_string_is_named_by_its_path_at_any_depth() {
        let mut request = order();
        request.external_reference = "web\0".into();
        request.customer.as_mut().unwrap().name = format!("Ada {CARD}");
        request.shipping_address.as_mut().unwrap().lines[1] = "Hof\0".into();
        request.lines[1].sku = "SKU\0".into();
        request.payment_method = Some(PaymentMethod {
            method: Some(Method::Card(CardToken { token: CARD.into() })),
        });
        request.tags = vec!["ok".into(), CARD.into()];
        request.actor = Some(Actor {
            kind: 2,
            id: "\0".into(),
        });
        let refused = refused(guard().check(PLACE_ORDER, &request.encode_to_vec()));
        let expected = [
            ("external_reference", NUL_REFUSED),
            ("customer.name", CARD_REFUSED),
            ("shipping_address.lines[1]", NUL_REFUSED),
            ("lines[1].sku", NUL_REFUSED),
            ("payment_method.card.token", CARD_REFUSED),
            ("tags[1]", CARD_REFUSED),
            ("actor.id", NUL_REFUSED),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(field, description)| ((*field).to_owned(), (*description).to_owned()))
            .collect();
        assert_eq!(refused, expected);
        assert!(refused.iter().all(|(field, _)| !field.contains("4111")));
    }

    #[test]
    fn map_values_are_named_by_key_and_a_refused_key_by_its_map() {
        let error = ShipmentError {
            metadata: BTreeMap::from([
                ("carrier".to_owned(), "dhl\0".to_owned()),
                (CARD.to_owned(), "x".to_owned()),
                ("detail".to_owned(), "fine".to_owned()),
            ]),
            field_paths: vec!["a".into(), CARD.into()],
            ..Default::default()
        };
        let refused =
            refused(guard().check_message("oms.shipping.v1.ShipmentError", &error.encode_to_vec()));
        let fields: Vec<&str> = refused.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(fields, ["metadata", "metadata[carrier]", "field_paths[1]"]);
        assert_eq!(refused[0].1, KEY_CARD_REFUSED);
    }

    #[test]
    fn what_is_not_protobuf_or_not_an_oms_request_is_left_alone() {
        let mut request = order();
        request.external_reference = "web\0".into();
        let mut bytes = request.encode_to_vec();
        assert!(guard().check(PLACE_ORDER, &bytes).is_err());
        // Cut short, the message does not decode: tonic answers for it.
        bytes.truncate(bytes.len() - 3);
        assert!(guard().check(PLACE_ORDER, &bytes).is_ok());
        assert!(guard().check(PLACE_ORDER, &[0xff, 0xff, 0xff]).is_ok());
        // Not UTF-8 in a string field: prost refuses it too.
        let invalid = [0x12, 0x02, 0xc3, 0x28];
        assert!(guard().check(PLACE_ORDER, &invalid).is_ok());
        // Health is no OMS RPC; Money has no RPC of its own.
        let nul = PlaceOrderRequest {
            external_reference: "\0".into(),
            ..Default::default()
        };
        assert!(
            guard()
                .check("/grpc.health.v1.Health/Check", &nul.encode_to_vec())
                .is_ok()
        );
        assert!(guard().request("/grpc.health.v1.Health/Check").is_none());
        assert!(guard().request(PLACE_ORDER).is_some());
    }

    #[test]
    fn unknown_fields_and_other_scalars_are_skipped() {
        // Field 99 (a string the contract does not know) and field 12 (a
        // Timestamp, which holds no string).
        let mut bytes = order().encode_to_vec();
        bytes.extend_from_slice(&[0x9a, 0x06, 0x01, 0x00]);
        bytes.extend_from_slice(&[0x62, 0x02, 0x08, 0x01]);
        assert!(guard().check(PLACE_ORDER, &bytes).is_ok());
    }
}
