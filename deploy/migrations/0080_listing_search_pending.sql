-- The listing's search index (GIN over office and words) takes new rows through a small pending list
-- again, at most 64 kB (PostgreSQL's smallest), merged into the index a few thousand entries at a time.
-- Written directly (0073), each new listing row inserted its thirty-odd (office, word) entries one by one
-- at the cost of half the projector's PostgreSQL time on the listing: 25-35 against 12-14 µs of backend
-- CPU per applied event (60,000 events of the bench dataset, batches of 2,000). A search scans what is
-- pending, at most 8 pages now, not the 4 MB (11 ms) that made 0073 turn the list off. The files index
-- (a row's few attachments) stays direct.
ALTER FUNCTION public.vanthu_rm_create(text) RENAME TO vanthu_rm_create_before_0080;

CREATE FUNCTION public.vanthu_rm_search_pending(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('ALTER INDEX %I.listing_search SET (fastupdate = on, gin_pending_list_limit = 64)', target);
END
$fn$;

CREATE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.vanthu_rm_create_before_0080(target);
    PERFORM public.vanthu_rm_search_pending(target);
END
$fn$;

SELECT public.vanthu_rm_search_pending('rm');
