-- The listing's `search` was a generated column, so PostgreSQL computed its tsvector again on every
-- update of the row (state, version, holder, updated_at move with nearly every event), which cost as much
-- as the rest of the update. It is now a plain column that the projector fills with the same expression
-- (processors/documents.py `_SEARCH`) only for a new row or one whose searched text changed.
ALTER FUNCTION public.vanthu_rm_create(text) RENAME TO vanthu_rm_create_0076;

CREATE FUNCTION public.vanthu_rm_listing_search_plain(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('ALTER TABLE %I.listing ALTER COLUMN search DROP EXPRESSION', target);
END
$fn$;

CREATE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.vanthu_rm_create_0076(target);
    PERFORM public.vanthu_rm_listing_search_plain(target);
END
$fn$;

SELECT public.vanthu_rm_listing_search_plain('rm');
