//! What a step's code works with: the saga's ids and working data, clients of
//! every service, the step's idempotency key and deadline, and the rule that
//! turns a refused call into an [`Outcome`].

use std::time::Duration;

use chrono::Utc;
use oms_platform::{client::OmsChannel, error::code_name, idempotency};
use oms_proto::{
    common::v1::{Actor, ActorKind},
    inventory::v1::inventory_service_client::InventoryServiceClient,
    order::v1::{Order, order_service_client::OrderServiceClient},
    payment::v1::payment_service_client::PaymentServiceClient,
    returns::v1::returns_service_client::ReturnsServiceClient,
    routing::v1::routing_service_client::RoutingServiceClient,
    shipping::v1::{Parcel, shipping_service_client::ShippingServiceClient},
};
use serde::{Serialize, de::DeserializeOwned};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;
use uuid::Uuid;

use crate::domain::step::{Outcome, StepDef, StepError};

/// Clients of every service a flow calls. Cheap to clone.
#[derive(Clone)]
pub struct Peers {
    /// oms.order.v1.OrderService.
    pub order: OrderServiceClient<OmsChannel>,
    /// oms.routing.v1.RoutingService.
    pub routing: RoutingServiceClient<OmsChannel>,
    /// oms.inventory.v1.InventoryService.
    pub inventory: InventoryServiceClient<OmsChannel>,
    /// oms.payment.v1.PaymentService.
    pub payment: PaymentServiceClient<OmsChannel>,
    /// oms.shipping.v1.ShippingService.
    pub shipping: ShippingServiceClient<OmsChannel>,
    /// oms.returns.v1.ReturnsService.
    pub returns: ReturnsServiceClient<OmsChannel>,
}

/// What the flows are configured with.
#[derive(Clone, Debug)]
pub struct FlowSettings {
    /// The one parcel of every shipment and return label (v1 keeps no product
    /// dimensions).
    pub parcel: Parcel,
    /// How long Reserve holds stock: longer than an order saga takes, even one
    /// that waits for a provider to come back.
    pub reservation_ttl: Duration,
    /// How long after approval a return's goods may take to be sent.
    pub return_send_within: Duration,
    /// How long after approval a return's parcel may take to arrive.
    pub return_transit_within: Duration,
    /// How often a return saga looks at its return while it waits.
    pub return_poll: Duration,
}

/// What one run of a saga keeps in memory only, never in its record: the order
/// as read (it holds personal data), so that steps of one run do not read it
/// again. A saga taken over after a crash reads it anew.
#[derive(Default)]
pub struct RunCache {
    /// The order, read with its payment method when `with_payment_method`.
    pub order: Option<(Order, bool)>,
}

/// One attempt of one step.
pub struct StepContext<'a> {
    /// The saga.
    pub saga_id: Uuid,
    /// Its order.
    pub order_id: &'a str,
    /// Its return (RETURN sagas).
    pub return_id: &'a str,
    /// The cancel's reason (CANCEL sagas).
    pub cancel_reason: &'a str,
    /// The order's cancellation (CANCEL sagas): 0 for the whole order.
    pub cancellation: i32,
    /// The step.
    pub step: &'a StepDef,
    /// The compensation (else the forward call).
    pub compensating: bool,
    /// This attempt's number in its direction, from 1.
    pub attempt: i32,
    /// Why the saga compensates, when it does.
    pub failure: Option<&'a StepError>,
    /// An operator asked for the compensation.
    pub operator_compensation: bool,
    /// The flow's working data, as stored.
    pub data: &'a mut serde_json::Value,
    /// This run's memory.
    pub cache: &'a mut RunCache,
    /// The services.
    pub peers: &'a Peers,
    /// The flows' settings.
    pub settings: &'a FlowSettings,
    /// The sagas table, for steps inside the coordinator (a cancel settling
    /// the order's fulfilment saga).
    pub sagas: &'a crate::store::Store,
}

impl StepContext<'_> {
    /// The idempotency key of this step's call in this direction:
    /// "<saga_id>:<step>:forward" or "<saga_id>:<step>:compensation", the same
    /// for every attempt, after a crash and after an operator's retry.
    pub fn key(&self) -> String {
        step_key(self.saga_id, self.step.name, self.compensating)
    }

    /// The key of this step's forward call (a compensation that names what it
    /// undoes by it, e.g. Void by authorization key).
    pub fn forward_key(&self) -> String {
        step_key(self.saga_id, self.step.name, false)
    }

    /// The saga as the actor of its calls.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: ActorKind::Saga as i32,
            id: self.saga_id.to_string(),
        }
    }

    /// `message` as a request of this attempt: its deadline and, for calls
    /// that take one, the step's idempotency key.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.step.retry.attempt_timeout);
        if let Ok(key) = self.key().parse() {
            request
                .metadata_mut()
                .insert(idempotency::METADATA_KEY, key);
        }
        request
    }

    /// [`Self::request`] with the key of one `part` of the step, for a step
    /// that makes several calls of one RPC ("<step key>:<part>").
    pub fn request_part<T>(&self, message: T, part: &str) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.step.retry.attempt_timeout);
        if let Ok(key) = format!("{}:{part}", self.key()).parse() {
            request
                .metadata_mut()
                .insert(idempotency::METADATA_KEY, key);
        }
        request
    }

    /// The flow's working data as its type (the default before the first
    /// step wrote it).
    pub fn load<T: DeserializeOwned + Default>(&self) -> T {
        if self.data.is_null() {
            return T::default();
        }
        serde_json::from_value(self.data.clone()).unwrap_or_default()
    }

    /// Keeps the flow's working data; it is written with the step's outcome.
    pub fn save<T: Serialize>(&mut self, data: &T) {
        if let Ok(value) = serde_json::to_value(data) {
            *self.data = value;
        }
    }

    /// A refused or failed call as this step's error.
    pub fn error(&self, status: &Status) -> StepError {
        let details = status.get_error_details();
        let (reason, metadata) = details
            .error_info()
            .map(|info| {
                (
                    info.reason.clone(),
                    info.metadata
                        .iter()
                        .map(|(key, value)| (key.clone(), value.clone()))
                        .collect(),
                )
            })
            .unwrap_or_default();
        StepError {
            step: self.step.name.to_owned(),
            compensation: self.compensating,
            code: code_name(status.code()).to_owned(),
            reason,
            message: status.message().chars().take(500).collect(),
            metadata,
            attempt: self.attempt,
            event_time: Utc::now(),
        }
    }

    /// An error the flow itself raises (e.g. a plan that cannot be fulfilled),
    /// with a contract reason and its metadata.
    pub fn refusal(&self, reason: &str, message: &str, metadata: &[(&str, &str)]) -> StepError {
        StepError {
            step: self.step.name.to_owned(),
            compensation: self.compensating,
            code: "FAILED_PRECONDITION".into(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            metadata: metadata
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            attempt: self.attempt,
            event_time: Utc::now(),
        }
    }

    /// What a failed call means for the step, by the contracts' rule:
    /// UNAVAILABLE and DEADLINE_EXCEEDED may pass and are retried; any other
    /// code is a refusal.
    pub fn failed(&self, status: &Status) -> Outcome {
        let error = self.error(status);
        if is_transient(status.code()) {
            Outcome::Transient(error)
        } else {
            Outcome::Refused(error)
        }
    }
}

/// "<saga_id>:<step>:forward|compensation".
pub fn step_key(saga_id: Uuid, step: &str, compensation: bool) -> String {
    let direction = if compensation {
        "compensation"
    } else {
        "forward"
    };
    format!("{saga_id}:{step}:{direction}")
}

/// UNAVAILABLE and DEADLINE_EXCEEDED: the callee or the network was down or
/// too slow, and the same call with the same key may pass later.
pub fn is_transient(code: Code) -> bool {
    matches!(code, Code::Unavailable | Code::DeadlineExceeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_keys_fit_every_contract_key_limit() {
        let saga_id = Uuid::now_v7();
        let key = step_key(saga_id, "create_shipments", true);
        assert_eq!(key, format!("{saga_id}:create_shipments:compensation"));
        assert!(key.len() <= 128);
        assert!(idempotency::IdempotencyKey::parse(key).is_ok());
    }

    #[test]
    fn only_a_callee_down_or_too_slow_is_retried() {
        assert!(is_transient(Code::Unavailable));
        assert!(is_transient(Code::DeadlineExceeded));
        for code in [
            Code::FailedPrecondition,
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::ResourceExhausted,
            Code::Internal,
        ] {
            assert!(!is_transient(code), "{code:?}");
        }
    }
}
