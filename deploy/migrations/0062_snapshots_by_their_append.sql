-- The services' role no longer inserts snapshots. The store saves one through this function, which takes
-- the hash from the event itself and accepts a snapshot only from the transaction that appended the event
-- at its version: a snapshot cannot be added beside a stream's history afterwards, only with a new event
-- (hashed, anchored and witnessed like any other). Whether its state is the fold of its events, SQL cannot
-- tell (the fold is Python): `producers.store.load` folds the stream once per process before it trusts a
-- snapshot, and `vanthu audit verify` checks every one. The owner (restore, the bulk loader) still writes
-- snapshots directly.
REVOKE INSERT, UPDATE, DELETE ON snapshots FROM vanthu_app;

CREATE FUNCTION public.vanthu_save_snapshot(stream text, at_version integer, snapshot jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
    event_hash bytea;
    event_xmin bigint;
    current_xid bigint := pg_current_xact_id()::text::bigint;
    full_xid bigint;
BEGIN
    IF snapshot ->> 'id' IS DISTINCT FROM stream OR (snapshot ->> 'version')::integer IS DISTINCT FROM at_version
    THEN
        RAISE EXCEPTION 'a snapshot of % at v% must hold that stream at that version', stream, at_version
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT e.hash, e.xmin::text::bigint INTO event_hash, event_xmin
    FROM events e WHERE e.stream_id = stream AND e.version = at_version;
    IF event_hash IS NULL THEN
        RAISE EXCEPTION 'no event of % at v% to snapshot', stream, at_version USING ERRCODE = 'check_violation';
    END IF;
    -- A row this transaction sees whose inserting transaction is still in progress is this transaction's
    -- own (or one of its savepoints'): others' uncommitted rows are invisible. xmin is 32 bits; widen it
    -- with the current epoch (the previous one if it wrapped since).
    full_xid := ((current_xid >> 32) - CASE WHEN event_xmin > (current_xid & 4294967295) THEN 1 ELSE 0 END) << 32
        | event_xmin;
    IF pg_xact_status(full_xid::text::xid8) IS DISTINCT FROM 'in progress' THEN
        RAISE EXCEPTION 'a snapshot of % at v% is saved only by the transaction that appended that event',
            stream, at_version USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO snapshots (stream_id, version, state, hash)
    VALUES (stream, at_version, snapshot, event_hash) ON CONFLICT DO NOTHING;
END
$fn$;

REVOKE ALL ON FUNCTION public.vanthu_save_snapshot(text, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.vanthu_save_snapshot(text, integer, jsonb) TO vanthu_app;
