-- A saga's body (its step log, about 5 KB of JSON once every step ran) is
-- rewritten at every step and compressed each time; lz4 takes about half
-- pglz's CPU for it (0.039 against 0.068 ms a write, parse included, measured
-- on 1,000 of the bench's bodies) at a size within 10%. Only values written
-- from now on change; older ones read as before. A server built without lz4
-- keeps pglz: the change is skipped, never fatal.
DO $$
BEGIN
    ALTER TABLE sagas ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server; saga bodies stay pglz';
END
$$;
