-- A document a closed office handed over is entered in its successor's incoming register under a số đến
-- of its own, while the closed office's register keeps the row with the number it gave (DOMAIN.md,
-- "Offices open and close"): a document has one row per register that numbered it, keyed by office.
-- `handed_from` / `handed_to` name the office it came from and went to (printed in "ghi chú").
ALTER FUNCTION public.vanthu_rm_create(text) RENAME TO vanthu_rm_create_before_0078;

CREATE FUNCTION public.vanthu_rm_register_per_office(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('ALTER TABLE %I.incoming_register ADD COLUMN IF NOT EXISTS handed_from text, '
                   'ADD COLUMN IF NOT EXISTS handed_to text', target);
    EXECUTE format('ALTER TABLE %I.incoming_register DROP CONSTRAINT incoming_register_pkey', target);
    EXECUTE format('ALTER TABLE %I.incoming_register ADD PRIMARY KEY (document_id, office_id)', target);
END
$fn$;

CREATE FUNCTION public.vanthu_rm_create(target text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM public.vanthu_rm_create_before_0078(target);
    PERFORM public.vanthu_rm_register_per_office(target);
END
$fn$;

SELECT public.vanthu_rm_register_per_office('rm');
