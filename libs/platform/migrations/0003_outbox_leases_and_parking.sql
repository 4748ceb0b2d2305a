-- The outbox dispatcher claims messages with a lease (claim is the fencing
-- number of the latest claim), and parks a message refused for good as DEAD
-- until an operator re-drives it. See oms_platform::outbox.
ALTER TABLE outbox_messages
    ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'PENDING'
        CHECK (state IN ('PENDING', 'DELIVERED', 'DEAD')),
    ADD COLUMN IF NOT EXISTS claim bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS dead_time timestamptz,
    ADD COLUMN IF NOT EXISTS redrive_count integer NOT NULL DEFAULT 0;

UPDATE outbox_messages SET state = 'DELIVERED' WHERE delivered_time IS NOT NULL;

DROP INDEX IF EXISTS outbox_messages_due;
CREATE INDEX IF NOT EXISTS outbox_messages_pending ON outbox_messages (next_attempt_time, id)
    WHERE state = 'PENDING';
CREATE INDEX IF NOT EXISTS outbox_messages_dead ON outbox_messages (topic, id)
    WHERE state = 'DEAD';
CREATE INDEX IF NOT EXISTS outbox_messages_delivered ON outbox_messages (delivered_time)
    WHERE state = 'DELIVERED';
