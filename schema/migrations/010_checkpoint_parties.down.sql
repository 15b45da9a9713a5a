-- Reverses 010_checkpoint_parties. Runs with search_path set to the target schema.
ALTER TABLE checkpoint DROP COLUMN parties;
