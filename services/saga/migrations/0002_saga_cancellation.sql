-- Partial cancellations: an order may have several cancel sagas, one per
-- cancellation the order service numbers (0: the whole order, 1, 2, ...: the
-- partial ones). Rows from before have 0, the whole order.
ALTER TABLE sagas ADD COLUMN cancellation integer NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX sagas_order_kind_cancellation
    ON sagas (order_id, kind, cancellation) WHERE kind IN (1, 2);
DROP INDEX sagas_order_kind;
