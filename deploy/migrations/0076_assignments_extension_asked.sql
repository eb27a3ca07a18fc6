-- The leader's waiting list (the web pages' overview, processors/boards.py) includes every open assignment
-- whose extension request waits for a decision. It found them by reading the JSON of every document of
-- the office in handling; a flag on the assignment row (processors/rows.py `extension_asked`) with a
-- partial index holding only the flagged rows makes that an index range of the waiting requests.
ALTER FUNCTION public.vanthu_rm_create(text) RENAME TO vanthu_rm_create_0075;

CREATE FUNCTION public.vanthu_rm_extension_asked(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('ALTER TABLE %I.assignments ADD COLUMN extension_asked boolean NOT NULL DEFAULT false',
                   target);
    EXECUTE format('CREATE INDEX assignments_extension_asked ON %I.assignments (office_id) '
                   'WHERE extension_asked', target);
END
$fn$;

CREATE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.vanthu_rm_create_0075(target);
    PERFORM public.vanthu_rm_extension_asked(target);
END
$fn$;

SELECT public.vanthu_rm_extension_asked('rm');
-- What rm holds already, as processors/rows.py `extension_asked` writes it.
UPDATE rm.assignments a SET extension_asked = true
FROM rm.documents d, jsonb_array_elements(d.data -> 'assignments') x
WHERE d.id = a.document_id AND x ->> 'id' = a.assignment_id AND x ->> 'ended_at' IS NULL
  AND jsonb_array_length(coalesce(x -> 'extensions', '[]')) > 0
  AND (x -> 'extensions' -> -1 ->> 'approved') IS NULL;
