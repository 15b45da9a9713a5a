-- Reverses 009_token_instruction_original. Runs with search_path set to the target schema.
ALTER TABLE token_instruction DROP COLUMN original_instruction_cid;
