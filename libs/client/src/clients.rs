//! One typed client per service, each a thin wrapper of the generated tonic
//! client from `oms-proto`: the same request and response messages, with the
//! [`CallPolicy`] (deadline, retries) applied and, on every mutating call, an
//! [`IdempotencyKey`] sent as `idempotency-key` metadata.
//!
//! Reads take the request; changes take the request and the key. Send the
//! same key again to repeat a change safely (after a timeout, a crash, or a
//! retry by hand): the service answers with the first result. The services
//! that key a change by a natural key in the request (PlaceOrder by channel
//! and external reference, PutLocation by location id, ...) ignore the
//! metadata key, and are just as safe to send again.
//!
//! The generated client stays reachable through each wrapper's `generated()`
//! for anything this layer does not cover.

use oms_platform::{
    client::{self, ClientError, OmsChannel},
    config::{ClientConfig, Service},
};
use oms_proto::{
    inventory::v1 as inventory, order::v1 as order, outbox::v1 as outbox, payment::v1 as payment,
    returns::v1 as returns, routing::v1 as routing, saga::v1 as saga, shipping::v1 as shipping,
};
use tonic::Status;

use crate::call::{CallPolicy, IdempotencyKey, Safety, call};

/// Defines a client struct around a generated client, and one method per RPC:
/// `read` methods take the request, `keyed` ones the request and its key.
macro_rules! service_client {
    (
        $(#[$meta:meta])*
        $name:ident($generated:ty, $what:literal) {
            $( $safety:ident $method:ident($request:ty) -> $response:ty; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        pub struct $name {
            inner: $generated,
            policy: CallPolicy,
        }

        impl $name {
            #[doc = concat!("A client of ", $what, " over `channel`, with the default [`CallPolicy`].")]
            pub fn new(channel: OmsChannel) -> Self {
                $name {
                    inner: <$generated>::new(channel),
                    policy: CallPolicy::default(),
                }
            }

            /// The same client with another deadline and retry policy.
            pub fn with_policy(mut self, policy: CallPolicy) -> Self {
                self.policy = policy;
                self
            }

            /// The deadline and retries this client applies.
            pub fn policy(&self) -> &CallPolicy {
                &self.policy
            }

            /// The generated tonic client underneath, for calls made by hand.
            pub fn generated(&self) -> $generated {
                self.inner.clone()
            }

            $( service_client!(@method $safety $method($request) -> $response); )*
        }
    };
    (@method read $method:ident($request:ty) -> $response:ty) => {
        #[doc = concat!("`", stringify!($method), "`: a read, retried on UNAVAILABLE.")]
        pub async fn $method(&self, request: $request) -> Result<$response, Status> {
            call(&self.policy, Safety::Read, &request, None, |request| {
                let mut inner = self.inner.clone();
                async move { inner.$method(request).await }
            })
            .await
        }
    };
    (@method keyed $method:ident($request:ty) -> $response:ty) => {
        #[doc = concat!(
            "`", stringify!($method), "`: a change sent with `key` as its ",
            "`idempotency-key`, retried on UNAVAILABLE with the same key."
        )]
        pub async fn $method(
            &self,
            request: $request,
            key: &IdempotencyKey,
        ) -> Result<$response, Status> {
            call(&self.policy, Safety::Keyed, &request, Some(key), |request| {
                let mut inner = self.inner.clone();
                async move { inner.$method(request).await }
            })
            .await
        }
    };
}

service_client! {
    /// The order service: intake, the order's life, the dashboard.
    OrderClient(order::order_service_client::OrderServiceClient<OmsChannel>, "the order service") {
        keyed place_order(order::PlaceOrderRequest) -> order::PlaceOrderResponse;
        read get_order(order::GetOrderRequest) -> order::GetOrderResponse;
        read search_orders(order::SearchOrdersRequest) -> order::SearchOrdersResponse;
        read order_stats(order::OrderStatsRequest) -> order::OrderStatsResponse;
        read customer_summary(order::CustomerSummaryRequest) -> order::CustomerSummaryResponse;
        keyed update_shipping_address(order::UpdateShippingAddressRequest) -> order::UpdateShippingAddressResponse;
        keyed cancel_order(order::CancelOrderRequest) -> order::CancelOrderResponse;
        keyed add_note(order::AddNoteRequest) -> order::AddNoteResponse;
        keyed add_tags(order::AddTagsRequest) -> order::AddTagsResponse;
        keyed remove_tag(order::RemoveTagRequest) -> order::RemoveTagResponse;
        keyed mark_status(order::MarkStatusRequest) -> order::MarkStatusResponse;
    }
}

service_client! {
    /// The inventory service: locations, stock, reservations, availability.
    InventoryClient(inventory::inventory_service_client::InventoryServiceClient<OmsChannel>, "the inventory service") {
        keyed put_location(inventory::PutLocationRequest) -> inventory::PutLocationResponse;
        read get_location(inventory::GetLocationRequest) -> inventory::GetLocationResponse;
        read list_locations(inventory::ListLocationsRequest) -> inventory::ListLocationsResponse;
        keyed set_stock(inventory::SetStockRequest) -> inventory::SetStockResponse;
        keyed adjust_stock(inventory::AdjustStockRequest) -> inventory::AdjustStockResponse;
        keyed transfer_stock(inventory::TransferStockRequest) -> inventory::TransferStockResponse;
        read list_stock_movements(inventory::ListStockMovementsRequest) -> inventory::ListStockMovementsResponse;
        read get_availability(inventory::GetAvailabilityRequest) -> inventory::GetAvailabilityResponse;
        keyed put_channel_availability_policy(inventory::PutChannelAvailabilityPolicyRequest) -> inventory::PutChannelAvailabilityPolicyResponse;
        read get_channel_availability_policy(inventory::GetChannelAvailabilityPolicyRequest) -> inventory::GetChannelAvailabilityPolicyResponse;
        read list_channel_availability_policies(inventory::ListChannelAvailabilityPoliciesRequest) -> inventory::ListChannelAvailabilityPoliciesResponse;
        keyed reserve(inventory::ReserveRequest) -> inventory::ReserveResponse;
        keyed release(inventory::ReleaseRequest) -> inventory::ReleaseResponse;
        keyed commit_reservation(inventory::CommitReservationRequest) -> inventory::CommitReservationResponse;
        read get_reservation(inventory::GetReservationRequest) -> inventory::GetReservationResponse;
        read list_reservations(inventory::ListReservationsRequest) -> inventory::ListReservationsResponse;
        keyed restock(inventory::RestockRequest) -> inventory::RestockResponse;
        keyed set_safety_stock(inventory::SetSafetyStockRequest) -> inventory::SetSafetyStockResponse;
        keyed set_stock_threshold(inventory::SetStockThresholdRequest) -> inventory::SetStockThresholdResponse;
        read list_low_stock(inventory::ListLowStockRequest) -> inventory::ListLowStockResponse;
        read get_location_load(inventory::GetLocationLoadRequest) -> inventory::GetLocationLoadResponse;
    }
}

impl InventoryClient {
    /// `watch_availability`: the stream of availability changes. Opening it
    /// is retried on UNAVAILABLE; the stream itself has no deadline and ends
    /// with UNAVAILABLE when the service shuts down: reopen it with
    /// `start_after_sequence` set to the last sequence seen.
    pub async fn watch_availability(
        &self,
        request: inventory::WatchAvailabilityRequest,
    ) -> Result<tonic::Streaming<inventory::WatchAvailabilityResponse>, Status> {
        call(&self.policy, Safety::Read, &request, None, |mut request| {
            // The deadline bounds opening the stream, not its life.
            request.metadata_mut().remove("grpc-timeout");
            let mut inner = self.inner.clone();
            async move { inner.watch_availability(request).await }
        })
        .await
    }
}

service_client! {
    /// The routing service: fulfilment plans and routing policies.
    RoutingClient(routing::routing_service_client::RoutingServiceClient<OmsChannel>, "the routing service") {
        read plan_fulfillment(routing::PlanFulfillmentRequest) -> routing::PlanFulfillmentResponse;
        read get_routing_policy(routing::GetRoutingPolicyRequest) -> routing::GetRoutingPolicyResponse;
        keyed put_routing_policy(routing::PutRoutingPolicyRequest) -> routing::PutRoutingPolicyResponse;
        read list_routing_policies(routing::ListRoutingPoliciesRequest) -> routing::ListRoutingPoliciesResponse;
        keyed put_location_attributes(routing::PutLocationAttributesRequest) -> routing::PutLocationAttributesResponse;
        read get_location_attributes(routing::GetLocationAttributesRequest) -> routing::GetLocationAttributesResponse;
        read list_location_attributes(routing::ListLocationAttributesRequest) -> routing::ListLocationAttributesResponse;
    }
}

service_client! {
    /// The payment service: authorizations, captures, voids, refunds.
    PaymentClient(payment::payment_service_client::PaymentServiceClient<OmsChannel>, "the payment service") {
        keyed authorize(payment::AuthorizeRequest) -> payment::AuthorizeResponse;
        keyed void(payment::VoidRequest) -> payment::VoidResponse;
        keyed capture(payment::CaptureRequest) -> payment::CaptureResponse;
        keyed refund(payment::RefundRequest) -> payment::RefundResponse;
        read get_payment(payment::GetPaymentRequest) -> payment::GetPaymentResponse;
        read list_payments(payment::ListPaymentsRequest) -> payment::ListPaymentsResponse;
        keyed reconcile_payment(payment::ReconcilePaymentRequest) -> payment::ReconcilePaymentResponse;
    }
}

service_client! {
    /// The shipping service: rates, shipments and labels, tracking events.
    ShippingClient(shipping::shipping_service_client::ShippingServiceClient<OmsChannel>, "the shipping service") {
        read quote_rates(shipping::QuoteRatesRequest) -> shipping::QuoteRatesResponse;
        keyed create_shipment(shipping::CreateShipmentRequest) -> shipping::CreateShipmentResponse;
        keyed create_shipments(shipping::CreateShipmentsRequest) -> shipping::CreateShipmentsResponse;
        keyed cancel_shipment(shipping::CancelShipmentRequest) -> shipping::CancelShipmentResponse;
        keyed create_return_label(shipping::CreateReturnLabelRequest) -> shipping::CreateReturnLabelResponse;
        keyed record_tracking_event(shipping::RecordTrackingEventRequest) -> shipping::RecordTrackingEventResponse;
        read get_shipment(shipping::GetShipmentRequest) -> shipping::GetShipmentResponse;
        read list_shipments(shipping::ListShipmentsRequest) -> shipping::ListShipmentsResponse;
    }
}

service_client! {
    /// The returns service: RMAs from request to refund, return policies.
    ReturnsClient(returns::returns_service_client::ReturnsServiceClient<OmsChannel>, "the returns service") {
        keyed request_return(returns::RequestReturnRequest) -> returns::RequestReturnResponse;
        keyed approve_return(returns::ApproveReturnRequest) -> returns::ApproveReturnResponse;
        keyed reject_return(returns::RejectReturnRequest) -> returns::RejectReturnResponse;
        keyed record_return_label(returns::RecordReturnLabelRequest) -> returns::RecordReturnLabelResponse;
        keyed mark_return_in_transit(returns::MarkReturnInTransitRequest) -> returns::MarkReturnInTransitResponse;
        keyed receive_return(returns::ReceiveReturnRequest) -> returns::ReceiveReturnResponse;
        keyed inspect_return(returns::InspectReturnRequest) -> returns::InspectReturnResponse;
        keyed record_refund(returns::RecordRefundRequest) -> returns::RecordRefundResponse;
        keyed record_exchange(returns::RecordExchangeRequest) -> returns::RecordExchangeResponse;
        keyed close_return(returns::CloseReturnRequest) -> returns::CloseReturnResponse;
        read get_return(returns::GetReturnRequest) -> returns::GetReturnResponse;
        read list_returns(returns::ListReturnsRequest) -> returns::ListReturnsResponse;
        read get_return_policy(returns::GetReturnPolicyRequest) -> returns::GetReturnPolicyResponse;
        keyed put_return_policy(returns::PutReturnPolicyRequest) -> returns::PutReturnPolicyResponse;
    }
}

service_client! {
    /// The saga coordinator: the order, cancel and return flows, and the
    /// operator's fixes of stuck ones.
    SagaClient(saga::saga_service_client::SagaServiceClient<OmsChannel>, "the saga coordinator") {
        keyed start_order_saga(saga::StartOrderSagaRequest) -> saga::StartOrderSagaResponse;
        keyed start_cancel_saga(saga::StartCancelSagaRequest) -> saga::StartCancelSagaResponse;
        keyed start_return_saga(saga::StartReturnSagaRequest) -> saga::StartReturnSagaResponse;
        read get_saga(saga::GetSagaRequest) -> saga::GetSagaResponse;
        read list_sagas(saga::ListSagasRequest) -> saga::ListSagasResponse;
        keyed retry_saga(saga::RetrySagaRequest) -> saga::RetrySagaResponse;
        keyed compensate_saga(saga::CompensateSagaRequest) -> saga::CompensateSagaResponse;
    }
}

service_client! {
    /// The outbox of one service that keeps one (order, shipping, returns):
    /// its messages, and re-driving the parked ones.
    OutboxClient(outbox::outbox_service_client::OutboxServiceClient<OmsChannel>, "a service's outbox") {
        read list_outbox_messages(outbox::ListOutboxMessagesRequest) -> outbox::ListOutboxMessagesResponse;
        keyed redrive_outbox_messages(outbox::RedriveOutboxMessagesRequest) -> outbox::RedriveOutboxMessagesResponse;
    }
}

/// The services that keep an outbox and serve `oms.outbox.v1.OutboxService`.
pub const OUTBOX_SERVICES: [Service; 3] = [Service::Order, Service::Shipping, Service::Returns];

/// A service that serves no outbox was asked for its outbox.
#[derive(Debug, thiserror::Error)]
#[error("the {0} service keeps no outbox; the services with one are order, shipping and returns")]
pub struct NoOutbox(pub Service);

/// A client of every service of the suite, each at its configured address
/// (`OMS_<SERVICE>_ADDR`). Channels connect lazily: building this succeeds
/// while services are down, and their calls fail with UNAVAILABLE.
#[derive(Clone, Debug)]
pub struct Oms {
    /// The order service.
    pub order: OrderClient,
    /// The inventory service.
    pub inventory: InventoryClient,
    /// The routing service.
    pub routing: RoutingClient,
    /// The payment service.
    pub payment: PaymentClient,
    /// The shipping service.
    pub shipping: ShippingClient,
    /// The returns service.
    pub returns: ReturnsClient,
    /// The saga coordinator.
    pub saga: SagaClient,
    config: ClientConfig,
    policy: CallPolicy,
}

impl Oms {
    /// Clients of every service at the addresses in `config`, each call with
    /// `policy`.
    pub fn connect(config: &ClientConfig, policy: CallPolicy) -> Result<Oms, ClientError> {
        let channel = |service| client::peer_channel(service, config);
        Ok(Oms {
            order: OrderClient::new(channel(Service::Order)?).with_policy(policy),
            inventory: InventoryClient::new(channel(Service::Inventory)?).with_policy(policy),
            routing: RoutingClient::new(channel(Service::Routing)?).with_policy(policy),
            payment: PaymentClient::new(channel(Service::Payment)?).with_policy(policy),
            shipping: ShippingClient::new(channel(Service::Shipping)?).with_policy(policy),
            returns: ReturnsClient::new(channel(Service::Returns)?).with_policy(policy),
            saga: SagaClient::new(channel(Service::Saga)?).with_policy(policy),
            config: config.clone(),
            policy,
        })
    }

    /// The outbox of `service` (order, shipping or returns).
    pub fn outbox(&self, service: Service) -> Result<OutboxClient, OutboxError> {
        if !OUTBOX_SERVICES.contains(&service) {
            return Err(OutboxError::NoOutbox(NoOutbox(service)));
        }
        let channel = client::peer_channel(service, &self.config)?;
        Ok(OutboxClient::new(channel).with_policy(self.policy))
    }

    /// The addresses these clients call.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }
}

/// Why [`Oms::outbox`] has no client to give.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The service keeps no outbox.
    #[error(transparent)]
    NoOutbox(#[from] NoOutbox),
    /// Its address is not usable.
    #[error(transparent)]
    Address(#[from] ClientError),
}
