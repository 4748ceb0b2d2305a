//! The gRPC face of the payment service. Each mutating handler is one database
//! transaction: claim the idempotency key, lock the payment, check the state
//! machine and the money, call the PSP, write the transaction, record the
//! answer, commit. A PSP timeout commits the PENDING transaction but not the
//! answer, so the retry with the same key asks the PSP instead of charging again.
//! Proto types stop here.
//!
//! Its length is the seven RPCs' handlers, each one transaction around one PSP
//! call; the money rules are in `domain/`, the PSP calls in `payments.rs` and
//! the SQL in `store/`.

mod convert;

use oms_platform::idempotency::{self, Idempotency, IdempotencyKey, Settled};
use oms_proto::payment::v1::{self as pb, payment_service_server::PaymentService};
use prost::Message;
use sqlx::PgConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::payment::{
        Action, DeclineReason, Effect, PaymentStatus, TransactionKind, TransactionStatus,
    },
    error::PaymentError,
    payments::{NOT_RECEIVED, Payments, outcome},
    psp::{PspAnswer, PspCall, PspError},
    store::{self, NewPayment, NewTransaction, Outcome, PaymentRecord},
};

const AUTHORIZE: &str = "oms.payment.v1.PaymentService/Authorize";
const VOID: &str = "oms.payment.v1.PaymentService/Void";
const CAPTURE: &str = "oms.payment.v1.PaymentService/Capture";
const REFUND: &str = "oms.payment.v1.PaymentService/Refund";

/// The payment service.
pub struct PaymentApi {
    payments: Payments,
    idempotency: Idempotency,
}

impl PaymentApi {
    /// The service over `payments`.
    pub fn new(payments: Payments) -> PaymentApi {
        PaymentApi {
            idempotency: Idempotency::new(payments.store.pool().clone()),
            payments,
        }
    }

    fn provider(&self) -> &'static str {
        self.payments.provider()
    }
}

/// The required idempotency key (never a card number: the platform refuses one).
fn idempotency_key<T>(request: &Request<T>) -> Result<IdempotencyKey, Status> {
    IdempotencyKey::require(request.metadata())
}

async fn locked(conn: &mut PgConnection, payment_id: Uuid) -> Result<PaymentRecord, PaymentError> {
    store::lock_payment(conn, payment_id)
        .await?
        .ok_or_else(|| PaymentError::NotFound(payment_id.to_string()))
}

/// The payment after this call's change, its derived status stored.
async fn settled(conn: &mut PgConnection, payment_id: Uuid) -> Result<PaymentRecord, PaymentError> {
    store::settle(conn, payment_id)
        .await?
        .ok_or_else(|| PaymentError::NotFound(payment_id.to_string()))
}

fn declined(payment: &pb::Payment, transaction_id: &str) -> Option<PaymentError> {
    let transaction = payment
        .transactions
        .iter()
        .find(|t| t.transaction_id == transaction_id)?;
    if transaction.status != pb::TransactionStatus::Failed as i32 {
        return None;
    }
    let reason = i16::try_from(transaction.decline_reason)
        .ok()
        .and_then(DeclineReason::from_code)
        .unwrap_or(DeclineReason::Generic);
    Some(PaymentError::Declined {
        reason,
        payment_id: payment.payment_id.clone(),
        transaction_id: transaction_id.to_owned(),
    })
}

/// Authorize's answer, first or replayed: a decline is an error both times.
fn authorize_outcome(
    response: pb::AuthorizeResponse,
) -> Result<pb::AuthorizeResponse, PaymentError> {
    if let Some(payment) = &response.payment
        && payment.status == pb::PaymentStatus::Declined as i32
    {
        let authorization = payment
            .transactions
            .iter()
            .find(|t| t.kind == pb::TransactionKind::Authorization as i32)
            .map(|t| t.transaction_id.clone())
            .unwrap_or_default();
        if let Some(err) = declined(payment, &authorization) {
            return Err(err);
        }
    }
    Ok(response)
}

/// The response of Capture and Refund: the payment and the call's transaction.
trait MoveResponse: Message + Default {
    fn new(payment: pb::Payment, transaction_id: String) -> Self;
    fn parts(&self) -> (Option<&pb::Payment>, &str);

    /// The answer, first or replayed: a PSP refusal is an error both times.
    fn outcome(self) -> Result<Self, PaymentError> {
        let (payment, transaction_id) = self.parts();
        if let Some(err) = payment.and_then(|payment| declined(payment, transaction_id)) {
            return Err(err);
        }
        Ok(self)
    }
}

impl MoveResponse for pb::CaptureResponse {
    fn new(payment: pb::Payment, transaction_id: String) -> Self {
        pb::CaptureResponse {
            payment: Some(payment),
            transaction_id,
        }
    }

    fn parts(&self) -> (Option<&pb::Payment>, &str) {
        (self.payment.as_ref(), &self.transaction_id)
    }
}

impl MoveResponse for pb::RefundResponse {
    fn new(payment: pb::Payment, transaction_id: String) -> Self {
        pb::RefundResponse {
            payment: Some(payment),
            transaction_id,
        }
    }

    fn parts(&self) -> (Option<&pb::Payment>, &str) {
        (self.payment.as_ref(), &self.transaction_id)
    }
}

impl PaymentApi {
    async fn authorize(
        &self,
        key: IdempotencyKey,
        request: &pb::AuthorizeRequest,
    ) -> Result<pb::AuthorizeResponse, PaymentError> {
        let new = convert::authorization(request)?;
        let response = self
            .idempotency
            .run_with(AUTHORIZE, &key, request, async |tx| {
                store::lock_authorization_key(&mut *tx, key.as_str()).await?;
                let (voided, authorized) =
                    store::authorization_key_state(&mut *tx, key.as_str()).await?;
                if voided {
                    return Err(PaymentError::IllegalTransition {
                        from: PaymentStatus::Voided,
                        action: "authorize",
                    });
                }
                let fingerprint = idempotency::fingerprint(request).to_vec();
                let record = match authorized {
                    Some(payment_id) => {
                        // A retry of an authorization left PENDING: ask, never charge again.
                        let record = locked(&mut *tx, payment_id).await?;
                        if record.row.fingerprint != fingerprint {
                            return Err(idempotency::IdempotencyError::KeyReused.into());
                        }
                        if let Some(authorization) = record.authorization() {
                            // If the PSP cannot say yet, it stays PENDING and the
                            // answer below is "outcome unknown" again.
                            let _still_pending = self.payments.resolve(&mut *tx, authorization).await?;
                        }
                        settled(&mut *tx, payment_id).await?
                    }
                    None => {
                        let call = PspCall {
                            kind: TransactionKind::Authorization,
                            idempotency_key: key.as_str().to_owned(),
                            currency: new.money.currency.clone(),
                            amount_minor: new.money.amount.minor(),
                            method: Some(new.method.clone()),
                            authorization_reference: String::new(),
                        };
                        let outcome = match self.payments.execute(&call).await {
                            Ok(PspAnswer::ExceedsBalance { remaining_minor }) => {
                                return Err(PaymentError::ExceedsRemaining {
                                    requested: call.amount_minor,
                                    remaining: remaining_minor,
                                });
                            }
                            Ok(PspAnswer::CurrencyMismatch { expected }) => {
                                return Err(PaymentError::CurrencyMismatch {
                                    expected,
                                    actual: call.currency.as_str().to_owned(),
                                });
                            }
                            Ok(answer) => outcome(answer),
                            Err(PspError::Unavailable) => {
                                return Err(PaymentError::ProviderUnavailable {
                                    provider: self.provider(),
                                });
                            }
                            Err(PspError::Timeout) => Outcome::PENDING,
                        };
                        let payment_id = Uuid::now_v7();
                        store::create_payment(
                            &mut *tx,
                            &NewPayment {
                                payment_id,
                                order_id: new.order_id.as_str().to_owned(),
                                authorization_key: key.as_str().to_owned(),
                                fingerprint: fingerprint.clone(),
                                currency_code: new.money.currency.as_str().to_owned(),
                                authorized_minor: new.money.amount.minor(),
                                method_kind: new.method.kind().code(),
                                method_display: new.method.display(),
                                provider: self.provider().to_owned(),
                            },
                            &NewTransaction {
                                transaction_id: Uuid::now_v7(),
                                payment_id,
                                kind: TransactionKind::Authorization,
                                amount_minor: new.money.amount.minor(),
                                idempotency_key: key.as_str().to_owned(),
                                fingerprint,
                                refund_reason: 0,
                                reference_id: String::new(),
                                note: String::new(),
                                actor: new.actor.clone(),
                            },
                            &outcome,
                        )
                        .await?
                    }
                };
                let payment_id = record.row.payment_id;
                let authorization = record
                    .authorization()
                    .ok_or_else(|| PaymentError::Corrupt("payment without authorization".into()))?;
                if authorization.status() == Some(TransactionStatus::Pending) {
                    tracing::warn!(%payment_id, order_id = %new.order_id, "authorization outcome unknown");
                    return Ok(Settled::Unsettled(PaymentError::OutcomeUnknown {
                        provider: self.provider(),
                        payment_id: payment_id.to_string(),
                        transaction_id: authorization.transaction_id.to_string(),
                    }));
                }
                let response = pb::AuthorizeResponse {
                    payment: Some(convert::payment(&record)?),
                };
                tracing::info!(
                    %payment_id,
                    order_id = %new.order_id,
                    status = record.totals().status().name(),
                    "authorization recorded"
                );
                Ok(Settled::Respond(response))
            })
            .await?;
        authorize_outcome(response)
    }

    /// Capture and Refund: one more transaction against a locked payment.
    async fn move_money<R: MoveResponse>(
        &self,
        scope: &str,
        kind: TransactionKind,
        key: IdempotencyKey,
        request: &impl Message,
        command: convert::MoneyMove,
    ) -> Result<R, PaymentError> {
        let response: R = self
            .idempotency
            .run_with(scope, &key, request, async |tx| {
                let payment_id = command.payment_id;
                let record = locked(&mut *tx, payment_id).await?;
                let fingerprint = idempotency::fingerprint(request).to_vec();
                let (transaction_id, record) = if let Some(existing) = record.transaction_by_key(kind, key.as_str()) {
                    // A retry of a call left PENDING: ask, never send it again.
                    if existing.fingerprint != fingerprint {
                        return Err(idempotency::IdempotencyError::KeyReused.into());
                    }
                    // If the PSP cannot say yet, the answer below is "outcome unknown" again.
                    let _still_pending = self.payments.resolve(&mut *tx, existing).await?;
                    (existing.transaction_id, settled(&mut *tx, payment_id).await?)
                } else {
                    let (action, remaining) = match kind {
                        TransactionKind::Capture => (Action::Capture, record.totals().capturable()),
                        _ => (Action::Refund, record.totals().refundable()),
                    };
                    let status = record.totals().status();
                    if status.effect(action) != Effect::Apply {
                        return Err(PaymentError::IllegalTransition {
                            from: status,
                            action: action.name(),
                        });
                    }
                    let requested = match &command.money {
                        Some(money) if money.currency.as_str() != record.row.currency_code => {
                            return Err(PaymentError::CurrencyMismatch {
                                expected: record.row.currency_code.clone(),
                                actual: money.currency.as_str().to_owned(),
                            });
                        }
                        Some(money) => money.amount.minor(),
                        None => remaining,
                    };
                    if requested > remaining || requested == 0 {
                        return Err(PaymentError::ExceedsRemaining {
                            requested,
                            remaining,
                        });
                    }
                    let authorization_reference = record
                        .authorization()
                        .map(|auth| auth.psp_reference.clone())
                        .unwrap_or_default();
                    let call = PspCall {
                        kind,
                        idempotency_key: key.as_str().to_owned(),
                        currency: crate::domain::CurrencyCode::parse(&record.row.currency_code)
                            .map_err(|err| PaymentError::Corrupt(err.to_string()))?,
                        amount_minor: requested,
                        method: None,
                        authorization_reference,
                    };
                    let outcome = match self.payments.execute(&call).await {
                        Ok(answer) => outcome(answer),
                        Err(PspError::Unavailable) => {
                            return Err(PaymentError::ProviderUnavailable {
                                provider: self.provider(),
                            });
                        }
                        Err(PspError::Timeout) => Outcome::PENDING,
                    };
                    let transaction_id = Uuid::now_v7();
                    let record = store::add_transaction(
                        &mut *tx,
                        record,
                        &NewTransaction {
                            transaction_id,
                            payment_id,
                            kind,
                            amount_minor: requested,
                            idempotency_key: key.as_str().to_owned(),
                            fingerprint,
                            refund_reason: command.refund_reason.map_or(0, |reason| reason.code()),
                            reference_id: command.reference_id.clone(),
                            note: command.note.clone(),
                            actor: command.actor.clone(),
                        },
                        &outcome,
                    )
                    .await?;
                    (transaction_id, record)
                };
                let pending = record.transactions.iter().any(|t| {
                    t.transaction_id == transaction_id && t.status() == Some(TransactionStatus::Pending)
                });
                if pending {
                    tracing::warn!(%payment_id, %transaction_id, kind = kind.name(), "outcome unknown");
                    return Ok(Settled::Unsettled(PaymentError::OutcomeUnknown {
                        provider: self.provider(),
                        payment_id: payment_id.to_string(),
                        transaction_id: transaction_id.to_string(),
                    }));
                }
                let response = R::new(convert::payment(&record)?, transaction_id.to_string());
                tracing::info!(
                    %payment_id,
                    %transaction_id,
                    kind = kind.name(),
                    status = record.totals().status().name(),
                    "transaction recorded"
                );
                Ok(Settled::Respond(response))
            })
            .await?;
        response.outcome()
    }

    async fn void(
        &self,
        key: IdempotencyKey,
        request: &pb::VoidRequest,
    ) -> Result<pb::VoidResponse, PaymentError> {
        let (target, actor) = convert::void(request)?;
        let response = self
            .idempotency
            .run_with(VOID, &key, request, async |tx| {
                if let convert::VoidTarget::AuthorizationKey(authorization_key) = &target {
                    store::lock_authorization_key(&mut *tx, authorization_key).await?;
                }
                let payment_id = match target {
                    convert::VoidTarget::Payment(payment_id) => payment_id,
                    convert::VoidTarget::AuthorizationKey(authorization_key) => {
                        match store::payment_id_by_key(&mut *tx, &authorization_key).await? {
                            Some(payment_id) => payment_id,
                            None => {
                                // Authorize's answer was lost or it never arrived: make
                                // sure a late one authorizes nothing.
                                store::record_voided_key(&mut *tx, &authorization_key).await?;
                                tracing::info!("authorization key voided before any authorization");
                                return Ok(Settled::Respond(pb::VoidResponse { payment: None }));
                            }
                        }
                    }
                };
                let record = locked(&mut *tx, payment_id).await?;
                let fingerprint = idempotency::fingerprint(request).to_vec();
                if let Some(existing) =
                    record.transaction_by_key(TransactionKind::Void, key.as_str())
                {
                    if existing.fingerprint != fingerprint {
                        return Err(idempotency::IdempotencyError::KeyReused.into());
                    }
                    // If the PSP cannot say yet, the answer below is "outcome unknown" again.
                    let _still_pending = self.payments.resolve(&mut *tx, existing).await?;
                } else {
                    let was_pending =
                        record.totals().status() == PaymentStatus::AuthorizationPending;
                    // Pending calls first: what to release depends on what they did.
                    let (_, failure) = self.payments.resolve_all(&mut *tx, &record).await?;
                    if failure.is_some() {
                        return Err(PaymentError::ProviderUnavailable {
                            provider: self.provider(),
                        });
                    }
                    let record = locked(&mut *tx, payment_id).await?;
                    let totals = record.totals();
                    let status = totals.status();
                    let authorization = record.authorization().ok_or_else(|| {
                        PaymentError::Corrupt("payment without authorization".into())
                    })?;
                    let never_happened =
                        was_pending && authorization.provider_detail == NOT_RECEIVED;
                    let outcome = match status.effect(Action::Void) {
                        Effect::NoOp if never_happened => Some(Outcome {
                            status: TransactionStatus::Succeeded,
                            ..Outcome::PENDING
                        }),
                        Effect::NoOp | Effect::Refuse => None,
                        Effect::Apply => {
                            let call = PspCall {
                                kind: TransactionKind::Void,
                                idempotency_key: key.as_str().to_owned(),
                                currency: crate::domain::CurrencyCode::parse(
                                    &record.row.currency_code,
                                )
                                .map_err(|err| PaymentError::Corrupt(err.to_string()))?,
                                amount_minor: totals.authorized - totals.captured - totals.voided,
                                method: None,
                                authorization_reference: authorization.psp_reference.clone(),
                            };
                            match self.payments.execute(&call).await {
                                Ok(PspAnswer::Approved { reference }) => Some(Outcome {
                                    status: TransactionStatus::Succeeded,
                                    psp_reference: reference,
                                    ..Outcome::PENDING
                                }),
                                // A void the PSP refuses or cannot take: the caller retries.
                                Ok(_) | Err(PspError::Unavailable) => {
                                    return Err(PaymentError::ProviderUnavailable {
                                        provider: self.provider(),
                                    });
                                }
                                Err(PspError::Timeout) => Some(Outcome::PENDING),
                            }
                        }
                    };
                    if let Some(outcome) = outcome {
                        let released = if never_happened {
                            0
                        } else {
                            totals.authorized - totals.captured - totals.voided
                        };
                        store::insert_transaction(
                            &mut *tx,
                            &NewTransaction {
                                transaction_id: Uuid::now_v7(),
                                payment_id,
                                kind: TransactionKind::Void,
                                amount_minor: released,
                                idempotency_key: key.as_str().to_owned(),
                                fingerprint,
                                refund_reason: 0,
                                reference_id: String::new(),
                                note: String::new(),
                                actor,
                            },
                            &outcome,
                        )
                        .await?;
                    }
                }
                let record = settled(&mut *tx, payment_id).await?;
                if let Some(void) = record.transaction_by_key(TransactionKind::Void, key.as_str())
                    && void.status() == Some(TransactionStatus::Pending)
                {
                    return Ok(Settled::Unsettled(PaymentError::OutcomeUnknown {
                        provider: self.provider(),
                        payment_id: payment_id.to_string(),
                        transaction_id: void.transaction_id.to_string(),
                    }));
                }
                let response = pb::VoidResponse {
                    payment: Some(convert::payment(&record)?),
                };
                tracing::info!(
                    %payment_id,
                    status = record.totals().status().name(),
                    "void recorded"
                );
                Ok(Settled::Respond(response))
            })
            .await?;
        Ok(response)
    }
}

#[tonic::async_trait]
impl PaymentService for PaymentApi {
    async fn authorize(
        &self,
        request: Request<pb::AuthorizeRequest>,
    ) -> Result<Response<pb::AuthorizeResponse>, Status> {
        let key = idempotency_key(&request)?;
        let response = self.authorize(key, request.get_ref()).await?;
        Ok(Response::new(response))
    }

    async fn void(
        &self,
        request: Request<pb::VoidRequest>,
    ) -> Result<Response<pb::VoidResponse>, Status> {
        let key = idempotency_key(&request)?;
        let response = self.void(key, request.get_ref()).await?;
        Ok(Response::new(response))
    }

    async fn capture(
        &self,
        request: Request<pb::CaptureRequest>,
    ) -> Result<Response<pb::CaptureResponse>, Status> {
        let key = idempotency_key(&request)?;
        let command = convert::capture(request.get_ref())?;
        let response = self
            .move_money(
                CAPTURE,
                TransactionKind::Capture,
                key,
                request.get_ref(),
                command,
            )
            .await?;
        Ok(Response::new(response))
    }

    async fn refund(
        &self,
        request: Request<pb::RefundRequest>,
    ) -> Result<Response<pb::RefundResponse>, Status> {
        let key = idempotency_key(&request)?;
        let command = convert::refund(request.get_ref())?;
        let response = self
            .move_money(
                REFUND,
                TransactionKind::Refund,
                key,
                request.get_ref(),
                command,
            )
            .await?;
        Ok(Response::new(response))
    }

    async fn get_payment(
        &self,
        request: Request<pb::GetPaymentRequest>,
    ) -> Result<Response<pb::GetPaymentResponse>, Status> {
        let payment_id = convert::payment_id(&request.get_ref().payment_id)?;
        let record = self
            .payments
            .store
            .get(payment_id)
            .await
            .map_err(PaymentError::from)?
            .ok_or_else(|| PaymentError::NotFound(payment_id.to_string()))?;
        Ok(Response::new(pb::GetPaymentResponse {
            payment: Some(convert::payment(&record)?),
        }))
    }

    async fn list_payments(
        &self,
        request: Request<pb::ListPaymentsRequest>,
    ) -> Result<Response<pb::ListPaymentsResponse>, Status> {
        let request = request.into_inner();
        let query = convert::list(&request)?;
        let mut records = self
            .payments
            .store
            .list(&query.filter, query.pages.after, query.pages.fetch())
            .await
            .map_err(PaymentError::from)?;
        let page = query.pages.finish(&mut records, |record| {
            (record.row.create_time, record.row.payment_id)
        });
        Ok(Response::new(pb::ListPaymentsResponse {
            payments: records
                .iter()
                .map(convert::payment)
                .collect::<Result<_, _>>()?,
            page: Some(page),
        }))
    }

    async fn reconcile_payment(
        &self,
        request: Request<pb::ReconcilePaymentRequest>,
    ) -> Result<Response<pb::ReconcilePaymentResponse>, Status> {
        let payment_id = convert::payment_id(&request.get_ref().payment_id)?;
        let (record, resolved) = self.payments.reconcile(payment_id).await?;
        Ok(Response::new(pb::ReconcilePaymentResponse {
            payment: Some(convert::payment(&record)?),
            resolved_count: i32::try_from(resolved).unwrap_or(i32::MAX),
        }))
    }
}
