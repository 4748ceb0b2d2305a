-- The payment service's database: payments (one authorization each), every call
-- made to the PSP as a transaction, and authorization keys voided before any
-- Authorize arrived. No card number, card token or gift card code is stored:
-- the PSP is asked with them once and answers with references.

CREATE TABLE payments (
    payment_id        uuid PRIMARY KEY,
    order_id          text NOT NULL,
    -- The idempotency key of the Authorize call, so Void can find the payment by it.
    authorization_key text NOT NULL UNIQUE,
    -- SHA-256 of the Authorize request: a retry with other content is refused.
    fingerprint       bytea NOT NULL,
    currency_code     text NOT NULL,
    authorized_minor  bigint NOT NULL CHECK (authorized_minor > 0),
    method_kind       smallint NOT NULL,
    -- Safe to show: "card ending 4242", "gift card ending 7781", "invoice".
    method_display    text NOT NULL,
    provider          text NOT NULL,
    -- Derived from the transactions and rewritten with every change, for
    -- ListPayments' filter; the transactions stay the truth.
    status            smallint NOT NULL,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX payments_by_order ON payments (order_id, create_time DESC, payment_id DESC);
CREATE INDEX payments_newest_first ON payments (create_time DESC, payment_id DESC);

CREATE TABLE transactions (
    transaction_id  uuid PRIMARY KEY,
    payment_id      uuid NOT NULL REFERENCES payments (payment_id),
    kind            smallint NOT NULL,
    status          smallint NOT NULL,
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    idempotency_key text NOT NULL,
    -- SHA-256 of the request that created it, to refuse a key reused while PENDING.
    fingerprint     bytea NOT NULL,
    psp_reference   text NOT NULL DEFAULT '',
    decline_reason  smallint NOT NULL DEFAULT 0,
    provider_detail text NOT NULL DEFAULT '',
    refund_reason   smallint NOT NULL DEFAULT 0,
    reference_id    text NOT NULL DEFAULT '',
    note            text NOT NULL DEFAULT '',
    actor_kind      smallint NOT NULL,
    actor_id        text NOT NULL,
    create_time     timestamptz NOT NULL DEFAULT now(),
    resolve_time    timestamptz,
    -- One PSP call per key and kind: a retry resolves it, never sends another.
    UNIQUE (kind, idempotency_key)
);

CREATE INDEX transactions_by_payment ON transactions (payment_id, create_time);
-- The reconciler's work list.
CREATE INDEX transactions_pending ON transactions (create_time) WHERE status = 1;

-- Authorization keys voided before their Authorize arrived: a late Authorize
-- with one of them authorizes nothing.
CREATE TABLE voided_authorization_keys (
    authorization_key text PRIMARY KEY,
    create_time       timestamptz NOT NULL DEFAULT now()
);
