-- 011_review_resolution_check: a set-aside transaction resolved
-- (resolved_at set) must say what was done about it (resolution), as
-- ingest.Ingester.ResolveSetAside requires. Resolving one lets the
-- withdrawal expiry and the gate go on; an operator's own UPDATE that set
-- only resolved_at left no word of why.
--
-- Rows resolved without a resolution before this version get one saying
-- so, so that the constraint holds on every row. review_transaction is
-- small (transactions set aside by hand); validating it is quick.
--
-- Runs with search_path set to the target schema, so names are unqualified.

UPDATE review_transaction SET resolution = '(resolved without a resolution before migration 011)'
WHERE resolved_at IS NOT NULL AND btrim(resolution, E' \t\r\n') = '';

ALTER TABLE review_transaction ADD CONSTRAINT review_transaction_resolution_check
  CHECK (resolved_at IS NULL OR btrim(resolution, E' \t\r\n') <> '');
