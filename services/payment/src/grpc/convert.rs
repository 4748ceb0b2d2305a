//! Proto <-> domain for payments: requests checked field by field, stored
//! payments back into `oms.payment.v1.Payment`. A raw card number in any string
//! field never gets here: the platform's request guard refuses it first, naming
//! the field and never echoing it.

use chrono::{DateTime, Utc};
pub use oms_platform::convert::timestamp;
use oms_platform::{
    convert::actor,
    error::FieldViolations,
    ids::{Invalid, MintedId},
    paging::Pages,
};
use oms_proto::{common::v1 as common, payment::v1 as pb};
use uuid::Uuid;

use crate::{
    domain::{
        Actor, CurrencyCode, OrderId,
        method::{PaymentMethod, Secret},
        payment::{Money, PositiveAmount, RefundReason},
    },
    error::PaymentError,
    store::{PaymentRecord, TransactionRow},
};

/// An amount and currency; `None` and a violation when either is bad.
fn money(v: &mut FieldViolations, field: &str, money: &common::Money) -> Option<Money> {
    let currency = v.check(
        format!("{field}.currency_code"),
        CurrencyCode::parse(&money.currency_code),
    );
    let amount = v.check(
        format!("{field}.amount_minor"),
        PositiveAmount::new(money.amount_minor),
    );
    Some(Money {
        currency: currency?,
        amount: amount?,
    })
}

/// A payment id: required, and an id this service minted.
pub fn payment_id(value: &str) -> Result<Uuid, PaymentError> {
    MintedId::parse(value)
        .map(|id| id.uuid())
        .map_err(|err| PaymentError::invalid("payment_id", err.to_string()))
}

/// A checked Authorize request.
#[derive(Debug)]
pub struct NewAuthorization {
    pub order_id: OrderId,
    pub money: Money,
    pub method: PaymentMethod,
    pub actor: Actor,
}

pub fn authorization(request: &pb::AuthorizeRequest) -> Result<NewAuthorization, PaymentError> {
    use common::payment_method::Method;
    let mut v = FieldViolations::new();
    let method = request
        .payment_method
        .as_ref()
        .and_then(|method| method.method.as_ref());
    let order_id = v.check("order_id", OrderId::parse(&request.order_id));
    let money = match &request.amount {
        Some(amount) => money(&mut v, "amount", amount),
        None => {
            v.add("amount", "required");
            None
        }
    };
    let method = match method {
        Some(Method::Card(card)) => v
            .check("payment_method.card.token", Secret::parse(&card.token))
            .map(|token| PaymentMethod::Card { token }),
        Some(Method::GiftCard(gift)) => v
            .check("payment_method.gift_card.code", Secret::parse(&gift.code))
            .map(|code| PaymentMethod::GiftCard { code }),
        Some(Method::Invoice(invoice)) => v
            .check(
                "payment_method.invoice.billing_reference",
                oms_platform::ids::note(&invoice.billing_reference, 128),
            )
            .map(|billing_reference| PaymentMethod::Invoice { billing_reference }),
        None => {
            v.add("payment_method", "required");
            None
        }
    };
    let actor = actor(&mut v, request.actor.as_ref());
    match (order_id, money, method, actor) {
        (Some(order_id), Some(money), Some(method), Some(actor)) if v.is_empty() => {
            Ok(NewAuthorization {
                order_id,
                money,
                method,
                actor,
            })
        }
        _ => Err(PaymentError::Invalid(v)),
    }
}

/// A checked Capture or Refund request.
#[derive(Debug)]
pub struct MoneyMove {
    pub payment_id: Uuid,
    /// `None`: everything that remains.
    pub money: Option<Money>,
    pub actor: Actor,
    pub refund_reason: Option<RefundReason>,
    pub reference_id: String,
    pub note: String,
}

pub fn capture(request: &pb::CaptureRequest) -> Result<MoneyMove, PaymentError> {
    money_move(
        &request.payment_id,
        request.amount.as_ref(),
        request.actor.as_ref(),
        None,
    )
}

pub fn refund(request: &pb::RefundRequest) -> Result<MoneyMove, PaymentError> {
    money_move(
        &request.payment_id,
        request.amount.as_ref(),
        request.actor.as_ref(),
        Some((request.reason, &request.reference_id, &request.note)),
    )
}

fn money_move(
    payment_id_text: &str,
    amount: Option<&common::Money>,
    actor_pb: Option<&common::Actor>,
    refund: Option<(i32, &str, &str)>,
) -> Result<MoneyMove, PaymentError> {
    let mut v = FieldViolations::new();
    let payment_id = v.check(
        "payment_id",
        MintedId::parse(payment_id_text).map(|id| id.uuid()),
    );
    let money = amount.and_then(|amount| money(&mut v, "amount", amount));
    let actor = actor(&mut v, actor_pb);
    let mut refund_reason = None;
    let mut reference = String::new();
    let mut note_text = String::new();
    if let Some((reason, reference_id, note)) = refund {
        refund_reason = v.check("reason", RefundReason::new(reason));
        reference = v
            .check("reference_id", oms_platform::ids::note(reference_id, 128))
            .unwrap_or_default();
        note_text = v
            .check("note", oms_platform::ids::note(note, 500))
            .unwrap_or_default();
    }
    let (Some(payment_id), Some(actor), true) = (
        payment_id,
        actor,
        v.is_empty() && (amount.is_none() || money.is_some()),
    ) else {
        return Err(PaymentError::Invalid(v));
    };
    Ok(MoneyMove {
        payment_id,
        money,
        actor,
        refund_reason,
        reference_id: reference,
        note: note_text,
    })
}

/// What Void names.
#[derive(Debug)]
pub enum VoidTarget {
    Payment(Uuid),
    AuthorizationKey(String),
}

pub fn void(request: &pb::VoidRequest) -> Result<(VoidTarget, Actor), PaymentError> {
    use pb::void_request::Target;
    let mut v = FieldViolations::new();
    let actor = actor(&mut v, request.actor.as_ref());
    let target = match &request.target {
        None => {
            v.add(
                "target",
                "one of payment_id and authorization_key is required",
            );
            None
        }
        Some(Target::PaymentId(id)) => v
            .check("payment_id", MintedId::parse(id))
            .map(|id| VoidTarget::Payment(id.uuid())),
        Some(Target::AuthorizationKey(key)) => v
            .check(
                "authorization_key",
                oms_platform::idempotency::IdempotencyKey::parse(key.clone())
                    .map_err(|_| Invalid::new("must be 1 to 128 printable ASCII characters")),
            )
            .map(|key| VoidTarget::AuthorizationKey(key.as_str().to_owned())),
    };
    match (target, actor) {
        (Some(target), Some(actor)) if v.is_empty() => Ok((target, actor)),
        _ => Err(PaymentError::Invalid(v)),
    }
}

fn pb_money(currency: &str, amount_minor: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: currency.to_owned(),
        amount_minor,
    })
}

fn transaction(row: &TransactionRow, currency: &str) -> Result<pb::Transaction, PaymentError> {
    let kind = row
        .kind()
        .ok_or_else(|| PaymentError::Corrupt(format!("transaction kind {}", row.kind)))?;
    let status = row
        .status()
        .ok_or_else(|| PaymentError::Corrupt(format!("transaction status {}", row.status)))?;
    Ok(pb::Transaction {
        transaction_id: row.transaction_id.to_string(),
        kind: i32::from(kind.code()),
        status: i32::from(status.code()),
        amount: pb_money(currency, row.amount_minor),
        psp_reference: row.psp_reference.clone(),
        idempotency_key: row.idempotency_key.clone(),
        decline_reason: i32::from(row.decline_reason),
        provider_detail: row.provider_detail.clone(),
        refund_reason: i32::from(row.refund_reason),
        reference_id: row.reference_id.clone(),
        actor: Some(common::Actor {
            kind: i32::from(row.actor_kind),
            id: row.actor_id.clone(),
        }),
        create_time: Some(timestamp(row.create_time)),
        resolve_time: row.resolve_time.map(timestamp),
    })
}

/// A stored payment as the contract shows it.
pub fn payment(record: &PaymentRecord) -> Result<pb::Payment, PaymentError> {
    let row = &record.row;
    let currency = row.currency_code.as_str();
    let totals = record.totals();
    let status = totals.status();
    let decline_reason = match status {
        crate::domain::payment::PaymentStatus::Declined => record
            .authorization()
            .map_or(0, |auth| i32::from(auth.decline_reason)),
        _ => 0,
    };
    Ok(pb::Payment {
        payment_id: row.payment_id.to_string(),
        order_id: row.order_id.clone(),
        status: i32::from(status.code()),
        method: Some(pb::PaymentMethodSummary {
            kind: i32::from(row.method_kind),
            display: row.method_display.clone(),
        }),
        provider: row.provider.clone(),
        authorized_amount: pb_money(currency, row.authorized_minor),
        captured_amount: pb_money(currency, totals.captured),
        refunded_amount: pb_money(currency, totals.refunded),
        voided_amount: pb_money(currency, totals.voided),
        capturable_amount: pb_money(currency, totals.capturable()),
        refundable_amount: pb_money(currency, totals.refundable()),
        decline_reason,
        transactions: record
            .transactions
            .iter()
            .map(|row| transaction(row, currency))
            .collect::<Result<_, _>>()?,
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
    })
}

/// A checked ListPayments request: the filter and the page.
#[derive(Debug)]
pub struct ListQuery {
    pub filter: crate::store::ListFilter,
    pub pages: Pages<(DateTime<Utc>, Uuid)>,
}

pub fn list(request: &pb::ListPaymentsRequest) -> Result<ListQuery, PaymentError> {
    let mut v = FieldViolations::new();
    let order_id = if request.order_id.is_empty() {
        None
    } else {
        v.check("order_id", OrderId::parse(&request.order_id))
            .map(|order_id| order_id.as_str().to_owned())
    };
    let mut statuses = Vec::new();
    for (index, status) in request.statuses.iter().enumerate() {
        match crate::domain::payment::PaymentStatus::from_code(*status) {
            Some(status) => statuses.push(status.code()),
            None => v.add(format!("statuses[{index}]"), "not a payment status"),
        }
    }
    let filters = pb::ListPaymentsRequest {
        page: None,
        ..request.clone()
    };
    let pages = Pages::parse(request.page.as_ref(), &filters, &mut v);
    if !v.is_empty() {
        return Err(PaymentError::Invalid(v));
    }
    Ok(ListQuery {
        filter: crate::store::ListFilter {
            order_id,
            statuses,
            pending_only: request.pending_only,
        },
        pages,
    })
}

#[cfg(test)]
mod tests {
    use oms_platform::card::contains_card_number;

    use super::*;

    #[test]
    fn minted_ids_are_never_taken_for_card_numbers() {
        for _ in 0..20_000 {
            let id = Uuid::now_v7().to_string();
            assert!(payment_id(&id).is_ok(), "{id}");
            let id = Uuid::new_v4().to_string();
            assert!(
                !contains_card_number(&format!("saga-{id}:authorize")),
                "{id}"
            );
        }
    }
}
