-- The first response of every idempotent mutating call, by caller-chosen key.
-- See oms_platform::idempotency.
CREATE TABLE IF NOT EXISTS idempotency_records (
    -- The RPC the key belongs to, e.g. 'oms.payment.v1.PaymentService/Capture'.
    scope       text        NOT NULL,
    -- The caller's idempotency key.
    key         text        NOT NULL,
    -- SHA-256 of the encoded request: the same key with another request is refused.
    fingerprint bytea       NOT NULL,
    -- The encoded response, written in the same transaction as the call's effects.
    response    bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

CREATE INDEX IF NOT EXISTS idempotency_records_created_at ON idempotency_records (created_at);
