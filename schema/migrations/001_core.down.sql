-- Reverses 001_core. Runs with search_path set to the target schema.
DROP TABLE IF EXISTS review_transaction;

DROP TABLE checkpoint_rewind;
DROP TABLE ingested_update;
DROP TABLE synchronizer_time;
DROP TABLE checkpoint;
