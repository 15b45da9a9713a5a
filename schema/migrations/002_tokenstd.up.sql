-- 002_tokenstd: the treasury's token standard history (package tokenstd):
-- its holding set, its pending transfer instructions and its history
-- entries. Transactions the history handler sets aside go to
-- review_transaction (001_core).
--
-- Runs with search_path set to the target schema, so names are unqualified.
-- Amounts are NUMERIC without a scale: exact, as the ledger sent them.

CREATE TABLE token_holding (                    -- treasury holdings (UTXOs), live and archived
  contract_id          text        PRIMARY KEY,
  instrument_admin     text        NOT NULL,
  instrument_id        text        NOT NULL,
  owner                text        NOT NULL,
  amount               numeric     NOT NULL CHECK (amount >= 0),
  lock                 jsonb,                    -- NULL when unlocked; {"holders":[..],"expires_at":..,"expires_after":..,"context":..}
  meta                 jsonb       NOT NULL DEFAULT '{}',
  created_offset       bigint      NOT NULL,
  created_update_id    text        NOT NULL,
  created_record_time  timestamptz NOT NULL,
  created_node_id      integer     NOT NULL,
  archived_offset      bigint,                   -- NULL while live
  archived_update_id   text,
  archived_record_time timestamptz,
  archived_node_id     integer,
  CHECK ((archived_offset IS NULL) = (archived_update_id IS NULL))
);

CREATE INDEX token_holding_live_idx ON token_holding (owner, instrument_admin, instrument_id) WHERE archived_offset IS NULL;
CREATE INDEX token_holding_created_update_idx ON token_holding (created_update_id);

CREATE TABLE token_instruction (                -- transfer instructions with the treasury as sender or receiver
  contract_id          text        PRIMARY KEY,
  sender               text        NOT NULL,
  receiver             text        NOT NULL,
  instrument_admin     text        NOT NULL,
  instrument_id        text        NOT NULL,
  amount               numeric     NOT NULL,
  reason               text        NOT NULL DEFAULT '',
  requested_at         timestamptz,
  execute_before       timestamptz,
  input_holding_cids   text[]      NOT NULL DEFAULT '{}',
  status               text        NOT NULL,   -- TransferPendingReceiverAcceptance / TransferPendingInternalWorkflow
  transfer_meta        jsonb       NOT NULL DEFAULT '{}',
  meta                 jsonb       NOT NULL DEFAULT '{}',
  replaces             text        NOT NULL DEFAULT '',
  created_offset       bigint      NOT NULL,
  created_update_id    text        NOT NULL,
  created_record_time  timestamptz NOT NULL,
  outcome              text,                     -- NULL while pending, else the history kind that ended it
  closed_offset        bigint,
  closed_update_id     text,
  closed_record_time   timestamptz
);

CREATE INDEX token_instruction_pending_idx ON token_instruction (receiver, sender) WHERE outcome IS NULL;

CREATE TABLE token_history (                    -- one row per treasury operation and instrument
  id                   bigserial   PRIMARY KEY, -- ingestion order
  update_id            text        NOT NULL,
  node_id              integer     NOT NULL,
  kind                 text        NOT NULL,
  instrument_admin     text        NOT NULL,
  instrument_id        text        NOT NULL,
  ledger_offset        bigint      NOT NULL,
  record_time          timestamptz NOT NULL,
  synchronizer_id      text        NOT NULL DEFAULT '',
  tx_kind              text        NOT NULL DEFAULT '',
  choice               text        NOT NULL DEFAULT '',
  amount               numeric     NOT NULL,   -- the treasury's net change
  transferred          numeric     NOT NULL DEFAULT 0,
  fee                  numeric     NOT NULL DEFAULT 0,
  sender               text        NOT NULL DEFAULT '',
  receiver             text        NOT NULL DEFAULT '',
  counterparty         text        NOT NULL DEFAULT '',
  reason               text        NOT NULL DEFAULT '',
  account              text        NOT NULL DEFAULT '',
  withdrawal_id        text        NOT NULL DEFAULT '',
  instruction_cid      text        NOT NULL DEFAULT '',
  holdings_created     text[]      NOT NULL DEFAULT '{}',
  holdings_archived    text[]      NOT NULL DEFAULT '{}',
  meta                 jsonb       NOT NULL DEFAULT '{}',
  UNIQUE (update_id, node_id, kind, instrument_admin, instrument_id)
);

CREATE INDEX token_history_offset_idx ON token_history (ledger_offset);
CREATE INDEX token_history_kind_idx ON token_history (kind, ledger_offset);
CREATE INDEX token_history_account_idx ON token_history (account) WHERE account <> '';
CREATE INDEX token_history_withdrawal_idx ON token_history (withdrawal_id) WHERE withdrawal_id <> '';
