-- Reverses 005_dedup_record_time_brin. Runs with search_path set to the target schema.
DROP INDEX ingested_update_record_time_brin;
CREATE INDEX ingested_update_record_time_idx ON ingested_update (synchronizer_id, record_time);
