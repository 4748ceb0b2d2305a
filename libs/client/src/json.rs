//! The contracts' messages as JSON, by the protobuf JSON mapping (field names
//! in lowerCamelCase, enums by name, timestamps in RFC 3339), read from the
//! same descriptors the services serve by reflection: what `omsctl --json`
//! prints and what `omsctl orders place --from-json` reads.

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, SerializeOptions};

/// A message that could not be turned into JSON or read from it.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The descriptors do not know the message (a build out of step).
    #[error("no descriptor for message {0}")]
    UnknownMessage(String),
    /// The text is not JSON of that message.
    #[error("not a valid {message}: {reason}")]
    Invalid {
        /// The message's full name.
        message: String,
        /// What was wrong.
        reason: String,
    },
}

static POOL: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(oms_proto::FILE_DESCRIPTOR_SET).ok());

fn descriptor<M: prost::Name>() -> Result<prost_reflect::MessageDescriptor, JsonError> {
    let name = M::full_name();
    POOL.as_ref()
        .and_then(|pool| pool.get_message_by_name(&name))
        .ok_or(JsonError::UnknownMessage(name))
}

/// `message` as JSON, every field included (defaults too, so scripts find
/// each field), 64-bit integers as numbers.
pub fn to_json<M: prost::Message + prost::Name>(
    message: &M,
) -> Result<serde_json::Value, JsonError> {
    let invalid = |reason: String| JsonError::Invalid {
        message: M::full_name(),
        reason,
    };
    let dynamic = DynamicMessage::decode(descriptor::<M>()?, message.encode_to_vec().as_slice())
        .map_err(|err| invalid(err.to_string()))?;
    let options = SerializeOptions::new()
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|err| invalid(err.to_string()))
}

/// A message from its JSON form; unknown fields are refused, so a typo is
/// not silently dropped.
pub fn from_json<M: prost::Message + prost::Name + Default>(text: &str) -> Result<M, JsonError> {
    let invalid = |reason: String| JsonError::Invalid {
        message: M::full_name(),
        reason,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    let dynamic =
        DynamicMessage::deserialize_with_options(descriptor::<M>()?, &mut deserializer, &options)
            .map_err(|err| invalid(err.to_string()))?;
    deserializer.end().map_err(|err| invalid(err.to_string()))?;
    dynamic
        .transcode_to::<M>()
        .map_err(|err| invalid(err.to_string()))
}

#[cfg(test)]
mod tests {
    use oms_proto::{
        common::v1::{Channel, ChannelKind, LineItem, Money},
        order::v1::PlaceOrderRequest,
    };

    use super::*;

    #[test]
    fn a_message_goes_to_json_and_back() {
        let request = PlaceOrderRequest {
            channel: Some(Channel {
                kind: ChannelKind::Marketplace as i32,
                name: "amazon-de".into(),
            }),
            external_reference: "AMZ-1".into(),
            lines: vec![LineItem {
                sku: "TEE-M".into(),
                quantity: 2,
                unit_price: Some(Money {
                    currency_code: "EUR".into(),
                    amount_minor: 1999,
                }),
            }],
            ..Default::default()
        };
        let json = to_json(&request).unwrap();
        assert_eq!(json["channel"]["kind"], "CHANNEL_KIND_MARKETPLACE");
        assert_eq!(json["lines"][0]["unitPrice"]["amountMinor"], 1999);
        assert_eq!(json["externalReference"], "AMZ-1");
        let back: PlaceOrderRequest = from_json(&json.to_string()).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let err = from_json::<PlaceOrderRequest>(r#"{"externalRef": "x"}"#).unwrap_err();
        assert!(err.to_string().contains("externalRef"), "{err}");
    }
}
