//! Who may call what: the suite's one access table, and the server layer that
//! enforces it under mutual TLS.
//!
//! A caller is a [`Principal`]: one of the suite's services, or a client
//! outside it (an operator's tool, a sales channel, a carrier's webhook
//! adapter). Its certificate names it with a URI SAN, `spiffe://oms/<name>`
//! (e.g. `spiffe://oms/saga`); the certificate's DNS and IP SANs say where a
//! service is reached, never who calls.
//!
//! [`ACCESS`] lists, for every RPC of the contracts, the principals that may
//! call it, derived from what the services really call (the saga's flows, the
//! outboxes, routing's and returns' reads). `proto/README.md` shows the same
//! table for readers of the contracts; a test checks that every RPC has an
//! entry. Calls from outside the suite (the public and the operator RPCs) are
//! open to the `operator` and `channel` certificates until bearer tokens
//! narrow them per subject and role.
//!
//! [`AccessLayer`] checks each `oms.` call: no certificate, or one that names
//! no principal, is UNAUTHENTICATED; a principal the table does not list for
//! the RPC is PERMISSION_DENIED, naming the caller and the RPC. Health and
//! reflection stay open to any caller, so probes and tools need no
//! certificate.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use tonic::{
    Status,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};
use tower::{Layer, Service};

use crate::config::Service as OmsService;

/// The URI SAN prefix of an OMS identity: `spiffe://oms/<principal>`.
pub const IDENTITY_PREFIX: &str = "spiffe://oms/";

/// Who calls: a service of the suite, or a client from outside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// One of the suite's services, by its own certificate.
    Service(OmsService),
    /// An operator's tool (omsctl, the dashboard's backend).
    Operator,
    /// A sales channel's connector placing and reading orders.
    Channel,
    /// A carrier's webhook adapter reporting tracking events.
    Carrier,
}

use Principal::{Carrier, Channel, Operator};

const ORDER: Principal = Principal::Service(OmsService::Order);
const ROUTING: Principal = Principal::Service(OmsService::Routing);
const SHIPPING: Principal = Principal::Service(OmsService::Shipping);
const RETURNS: Principal = Principal::Service(OmsService::Returns);
const SAGA: Principal = Principal::Service(OmsService::Saga);

impl Principal {
    /// Every principal a certificate can name.
    pub fn all() -> impl Iterator<Item = Principal> {
        OmsService::ALL
            .into_iter()
            .map(Principal::Service)
            .chain([Operator, Channel, Carrier])
    }

    /// Its name in certificates and errors: a service's name, `operator`,
    /// `channel` or `carrier`.
    pub fn name(self) -> &'static str {
        match self {
            Principal::Service(service) => service.name(),
            Operator => "operator",
            Channel => "channel",
            Carrier => "carrier",
        }
    }

    /// The principal named `name`, if any.
    pub fn from_name(name: &str) -> Option<Principal> {
        Principal::all().find(|principal| principal.name() == name)
    }

    /// The URI SAN that names it in a certificate, e.g. `spiffe://oms/saga`.
    pub fn uri(self) -> String {
        format!("{IDENTITY_PREFIX}{}", self.name())
    }

    /// The principal a DER certificate names by its `spiffe://oms/` URI SAN;
    /// `None` for a certificate that cannot be read or names none (or two).
    pub fn from_certificate(der: &[u8]) -> Option<Principal> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
        let names = certificate.subject_alternative_name().ok()??;
        let mut principals = names
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                x509_parser::extensions::GeneralName::URI(uri) => {
                    uri.strip_prefix(IDENTITY_PREFIX).map(Principal::from_name)
                }
                _ => None,
            });
        match (principals.next(), principals.next()) {
            (Some(principal), None) => principal,
            _ => None,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One row of the access table: an RPC and who may call it.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The gRPC service's full name, e.g. `oms.payment.v1.PaymentService`.
    pub service: &'static str,
    /// The RPC's name, e.g. `Capture`.
    pub method: &'static str,
    /// The principals that may call it.
    pub callers: &'static [Principal],
}

const fn rule(service: &'static str, method: &'static str, callers: &'static [Principal]) -> Rule {
    Rule {
        service,
        method,
        callers,
    }
}

/// Calls from outside the suite: public reads and writes, and operator
/// actions. Bearer tokens will say which channel or operator role may make
/// each one.
const PUBLIC: &[Principal] = &[Operator, Channel];

const INVENTORY_SERVICE: &str = "oms.inventory.v1.InventoryService";
const ORDER_SERVICE: &str = "oms.order.v1.OrderService";
const OUTBOX_SERVICE: &str = "oms.outbox.v1.OutboxService";
const PAYMENT_SERVICE: &str = "oms.payment.v1.PaymentService";
const RETURNS_SERVICE: &str = "oms.returns.v1.ReturnsService";
const ROUTING_SERVICE: &str = "oms.routing.v1.RoutingService";
const SAGA_SERVICE: &str = "oms.saga.v1.SagaService";
const SHIPPING_SERVICE: &str = "oms.shipping.v1.ShippingService";

/// Who may call each RPC of the contracts. An RPC that is not listed is
/// refused to everyone.
pub const ACCESS: &[Rule] = &[
    // inventory: stock is set by operators and channels; holds are the
    // saga's; routing, shipping and returns read locations (routing also
    // availability and load).
    rule(INVENTORY_SERVICE, "PutLocation", PUBLIC),
    rule(
        INVENTORY_SERVICE,
        "GetLocation",
        &[Operator, Channel, ROUTING, SHIPPING, RETURNS],
    ),
    rule(
        INVENTORY_SERVICE,
        "ListLocations",
        &[Operator, Channel, ROUTING],
    ),
    rule(INVENTORY_SERVICE, "SetStock", PUBLIC),
    rule(INVENTORY_SERVICE, "AdjustStock", PUBLIC),
    rule(INVENTORY_SERVICE, "TransferStock", PUBLIC),
    rule(INVENTORY_SERVICE, "ListStockMovements", PUBLIC),
    rule(
        INVENTORY_SERVICE,
        "GetAvailability",
        &[Operator, Channel, ROUTING],
    ),
    rule(INVENTORY_SERVICE, "PutChannelAvailabilityPolicy", PUBLIC),
    rule(INVENTORY_SERVICE, "GetChannelAvailabilityPolicy", PUBLIC),
    rule(INVENTORY_SERVICE, "ListChannelAvailabilityPolicies", PUBLIC),
    rule(INVENTORY_SERVICE, "Reserve", &[SAGA]),
    rule(INVENTORY_SERVICE, "Release", &[SAGA]),
    rule(INVENTORY_SERVICE, "CommitReservation", &[SAGA]),
    rule(
        INVENTORY_SERVICE,
        "GetReservation",
        &[Operator, Channel, SAGA],
    ),
    rule(INVENTORY_SERVICE, "ListReservations", PUBLIC),
    rule(INVENTORY_SERVICE, "Restock", &[SAGA]),
    rule(INVENTORY_SERVICE, "SetSafetyStock", PUBLIC),
    rule(INVENTORY_SERVICE, "SetStockThreshold", PUBLIC),
    rule(INVENTORY_SERVICE, "ListLowStock", PUBLIC),
    rule(INVENTORY_SERVICE, "WatchAvailability", PUBLIC),
    rule(INVENTORY_SERVICE, "GetLocationLoad", &[Operator, ROUTING]),
    // order: the saga reads orders, places exchanges and records every
    // fulfilment fact; shipping records shipments leaving and arriving;
    // operators mark pickup orders ready and collected; returns reads orders.
    rule(ORDER_SERVICE, "PlaceOrder", &[Operator, Channel, SAGA]),
    rule(
        ORDER_SERVICE,
        "GetOrder",
        &[Operator, Channel, SAGA, RETURNS],
    ),
    rule(ORDER_SERVICE, "SearchOrders", PUBLIC),
    rule(ORDER_SERVICE, "OrderStats", PUBLIC),
    rule(ORDER_SERVICE, "CustomerSummary", PUBLIC),
    rule(ORDER_SERVICE, "UpdateShippingAddress", PUBLIC),
    rule(ORDER_SERVICE, "CancelOrder", PUBLIC),
    rule(ORDER_SERVICE, "AddNote", PUBLIC),
    rule(ORDER_SERVICE, "AddTags", PUBLIC),
    rule(ORDER_SERVICE, "RemoveTag", PUBLIC),
    rule(ORDER_SERVICE, "MarkStatus", &[SAGA, SHIPPING, Operator]),
    // outbox: operators' view of undelivered messages, on every service
    // with an outbox.
    rule(OUTBOX_SERVICE, "ListOutboxMessages", PUBLIC),
    rule(OUTBOX_SERVICE, "RedriveOutboxMessages", PUBLIC),
    // payment: money moves only by the saga's steps.
    rule(PAYMENT_SERVICE, "Authorize", &[SAGA]),
    rule(PAYMENT_SERVICE, "Void", &[SAGA]),
    rule(PAYMENT_SERVICE, "Capture", &[SAGA]),
    rule(PAYMENT_SERVICE, "Refund", &[SAGA]),
    rule(PAYMENT_SERVICE, "GetPayment", &[Operator, Channel, SAGA]),
    rule(PAYMENT_SERVICE, "ListPayments", PUBLIC),
    rule(PAYMENT_SERVICE, "ReconcilePayment", PUBLIC),
    // returns: customers' requests and the warehouse's steps from outside;
    // the label, refund and exchange from the return saga; in transit from
    // shipping's outbox.
    rule(RETURNS_SERVICE, "RequestReturn", PUBLIC),
    rule(RETURNS_SERVICE, "ApproveReturn", PUBLIC),
    rule(RETURNS_SERVICE, "RejectReturn", PUBLIC),
    rule(RETURNS_SERVICE, "RecordReturnLabel", &[SAGA]),
    rule(RETURNS_SERVICE, "MarkReturnInTransit", &[SHIPPING]),
    rule(RETURNS_SERVICE, "ReceiveReturn", PUBLIC),
    rule(RETURNS_SERVICE, "InspectReturn", PUBLIC),
    rule(RETURNS_SERVICE, "RecordRefund", &[SAGA]),
    rule(RETURNS_SERVICE, "RecordExchange", &[SAGA]),
    rule(RETURNS_SERVICE, "CloseReturn", &[Operator, Channel, SAGA]),
    rule(RETURNS_SERVICE, "GetReturn", &[Operator, Channel, SAGA]),
    rule(RETURNS_SERVICE, "ListReturns", PUBLIC),
    rule(RETURNS_SERVICE, "GetReturnPolicy", PUBLIC),
    rule(RETURNS_SERVICE, "PutReturnPolicy", PUBLIC),
    // routing: the saga plans; operators preview plans and edit policies.
    rule(
        ROUTING_SERVICE,
        "PlanFulfillment",
        &[Operator, Channel, SAGA],
    ),
    rule(ROUTING_SERVICE, "GetRoutingPolicy", PUBLIC),
    rule(ROUTING_SERVICE, "PutRoutingPolicy", PUBLIC),
    rule(ROUTING_SERVICE, "ListRoutingPolicies", PUBLIC),
    rule(ROUTING_SERVICE, "PutLocationAttributes", PUBLIC),
    rule(ROUTING_SERVICE, "GetLocationAttributes", PUBLIC),
    rule(ROUTING_SERVICE, "ListLocationAttributes", PUBLIC),
    // saga: sagas start from the order and returns outboxes; operators read,
    // retry and compensate them.
    rule(SAGA_SERVICE, "StartOrderSaga", &[ORDER]),
    rule(SAGA_SERVICE, "StartCancelSaga", &[ORDER]),
    rule(SAGA_SERVICE, "StartReturnSaga", &[RETURNS]),
    rule(SAGA_SERVICE, "GetSaga", PUBLIC),
    rule(SAGA_SERVICE, "ListSagas", PUBLIC),
    rule(SAGA_SERVICE, "RetrySaga", PUBLIC),
    rule(SAGA_SERVICE, "CompensateSaga", PUBLIC),
    // shipping: shipments and labels are the saga's steps; carriers report
    // tracking events.
    rule(SHIPPING_SERVICE, "QuoteRates", PUBLIC),
    rule(SHIPPING_SERVICE, "CreateShipment", &[SAGA]),
    rule(SHIPPING_SERVICE, "CreateShipments", &[SAGA]),
    rule(SHIPPING_SERVICE, "CancelShipment", &[SAGA]),
    rule(SHIPPING_SERVICE, "CreateReturnLabel", &[SAGA]),
    rule(
        SHIPPING_SERVICE,
        "RecordTrackingEvent",
        &[Carrier, Operator],
    ),
    rule(SHIPPING_SERVICE, "GetShipment", PUBLIC),
    rule(SHIPPING_SERVICE, "ListShipments", PUBLIC),
];

/// The principals that may call the RPC at `path` (`/<service>/<method>`);
/// `None` for a path the table does not list.
pub fn callers(path: &str) -> Option<&'static [Principal]> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    ACCESS
        .iter()
        .find(|rule| rule.service == service && rule.method == method)
        .map(|rule| rule.callers)
}

/// Whether `caller` may call the RPC at `path`; an RPC the table does not
/// list is refused.
pub fn allows(caller: Principal, path: &str) -> bool {
    callers(path).is_some_and(|callers| callers.contains(&caller))
}

/// The check of a call: `Ok` to serve it, or the status that refuses it.
fn check(path: &str, peer_certificate: Option<&[u8]>) -> Result<(), Status> {
    // Health and reflection, which probes and tools call without a certificate.
    if !path.starts_with("/oms.") {
        return Ok(());
    }
    let rpc = path.trim_start_matches('/');
    let Some(der) = peer_certificate else {
        return Err(Status::unauthenticated(format!(
            "{rpc} requires a client certificate"
        )));
    };
    let Some(caller) = Principal::from_certificate(der) else {
        return Err(Status::unauthenticated(
            "the client certificate names no OMS identity",
        ));
    };
    if allows(caller, path) {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "{caller} may not call {rpc}"
        )))
    }
}

/// The server layer that enforces [`ACCESS`] when the server runs mutual TLS;
/// in plaintext it lets every call through.
#[derive(Clone, Copy, Debug)]
pub struct AccessLayer {
    enforce: bool,
}

impl AccessLayer {
    /// A layer that checks callers when `enforce` (the server runs mutual
    /// TLS), and none otherwise.
    pub fn new(enforce: bool) -> AccessLayer {
        AccessLayer { enforce }
    }
}

impl<S> Layer<S> for AccessLayer {
    type Service = Access<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Access {
            inner,
            enforce: self.enforce,
        }
    }
}

/// The service [`AccessLayer`] wraps around the routes.
#[derive(Clone, Debug)]
pub struct Access<S> {
    inner: S,
    enforce: bool,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Access<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        if self.enforce {
            let certificates = request
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(TlsConnectInfo::peer_certs);
            let leaf = certificates
                .as_deref()
                .and_then(|chain| chain.first())
                .map(|der| der.as_ref());
            if let Err(status) = check(request.uri().path(), leaf) {
                return Box::pin(std::future::ready(Ok(status.into_http())));
            }
        }
        Box::pin(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use prost::Message as _;
    use prost_types::FileDescriptorSet;
    use rcgen::{CertificateParams, KeyPair, SanType};
    use tonic::Code;

    use super::*;

    /// Every RPC of the contracts, as `/<service>/<method>`.
    fn contract_rpcs() -> BTreeSet<String> {
        let set = FileDescriptorSet::decode(oms_proto::FILE_DESCRIPTOR_SET)
            .expect("the contracts' descriptors decode");
        let mut rpcs = BTreeSet::new();
        for file in set.file {
            let package = file.package();
            if !package.starts_with("oms.") {
                continue;
            }
            for service in &file.service {
                for method in &service.method {
                    rpcs.insert(format!("/{package}.{}/{}", service.name(), method.name()));
                }
            }
        }
        rpcs
    }

    fn certificate(uris: &[&str]) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("valid certificate parameters");
        for uri in uris {
            params
                .subject_alt_names
                .push(SanType::URI((*uri).try_into().expect("a valid URI")));
        }
        let key = KeyPair::generate().expect("a key pair");
        params
            .self_signed(&key)
            .expect("a self-signed certificate")
            .der()
            .to_vec()
    }

    #[test]
    fn every_rpc_of_the_contracts_has_exactly_one_entry_and_every_entry_is_an_rpc() {
        let contracts = contract_rpcs();
        assert!(contracts.len() > 50, "{contracts:?}");
        let listed: Vec<String> = ACCESS
            .iter()
            .map(|rule| format!("/{}/{}", rule.service, rule.method))
            .collect();
        let unique: BTreeSet<String> = listed.iter().cloned().collect();
        assert_eq!(unique.len(), listed.len(), "an RPC is listed twice");
        assert_eq!(unique, contracts);
        for rule in ACCESS {
            assert!(!rule.callers.is_empty(), "{}/{}", rule.service, rule.method);
        }
    }

    #[test]
    fn the_table_beside_the_contracts_is_this_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto/README.md");
        let readme = std::fs::read_to_string(path).expect("proto/README.md");
        let documented: Vec<(String, Vec<String>)> = readme
            .lines()
            .filter(|line| line.starts_with("| `oms."))
            .map(|row| {
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                let callers = cells[2]
                    .split(',')
                    .map(|name| name.trim().trim_matches('`').to_owned())
                    .collect();
                (cells[1].trim_matches('`').to_owned(), callers)
            })
            .collect();
        let table: Vec<(String, Vec<String>)> = ACCESS
            .iter()
            .map(|rule| {
                (
                    format!("{}/{}", rule.service, rule.method),
                    rule.callers
                        .iter()
                        .map(|caller| caller.name().to_owned())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(documented, table);
    }

    #[test]
    fn money_and_stock_holds_move_only_by_the_saga() {
        for rpc in [
            "/oms.payment.v1.PaymentService/Authorize",
            "/oms.payment.v1.PaymentService/Void",
            "/oms.payment.v1.PaymentService/Capture",
            "/oms.payment.v1.PaymentService/Refund",
            "/oms.inventory.v1.InventoryService/Reserve",
            "/oms.inventory.v1.InventoryService/Release",
            "/oms.inventory.v1.InventoryService/CommitReservation",
            "/oms.inventory.v1.InventoryService/Restock",
        ] {
            assert_eq!(callers(rpc), Some(&[SAGA][..]), "{rpc}");
        }
    }

    #[test]
    fn the_peer_calls_the_services_make_are_allowed() {
        for (caller, rpc) in [
            (SAGA, "/oms.order.v1.OrderService/MarkStatus"),
            (SHIPPING, "/oms.order.v1.OrderService/MarkStatus"),
            (
                SHIPPING,
                "/oms.returns.v1.ReturnsService/MarkReturnInTransit",
            ),
            (SHIPPING, "/oms.inventory.v1.InventoryService/GetLocation"),
            (
                ROUTING,
                "/oms.inventory.v1.InventoryService/GetAvailability",
            ),
            (
                ROUTING,
                "/oms.inventory.v1.InventoryService/GetLocationLoad",
            ),
            (RETURNS, "/oms.order.v1.OrderService/GetOrder"),
            (RETURNS, "/oms.saga.v1.SagaService/StartReturnSaga"),
            (ORDER, "/oms.saga.v1.SagaService/StartOrderSaga"),
            (ORDER, "/oms.saga.v1.SagaService/StartCancelSaga"),
            (SAGA, "/oms.routing.v1.RoutingService/PlanFulfillment"),
            (SAGA, "/oms.shipping.v1.ShippingService/CreateShipment"),
        ] {
            assert!(allows(caller, rpc), "{caller} {rpc}");
        }
    }

    #[test]
    fn only_the_saga_records_a_refund_and_only_shipping_marks_a_return_in_transit() {
        for caller in Principal::all().filter(|caller| *caller != SAGA) {
            assert!(!allows(
                caller,
                "/oms.returns.v1.ReturnsService/RecordRefund"
            ));
        }
        for caller in Principal::all().filter(|caller| *caller != SHIPPING) {
            assert!(!allows(
                caller,
                "/oms.returns.v1.ReturnsService/MarkReturnInTransit"
            ));
        }
        assert!(!allows(
            Principal::Service(OmsService::Inventory),
            "/oms.order.v1.OrderService/MarkStatus"
        ));
    }

    #[test]
    fn an_rpc_not_in_the_table_is_refused_to_everyone() {
        for caller in Principal::all() {
            assert!(!allows(caller, "/oms.order.v1.OrderService/DropAllOrders"));
            assert!(!allows(caller, "not a path"));
        }
    }

    #[test]
    fn a_principal_is_named_by_its_spiffe_uri() {
        for principal in Principal::all() {
            assert_eq!(Principal::from_name(principal.name()), Some(principal));
            let der = certificate(&[&principal.uri()]);
            assert_eq!(Principal::from_certificate(&der), Some(principal));
        }
        assert_eq!(Principal::from_certificate(&certificate(&[])), None);
        assert_eq!(
            Principal::from_certificate(&certificate(&["spiffe://oms/stranger"])),
            None
        );
        assert_eq!(
            Principal::from_certificate(&certificate(&["spiffe://other/saga"])),
            None
        );
        let both = certificate(&["spiffe://oms/saga", "spiffe://oms/operator"]);
        assert_eq!(Principal::from_certificate(&both), None);
        assert_eq!(Principal::from_certificate(b"not a certificate"), None);
    }

    #[test]
    fn refusals_name_the_caller_and_the_rpc_and_nothing_else() {
        let capture = "/oms.payment.v1.PaymentService/Capture";
        let missing = check(capture, None).unwrap_err();
        assert_eq!(missing.code(), Code::Unauthenticated);
        assert_eq!(
            missing.message(),
            "oms.payment.v1.PaymentService/Capture requires a client certificate"
        );

        let shipping = certificate(&["spiffe://oms/shipping"]);
        let denied = check(capture, Some(&shipping)).unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert_eq!(
            denied.message(),
            "shipping may not call oms.payment.v1.PaymentService/Capture"
        );

        let nobody = certificate(&[]);
        let unnamed = check(capture, Some(&nobody)).unwrap_err();
        assert_eq!(unnamed.code(), Code::Unauthenticated);

        let saga = certificate(&["spiffe://oms/saga"]);
        assert!(check(capture, Some(&saga)).is_ok());
        assert!(check("/grpc.health.v1.Health/Check", None).is_ok());
    }
}
