-- Store::hold_all (src/store/group.rs) decides a group in one statement that
-- commits by itself. When another instance's statement holds one of its stock
-- rows, Postgres waits, then re-reads the row's new version (EvalPlanQual),
-- and that re-read first sets up every part of the statement again, once for
-- the lock and once more for the UPDATE, whose snapshot predates the other
-- commit. With two instances selling one SKU, that cost about a tenth of the
-- whole reserve bench's CPU. These two functions lock and update the rows in
-- statements of their own: a VOLATILE function's statement takes its snapshot
-- when it starts, so the lock's re-read sets up only this small query, and the
-- update, taken after the lock, sees the latest version and re-reads nothing.

-- Locks the stock rows at active locations among skus[i], location_ids[i],
-- one by one in the arrays' order (the callers sort them by (sku,
-- location_id), the order every writer locks in), and returns their latest
-- versions. Locks nothing and returns nothing unless `wanted`: the caller
-- passes whether it claimed any order, so the claims are taken first.
CREATE FUNCTION inventory_lock_stock(skus text[], location_ids text[], wanted boolean)
RETURNS TABLE (sku text, location_id text, on_hand integer, reserved integer,
    safety_stock integer)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    IF NOT wanted THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT s.sku, s.location_id, s.on_hand, s.reserved, s.safety_stock
    FROM unnest(skus, location_ids) WITH ORDINALITY AS r(sku, location_id, n)
    CROSS JOIN LATERAL (
        SELECT s.sku, s.location_id, s.on_hand, s.reserved, s.safety_stock
        FROM stock s
        JOIN locations l ON l.location_id = s.location_id AND l.active
        WHERE s.sku = r.sku AND s.location_id = r.location_id
        FOR UPDATE OF s
    ) s
    ORDER BY r.n;
END
$$;

-- Sets the reserved units and last ledger position of stock rows the caller
-- has locked (inventory_lock_stock): row i is (skus[i], location_ids[i]).
-- Returns how many rows it updated.
CREATE FUNCTION inventory_set_reserved(skus text[], location_ids text[],
    new_reserved integer[], sequences bigint[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    updated bigint;
BEGIN
    UPDATE stock s
    SET reserved = u.reserved, sequence = u.sequence, update_time = now()
    FROM unnest(skus, location_ids, new_reserved, sequences)
        AS u(sku, location_id, reserved, sequence)
    WHERE s.sku = u.sku AND s.location_id = u.location_id;
    GET DIAGNOSTICS updated = ROW_COUNT;
    RETURN updated;
END
$$;
