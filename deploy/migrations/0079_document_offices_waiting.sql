-- The leader's waiting list (the web pages' overview, processors/boards.py): which of an office's
-- documents wait for a leader is decided once, in processors/rows.py `waits_for_leader`, and kept on the
-- document's `document_offices` row (rewritten with the document's other child rows, so no update of
-- `documents` or `listing` stops being HOT for it), with a partial index of only the waiting rows: the
-- list is one index range of the office's waiting documents. It read every document of the office in
-- handling to find, in their JSON, the few whose extension request waits.
-- (0076 and 0077 are other branches'; 0078 is main's.)
ALTER FUNCTION public.vanthu_rm_create(text) RENAME TO vanthu_rm_create_before_0079;

CREATE FUNCTION public.vanthu_rm_leader_waiting(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('ALTER TABLE %I.document_offices ADD COLUMN waits_for_leader boolean NOT NULL DEFAULT false',
                   target);
    EXECUTE format('CREATE INDEX document_offices_waiting ON %I.document_offices (office_id) '
                   'WHERE waits_for_leader', target);
END
$fn$;

CREATE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.vanthu_rm_create_before_0079(target);
    PERFORM public.vanthu_rm_leader_waiting(target);
END
$fn$;

SELECT public.vanthu_rm_leader_waiting('rm');
-- What rm holds already, as processors/rows.py `waits_for_leader` decides it.
UPDATE rm.document_offices o SET waits_for_leader = true
FROM rm.documents d
WHERE d.id = o.document_id AND d.office_id = o.office_id
  AND ((d.kind = 'incoming' AND d.state IN ('registered', 'submitted'))
       OR (d.kind = 'outgoing' AND d.state = 'review')
       OR (d.kind = 'task' AND d.state = 'open')
       OR (d.state IN ('assigned', 'in_progress') AND EXISTS (
           SELECT 1 FROM jsonb_array_elements(d.data -> 'assignments') a
           WHERE a ->> 'ended_at' IS NULL AND jsonb_array_length(coalesce(a -> 'extensions', '[]')) > 0
             AND (a -> 'extensions' -> -1 ->> 'approved') IS NULL)));
