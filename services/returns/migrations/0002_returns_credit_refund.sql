-- A return of goods from an exchange's replacement order refunds the part the
-- order's own payment cannot give back (its credit) on the original order's
-- payment: that refund, next to the one on the order's payment.
ALTER TABLE returns
    ADD COLUMN credit_refund_minor bigint NOT NULL DEFAULT 0,
    ADD COLUMN credit_refund_payment_id text NOT NULL DEFAULT '',
    ADD COLUMN credit_refund_transaction_id text NOT NULL DEFAULT '';
