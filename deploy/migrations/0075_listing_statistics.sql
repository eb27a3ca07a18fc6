-- The visibility rule checks a listing row's document office beside the listing office the query is
-- scoped by; they are the same office, but the planner multiplied the two equalities' selectivities, took
-- an office's search matches for 23 times fewer than they are, and chose to read all of them and sort
-- instead of reading the office's newest rows in index order. Extended statistics tell it the one column
-- determines the other (ANALYZE, which the rebuild runs, fills them).
ALTER FUNCTION public.vanthu_rm_create(text) RENAME TO vanthu_rm_create_0073;

CREATE FUNCTION public.vanthu_rm_listing_statistics(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('CREATE STATISTICS %I.listing_offices (dependencies) ON office_id, document_office_id '
                   'FROM %I.listing', target, target);
END
$fn$;

CREATE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.vanthu_rm_create_0073(target);
    PERFORM public.vanthu_rm_listing_statistics(target);
END
$fn$;

SELECT public.vanthu_rm_listing_statistics('rm');
ANALYZE rm.listing;
