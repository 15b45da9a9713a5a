-- 001_core: ingestion checkpoint, per-synchronizer record time, update-id
-- dedup and the audit trail of recovery rewinds.
--
-- Runs with search_path set to the target schema, so names are unqualified.

CREATE TABLE checkpoint (
  id              smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  ledger_offset   bigint      NOT NULL CHECK (ledger_offset >= 0),
  update_id       text        NOT NULL DEFAULT '',   -- last ingested transaction's update id
  update_offset   bigint,                             -- the offset it had; NULL after a rewind
  record_time     timestamptz,                        -- last ingested transaction's record time
  synchronizer_id text        NOT NULL DEFAULT '',   -- last ingested transaction's synchronizer
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE synchronizer_time (               -- ingested record time per synchronizer (tx or OffsetCheckpoint)
  synchronizer_id text PRIMARY KEY,
  record_time     timestamptz NOT NULL,
  ledger_offset   bigint      NOT NULL
);

CREATE TABLE ingested_update (                  -- update-id dedup
  update_id       text PRIMARY KEY,
  ledger_offset   bigint      NOT NULL,
  record_time     timestamptz NOT NULL,
  synchronizer_id text        NOT NULL,
  ingested_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ingested_update_record_time_idx ON ingested_update (synchronizer_id, record_time);

CREATE TABLE checkpoint_rewind (                -- audit of recovery rewinds
  id              bigserial PRIMARY KEY,
  rewound_at      timestamptz NOT NULL DEFAULT now(),
  from_offset     bigint      NOT NULL,
  to_offset       bigint      NOT NULL,
  recovery_time   timestamptz,
  synchronizer_id text        NOT NULL DEFAULT '',
  mode            text        NOT NULL,
  note            text        NOT NULL DEFAULT ''
);

-- Transactions that ingestion set aside for manual review instead of halting
-- (ingest.Config.Poison = PoisonSetAside).
CREATE TABLE review_transaction (
  update_id       text        PRIMARY KEY,  -- 'offset:<n>' when the update id could not be read
  ledger_offset   bigint      NOT NULL,
  record_time     timestamptz,
  synchronizer_id text        NOT NULL DEFAULT '',
  error           text        NOT NULL,
  raw             jsonb,                     -- the transaction as the participant sent it (protobuf JSON)
  set_aside_at    timestamptz NOT NULL DEFAULT now(),
  resolved_at     timestamptz,
  resolution      text        NOT NULL DEFAULT ''
);
CREATE INDEX review_transaction_open_idx ON review_transaction (ledger_offset) WHERE resolved_at IS NULL;
