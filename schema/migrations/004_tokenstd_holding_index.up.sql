-- 004_tokenstd_holding_index: drops token_holding_created_update_idx. No
-- query reads token_holding by created_update_id; the holdings a
-- transaction created are found through its token_history entries
-- (holdings_created, by the unique index on update_id) and the primary
-- key. The index cost every holding insert a third index entry.
--
-- Runs with search_path set to the target schema, so names are unqualified.

DROP INDEX token_holding_created_update_idx;
