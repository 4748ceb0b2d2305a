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
    sync::Arc,
    task::{Context, Poll},
};

use tonic::{
    Status,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};
use tower::{Layer, Service};

use crate::{
    auth::{Role, Subject, TokenVerifier},
    config::Service as OmsService,
};

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

/// One row of the access table: an RPC, who may call it, and with which
/// token roles.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The gRPC service's full name, e.g. `oms.payment.v1.PaymentService`.
    pub service: &'static str,
    /// The RPC's name, e.g. `Capture`.
    pub method: &'static str,
    /// The principals that may call it.
    pub callers: &'static [Principal],
    /// The token roles that may call it, when the caller is an operator's
    /// tool or a channel ([`crate::auth`]); empty for RPCs only services call.
    pub roles: &'static [Role],
}

const fn rule(service: &'static str, method: &'static str, callers: &'static [Principal]) -> Rule {
    Rule {
        service,
        method,
        callers,
        roles: &[],
    }
}

impl Rule {
    /// The same rule, open to tokens with one of `roles`.
    const fn by(self, roles: &'static [Role]) -> Rule {
        Rule { roles, ..self }
    }
}

/// Reads: every role but a channel's, which reads only what is its own.
const READ: &[Role] = &[Role::Support, Role::Operator, Role::Auditor];
/// Reads a channel makes too: its own orders, availability, rates.
const READ_OR_CHANNEL: &[Role] = &[Role::Channel, Role::Support, Role::Operator, Role::Auditor];
/// Placing an order: channels, and agents taking one on the phone.
const PLACE: &[Role] = &[Role::Channel, Role::Support, Role::Operator];
/// Customer service: cancellations, addresses, notes, returns.
const SUPPORT: &[Role] = &[Role::Support, Role::Operator];
/// Running the suite: stock, locations, policies, sagas, outboxes.
const OPERATE: &[Role] = &[Role::Operator];

/// Calls from outside the suite: public reads and writes, and operator
/// actions. The roles of the caller's bearer token say which it may make.
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
    rule(INVENTORY_SERVICE, "PutLocation", PUBLIC).by(OPERATE),
    rule(
        INVENTORY_SERVICE,
        "GetLocation",
        &[Operator, Channel, ROUTING, SHIPPING, RETURNS],
    )
    .by(READ_OR_CHANNEL),
    rule(
        INVENTORY_SERVICE,
        "ListLocations",
        &[Operator, Channel, ROUTING],
    )
    .by(READ_OR_CHANNEL),
    rule(INVENTORY_SERVICE, "SetStock", PUBLIC).by(OPERATE),
    rule(INVENTORY_SERVICE, "AdjustStock", PUBLIC).by(OPERATE),
    rule(INVENTORY_SERVICE, "TransferStock", PUBLIC).by(OPERATE),
    rule(INVENTORY_SERVICE, "ListStockMovements", PUBLIC).by(READ),
    rule(
        INVENTORY_SERVICE,
        "GetAvailability",
        &[Operator, Channel, ROUTING],
    )
    .by(READ_OR_CHANNEL),
    rule(INVENTORY_SERVICE, "PutChannelAvailabilityPolicy", PUBLIC).by(OPERATE),
    rule(INVENTORY_SERVICE, "GetChannelAvailabilityPolicy", PUBLIC).by(READ),
    rule(INVENTORY_SERVICE, "ListChannelAvailabilityPolicies", PUBLIC).by(READ),
    rule(INVENTORY_SERVICE, "Reserve", &[SAGA]),
    rule(INVENTORY_SERVICE, "Release", &[SAGA]),
    rule(INVENTORY_SERVICE, "CommitReservation", &[SAGA]),
    rule(
        INVENTORY_SERVICE,
        "GetReservation",
        &[Operator, Channel, SAGA],
    )
    .by(READ),
    rule(INVENTORY_SERVICE, "ListReservations", PUBLIC).by(READ),
    rule(INVENTORY_SERVICE, "Restock", &[SAGA]),
    rule(INVENTORY_SERVICE, "SetSafetyStock", PUBLIC).by(OPERATE),
    rule(INVENTORY_SERVICE, "SetStockThreshold", PUBLIC).by(OPERATE),
    rule(INVENTORY_SERVICE, "ListLowStock", PUBLIC).by(READ),
    rule(INVENTORY_SERVICE, "WatchAvailability", PUBLIC).by(READ_OR_CHANNEL),
    rule(INVENTORY_SERVICE, "GetLocationLoad", &[Operator, ROUTING]).by(READ),
    // order: the saga reads orders, places exchanges and records every
    // fulfilment fact; shipping records shipments leaving and arriving;
    // operators mark pickup orders ready and collected; returns reads orders.
    rule(ORDER_SERVICE, "PlaceOrder", &[Operator, Channel, SAGA]).by(PLACE),
    rule(
        ORDER_SERVICE,
        "GetOrder",
        &[Operator, Channel, SAGA, RETURNS],
    )
    .by(READ_OR_CHANNEL),
    rule(ORDER_SERVICE, "SearchOrders", PUBLIC).by(READ_OR_CHANNEL),
    rule(ORDER_SERVICE, "OrderStats", PUBLIC).by(READ),
    rule(ORDER_SERVICE, "CustomerSummary", PUBLIC).by(READ),
    rule(ORDER_SERVICE, "UpdateShippingAddress", PUBLIC).by(SUPPORT),
    rule(ORDER_SERVICE, "CancelOrder", PUBLIC).by(SUPPORT),
    rule(ORDER_SERVICE, "AddNote", PUBLIC).by(SUPPORT),
    rule(ORDER_SERVICE, "AddTags", PUBLIC).by(SUPPORT),
    rule(ORDER_SERVICE, "RemoveTag", PUBLIC).by(SUPPORT),
    rule(ORDER_SERVICE, "MarkStatus", &[SAGA, SHIPPING, Operator]).by(OPERATE),
    // outbox: operators' view of undelivered messages, on every service
    // with an outbox.
    rule(OUTBOX_SERVICE, "ListOutboxMessages", PUBLIC).by(READ),
    rule(OUTBOX_SERVICE, "RedriveOutboxMessages", PUBLIC).by(OPERATE),
    // payment: money moves only by the saga's steps.
    rule(PAYMENT_SERVICE, "Authorize", &[SAGA]),
    rule(PAYMENT_SERVICE, "Void", &[SAGA]),
    rule(PAYMENT_SERVICE, "Capture", &[SAGA]),
    rule(PAYMENT_SERVICE, "Refund", &[SAGA]),
    rule(PAYMENT_SERVICE, "GetPayment", &[Operator, Channel, SAGA]).by(READ),
    rule(PAYMENT_SERVICE, "ListPayments", PUBLIC).by(READ),
    rule(PAYMENT_SERVICE, "ReconcilePayment", PUBLIC).by(OPERATE),
    // returns: customers' requests and the warehouse's steps from outside;
    // the label, refund and exchange from the return saga; in transit from
    // shipping's outbox.
    rule(RETURNS_SERVICE, "RequestReturn", PUBLIC).by(SUPPORT),
    rule(RETURNS_SERVICE, "ApproveReturn", PUBLIC).by(SUPPORT),
    rule(RETURNS_SERVICE, "RejectReturn", PUBLIC).by(SUPPORT),
    rule(RETURNS_SERVICE, "RecordReturnLabel", &[SAGA]),
    rule(RETURNS_SERVICE, "MarkReturnInTransit", &[SHIPPING]),
    rule(RETURNS_SERVICE, "ReceiveReturn", PUBLIC).by(SUPPORT),
    rule(RETURNS_SERVICE, "InspectReturn", PUBLIC).by(SUPPORT),
    rule(RETURNS_SERVICE, "RecordRefund", &[SAGA]),
    rule(RETURNS_SERVICE, "RecordExchange", &[SAGA]),
    rule(RETURNS_SERVICE, "CloseReturn", &[Operator, Channel, SAGA]).by(SUPPORT),
    rule(RETURNS_SERVICE, "GetReturn", &[Operator, Channel, SAGA]).by(READ),
    rule(RETURNS_SERVICE, "ListReturns", PUBLIC).by(READ),
    rule(RETURNS_SERVICE, "GetReturnPolicy", PUBLIC).by(READ),
    rule(RETURNS_SERVICE, "PutReturnPolicy", PUBLIC).by(OPERATE),
    // routing: the saga plans; operators preview plans and edit policies.
    rule(
        ROUTING_SERVICE,
        "PlanFulfillment",
        &[Operator, Channel, SAGA],
    )
    .by(READ),
    rule(ROUTING_SERVICE, "GetRoutingPolicy", PUBLIC).by(READ),
    rule(ROUTING_SERVICE, "PutRoutingPolicy", PUBLIC).by(OPERATE),
    rule(ROUTING_SERVICE, "ListRoutingPolicies", PUBLIC).by(READ),
    rule(ROUTING_SERVICE, "PutLocationAttributes", PUBLIC).by(OPERATE),
    rule(ROUTING_SERVICE, "GetLocationAttributes", PUBLIC).by(READ),
    rule(ROUTING_SERVICE, "ListLocationAttributes", PUBLIC).by(READ),
    // saga: sagas start from the order and returns outboxes; operators read,
    // retry and compensate them.
    rule(SAGA_SERVICE, "StartOrderSaga", &[ORDER]),
    rule(SAGA_SERVICE, "StartCancelSaga", &[ORDER]),
    rule(SAGA_SERVICE, "StartReturnSaga", &[RETURNS]),
    rule(SAGA_SERVICE, "GetSaga", PUBLIC).by(READ),
    rule(SAGA_SERVICE, "ListSagas", PUBLIC).by(READ),
    rule(SAGA_SERVICE, "RetrySaga", PUBLIC).by(OPERATE),
    rule(SAGA_SERVICE, "CompensateSaga", PUBLIC).by(OPERATE),
    // shipping: shipments and labels are the saga's steps; carriers report
    // tracking events.
    rule(SHIPPING_SERVICE, "QuoteRates", PUBLIC).by(READ_OR_CHANNEL),
    rule(SHIPPING_SERVICE, "CreateShipment", &[SAGA]),
    rule(SHIPPING_SERVICE, "CreateShipments", &[SAGA]),
    rule(SHIPPING_SERVICE, "CancelShipment", &[SAGA]),
    rule(SHIPPING_SERVICE, "CreateReturnLabel", &[SAGA]),
    rule(
        SHIPPING_SERVICE,
        "RecordTrackingEvent",
        &[Carrier, Operator],
    )
    .by(OPERATE),
    rule(SHIPPING_SERVICE, "GetShipment", PUBLIC).by(READ),
    rule(SHIPPING_SERVICE, "ListShipments", PUBLIC).by(READ),
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

/// Who makes the call being served: what [`AccessLayer`] learnt from the
/// caller's certificate and bearer token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// The principal its certificate names; `None` in plaintext.
    pub principal: Option<Principal>,
    /// The verified subject of its bearer token, if it sent one and tokens
    /// are configured.
    pub subject: Option<Subject>,
}

tokio::task_local! {
    /// The caller of the call this task serves.
    static CALLER: Arc<Caller>;
}

/// The caller of the call being served, when called from a handler behind
/// [`AccessLayer`]; `None` elsewhere.
pub fn current_caller() -> Option<Arc<Caller>> {
    CALLER.try_with(Arc::clone).ok()
}

/// The verified token subject of the call being served, if any.
pub fn current_subject() -> Option<Subject> {
    current_caller().and_then(|caller| caller.subject.clone())
}

/// Runs `future` as a handler serving a call from `caller`: for tests of
/// handlers called without a server.
pub async fn serve_as<F: Future>(caller: Caller, future: F) -> F::Output {
    CALLER.scope(Arc::new(caller), future).await
}

/// What a call brings to be checked.
struct Credentials<'a> {
    /// The request's path, `/<service>/<method>`.
    path: &'a str,
    /// The caller's leaf certificate (DER), if it sent one.
    certificate: Option<&'a [u8]>,
    /// Its `authorization` metadata.
    headers: &'a http::HeaderMap,
}

/// The check of a call: the caller to serve it for, or the status that
/// refuses it. `enforce` says whether certificates are checked (mutual TLS);
/// `tokens` verifies bearer tokens when they are configured.
fn check(
    call: &Credentials<'_>,
    enforce: bool,
    tokens: Option<&TokenVerifier>,
) -> Result<Caller, Status> {
    // Health and reflection, which probes and tools call without a certificate.
    if !call.path.starts_with("/oms.") {
        return Ok(Caller::default());
    }
    let rpc = call.path.trim_start_matches('/');
    let principal = if enforce {
        let Some(der) = call.certificate else {
            return Err(Status::unauthenticated(format!(
                "{rpc} requires a client certificate"
            )));
        };
        let Some(caller) = Principal::from_certificate(der) else {
            return Err(Status::unauthenticated(
                "the client certificate names no OMS identity",
            ));
        };
        if !allows(caller, call.path) {
            return Err(Status::permission_denied(format!(
                "{caller} may not call {rpc}"
            )));
        }
        Some(caller)
    } else {
        None
    };
    // Services act on their own; the carrier's adapter is a machine. Only
    // operators' tools and channels act for someone, whom the token names.
    let acts_for_someone = match principal {
        None => true,
        Some(principal) => matches!(principal, Principal::Operator | Principal::Channel),
    };
    let Some(tokens) = tokens.filter(|_| acts_for_someone) else {
        return Ok(Caller {
            principal,
            subject: None,
        });
    };
    let token = crate::auth::bearer(call.headers)
        .map_err(|err| Status::unauthenticated(format!("{rpc}: {err}")))?;
    let Some(token) = token else {
        if enforce {
            return Err(Status::unauthenticated(format!(
                "{rpc} requires a bearer token (authorization: Bearer <JWT>)"
            )));
        }
        // Plaintext is for local development: a call without a token is let
        // through, as every call is.
        return Ok(Caller {
            principal,
            subject: None,
        });
    };
    let subject = tokens
        .verify(token)
        .map_err(|err| Status::unauthenticated(format!("{rpc}: {err}")))?;
    let roles = roles(call.path).unwrap_or(&[]);
    if !subject.has_any(roles) {
        let held: Vec<&str> = subject.roles.iter().map(|role| role.name()).collect();
        return Err(Status::permission_denied(format!(
            "{} (roles: {}) may not call {rpc}",
            subject.id,
            held.join(", ")
        )));
    }
    Ok(Caller {
        principal,
        subject: Some(subject),
    })
}

/// The token roles that may call the RPC at `path`; `None` for a path the
/// table does not list.
pub fn roles(path: &str) -> Option<&'static [Role]> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    ACCESS
        .iter()
        .find(|rule| rule.service == service && rule.method == method)
        .map(|rule| rule.roles)
}

/// The server layer that enforces [`ACCESS`]: certificates when the server
/// runs mutual TLS, bearer tokens when keys to verify them are configured.
/// In plaintext without keys it lets every call through.
#[derive(Clone, Debug)]
pub struct AccessLayer {
    enforce: bool,
    tokens: Option<Arc<TokenVerifier>>,
}

impl AccessLayer {
    /// A layer that checks callers' certificates when `enforce` (the server
    /// runs mutual TLS), and none otherwise.
    pub fn new(enforce: bool) -> AccessLayer {
        AccessLayer {
            enforce,
            tokens: None,
        }
    }

    /// The same layer verifying bearer tokens with `tokens`, when given.
    pub fn with_tokens(mut self, tokens: Option<Arc<TokenVerifier>>) -> AccessLayer {
        self.tokens = tokens;
        self
    }
}

impl<S> Layer<S> for AccessLayer {
    type Service = Access<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Access {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`AccessLayer`] wraps around the routes.
#[derive(Clone, Debug)]
pub struct Access<S> {
    inner: S,
    layer: AccessLayer,
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
        if !self.layer.enforce && self.layer.tokens.is_none() {
            return Box::pin(self.inner.call(request));
        }
        let certificates = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs);
        let leaf = certificates
            .as_deref()
            .and_then(|chain| chain.first())
            .map(|der| der.as_ref());
        let credentials = Credentials {
            path: request.uri().path(),
            certificate: leaf,
            headers: request.headers(),
        };
        let caller = match check(
            &credentials,
            self.layer.enforce,
            self.layer.tokens.as_deref(),
        ) {
            Ok(caller) => Arc::new(caller),
            Err(status) => return Box::pin(std::future::ready(Ok(status.into_http()))),
        };
        let inner = CALLER.sync_scope(Arc::clone(&caller), || self.inner.call(request));
        Box::pin(CALLER.scope(caller, inner))
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
    use crate::auth::{DevTokenKey, TokenRequest};

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
        let documented: Vec<(String, Vec<String>, Vec<String>)> = readme
            .lines()
            .filter(|line| line.starts_with("| `oms."))
            .map(|row| {
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                let names = |cell: &str| -> Vec<String> {
                    cell.split(',')
                        .map(|name| name.trim().trim_matches('`').to_owned())
                        .filter(|name| !name.is_empty() && name != "-")
                        .collect()
                };
                (
                    cells[1].trim_matches('`').to_owned(),
                    names(cells[2]),
                    names(cells[3]),
                )
            })
            .collect();
        let table: Vec<(String, Vec<String>, Vec<String>)> = ACCESS
            .iter()
            .map(|rule| {
                (
                    format!("{}/{}", rule.service, rule.method),
                    rule.callers
                        .iter()
                        .map(|caller| caller.name().to_owned())
                        .collect(),
                    rule.roles
                        .iter()
                        .map(|role| role.name().to_owned())
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

    /// The check of a call under mutual TLS without tokens.
    fn check_certificate(path: &str, certificate: Option<&[u8]>) -> Result<Caller, Status> {
        let headers = http::HeaderMap::new();
        let call = Credentials {
            path,
            certificate,
            headers: &headers,
        };
        check(&call, true, None)
    }

    /// The check of a call with `token` from a `principal`'s certificate,
    /// tokens verified by `key`.
    fn check_token(
        path: &str,
        principal: Option<Principal>,
        token: Option<&str>,
        key: &DevTokenKey,
    ) -> Result<Caller, Status> {
        let mut headers = http::HeaderMap::new();
        if let Some(token) = token {
            headers.insert(
                http::header::AUTHORIZATION,
                format!("Bearer {token}").parse().expect("a header value"),
            );
        }
        let der = principal.map(|principal| certificate(&[&principal.uri()]));
        let call = Credentials {
            path,
            certificate: der.as_deref(),
            headers: &headers,
        };
        check(&call, principal.is_some(), Some(&key.verifier()))
    }

    #[test]
    fn every_rpc_outside_callers_make_is_open_to_some_role_and_no_other_has_roles() {
        for rule in ACCESS {
            let public = rule
                .callers
                .iter()
                .any(|caller| matches!(caller, Operator | Channel));
            assert_eq!(
                public,
                !rule.roles.is_empty(),
                "{}/{}: roles {:?} for callers {:?}",
                rule.service,
                rule.method,
                rule.roles,
                rule.callers
            );
            if rule.roles.contains(&Role::Channel) {
                assert!(rule.callers.contains(&Channel), "{}", rule.method);
            }
        }
    }

    #[test]
    fn tokens_decide_what_operators_tools_and_channels_may_call() {
        let key = DevTokenKey::generate("k1").expect("a key");
        let token = |subject: &str, roles: &[Role]| {
            let mut request = TokenRequest::new(subject, roles);
            if roles.contains(&Role::Channel) {
                request = request.for_channel(crate::auth::parse_channel("web").expect("web"));
            }
            key.sign(&request).expect("signed")
        };
        let compensate = "/oms.saga.v1.SagaService/CompensateSaga";
        let support = token("agent-7", &[Role::Support]);
        let denied = check_token(compensate, Some(Operator), Some(&support), &key).unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert_eq!(
            denied.message(),
            "agent-7 (roles: support) may not call oms.saga.v1.SagaService/CompensateSaga"
        );
        let operator = token("ops-1", &[Role::Operator]);
        let caller =
            check_token(compensate, Some(Operator), Some(&operator), &key).expect("allowed");
        assert_eq!(caller.subject.expect("a subject").id, "ops-1");
        assert_eq!(caller.principal, Some(Operator));

        // Under mutual TLS an operator's tool must send a token; a service
        // need not, and its token would not count.
        let missing = check_token(compensate, Some(Operator), None, &key).unwrap_err();
        assert_eq!(missing.code(), Code::Unauthenticated);
        let capture = "/oms.payment.v1.PaymentService/Capture";
        let saga = check_token(
            capture,
            Some(Principal::Service(OmsService::Saga)),
            None,
            &key,
        )
        .expect("the saga needs no token");
        assert_eq!(saga.subject, None);

        let auditor = token("audit", &[Role::Auditor]);
        let get_order = "/oms.order.v1.OrderService/GetOrder";
        assert!(check_token(get_order, Some(Operator), Some(&auditor), &key).is_ok());
        let cancel = "/oms.order.v1.OrderService/CancelOrder";
        assert_eq!(
            check_token(cancel, Some(Operator), Some(&auditor), &key)
                .unwrap_err()
                .code(),
            Code::PermissionDenied
        );
        let channel = token("web-connector", &[Role::Channel]);
        assert!(
            check_token(
                "/oms.order.v1.OrderService/PlaceOrder",
                Some(Channel),
                Some(&channel),
                &key
            )
            .is_ok()
        );
        assert_eq!(
            check_token(cancel, Some(Channel), Some(&channel), &key)
                .unwrap_err()
                .code(),
            Code::PermissionDenied
        );

        // A token from elsewhere is refused in plaintext too; no token in
        // plaintext is let through.
        let foreign = DevTokenKey::generate("k1")
            .expect("a key")
            .sign(&TokenRequest::new("mallory", &[Role::Operator]))
            .expect("signed");
        let refused = check_token(compensate, None, Some(&foreign), &key).unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        assert_eq!(
            refused.message(),
            "oms.saga.v1.SagaService/CompensateSaga: the bearer token is not signed by a trusted key"
        );
        assert_eq!(
            check_token(compensate, None, None, &key).expect("plaintext"),
            Caller::default()
        );
    }

    #[tokio::test]
    async fn a_handler_sees_the_caller_it_serves() {
        assert_eq!(current_subject(), None);
        let subject = Subject {
            id: "ops-1".into(),
            roles: vec![Role::Operator],
            channel: None,
        };
        let caller = Caller {
            principal: Some(Operator),
            subject: Some(subject.clone()),
        };
        let seen = serve_as(caller, async { current_subject() }).await;
        assert_eq!(seen, Some(subject));
    }

    #[test]
    fn refusals_name_the_caller_and_the_rpc_and_nothing_else() {
        let capture = "/oms.payment.v1.PaymentService/Capture";
        let missing = check_certificate(capture, None).unwrap_err();
        assert_eq!(missing.code(), Code::Unauthenticated);
        assert_eq!(
            missing.message(),
            "oms.payment.v1.PaymentService/Capture requires a client certificate"
        );

        let shipping = certificate(&["spiffe://oms/shipping"]);
        let denied = check_certificate(capture, Some(&shipping)).unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert_eq!(
            denied.message(),
            "shipping may not call oms.payment.v1.PaymentService/Capture"
        );

        let nobody = certificate(&[]);
        let unnamed = check_certificate(capture, Some(&nobody)).unwrap_err();
        assert_eq!(unnamed.code(), Code::Unauthenticated);

        let saga = certificate(&["spiffe://oms/saga"]);
        assert!(check_certificate(capture, Some(&saga)).is_ok());
        assert!(check_certificate("/grpc.health.v1.Health/Check", None).is_ok());
    }
}
