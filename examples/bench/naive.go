package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// naive ingests the first n transactions of the fake's ledger the obvious
// way, as a baseline: read the stream and, for each transaction, one SQL
// transaction with one statement per row. It does the same work as the
// Ingester with the handler chain (update-id dedup, the same
// classification, the same holding and history rows, the withdrawal
// reconciler, the checkpoint and the synchronizer time) but looks each
// consumed contract up with its own query and writes each row with its own
// statement; the reconciler runs on a batch of one transaction and, as in
// the e2e chain, takes that transaction's entries from the classification
// (naiveEntries) instead of reading back the rows just written.
func (b *bench) naive(ctx context.Context, f *fake, n int64) (float64, error) {
	c, err := dial(f.Addr, b.receiveWindow)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	name, drop, err := b.freshSchema(ctx, "naive")
	if err != nil {
		return 0, err
	}
	defer drop()
	cps, err := checkpoint.NewStore(name)
	if err != nil {
		return 0, err
	}
	cp, err := cps.Init(ctx, b.db, 0, b.treasury) // the parties, as the Ingester records them
	if err != nil {
		return 0, err
	}
	w := naiveWriter{schema: name, classifier: tokenstd.Classifier{Treasury: b.treasury}}
	written := &naiveEntries{}
	rec, err := reconciler(b.db, name, b.treasury, written)
	if err != nil {
		return 0, err
	}

	start := time.Now()
	st, err := c.Updates(ctx, ledger.UpdatesRequest{EndInclusive: n, Filter: ledger.Filter{Parties: []string{b.treasury}}})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	count := 0
	for {
		u, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if u.Kind != ledger.UpdateTransaction {
			continue
		}
		next := cp.Clone()
		t := u.Transaction
		next.Offset, next.UpdateID, next.RecordTime, next.SynchronizerID, next.UpdateOffset = t.Offset, t.UpdateID, t.RecordTime, t.SynchronizerID, t.Offset
		next.RecordTimes[t.SynchronizerID] = t.RecordTime
		err = inTx(ctx, b.db, func(tx *sqlx.Tx) error {
			entries, err := w.ingest(ctx, tx, t)
			if err != nil {
				return err
			}
			one := &ingest.Batch{Transactions: []*ledger.Transaction{t}, FromOffset: cp.Offset, ToOffset: next.Offset, RecordTimes: next.RecordTimes}
			written.set(one, entries)
			if err := rec.HandleBatch(ctx, tx, one); err != nil {
				return err
			}
			return cps.AdvanceTx(ctx, tx, cp.Offset, next)
		})
		if err != nil {
			return 0, fmt.Errorf("naive: transaction at offset %d: %w", t.Offset, err)
		}
		cp = next
		count++
	}
	elapsed := time.Since(start)
	if int64(count) != n {
		return 0, fmt.Errorf("naive: ingested %d transactions, want %d", count, n)
	}
	if err := checkHistory(ctx, b.db, name, n, true); err != nil {
		return 0, err
	}
	rate := float64(count) / elapsed.Seconds()
	b.logf("  naive: %d transactions, one SQL transaction each, in %s: %.0f tx/s", count, elapsed.Round(time.Millisecond), rate)
	return rate, nil
}

func inTx(ctx context.Context, db *sqlx.DB, fn func(*sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

type naiveWriter struct {
	schema     string
	classifier tokenstd.Classifier
}

// rowLookup finds the treasury's holdings one query at a time.
type rowLookup struct {
	ctx    context.Context
	tx     *sqlx.Tx
	schema string
}

func (l rowLookup) LookupHolding(cid string) (tokenstd.Holding, bool, error) {
	hs, err := tokenstd.HoldingsByID(l.ctx, l.tx, l.schema, []string{cid})
	if err != nil || len(hs) == 0 {
		return tokenstd.Holding{}, false, err
	}
	return hs[0], true, nil
}

// naiveEntries hands the Reconciler the entries naiveWriter classified for
// the one-transaction batch, as tokenstd.History hands it a batch's entries
// in the e2e chain (withdrawal.WrittenEntries): without it the Reconciler
// reads them back from token_history, a statement per transaction that the
// e2e chain does not make.
type naiveEntries struct {
	batch   *ingest.Batch
	entries []*tokenstd.Entry
}

func (n *naiveEntries) set(b *ingest.Batch, entries []tokenstd.Entry) {
	n.batch, n.entries = b, n.entries[:0]
	for i := range entries {
		n.entries = append(n.entries, &entries[i])
	}
}

func (n *naiveEntries) Written(b *ingest.Batch) ([]*tokenstd.Entry, bool) {
	if b != n.batch {
		return nil, false
	}
	return n.entries, true
}

// ingest writes t's rows and returns its entries (none if t was ingested
// before).
func (w naiveWriter) ingest(ctx context.Context, tx *sqlx.Tx, t *ledger.Transaction) ([]tokenstd.Entry, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO `+w.schema+`.ingested_update (update_id, ledger_offset, record_time, synchronizer_id)
		VALUES ($1, $2, $3, $4) ON CONFLICT (update_id) DO NOTHING`, t.UpdateID, t.Offset, t.RecordTime, t.SynchronizerID)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil // ingested before
	}
	entries, err := w.classifier.Classify(t, rowLookup{ctx: ctx, tx: tx, schema: w.schema})
	if err != nil {
		return nil, err
	}
	for i := range entries {
		e := &entries[i]
		for _, h := range e.Created {
			_, err := tx.ExecContext(ctx, `INSERT INTO `+w.schema+`.token_holding (contract_id, instrument_admin, instrument_id, owner,
					amount, lock, meta, created_offset, created_update_id, created_record_time, created_node_id)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (contract_id) DO NOTHING`,
				h.ContractID, h.Instrument.Admin, h.Instrument.ID, h.Owner, h.Amount.String(), jsonOrNil(h.Lock), jsonMeta(h.Meta),
				h.Created.Offset, h.Created.UpdateID, h.Created.RecordTime, h.Created.NodeID)
			if err != nil {
				return nil, err
			}
		}
		for _, h := range e.Archived {
			a := h.Archived
			_, err := tx.ExecContext(ctx, `UPDATE `+w.schema+`.token_holding SET archived_offset = $2, archived_update_id = $3,
					archived_record_time = $4, archived_node_id = $5 WHERE contract_id = $1 AND archived_offset IS NULL`,
				h.ContractID, a.Offset, a.UpdateID, a.RecordTime, a.NodeID)
			if err != nil {
				return nil, err
			}
		}
		created, archived := make([]string, len(e.Created)), make([]string, len(e.Archived))
		for j, h := range e.Created {
			created[j] = h.ContractID
		}
		for j, h := range e.Archived {
			archived[j] = h.ContractID
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO `+w.schema+`.token_history (update_id, node_id, kind, instrument_admin, instrument_id,
				ledger_offset, record_time, synchronizer_id, tx_kind, choice, amount, transferred, fee, sender, receiver, counterparty,
				reason, account, withdrawal_id, instruction_cid, holdings_created, holdings_archived, meta)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
			ON CONFLICT (update_id, node_id, kind, instrument_admin, instrument_id) DO NOTHING`,
			e.UpdateID, e.NodeID, string(e.Kind), e.Instrument.Admin, e.Instrument.ID, e.Offset, e.RecordTime, e.SynchronizerID,
			e.TxKind, e.Choice, e.Amount.String(), e.Transferred.String(), e.Fee.String(), e.Sender, e.Receiver, e.Counterparty,
			e.Reason, e.Account, e.WithdrawalID, e.InstructionCID, pq.Array(created), pq.Array(archived), jsonMeta(e.Meta))
		if err != nil {
			return nil, err
		}
	}
	return entries, nil
}

func jsonMeta(m tokenstd.Metadata) string {
	if m == nil {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func jsonOrNil(l *tokenstd.Lock) any {
	if l == nil {
		return nil
	}
	b, _ := json.Marshal(l)
	return string(b)
}
