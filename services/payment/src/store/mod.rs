//! Postgres, the truth of every payment: SQL, typed rows, and the row lock that
//! serialises every change of one payment.
//!
//! Callers open one transaction per change ([`Store::begin`]), lock the payment
//! ([`lock_payment`]), read its transactions, call the PSP and write the
//! outcome, so two calls on one payment never both spend the same money.

use chrono::{DateTime, Utc};
use sqlx::{
    FromRow, PgConnection, PgPool, Postgres, Transaction, postgres::PgArguments, query::QueryAs,
};
use uuid::Uuid;

use crate::domain::{
    Actor,
    payment::{DeclineReason, Totals, TransactionKind, TransactionStatus},
};

/// The service's database.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// A store on an open pool whose migrations have run.
    pub fn new(pool: PgPool) -> Store {
        Store { pool }
    }

    /// The pool, for reads outside a change and idempotency.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens the transaction of one change.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// One payment with its transactions, outside any change.
    pub async fn get(&self, payment_id: Uuid) -> Result<Option<PaymentRecord>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let Some(row) = sqlx::query_as::<_, PaymentRow>(sqlx::AssertSqlSafe(format!(
            // Column lists are constants of this module.
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_id = $1"
        )))
        .bind(payment_id)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let transactions = transactions(&mut conn, payment_id).await?;
        Ok(Some(PaymentRecord { row, transactions }))
    }

    /// One page of payments, newest first, after `after` (create time and id).
    pub async fn list(
        &self,
        filter: &ListFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<PaymentRecord>, sqlx::Error> {
        let rows: Vec<PaymentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments p
             WHERE ($1::text IS NULL OR order_id = $1)
               AND (cardinality($2::smallint[]) = 0 OR status = ANY($2))
               AND (NOT $3 OR EXISTS (SELECT 1 FROM transactions t
                                      WHERE t.payment_id = p.payment_id AND t.status = 1))
               AND ($4::timestamptz IS NULL OR (create_time, payment_id) < ($4, $5))
             ORDER BY create_time DESC, payment_id DESC
             LIMIT $6"
        )))
        .bind(filter.order_id.as_deref())
        .bind(&filter.statuses)
        .bind(filter.pending_only)
        .bind(after.map(|(time, _)| time))
        .bind(after.map(|(_, id)| id))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<Uuid> = rows.iter().map(|row| row.payment_id).collect();
        let mut transactions: Vec<TransactionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE payment_id = ANY($1)
             ORDER BY create_time, transaction_id"
        )))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let mine;
                (mine, transactions) = std::mem::take(&mut transactions)
                    .into_iter()
                    .partition(|t| t.payment_id == row.payment_id);
                PaymentRecord {
                    row,
                    transactions: mine,
                }
            })
            .collect())
    }

    /// Payments with a transaction PENDING for longer than `seconds`, oldest first.
    pub async fn pending_payments(
        &self,
        seconds: f64,
        limit: i64,
    ) -> Result<Vec<Uuid>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT payment_id FROM transactions
             WHERE status = 1 AND create_time < now() - make_interval(secs => $1)
             GROUP BY payment_id ORDER BY min(create_time) LIMIT $2",
        )
        .bind(seconds)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }
}

const PAYMENT_COLUMNS: &str = "payment_id, order_id, authorization_key, fingerprint, \
    currency_code, authorized_minor, method_kind, method_display, provider, create_time, \
    update_time";

const TRANSACTION_COLUMNS: &str = "transaction_id, payment_id, kind, status, amount_minor, \
    idempotency_key, fingerprint, psp_reference, decline_reason, provider_detail, \
    refund_reason, reference_id, note, actor_kind, actor_id, create_time, resolve_time";

/// A payment as stored.
#[derive(Debug, Clone, FromRow)]
pub struct PaymentRow {
    /// The id the service minted.
    pub payment_id: Uuid,
    /// The order it pays for.
    pub order_id: String,
    /// The idempotency key of its Authorize: one payment per key.
    pub authorization_key: String,
    /// SHA-256 of the Authorize request, to tell a retry from another request.
    pub fingerprint: Vec<u8>,
    /// The currency of every amount.
    pub currency_code: String,
    /// The amount the authorization asked for, in minor units.
    pub authorized_minor: i64,
    /// The payment method's kind code.
    pub method_kind: i16,
    /// Text safe to show, e.g. "card ending 4242".
    pub method_display: String,
    /// The PSP's name.
    pub provider: String,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// The last change.
    pub update_time: DateTime<Utc>,
}

/// One PSP call as stored.
#[derive(Debug, Clone, FromRow)]
pub struct TransactionRow {
    /// The id the service minted.
    pub transaction_id: Uuid,
    /// The payment it belongs to.
    pub payment_id: Uuid,
    /// The transaction kind's code.
    pub kind: i16,
    /// The transaction status's code.
    pub status: i16,
    /// In minor units of the payment's currency.
    pub amount_minor: i64,
    /// The caller's idempotency key, passed to the PSP.
    pub idempotency_key: String,
    /// SHA-256 of the request, to tell a retry from another request.
    pub fingerprint: Vec<u8>,
    /// The PSP's reference of the call; empty unless it succeeded.
    pub psp_reference: String,
    /// The decline reason's code; 0 unless it failed.
    pub decline_reason: i16,
    /// The PSP's own code of a failure, never card data.
    pub provider_detail: String,
    /// For a refund: the refund reason's code; 0 otherwise.
    pub refund_reason: i16,
    /// For a refund: what it is for (a return id, a saga id); may be empty.
    pub reference_id: String,
    /// A note for the audit trail; never personal data.
    pub note: String,
    /// Who asked for it: the actor's kind code.
    pub actor_kind: i16,
    /// Who asked for it: the actor's id.
    pub actor_id: String,
    /// When it was sent.
    pub create_time: DateTime<Utc>,
    /// When a PENDING outcome became known.
    pub resolve_time: Option<DateTime<Utc>>,
}

impl TransactionRow {
    /// The kind; `None` for a code this build does not know.
    pub fn kind(&self) -> Option<TransactionKind> {
        TransactionKind::from_code(self.kind)
    }

    /// The status; `None` for a code this build does not know.
    pub fn status(&self) -> Option<TransactionStatus> {
        TransactionStatus::from_code(self.status)
    }
}

/// A payment with every transaction, oldest first.
#[derive(Debug, Clone)]
pub struct PaymentRecord {
    /// The payment's row.
    pub row: PaymentRow,
    /// Its transactions, oldest first.
    pub transactions: Vec<TransactionRow>,
}

impl PaymentRecord {
    /// The money of the payment, from its transactions.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals {
            authorized: self.row.authorized_minor,
            ..Totals::default()
        };
        for transaction in &self.transactions {
            if let (Some(kind), Some(status)) = (transaction.kind(), transaction.status()) {
                totals.add(kind, status, transaction.amount_minor);
            }
        }
        totals
    }

    /// The authorization transaction.
    pub fn authorization(&self) -> Option<&TransactionRow> {
        self.transactions
            .iter()
            .find(|t| t.kind() == Some(TransactionKind::Authorization))
    }

    /// The transaction of `kind` made with `idempotency_key`.
    pub fn transaction_by_key(
        &self,
        kind: TransactionKind,
        idempotency_key: &str,
    ) -> Option<&TransactionRow> {
        self.transactions
            .iter()
            .find(|t| t.kind() == Some(kind) && t.idempotency_key == idempotency_key)
    }
}

/// What ListPayments filters on; `None` and empty match everything.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Payments of this order.
    pub order_id: Option<String>,
    /// Payments in any of these status codes.
    pub statuses: Vec<i16>,
    /// Only payments with a PENDING transaction.
    pub pending_only: bool,
}

/// A payment to create, with its authorization.
#[derive(Debug, Clone)]
pub struct NewPayment {
    /// The id to give it.
    pub payment_id: Uuid,
    /// The order it pays for.
    pub order_id: String,
    /// The idempotency key of its Authorize.
    pub authorization_key: String,
    /// SHA-256 of the Authorize request.
    pub fingerprint: Vec<u8>,
    /// The currency of every amount.
    pub currency_code: String,
    /// The amount to authorize, in minor units.
    pub authorized_minor: i64,
    /// The payment method's kind code.
    pub method_kind: i16,
    /// Text safe to show of the payment method.
    pub method_display: String,
    /// The PSP's name.
    pub provider: String,
}

/// A transaction to create.
#[derive(Debug, Clone)]
pub struct NewTransaction {
    /// The id to give it.
    pub transaction_id: Uuid,
    /// The payment it belongs to.
    pub payment_id: Uuid,
    /// What the PSP is asked.
    pub kind: TransactionKind,
    /// In minor units of the payment's currency.
    pub amount_minor: i64,
    /// The caller's idempotency key.
    pub idempotency_key: String,
    /// SHA-256 of the request.
    pub fingerprint: Vec<u8>,
    /// For a refund: the refund reason's code; 0 otherwise.
    pub refund_reason: i16,
    /// For a refund: what it is for; may be empty.
    pub reference_id: String,
    /// A note for the audit trail.
    pub note: String,
    /// Who asked for it.
    pub actor: Actor,
}

/// The PSP's answer to record on a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// PENDING, SUCCEEDED or FAILED.
    pub status: TransactionStatus,
    /// The PSP's reference of the call; empty unless it succeeded.
    pub psp_reference: String,
    /// Why it failed; `None` unless it failed.
    pub decline_reason: Option<DeclineReason>,
    /// The PSP's own code of a failure, never card data.
    pub provider_detail: String,
}

impl Outcome {
    /// Sent, and no answer yet: the outcome is unknown.
    pub const PENDING: Outcome = Outcome {
        status: TransactionStatus::Pending,
        psp_reference: String::new(),
        decline_reason: None,
        provider_detail: String::new(),
    };
}

/// Serialises Authorize and Void calls that name the same authorization key,
/// until the transaction ends.
pub async fn lock_authorization_key(conn: &mut PgConnection, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// What an authorization key stands for now: whether a Void with it came
/// before its Authorize (then a late Authorize authorizes nothing), and the
/// payment authorized with it, if any. One read.
pub async fn authorization_key_state(
    conn: &mut PgConnection,
    key: &str,
) -> Result<(bool, Option<Uuid>), sqlx::Error> {
    sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM voided_authorization_keys WHERE authorization_key = $1),
             (SELECT payment_id FROM payments WHERE authorization_key = $1)",
    )
    .bind(key)
    .fetch_one(conn)
    .await
}

/// Records that a Void came before the Authorize of this key.
pub async fn record_voided_key(conn: &mut PgConnection, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO voided_authorization_keys (authorization_key) VALUES ($1)
         ON CONFLICT DO NOTHING",
    )
    .bind(key)
    .execute(conn)
    .await?;
    Ok(())
}

/// The payment authorized with this key, if any.
pub async fn payment_id_by_key(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT payment_id FROM payments WHERE authorization_key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await
}

/// Locks the payment for the rest of the transaction and reads it whole.
pub async fn lock_payment(
    conn: &mut PgConnection,
    payment_id: Uuid,
) -> Result<Option<PaymentRecord>, sqlx::Error> {
    let Some(row) = sqlx::query_as::<_, PaymentRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_id = $1 FOR UPDATE"
    )))
    .bind(payment_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let transactions = transactions(conn, payment_id).await?;
    Ok(Some(PaymentRecord { row, transactions }))
}

/// Locks the payment, reads it whole and stores its derived status: the last
/// step of every change before its commit.
pub async fn settle(
    conn: &mut PgConnection,
    payment_id: Uuid,
) -> Result<Option<PaymentRecord>, sqlx::Error> {
    let Some(record) = lock_payment(conn, payment_id).await? else {
        return Ok(None);
    };
    sqlx::query("UPDATE payments SET status = $2 WHERE payment_id = $1 AND status <> $2")
        .bind(payment_id)
        .bind(record.totals().status().code())
        .execute(conn)
        .await?;
    Ok(Some(record))
}

async fn transactions(
    conn: &mut PgConnection,
    payment_id: Uuid,
) -> Result<Vec<TransactionRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE payment_id = $1
         ORDER BY create_time, transaction_id"
    )))
    .bind(payment_id)
    .fetch_all(conn)
    .await
}

/// A transaction's insert: `$1` to `$15` as [`bind_transaction`] binds them.
const INSERT_TRANSACTION: &str = "INSERT INTO transactions (transaction_id, payment_id, kind,
         status, amount_minor, idempotency_key, fingerprint, psp_reference, decline_reason,
         provider_detail, refund_reason, reference_id, note, actor_kind, actor_id, create_time,
         resolve_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
         clock_timestamp(), CASE WHEN $4 = 1 THEN NULL ELSE clock_timestamp() END)";

/// Binds `$1` to `$15` of [`INSERT_TRANSACTION`].
fn bind_transaction<'q, O>(
    query: QueryAs<'q, Postgres, O, PgArguments>,
    transaction: &'q NewTransaction,
    outcome: &'q Outcome,
) -> QueryAs<'q, Postgres, O, PgArguments> {
    query
        .bind(transaction.transaction_id)
        .bind(transaction.payment_id)
        .bind(transaction.kind.code())
        .bind(outcome.status.code())
        .bind(transaction.amount_minor)
        .bind(&transaction.idempotency_key)
        .bind(&transaction.fingerprint)
        .bind(&outcome.psp_reference)
        .bind(outcome.decline_reason.map_or(0, DeclineReason::code))
        .bind(&outcome.provider_detail)
        .bind(transaction.refund_reason)
        .bind(&transaction.reference_id)
        .bind(&transaction.note)
        .bind(transaction.actor.kind.code())
        .bind(&transaction.actor.id)
}

/// A transaction as [`INSERT_TRANSACTION`] stored it, at the times it returned.
fn inserted(
    transaction: &NewTransaction,
    outcome: &Outcome,
    create_time: DateTime<Utc>,
    resolve_time: Option<DateTime<Utc>>,
) -> TransactionRow {
    TransactionRow {
        transaction_id: transaction.transaction_id,
        payment_id: transaction.payment_id,
        kind: transaction.kind.code(),
        status: outcome.status.code(),
        amount_minor: transaction.amount_minor,
        idempotency_key: transaction.idempotency_key.clone(),
        fingerprint: transaction.fingerprint.clone(),
        psp_reference: outcome.psp_reference.clone(),
        decline_reason: outcome.decline_reason.map_or(0, DeclineReason::code),
        provider_detail: outcome.provider_detail.clone(),
        refund_reason: transaction.refund_reason,
        reference_id: transaction.reference_id.clone(),
        note: transaction.note.clone(),
        actor_kind: transaction.actor.kind.code(),
        actor_id: transaction.actor.id.clone(),
        create_time,
        resolve_time,
    }
}

/// Writes a transaction with the PSP's outcome, and touches its payment.
pub async fn insert_transaction(
    conn: &mut PgConnection,
    transaction: &NewTransaction,
    outcome: &Outcome,
) -> Result<(), sqlx::Error> {
    bind_transaction(
        sqlx::query_as::<_, (Uuid,)>(sqlx::AssertSqlSafe(format!(
            "{INSERT_TRANSACTION} RETURNING transaction_id"
        ))),
        transaction,
        outcome,
    )
    .fetch_one(&mut *conn)
    .await?;
    touch(conn, transaction.payment_id).await
}

/// Creates a payment with its authorization and the PSP's outcome, its
/// derived status stored, in the caller's transaction and in one statement;
/// returns the payment as reading it back would.
pub async fn create_payment(
    conn: &mut PgConnection,
    payment: &NewPayment,
    authorization: &NewTransaction,
    outcome: &Outcome,
) -> Result<PaymentRecord, sqlx::Error> {
    let mut totals = Totals {
        authorized: payment.authorized_minor,
        ..Totals::default()
    };
    totals.add(
        authorization.kind,
        outcome.status,
        authorization.amount_minor,
    );
    // The transaction's foreign key is checked at the end of the statement,
    // when its payment is in.
    let created: Created = bind_transaction(
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH t AS ({INSERT_TRANSACTION} RETURNING create_time, resolve_time)
             INSERT INTO payments (payment_id, order_id, authorization_key, fingerprint,
                 currency_code, authorized_minor, method_kind, method_display, provider, status)
             VALUES ($2, $16, $17, $18, $19, $20, $21, $22, $23, $24)
             RETURNING {PAYMENT_COLUMNS},
                 (SELECT create_time FROM t) AS transaction_create_time,
                 (SELECT resolve_time FROM t) AS transaction_resolve_time"
        ))),
        authorization,
        outcome,
    )
    .bind(&payment.order_id)
    .bind(&payment.authorization_key)
    .bind(&payment.fingerprint)
    .bind(&payment.currency_code)
    .bind(payment.authorized_minor)
    .bind(payment.method_kind)
    .bind(&payment.method_display)
    .bind(&payment.provider)
    .bind(totals.status().code())
    .fetch_one(conn)
    .await?;
    Ok(PaymentRecord {
        row: created.row,
        transactions: vec![inserted(
            authorization,
            outcome,
            created.transaction_create_time,
            created.transaction_resolve_time,
        )],
    })
}

/// Adds a transaction with the PSP's outcome to `record`, a payment locked in
/// the caller's transaction, and stores the payment's derived status, in one
/// statement; returns the payment as reading it back would.
pub async fn add_transaction(
    conn: &mut PgConnection,
    mut record: PaymentRecord,
    transaction: &NewTransaction,
    outcome: &Outcome,
) -> Result<PaymentRecord, sqlx::Error> {
    let mut totals = record.totals();
    totals.add(transaction.kind, outcome.status, transaction.amount_minor);
    let (update_time, create_time, resolve_time): (
        DateTime<Utc>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
    ) = bind_transaction(
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH t AS ({INSERT_TRANSACTION} RETURNING create_time, resolve_time)
             UPDATE payments SET status = $16, update_time = clock_timestamp()
             WHERE payment_id = $2
             RETURNING update_time, (SELECT create_time FROM t), (SELECT resolve_time FROM t)"
        ))),
        transaction,
        outcome,
    )
    .bind(totals.status().code())
    .fetch_one(conn)
    .await?;
    record.row.update_time = update_time;
    record
        .transactions
        .push(inserted(transaction, outcome, create_time, resolve_time));
    record
        .transactions
        .sort_by_key(|t| (t.create_time, t.transaction_id));
    Ok(record)
}

/// A payment as [`create_payment`] inserted it, with its authorization's times.
#[derive(FromRow)]
struct Created {
    #[sqlx(flatten)]
    row: PaymentRow,
    transaction_create_time: DateTime<Utc>,
    transaction_resolve_time: Option<DateTime<Utc>>,
}

/// Records the PSP's answer on a PENDING transaction; a resolved one is left
/// as it is.
pub async fn resolve_transaction(
    conn: &mut PgConnection,
    payment_id: Uuid,
    transaction_id: Uuid,
    outcome: &Outcome,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE transactions SET status = $2, psp_reference = $3, decline_reason = $4,
             provider_detail = $5, resolve_time = clock_timestamp()
         WHERE transaction_id = $1 AND status = 1",
    )
    .bind(transaction_id)
    .bind(outcome.status.code())
    .bind(&outcome.psp_reference)
    .bind(outcome.decline_reason.map_or(0, DeclineReason::code))
    .bind(&outcome.provider_detail)
    .execute(&mut *conn)
    .await?;
    touch(conn, payment_id).await
}

async fn touch(conn: &mut PgConnection, payment_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payments SET update_time = clock_timestamp() WHERE payment_id = $1")
        .bind(payment_id)
        .execute(conn)
        .await?;
    Ok(())
}
