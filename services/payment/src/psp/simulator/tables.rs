//! The simulator's tables (`psp_sim_*`): its SQL, and nothing of the payment
//! service's. Each function takes the connection or transaction the caller
//! holds.

use sqlx::PgConnection;

use super::{Behaviour, Script};
use crate::{
    domain::payment::{DeclineReason, TransactionKind},
    psp::PspAnswer,
};

fn corrupt(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("psp simulator: {what}").into())
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Counts one call of `kind` received.
pub async fn count_call(conn: &mut PgConnection, kind: TransactionKind) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO psp_sim_calls (kind, calls) VALUES ($1, 1)
         ON CONFLICT (kind) DO UPDATE SET calls = psp_sim_calls.calls + 1",
    )
    .bind(kind.code())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Calls of `kind` received.
pub async fn calls(conn: &mut PgConnection, kind: TransactionKind) -> Result<u64, sqlx::Error> {
    let calls: Option<i64> = sqlx::query_scalar("SELECT calls FROM psp_sim_calls WHERE kind = $1")
        .bind(kind.code())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(calls.map_or(0, count))
}

/// Counts one failure draw of `seed`; its number, from 1.
pub async fn next_draw(conn: &mut PgConnection, seed: u64) -> Result<u64, sqlx::Error> {
    let draws: i64 = sqlx::query_scalar(
        "INSERT INTO psp_sim_fault_draws (seed, draws) VALUES ($1, 1)
         ON CONFLICT (seed) DO UPDATE SET draws = psp_sim_fault_draws.draws + 1
         RETURNING draws",
    )
    // The seed's 64 bits, as Postgres has no unsigned integers.
    .bind(i64::from_ne_bytes(seed.to_ne_bytes()))
    .fetch_one(&mut *conn)
    .await?;
    Ok(count(draws))
}

/// The number of the next reference.
pub async fn next_reference(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT nextval('psp_sim_references')")
        .fetch_one(&mut *conn)
        .await
}

/// The answer kept for the call of `kind` with `key`.
pub async fn answer(
    conn: &mut PgConnection,
    kind: TransactionKind,
    key: &str,
) -> Result<Option<PspAnswer>, sqlx::Error> {
    let row: Option<(bool, String, i16, String)> = sqlx::query_as(
        "SELECT approved, reference, decline_reason, detail FROM psp_sim_answers
         WHERE kind = $1 AND idempotency_key = $2",
    )
    .bind(kind.code())
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((approved, reference, reason, detail)) = row else {
        return Ok(None);
    };
    if approved {
        return Ok(Some(PspAnswer::Approved { reference }));
    }
    let reason = DeclineReason::from_code(reason).ok_or_else(|| corrupt("decline reason"))?;
    Ok(Some(PspAnswer::Declined { reason, detail }))
}

/// Keeps the answer to the call of `kind` with `key` and counts the call, in
/// one statement; `false`, with nothing written, when another call kept one
/// under the key first. Refusals before anything happened (balance, currency)
/// are not kept, only counted: the same call may succeed later.
pub async fn keep_answer(
    conn: &mut PgConnection,
    kind: TransactionKind,
    key: &str,
    answer: &PspAnswer,
) -> Result<bool, sqlx::Error> {
    let (approved, reference, reason, detail) = match answer {
        PspAnswer::Approved { reference } => (true, reference.as_str(), 0, ""),
        PspAnswer::Declined { reason, detail } => (false, "", reason.code(), detail.as_str()),
        PspAnswer::ExceedsBalance { .. } | PspAnswer::CurrencyMismatch { .. } => {
            count_call(conn, kind).await?;
            return Ok(true);
        }
    };
    // The counter's row (one per kind, shared by every call) is locked last,
    // so it is held only while the commit that follows runs.
    sqlx::query_scalar(
        "WITH kept AS (
             INSERT INTO psp_sim_answers (kind, idempotency_key, approved, reference,
                 decline_reason, detail)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (kind, idempotency_key) DO NOTHING
             RETURNING 1
         ),
         counted AS (
             INSERT INTO psp_sim_calls (kind, calls)
             SELECT $1, 1 WHERE EXISTS (SELECT 1 FROM kept)
             ON CONFLICT (kind) DO UPDATE SET calls = psp_sim_calls.calls + 1
         )
         SELECT EXISTS (SELECT 1 FROM kept)",
    )
    .bind(kind.code())
    .bind(key)
    .bind(approved)
    .bind(reference)
    .bind(reason)
    .bind(detail)
    .fetch_one(&mut *conn)
    .await
}

/// Records an authorization with what its token scripted for later calls.
pub async fn insert_authorization(
    conn: &mut PgConnection,
    reference: &str,
    (kind, behaviour): Script,
    gift_card_hash: Option<&[u8]>,
    currency_code: &str,
    amount_minor: i64,
) -> Result<(), sqlx::Error> {
    let (behaviour, reason) = behaviour.code();
    sqlx::query(
        "INSERT INTO psp_sim_authorizations (reference, script_kind, script_behaviour,
             script_decline_reason, gift_card_hash, currency_code, amount_minor)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(reference)
    .bind(kind.code())
    .bind(behaviour)
    .bind(reason)
    .bind(gift_card_hash)
    .bind(currency_code)
    .bind(amount_minor)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What the authorization `reference` scripted; `None` for a reference the
/// simulator never gave.
pub async fn script(
    conn: &mut PgConnection,
    reference: &str,
) -> Result<Option<Script>, sqlx::Error> {
    let row: Option<(i16, i16, i16)> = sqlx::query_as(
        "SELECT script_kind, script_behaviour, script_decline_reason
         FROM psp_sim_authorizations WHERE reference = $1",
    )
    .bind(reference)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((kind, behaviour, reason)) = row else {
        return Ok(None);
    };
    let kind = TransactionKind::from_code(kind).ok_or_else(|| corrupt("script kind"))?;
    let behaviour =
        Behaviour::from_code(behaviour, reason).ok_or_else(|| corrupt("script behaviour"))?;
    Ok(Some((kind, behaviour)))
}

/// Authorizations made.
pub async fn charges(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let charges: i64 = sqlx::query_scalar("SELECT count(*) FROM psp_sim_authorizations")
        .fetch_one(&mut *conn)
        .await?;
    Ok(count(charges))
}

/// The gift card's currency and balance, locked for this transaction; a card
/// seen for the first time starts with `currency_code` and `balance_minor`.
pub async fn gift_card(
    conn: &mut PgConnection,
    hash: &[u8],
    currency_code: &str,
    balance_minor: i64,
) -> Result<(String, i64), sqlx::Error> {
    sqlx::query(
        "INSERT INTO psp_sim_gift_cards (code_hash, currency_code, balance_minor)
         VALUES ($1, $2, $3) ON CONFLICT (code_hash) DO NOTHING",
    )
    .bind(hash)
    .bind(currency_code)
    .bind(balance_minor)
    .execute(&mut *conn)
    .await?;
    sqlx::query_as(
        "SELECT currency_code, balance_minor FROM psp_sim_gift_cards
         WHERE code_hash = $1 FOR UPDATE",
    )
    .bind(hash)
    .fetch_one(&mut *conn)
    .await
}

/// The balance of a gift card seen before.
pub async fn gift_card_balance(
    conn: &mut PgConnection,
    hash: &[u8],
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT balance_minor FROM psp_sim_gift_cards WHERE code_hash = $1")
        .bind(hash)
        .fetch_optional(&mut *conn)
        .await
}

/// Adds `amount_minor` (negative: takes) to a gift card's balance.
pub async fn add_to_gift_card(
    conn: &mut PgConnection,
    hash: &[u8],
    amount_minor: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE psp_sim_gift_cards SET balance_minor = balance_minor + $2 WHERE code_hash = $1",
    )
    .bind(hash)
    .bind(amount_minor)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Gives `amount_minor` back to the gift card the authorization `reference`
/// charged, if it charged one.
pub async fn give_back(
    conn: &mut PgConnection,
    reference: &str,
    amount_minor: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE psp_sim_gift_cards SET balance_minor = balance_minor + $2
         WHERE code_hash = (SELECT gift_card_hash FROM psp_sim_authorizations WHERE reference = $1)",
    )
    .bind(reference)
    .bind(amount_minor)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
