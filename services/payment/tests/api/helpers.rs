//! Starting the payment service for a test (and a second replica of it, or
//! the same again after a restart) with a handle on the PSP simulator, and the
//! requests the tests send.

use std::{sync::Arc, time::Duration};

use oms_payment::{
    Config,
    domain::payment::TransactionKind,
    psp::{PspSimulator, SimulatorConfig},
    run, run_with_psp, test_util,
};
use oms_platform::client::OmsChannel;
use oms_proto::{
    common::v1::{
        Actor, ActorKind, CardToken, GiftCard, Invoice, Money, PaymentMethod,
        payment_method::Method,
    },
    payment::v1::{
        self as pb, AuthorizeRequest, CaptureRequest, GetPaymentRequest, RefundReason,
        RefundRequest, VoidRequest, payment_service_client::PaymentServiceClient, void_request,
    },
};
pub use oms_testkit::keyed;
pub use oms_testkit::status::{bad_fields, metadata, reason};
use oms_testkit::{TestDatabase, TestServer};
use tonic::Status;

pub type Client = PaymentServiceClient<OmsChannel>;

/// A payment service with a fresh database, and a handle on the PSP
/// simulator whose state lives in that database.
pub struct TestPayments {
    pub db: TestDatabase,
    pub server: TestServer,
    pub psp: Arc<PspSimulator>,
    config: Config,
}

impl TestPayments {
    pub async fn start() -> TestPayments {
        TestPayments::start_with(SimulatorConfig::default(), Duration::from_secs(5)).await
    }

    /// With fault injection, a PSP timeout and a reconciler that runs rarely
    /// (tests resolve by retry or ReconcilePayment unless they say otherwise).
    pub async fn start_with(simulator: SimulatorConfig, psp_timeout: Duration) -> TestPayments {
        TestPayments::start_full(simulator, psp_timeout, Duration::from_secs(3600)).await
    }

    pub async fn start_full(
        simulator: SimulatorConfig,
        psp_timeout: Duration,
        reconcile_interval: Duration,
    ) -> TestPayments {
        let db = TestDatabase::create().await;
        let config = Config {
            simulator,
            psp_timeout,
            reconcile_interval,
            ..test_util::config(db.config())
        };
        TestPayments::serve(db, config).await
    }

    /// Serves the service on `db` with a simulator of its own.
    async fn serve(db: TestDatabase, config: Config) -> TestPayments {
        let psp = Arc::new(PspSimulator::new(config.simulator.clone(), &db.config()));
        let (service_config, service_psp) = (config.clone(), psp.clone());
        let server = TestServer::start(|listener, shutdown| {
            run_with_psp(service_config, service_psp, listener, shutdown)
        })
        .await;
        TestPayments {
            db,
            server,
            psp,
            config,
        }
    }

    /// Another replica on the same database, started as `main.rs` starts the
    /// service (with a simulator of its own).
    pub async fn replica(&self) -> TestServer {
        let config = self.config.clone();
        TestServer::start(|listener, shutdown| run(config, listener, shutdown)).await
    }

    /// Stops the service and starts it again on the same database, with a new
    /// simulator: only the database outlives the restart.
    pub async fn restart(self) -> TestPayments {
        let TestPayments {
            db, server, config, ..
        } = self;
        server.stop().await.expect("a clean stop");
        TestPayments::serve(db, config).await
    }

    pub fn client(&self) -> Client {
        PaymentServiceClient::new(self.server.channel())
    }

    /// Authorizations the simulator made.
    pub async fn charges(&self) -> u64 {
        self.psp.charges().await.expect("the simulator's charges")
    }

    /// Calls of `kind` the simulator received.
    pub async fn psp_calls(&self, kind: TransactionKind) -> u64 {
        self.psp.calls(kind).await.expect("the simulator's calls")
    }

    /// The balance the simulator holds for a gift card.
    pub async fn gift_card_balance(&self, code: &str) -> Option<i64> {
        self.psp
            .gift_card_balance(code)
            .await
            .expect("the simulator's gift card")
    }

    pub async fn stop(self) {
        self.server.stop().await.expect("a clean stop");
    }
}

/// `message` with the `idempotency-key` metadata.
pub fn eur(amount_minor: i64) -> Money {
    Money {
        currency_code: "EUR".into(),
        amount_minor,
    }
}

pub fn saga() -> Actor {
    Actor {
        kind: ActorKind::Saga as i32,
        id: "saga-1".into(),
    }
}

pub fn card(token: &str) -> PaymentMethod {
    PaymentMethod {
        method: Some(Method::Card(CardToken {
            token: token.into(),
        })),
    }
}

pub fn gift_card(code: &str) -> PaymentMethod {
    PaymentMethod {
        method: Some(Method::GiftCard(GiftCard { code: code.into() })),
    }
}

pub fn invoice(billing_reference: &str) -> PaymentMethod {
    PaymentMethod {
        method: Some(Method::Invoice(Invoice {
            billing_reference: billing_reference.into(),
        })),
    }
}

/// The id a test calls `label` ("ord-1"), as the OMS mints ids.
pub fn id(label: &str) -> String {
    oms_testkit::minted_id(label)
}

pub fn authorize_request(amount_minor: i64, method: PaymentMethod) -> AuthorizeRequest {
    AuthorizeRequest {
        order_id: id("ord-1"),
        amount: Some(eur(amount_minor)),
        payment_method: Some(method),
        actor: Some(saga()),
    }
}

pub fn capture_request(payment_id: &str, amount_minor: Option<i64>) -> CaptureRequest {
    CaptureRequest {
        payment_id: payment_id.into(),
        amount: amount_minor.map(eur),
        actor: Some(saga()),
    }
}

pub fn refund_request(payment_id: &str, amount_minor: Option<i64>) -> RefundRequest {
    RefundRequest {
        payment_id: payment_id.into(),
        amount: amount_minor.map(eur),
        reason: RefundReason::Return as i32,
        reference_id: "rma-1".into(),
        note: String::new(),
        actor: Some(saga()),
    }
}

pub fn void_request(payment_id: &str) -> VoidRequest {
    VoidRequest {
        target: Some(void_request::Target::PaymentId(payment_id.into())),
        actor: Some(saga()),
    }
}

/// Authorizes `amount_minor` EUR on an approving card; the payment.
pub async fn authorized(client: &mut Client, key: &str, amount_minor: i64) -> pb::Payment {
    authorized_by(client, key, amount_minor, card("tok_visa_4242")).await
}

/// Authorizes `amount_minor` EUR on `method`, which must approve; the payment.
pub async fn authorized_by(
    client: &mut Client,
    key: &str,
    amount_minor: i64,
    method: PaymentMethod,
) -> pb::Payment {
    client
        .authorize(keyed(authorize_request(amount_minor, method), key))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap()
}

pub async fn capture(
    client: &mut Client,
    payment_id: &str,
    key: &str,
    amount_minor: Option<i64>,
) -> Result<pb::Payment, Status> {
    client
        .capture(keyed(capture_request(payment_id, amount_minor), key))
        .await
        .map(|response| response.into_inner().payment.unwrap())
}

pub async fn refund(
    client: &mut Client,
    payment_id: &str,
    key: &str,
    amount_minor: Option<i64>,
) -> Result<pb::Payment, Status> {
    client
        .refund(keyed(refund_request(payment_id, amount_minor), key))
        .await
        .map(|response| response.into_inner().payment.unwrap())
}

pub async fn void(client: &mut Client, payment_id: &str, key: &str) -> Result<pb::Payment, Status> {
    client
        .void(keyed(void_request(payment_id), key))
        .await
        .map(|response| response.into_inner().payment.unwrap())
}

pub async fn get(client: &mut Client, payment_id: &str) -> pb::Payment {
    client
        .get_payment(GetPaymentRequest {
            payment_id: payment_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap()
}

pub fn payment_status(payment: &pb::Payment) -> pb::PaymentStatus {
    pb::PaymentStatus::try_from(payment.status).unwrap()
}

pub fn minor(money: Option<&Money>) -> i64 {
    money.map_or(0, |money| money.amount_minor)
}
