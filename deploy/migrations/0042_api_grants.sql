-- The API's role reads the processors' work queue size for /metrics.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vanthu_app') THEN
        GRANT SELECT ON processor_tasks TO vanthu_app;
    END IF;
END
$$;
