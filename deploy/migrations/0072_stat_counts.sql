-- Statistics from counters (issue 16): per (office, measure, day, unit, secrecy rank) a count, moved by the
-- processors in the same transaction as the rows (processors/counters.py says what each measure counts),
-- so `stats` sums an index range. The secret documents of an office get their own small index on the
-- listing, for the ones a viewer sees above their clearance (their creator, a grant) and for the
-- secret-read log of a stats call.
ALTER FUNCTION public.vanthu_rm_create(text) RENAME TO vanthu_rm_create_0071;

CREATE FUNCTION public.vanthu_rm_stat_counts(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    previous text := current_setting('search_path');
BEGIN
    PERFORM set_config('search_path', quote_ident(target) || ', public', true);
    CREATE TABLE stat_counts (
        office_id text NOT NULL,
        measure text NOT NULL,
        day date NOT NULL,
        unit_id text NOT NULL,            -- '' for the office's own counts, or a lead that is a person
        secrecy_rank smallint NOT NULL,
        n integer NOT NULL,
        PRIMARY KEY (office_id, measure, day, unit_id, secrecy_rank)
    );
    CREATE INDEX listing_secret ON listing (office_id, created_by) WHERE secrecy_rank > 0;

    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vanthu_app') THEN
        EXECUTE format('GRANT SELECT ON %I.stat_counts TO vanthu_app', target);
    END IF;
    PERFORM set_config('search_path', previous, true);
END
$fn$;

CREATE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.vanthu_rm_create_0071(target);
    PERFORM public.vanthu_rm_stat_counts(target);
END
$fn$;

SELECT public.vanthu_rm_stat_counts('rm');
-- What rm holds already, counted as processors/counters.py `contributions` counts it.
INSERT INTO rm.stat_counts (office_id, measure, day, unit_id, secrecy_rank, n)
SELECT office_id, measure, day, unit_id, rank, count(*)
FROM (
    SELECT d.office_id, 'received' AS measure, (d.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day,
           '' AS unit_id, l.secrecy_rank AS rank
    FROM rm.documents d JOIN rm.listing l ON l.office_id = d.office_id AND l.document_id = d.id
    WHERE d.kind = 'incoming' AND d.created_at IS NOT NULL
    UNION ALL
    SELECT d.office_id, 'issued', d.issued_on, '', l.secrecy_rank
    FROM rm.documents d JOIN rm.listing l ON l.office_id = d.office_id AND l.document_id = d.id
    WHERE d.issued_on IS NOT NULL
    UNION ALL
    SELECT a.office_id, m.measure, m.day, coalesce(a.lead_unit, ''), l.secrecy_rank
    FROM rm.assignments a JOIN rm.listing l ON l.office_id = a.office_id AND l.document_id = a.document_id
    CROSS JOIN LATERAL (VALUES
        ('assignments', DATE '0001-01-01'),
        ('assigned', (a.assigned_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date),
        (CASE WHEN a.completed_on <= a.due_date THEN 'completed_on_time' ELSE 'completed_late' END,
         a.completed_on),
        ('open', CASE WHEN a.ended_at IS NULL THEN a.due_date END)
    ) AS m(measure, day)
    WHERE m.day IS NOT NULL
) counted
GROUP BY office_id, measure, day, unit_id, rank;
