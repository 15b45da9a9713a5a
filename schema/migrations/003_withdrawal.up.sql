-- 003_withdrawal: the exchange's withdrawal requests and their life cycle
-- (package withdrawal), the reservations of treasury holdings (UTXOs) they
-- hold, and the withdrawal gate with its audit trail.
--
-- Runs with search_path set to the target schema, so names are unqualified.
-- Amounts are NUMERIC without a scale: exact, as the ledger sends them.

CREATE TABLE withdrawal (
  id                text        PRIMARY KEY,        -- the withdrawal id: the transfer's reason metadata
  user_account      text        NOT NULL DEFAULT '', -- '' when unknown (recovered)
  amount            numeric     NOT NULL CHECK (amount >= 0),
  instrument_admin  text        NOT NULL,
  instrument_id     text        NOT NULL,
  receiver          text        NOT NULL DEFAULT '',
  reserved_holdings text[]      NOT NULL DEFAULT '{}', -- what the request reserved (see withdrawal_reservation for what it still holds)
  reserved_funds    numeric     NOT NULL DEFAULT 0 CHECK (reserved_funds >= 0),
  trec_tgt          timestamptz,                      -- target record time; NULL when unknown (recovered)
  synchronizer_id   text        NOT NULL DEFAULT '',  -- whose record time trec_tgt is measured on; '' = the store's clock
  status            text        NOT NULL CHECK (status IN ('requested', 'submitted', 'pending_acceptance', 'completed',
                                  'failed', 'expired', 'rejected', 'withdrawn', 'recovered')),
  recovered         boolean     NOT NULL DEFAULT false, -- re-created from on-chain data after the request was lost
  instruction_cid   text        NOT NULL DEFAULT '',  -- the transfer instruction of a multi-step withdrawal
  update_id         text        NOT NULL DEFAULT '',  -- the last transaction that moved it (completion, offer, rejection...)
  ledger_offset     bigint,
  record_time       timestamptz,
  transferred       numeric     NOT NULL DEFAULT 0,   -- what the transfer moved, as the ledger says
  fee               numeric     NOT NULL DEFAULT 0,   -- what it cost the treasury beyond that
  failure_reason    text        NOT NULL DEFAULT '',
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  submitted_at      timestamptz,
  closed_at         timestamptz                       -- when it reached a final status
);

CREATE INDEX withdrawal_status_idx ON withdrawal (status, created_at, id);
CREATE INDEX withdrawal_due_idx ON withdrawal (trec_tgt) WHERE status IN ('requested', 'submitted');
CREATE INDEX withdrawal_update_idx ON withdrawal (update_id) WHERE update_id <> '';

-- The holdings an open withdrawal has reserved. The primary key is what
-- makes a holding reservable by one withdrawal at a time; rows go when the
-- withdrawal leaves the open statuses.
CREATE TABLE withdrawal_reservation (
  contract_id   text        PRIMARY KEY,             -- a token_holding contract id
  withdrawal_id text        NOT NULL REFERENCES withdrawal (id) ON DELETE CASCADE,
  reserved_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX withdrawal_reservation_withdrawal_idx ON withdrawal_reservation (withdrawal_id);

-- The withdrawal gate: one row. Closed during the Integration DB restore
-- procedure; creating withdrawals and the withdrawal automation wait for it.
CREATE TABLE withdrawal_gate (
  id         smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  enabled    boolean     NOT NULL,
  reason     text        NOT NULL DEFAULT '',
  changed_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO withdrawal_gate (id, enabled, reason) VALUES (1, true, 'opened by migration 003_withdrawal');

CREATE TABLE withdrawal_gate_log (              -- audit of every gate change
  id                   bigserial   PRIMARY KEY,
  enabled              boolean     NOT NULL,
  reason               text        NOT NULL DEFAULT '',
  changed_at           timestamptz NOT NULL DEFAULT now(),
  ingested_record_time timestamptz,              -- the store's ingested record time at the change
  tsafe                timestamptz               -- the tSafe an opening waited for, if any
);
