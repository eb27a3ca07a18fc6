-- A saga task that failed waits before its next attempt (backoff), and one that failed for good can be
-- driven again by `vanthu deadletters redrive`; `redriven` counts how often an operator did.
ALTER TABLE public.processor_tasks
    ADD COLUMN not_before timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN redriven integer NOT NULL DEFAULT 0;
CREATE INDEX processor_tasks_failed ON public.processor_tasks (id) WHERE status = 'failed';
