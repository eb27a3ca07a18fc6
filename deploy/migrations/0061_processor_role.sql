-- The processors' own role: they write the read models (schema rm, or a rebuild's fresh schema) with their
-- offsets and dead letters, and in public the feed, the saga's tasks and the files' text; of the write side
-- they read only the published calendar the chaser counts working days with. They may not write events,
-- anchors or snapshots: what the saga and the chaser record goes through the write side as the services'
-- role (vanthu_app), like any other command. Roles are cluster-wide, so another database may have made it.
DO $$
BEGIN
    CREATE ROLE vanthu_processor LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO vanthu_processor', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO vanthu_processor;
GRANT SELECT ON published_calendar TO vanthu_processor;

-- A read-model schema, all of it. `processors/rebuild.py` calls this for every schema it builds, and the
-- migration runner for `rm` after every run, so a table a later migration adds is covered too.
CREATE FUNCTION public.vanthu_processor_schema_grants(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO vanthu_processor', target);
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO vanthu_processor', target);
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO vanthu_processor', target);
END
$fn$;

-- The tables of public. The write side's are those the services' role may write, and those only the owner
-- writes (events, anchors and snapshots among them): the processors may not write any of them. Every
-- other table of public is the processors' (feed, feed_counters, processor_tasks, file_texts, and whatever
-- a later migration adds beside them), with the sequences its columns draw from. The migration runner calls
-- this after every run, so it holds for tables added later, and a table that joins the write side later
-- loses the processors' writes.
CREATE FUNCTION public.vanthu_processor_grants() RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    t record;
    q record;
    owner_only constant text[] := ARRAY['events', 'anchors', 'snapshots', 'schema_migrations'];
BEGIN
    FOR t IN
        SELECT c.oid, c.relname FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
    LOOP
        IF t.relname = ANY (owner_only)
           OR has_table_privilege('vanthu_app', t.oid, 'INSERT')
           OR has_table_privilege('vanthu_app', t.oid, 'UPDATE')
           OR has_table_privilege('vanthu_app', t.oid, 'DELETE') THEN
            EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON public.%I FROM vanthu_processor', t.relname);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO vanthu_processor', t.relname);
            FOR q IN
                SELECT s.relname FROM pg_class s
                JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
                    AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                WHERE s.relkind = 'S' AND d.refobjid = t.oid
            LOOP
                EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE public.%I TO vanthu_processor', q.relname);
            END LOOP;
        END IF;
    END LOOP;
    IF to_regnamespace('rm') IS NOT NULL THEN
        PERFORM public.vanthu_processor_schema_grants('rm');
    END IF;
END
$fn$;
