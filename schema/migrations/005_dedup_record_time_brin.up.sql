-- 005_dedup_record_time_brin: replaces ingested_update_record_time_idx, a
-- B-tree on (synchronizer_id, record_time), with a BRIN index on
-- record_time.
--
-- The only queries on ingested_update by record time (dedup.Store.Since
-- and PruneBefore) filter on record_time alone, which the B-tree's leading
-- synchronizer_id column kept them from using; both are rare (a report
-- after a restore, pruning). The B-tree cost every ingested transaction an
-- index entry of about a hundred bytes. Rows arrive in offset order, so
-- record times rise with the table's physical order and a BRIN index
-- (a few pages for millions of rows) narrows both queries to the blocks
-- that matter at almost no cost per insert.
--
-- Runs with search_path set to the target schema, so names are unqualified.

DROP INDEX ingested_update_record_time_idx;
CREATE INDEX ingested_update_record_time_brin ON ingested_update USING brin (record_time);
