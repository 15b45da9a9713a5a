-- Reverses 004_tokenstd_holding_index. Runs with search_path set to the target schema.
CREATE INDEX token_holding_created_update_idx ON token_holding (created_update_id);
