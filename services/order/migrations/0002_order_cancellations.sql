-- Partial cancellations (CancelOrder with lines): how many were requested, and
-- whether the last one's cancel saga still runs (one runs at a time; MarkStatus
-- CANCELLED with its number ends it).
ALTER TABLE orders
    ADD COLUMN cancellations integer NOT NULL DEFAULT 0,
    ADD COLUMN cancelling boolean NOT NULL DEFAULT false;
