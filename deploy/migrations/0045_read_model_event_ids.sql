-- Which event each read model applied at each version of each document (its id and the sha256 of its
-- bytes), so a record at a version the read model already has is compared, not assumed a redelivery (a
-- forged or diverging record becomes a dead letter with reason 'conflict'), and `vanthu audit compare`
-- can hold the read models against the store and the topic. vanthu_rm_create stays the one definition of a read-model schema.
ALTER FUNCTION public.vanthu_rm_create(text) RENAME TO vanthu_rm_create_0021;

CREATE FUNCTION public.vanthu_rm_event_ids(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format(
        'CREATE TABLE %I.event_ids (document_id text NOT NULL, version integer NOT NULL, '
        'event_id uuid NOT NULL, digest bytea NOT NULL, PRIMARY KEY (document_id, version))', target);
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vanthu_app') THEN
        EXECUTE format('GRANT SELECT ON %I.event_ids TO vanthu_app', target);
    END IF;
END
$fn$;

CREATE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.vanthu_rm_create_0021(target);
    PERFORM public.vanthu_rm_event_ids(target);
END
$fn$;

SELECT public.vanthu_rm_event_ids('rm');
-- What rm already holds came from these events (the store is the source of the topic it consumed).
INSERT INTO rm.event_ids (document_id, version, event_id, digest)
SELECT e.stream_id, e.version, e.event_id, sha256(e.body)
FROM public.events e JOIN rm.documents d ON d.id = e.stream_id AND e.version <= d.version;
