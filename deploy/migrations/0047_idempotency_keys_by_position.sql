-- The relay and republish put each idempotency key on its command's last event as a record header (so a
-- store restored from the topic answers the same key the same way); they find it by position.
CREATE INDEX idempotency_keys_position ON idempotency_keys (position);
