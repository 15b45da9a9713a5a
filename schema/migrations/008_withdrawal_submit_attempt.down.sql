-- Reverses 008_withdrawal_submit_attempt. Runs with search_path set to the target schema.
ALTER TABLE withdrawal DROP COLUMN submit_attempted_at;
