-- A grouped Reserve may be decided on the stock its instance saw last, then
-- written in one statement that claims its orders, locks its stock rows and
-- checks each row's latest version under its lock (src/store/group.rs,
-- Store::hold_all). When a row has fewer free units than the group asks of it
-- (or, rarely, was deactivated while the statement ran), the statement calls
-- this function: the error rolls everything it did back, claims included, and
-- the group is decided order by order under the locks instead. The Postgres log
-- shows each such statement as an ERROR with SQLSTATE OMS01: expected when a
-- row sells out or another instance took its last units, never a failure.
CREATE FUNCTION inventory_group_outdated() RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'the stock changed since the group was decided'
        USING ERRCODE = 'OMS01';
END
$$;
