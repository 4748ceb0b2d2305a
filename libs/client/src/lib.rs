//! oms-client: calling the OMS services from Rust, and the base of omsctl.
//!
//! - [`Oms`] and the per-service clients ([`OrderClient`], [`InventoryClient`],
//!   ...): thin wrappers of the generated tonic clients of `oms-proto`, the
//!   same messages in and out. Their channels come from
//!   [`oms_platform::client`], so every call carries the W3C trace context of
//!   the caller's span and a deadline.
//! - [`call`]: the deadline of each call, the `idempotency-key` of each change
//!   ([`new_key`] makes one; keep it to repeat the change safely), and retries
//!   on UNAVAILABLE with backoff, only for calls safe to send again.
//! - [`status`]: a refused call's error details as sentences.
//! - [`json`]: the messages in their protobuf JSON form.
//! - [`health`]: `grpc.health.v1` checks.
//!
//! Over mutual TLS the same [`ClientConfig`](oms_platform::config::ClientConfig)
//! carries the caller's certificate: `OMS_TLS=mutual` with `OMS_TLS_CERT`,
//! `OMS_TLS_KEY` and `OMS_TLS_CA` (an `operator` or `channel` certificate for
//! callers outside the suite; `omsctl certs` makes a local set). Where the
//! services verify bearer tokens (`OMS_JWT_KEYS`), set
//! [`ClientConfig::bearer_token`](oms_platform::config::ClientConfig::bearer_token)
//! to the caller's token: every call then carries `authorization: Bearer
//! <token>`, and changes act as the token's subject (leave `actor` out, or
//! name that subject).
//!
//! ```no_run
//! use oms_client::{CallPolicy, Oms, new_key, status::describe};
//! use oms_platform::config::{ClientConfig, Env};
//! use oms_proto::{
//!     common::v1::{Actor, ActorKind},
//!     inventory::v1::SetStockRequest,
//!     order::v1::GetOrderRequest,
//! };
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! // Where the services are: OMS_<SERVICE>_ADDR, or the local defaults.
//! let config = ClientConfig::from_env(&Env::from_process())?;
//! let oms = Oms::connect(&config, CallPolicy::default())?;
//!
//! // A change: its key is sent as `idempotency-key`; sending the same request
//! // with the same key again (say, after a timeout) acts once.
//! let key = new_key("restock-job");
//! let request = SetStockRequest {
//!     sku: "TEE-M".into(),
//!     location_id: "wh-berlin".into(),
//!     on_hand: 40,
//!     actor: Some(Actor { kind: ActorKind::Operator as i32, id: "ops-1".into() }),
//!     note: String::new(),
//! };
//! match oms.inventory.set_stock(request, &key).await {
//!     Ok(response) => println!("set (key {}): {:?}", key.as_str(), response.stock),
//!     Err(status) => eprintln!("refused: {}", describe(&status)),
//! }
//!
//! // A read, retried on UNAVAILABLE, with a shorter deadline.
//! let order = oms
//!     .order
//!     .clone()
//!     .with_policy(CallPolicy::default().with_deadline(std::time::Duration::from_secs(2)))
//!     .get_order(GetOrderRequest { order_id: "…".into(), ..Default::default() })
//!     .await?;
//! # let _ = order;
//! # Ok(()) }
//! ```

pub mod call;
mod clients;
pub mod health;
pub mod json;
pub mod status;

pub use call::{CallPolicy, IdempotencyKey, new_key};
pub use clients::{
    InventoryClient, NoOutbox, OUTBOX_SERVICES, Oms, OrderClient, OutboxClient, OutboxError,
    PaymentClient, ReturnsClient, RoutingClient, SagaClient, ShippingClient,
};
pub use health::{Health, check_health, wait_for_health};
