-- The listing's GIN indexes (search text, attached files) write their entries at once instead of into a
-- pending list: a listing row is inserted once per document and its updates are HOT (they touch no index),
-- while a pending list left by a rebuild or a burst of new documents is scanned by every search until a
-- vacuum merges it (11 ms for one office's search after a small rebuild).
ALTER FUNCTION public.vanthu_rm_create(text) RENAME TO vanthu_rm_create_0072;

CREATE FUNCTION public.vanthu_rm_gin_direct(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('ALTER INDEX %I.listing_search SET (fastupdate = off)', target);
    EXECUTE format('ALTER INDEX %I.listing_files SET (fastupdate = off)', target);
    PERFORM pg_catalog.gin_clean_pending_list(format('%I.listing_search', target)::regclass);
    PERFORM pg_catalog.gin_clean_pending_list(format('%I.listing_files', target)::regclass);
END
$fn$;

CREATE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.vanthu_rm_create_0072(target);
    PERFORM public.vanthu_rm_gin_direct(target);
END
$fn$;

SELECT public.vanthu_rm_gin_direct('rm');
