-- Reverses 007_withdrawal_ledger_node. Runs with search_path set to the target schema.
ALTER TABLE withdrawal DROP COLUMN ledger_synchronizer_id, DROP COLUMN ledger_node_id;
