-- 007_withdrawal_ledger_node: where exactly the transaction that last moved
-- a withdrawal stands: the node of its transfer in that transaction, and the
-- synchronizer whose record time record_time is.
--
-- With them an outcome is taken for one already applied only if it is that
-- very node, or earlier on the same synchronizer's clock: a second transfer
-- of the same withdrawal in the same transaction, or on a synchronizer whose
-- clock is behind, is a double execution. Rows moved before this version
-- have NULL and '' (not known) and keep the old rule.
--
-- Runs with search_path set to the target schema, so names are unqualified.

ALTER TABLE withdrawal
  ADD COLUMN ledger_node_id integer,
  ADD COLUMN ledger_synchronizer_id text NOT NULL DEFAULT '';
