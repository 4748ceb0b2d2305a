//! Raw card numbers: refused in every field with INVALID_ARGUMENT naming the
//! field, and found afterwards in no column of the database and no log line.

use oms_proto::{
    common::v1::Actor,
    payment::v1::{GetPaymentRequest, VoidRequest, void_request},
};
use sqlx::Row as _;
use tonic::Code;

use crate::helpers::*;

/// Test card numbers, as callers might send them.
const VISA: &str = "4111 1111 1111 1111";
const MASTERCARD: &str = "5500-0000-0000-0004";

/// The digits alone, as they would appear anywhere once separators are gone.
fn digits_in(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    compact.contains("4111111111111111") || compact.contains("5500000000000004")
}

#[tokio::test(flavor = "current_thread")]
async fn a_raw_card_number_is_refused_and_stored_or_logged_nowhere() {
    // Captures every event of this test's runtime, where the service runs.
    let captured = oms_testkit::logs::CapturedLogs::start();
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let payment = authorized(&mut client, "auth-ok", 1000).await;
    let id = payment.payment_id.clone();

    // Authorize: every string field, and the card number as the token itself.
    let mut cases = Vec::new();
    let mut request = authorize_request(100, card("tok_visa"));
    request.order_id = format!("ord {VISA}");
    cases.push(("order_id", request));
    cases.push((
        "payment_method.card.token",
        authorize_request(100, card(VISA)),
    ));
    cases.push((
        "payment_method.card.token",
        authorize_request(100, card("4111111111111111")),
    ));
    cases.push((
        "payment_method.gift_card.code",
        authorize_request(100, gift_card(MASTERCARD)),
    ));
    cases.push((
        "payment_method.invoice.billing_reference",
        authorize_request(100, invoice(&format!("card {MASTERCARD}"))),
    ));
    let mut request = authorize_request(100, card("tok_visa"));
    request.actor = Some(Actor {
        kind: 4,
        id: VISA.into(),
    });
    cases.push(("actor.id", request));
    for (i, (field, request)) in cases.into_iter().enumerate() {
        let status = client
            .authorize(keyed(request, &format!("auth-{i}")))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), [field]);
        assert!(
            !digits_in(status.message()),
            "{field}: {}",
            status.message()
        );
    }
    let status = client
        .authorize(keyed(
            authorize_request(100, card("tok_visa")),
            "4111-1111-1111-1111",
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["idempotency-key"]);

    // Capture, Refund, Void and reads.
    let mut request = capture_request(&id, Some(100));
    request.actor.as_mut().unwrap().id = MASTERCARD.into();
    let status = client.capture(keyed(request, "cap-1")).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["actor.id"]);
    capture(&mut client, &id, "cap-2", None).await.unwrap();
    let mut request = refund_request(&id, Some(100));
    request.note = format!("customer read out {VISA}");
    request.reference_id = MASTERCARD.into();
    let status = client.refund(keyed(request, "ref-1")).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["reference_id", "note"]);
    let status = client
        .void(keyed(
            VoidRequest {
                target: Some(void_request::Target::AuthorizationKey(
                    "4111-1111-1111-1111".into(),
                )),
                actor: Some(saga()),
            },
            "void-1",
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["authorization_key"]);
    let status = client
        .get_payment(GetPaymentRequest {
            payment_id: VISA.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["payment_id"]);

    // Nowhere in the database: every text, JSON and binary column of every table.
    let pool = payments.db.pool().await;
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text
         FROM information_schema.columns
         WHERE table_schema = 'public'
           AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea')",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        columns
            .iter()
            .any(|(table, column, _)| table == "transactions" && column == "note")
    );
    let mut rows_seen = 0;
    for (table, column, data_type) in &columns {
        let value = if data_type == "bytea" {
            format!("encode(\"{column}\", 'escape')")
        } else {
            format!("\"{column}\"::text")
        };
        let sql = format!("SELECT {value} AS value FROM \"{table}\"");
        for row in sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .unwrap()
        {
            let value: Option<String> = row.get("value");
            rows_seen += 1;
            assert!(
                !value.as_deref().is_some_and(digits_in),
                "a card number in {table}.{column}"
            );
        }
    }
    assert!(rows_seen > 10, "the check read the service's rows");
    payments.stop().await;

    let logs = captured.text();
    assert!(logs.contains(&id), "the service logged the payment");
    assert!(!digits_in(&logs), "a card number in the logs");
    assert!(!captured.mentions("tok_visa"), "a card token in the logs");
}
