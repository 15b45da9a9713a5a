-- Reverses 006_token_history_kind_index. Runs with search_path set to the target schema.
CREATE INDEX token_history_kind_idx ON token_history (kind, ledger_offset);
