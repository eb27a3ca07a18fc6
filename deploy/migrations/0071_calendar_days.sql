-- Deadlines counted in SQL (issue 16): the working-day calendar as a table of ordinals, so "working days
-- left" is a subtraction and "N working days from today" an index lookup. It is a read model like the
-- others, a pure function of the log: each year's latest CalendarPublished event (calendar_publications)
-- over the packaged years and the Labour Code fallback, written by the processors
-- (processors/calendar_days.py) whenever a publication arrives or the table is empty. `ordinal` counts
-- the working days from the first day of the table through `day`, so working days between a and b
-- (a < d <= b) are ordinal(b) - ordinal(a).
-- The open assignments get a covering index in the deadlines list's order (due date, document,
-- assignment: the keyset), with the lead it shows.
ALTER FUNCTION public.vanthu_rm_create(text) RENAME TO vanthu_rm_create_0070;

CREATE FUNCTION public.vanthu_rm_calendar(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    previous text := current_setting('search_path');
BEGIN
    PERFORM set_config('search_path', quote_ident(target) || ', public', true);
    CREATE TABLE calendar_publications (
        year integer PRIMARY KEY,
        version integer NOT NULL,         -- of the event on the year's stream
        body jsonb NOT NULL               -- the CalendarPublished event's data
    );
    CREATE TABLE calendar_days (
        day date PRIMARY KEY,
        working boolean NOT NULL,
        ordinal integer NOT NULL          -- working days from the table's first day through this one
    );
    CREATE UNIQUE INDEX calendar_days_working ON calendar_days (ordinal) INCLUDE (day) WHERE working;

    DROP INDEX assignments_open;
    CREATE INDEX assignments_due ON assignments (office_id, due_date, document_id, assignment_id)
        INCLUDE (lead_unit, lead_user) WHERE ended_at IS NULL;

    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vanthu_app') THEN
        EXECUTE format('GRANT SELECT ON %I.calendar_publications, %I.calendar_days TO vanthu_app',
                       target, target);
    END IF;
    PERFORM set_config('search_path', previous, true);
END
$fn$;

CREATE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.vanthu_rm_create_0070(target);
    PERFORM public.vanthu_rm_calendar(target);
END
$fn$;

SELECT public.vanthu_rm_calendar('rm');
-- The publications rm has consumed already (the store holds what the topic carried); the days themselves
-- are written by the processors on their next batch.
INSERT INTO rm.calendar_publications (year, version, body)
SELECT DISTINCT ON (e.stream_id) (convert_from(e.body, 'UTF8')::jsonb -> 'data' ->> 'year')::integer,
       e.version, convert_from(e.body, 'UTF8')::jsonb -> 'data'
FROM public.events e
WHERE e.stream_id LIKE 'calendar:%' AND e.type = 'CalendarPublished'
ORDER BY e.stream_id, e.version DESC;
