-- Every applied event updates its document's `documents` row and its listing rows (state, version,
-- holder, updated_at change with nearly every event). Such an update is HOT (no index entry written, the
-- old version pruned in place) only when no indexed column changed and the new version fits in the same
-- page: `documents_office` indexed `state`, so no update of a state change was HOT; it now holds what
-- never changes after a document's first event (office and kind; the boards filter the office's rows by
-- state), and both tables leave room in each page for the next versions of its rows.
ALTER FUNCTION public.vanthu_rm_create(text) RENAME TO vanthu_rm_create_0075;

CREATE FUNCTION public.vanthu_rm_hot_updates(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('DROP INDEX %I.documents_office', target);
    EXECUTE format('CREATE INDEX documents_office ON %I.documents (office_id, kind)', target);
    EXECUTE format('ALTER TABLE %I.documents SET (fillfactor = 85)', target);
    EXECUTE format('ALTER TABLE %I.listing SET (fillfactor = 85)', target);
END
$fn$;

CREATE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.vanthu_rm_create_0075(target);
    PERFORM public.vanthu_rm_hot_updates(target);
END
$fn$;

SELECT public.vanthu_rm_hot_updates('rm');
