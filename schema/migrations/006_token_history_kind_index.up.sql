-- 006_token_history_kind_index: drops token_history_kind_idx, the B-tree on
-- (kind, ledger_offset).
--
-- ListEntries reads entries after an offset in offset order, with or
-- without a filter on kind; token_history_offset_idx serves both, the kind
-- being checked on the rows it returns. The kind index helped only a filter
-- on a kind that is rare among the entries after the offset, and cost every
-- entry an index insert that, with deposits, fees and withdrawals
-- interleaved, lands on a different leaf page from one entry to the next.
-- In alternated runs of the bench's e2e phase (100,000 transfers) it cost
-- PostgreSQL about 3 µs of CPU per transfer, some 10% of its share.
-- A deployment that lists a rare kind over a long history can create an
-- index of its own, for example a partial one on (ledger_offset) for that
-- kind.
--
-- Runs with search_path set to the target schema, so names are unqualified.

DROP INDEX token_history_kind_idx;
