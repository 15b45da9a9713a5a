-- 008_withdrawal_submit_attempt: when the withdrawal automation first handed
-- a withdrawal to the exchange's Submitter, written in a statement of its
-- own before the Submitter runs, so that it survives whatever becomes of
-- the transaction that marks the withdrawal submitted.
--
-- A requested withdrawal with it set may have a transfer on the ledger (the
-- process died, or the mark failed, after the participant accepted the
-- command): the automation then does not mark it failed for want of a
-- transfer pre-approval; only expiry at trecTgt, with no transfer seen, does.
--
-- Runs with search_path set to the target schema, so names are unqualified.

ALTER TABLE withdrawal ADD COLUMN submit_attempted_at timestamptz;

-- A withdrawal still requested when this migration runs may have been
-- handed to a Submitter by the build before it (stopped after the
-- participant accepted the command, before "submitted" committed): that
-- build recorded no attempt, so count one.
UPDATE withdrawal SET submit_attempted_at = updated_at WHERE status = 'requested';
