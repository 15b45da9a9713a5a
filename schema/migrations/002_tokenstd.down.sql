-- Reverses 002_tokenstd. Runs with search_path set to the target schema.
DROP TABLE token_history;
DROP TABLE token_instruction;
DROP TABLE token_holding;
