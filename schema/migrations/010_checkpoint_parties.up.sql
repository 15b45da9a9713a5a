-- 010_checkpoint_parties: the treasury parties the checkpoint was ingested
-- for (sorted, no duplicates). ingest.Ingester records them on its first
-- start and refuses to resume with another set (ingest.ErrPartiesChanged):
-- the transactions of an added party before the checkpoint would never be
-- ingested. NULL: not recorded yet (a checkpoint from before this version);
-- the next Run records the parties it is configured with.
--
-- Runs with search_path set to the target schema, so names are unqualified.

ALTER TABLE checkpoint ADD COLUMN parties text[];
