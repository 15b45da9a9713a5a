package tokenstd

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/internal/pglist"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// The tables of migration 002_tokenstd, inside the configured schema.
const (
	// HoldingTable holds the treasury's holdings, live and archived.
	HoldingTable = "token_holding"
	// InstructionTable holds the transfer instructions with the treasury as
	// sender or receiver, pending and closed.
	InstructionTable = "token_instruction"
	// HistoryTable holds the history entries.
	HistoryTable = "token_history"
	// ReviewTable (from 001_core) receives the transactions the History
	// handler sets aside.
	ReviewTable = "review_transaction"
)

const timeLayout = "2006-01-02T15:04:05.999999Z07:00"

// utcJSON is the SQL for the timestamptz column col as a JSON string in
// UTC that encoding/json reads into a time.Time (NULL stays NULL).
// to_jsonb and row_to_json write a time in the session's TimeZone, with
// the offset in seconds when it has some (Pacific/Chatham's +12:13:48
// before 1901, as a sender's requestedAt may be), which Go refuses, and
// with " BC" for the first hours of year 1 west of Greenwich.
func utcJSON(col string) string {
	return `to_char(` + col + ` AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
}

type holdingRow struct {
	ContractID         string     `db:"contract_id" json:"contract_id"`
	InstrumentAdmin    string     `db:"instrument_admin" json:"instrument_admin"`
	InstrumentID       string     `db:"instrument_id" json:"instrument_id"`
	Owner              string     `db:"owner" json:"owner"`
	Amount             string     `db:"amount" json:"amount"`
	Lock               []byte     `db:"lock" json:"-"` // in JSON: holdingDoc.Lock
	Meta               []byte     `db:"meta" json:"-"` // in JSON: holdingDoc.Meta
	CreatedOffset      int64      `db:"created_offset" json:"created_offset"`
	CreatedUpdateID    string     `db:"created_update_id" json:"created_update_id"`
	CreatedRecordTime  time.Time  `db:"created_record_time" json:"created_record_time"`
	CreatedNodeID      int32      `db:"created_node_id" json:"created_node_id"`
	ArchivedOffset     *int64     `db:"archived_offset" json:"archived_offset"`
	ArchivedUpdateID   *string    `db:"archived_update_id" json:"archived_update_id"`
	ArchivedRecordTime *time.Time `db:"archived_record_time" json:"archived_record_time"`
	ArchivedNodeID     *int32     `db:"archived_node_id" json:"archived_node_id"`
}

// holdingDoc is a holdingRow as row_to_json renders holdingDocColumns:
// its jsonb columns are JSON values, not text (its times are utcJSON's).
type holdingDoc struct {
	holdingRow
	Lock json.RawMessage `json:"lock"`
	Meta json.RawMessage `json:"meta"`
}

func (d *holdingDoc) row() *holdingRow {
	r := d.holdingRow
	r.Lock, r.Meta = d.Lock, d.Meta
	return &r
}

const holdingColumns = `contract_id, instrument_admin, instrument_id, owner, amount::text AS amount, lock, meta,
	created_offset, created_update_id, created_record_time, created_node_id,
	archived_offset, archived_update_id, archived_record_time, archived_node_id`

// holdingDocColumns are holdingColumns with the times as utcJSON's text,
// for row_to_json (cheaper than to_jsonb with the times replaced after).
var holdingDocColumns = `contract_id, instrument_admin, instrument_id, owner, amount::text AS amount, lock, meta,
	created_offset, created_update_id, ` + utcJSON("created_record_time") + ` AS created_record_time, created_node_id,
	archived_offset, archived_update_id, ` + utcJSON("archived_record_time") + ` AS archived_record_time, archived_node_id`

func (r *holdingRow) holding() (Holding, error) {
	h := Holding{
		ContractID: r.ContractID,
		HoldingView: HoldingView{
			Owner:      r.Owner,
			Instrument: Instrument{Admin: r.InstrumentAdmin, ID: r.InstrumentID},
		},
		Created: Position{UpdateID: r.CreatedUpdateID, Offset: r.CreatedOffset, RecordTime: r.CreatedRecordTime.UTC(), NodeID: r.CreatedNodeID},
	}
	var err error
	if h.Amount, err = decimal.NewFromString(r.Amount); err != nil {
		return Holding{}, fmt.Errorf("tokenstd: holding %s: amount %q: %w", r.ContractID, r.Amount, err)
	}
	if len(r.Lock) > 0 && string(r.Lock) != "null" {
		h.Lock = &Lock{}
		if err := json.Unmarshal(r.Lock, h.Lock); err != nil {
			return Holding{}, fmt.Errorf("tokenstd: holding %s: lock: %w", r.ContractID, err)
		}
	}
	if len(r.Meta) > 0 {
		if err := json.Unmarshal(r.Meta, &h.Meta); err != nil {
			return Holding{}, fmt.Errorf("tokenstd: holding %s: meta: %w", r.ContractID, err)
		}
		if len(h.Meta) == 0 {
			h.Meta = nil
		}
	}
	if r.ArchivedUpdateID != nil {
		h.Archived = &Position{UpdateID: *r.ArchivedUpdateID}
		if r.ArchivedOffset != nil {
			h.Archived.Offset = *r.ArchivedOffset
		}
		if r.ArchivedRecordTime != nil {
			h.Archived.RecordTime = r.ArchivedRecordTime.UTC()
		}
		if r.ArchivedNodeID != nil {
			h.Archived.NodeID = *r.ArchivedNodeID
		}
	}
	return h, nil
}

func selectHoldings(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) ([]Holding, error) {
	var rows []holdingRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, ctxerr.Wrap(ctx, err)
	}
	out := make([]Holding, 0, len(rows))
	for i := range rows {
		h, err := rows[i].holding()
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// HoldingsByID returns the holdings with the given contract ids, live or
// archived, in no particular order; unknown ids are left out.
func HoldingsByID(ctx context.Context, q sqlx.QueryerContext, schemaName string, cids []string) ([]Holding, error) {
	if err := schema.ValidateName(schemaName); err != nil {
		return nil, fmt.Errorf("tokenstd: %w", err)
	}
	if len(cids) == 0 {
		return nil, nil
	}
	// One index probe per id, not contract_id = ANY($1): while the table has
	// no statistics (its first minute, during a catch-up) the planner costs
	// ANY over a few hundred ids, or a plain join with them, as a sequential
	// scan of the whole table. LIMIT 1 keeps the lateral subquery a
	// parameterised index scan; contract_id is the key anyway.
	list, arg := pglist.Param(1, cids)
	out, err := selectHoldings(ctx, q, `SELECT h.* FROM (SELECT DISTINCT unnest(`+list+`)) AS u(cid),
		LATERAL (SELECT `+holdingColumns+` FROM `+schema.Qualify(schemaName, HoldingTable)+` WHERE contract_id = u.cid LIMIT 1) AS h`,
		arg)
	if err != nil {
		return nil, fmt.Errorf("tokenstd: reading holdings: %w", err)
	}
	return out, nil
}

// LiveHoldings returns the live holdings, ordered by instrument, then
// creation offset and node. q may be a *sqlx.DB or a *sqlx.Tx.
func LiveHoldings(ctx context.Context, q sqlx.QueryerContext, schemaName string) ([]Holding, error) {
	if err := schema.ValidateName(schemaName); err != nil {
		return nil, fmt.Errorf("tokenstd: %w", err)
	}
	out, err := selectHoldings(ctx, q, `SELECT `+holdingColumns+` FROM `+schema.Qualify(schemaName, HoldingTable)+
		` WHERE archived_offset IS NULL ORDER BY instrument_admin, instrument_id, created_offset, created_node_id`)
	if err != nil {
		return nil, fmt.Errorf("tokenstd: reading live holdings: %w", err)
	}
	return out, nil
}

// Balances returns the sum of the live holdings per instrument, locked ones
// included. q may be a *sqlx.DB or a *sqlx.Tx (to read a balance together
// with the caller's own writes).
func Balances(ctx context.Context, q sqlx.QueryerContext, schemaName string) (map[Instrument]decimal.Decimal, error) {
	if err := schema.ValidateName(schemaName); err != nil {
		return nil, fmt.Errorf("tokenstd: %w", err)
	}
	var rows []struct {
		Admin string `db:"instrument_admin"`
		ID    string `db:"instrument_id"`
		Sum   string `db:"total"`
	}
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT instrument_admin, instrument_id, sum(amount)::text AS total FROM `+
		schema.Qualify(schemaName, HoldingTable)+` WHERE archived_offset IS NULL GROUP BY instrument_admin, instrument_id`)
	if err != nil {
		return nil, fmt.Errorf("tokenstd: reading balances: %w", ctxerr.Wrap(ctx, err))
	}
	out := make(map[Instrument]decimal.Decimal, len(rows))
	for _, r := range rows {
		d, err := decimal.NewFromString(r.Sum)
		if err != nil {
			return nil, fmt.Errorf("tokenstd: balance of %s@%s: %w", r.ID, r.Admin, err)
		}
		out[Instrument{Admin: r.Admin, ID: r.ID}] = d
	}
	return out, nil
}

type instructionRow struct {
	ContractID       string         `db:"contract_id" json:"contract_id"`
	Sender           string         `db:"sender" json:"sender"`
	Receiver         string         `db:"receiver" json:"receiver"`
	InstrumentAdmin  string         `db:"instrument_admin" json:"instrument_admin"`
	InstrumentID     string         `db:"instrument_id" json:"instrument_id"`
	Amount           string         `db:"amount" json:"amount"`
	RequestedAt      *time.Time     `db:"requested_at" json:"requested_at"`
	ExecuteBefore    *time.Time     `db:"execute_before" json:"execute_before"`
	InputHoldingCIDs pq.StringArray `db:"input_holding_cids" json:"input_holding_cids"`
	Status           string         `db:"status" json:"status"`
	Reason           string         `db:"reason" json:"reason"`
	TransferMeta     []byte         `db:"transfer_meta" json:"-"` // in JSON: instructionDoc.TransferMeta
	Meta             []byte         `db:"meta" json:"-"`          // in JSON: instructionDoc.Meta
	Replaces         string         `db:"replaces" json:"replaces"`
	Original         string         `db:"original_instruction_cid" json:"original_instruction_cid"`
	CreatedOffset    int64          `db:"created_offset" json:"created_offset"`
	CreatedUpdateID  string         `db:"created_update_id" json:"created_update_id"`
	CreatedTime      time.Time      `db:"created_record_time" json:"created_record_time"`
}

// instructionDoc is an instructionRow as row_to_json renders
// instructionDocColumns (its times are utcJSON's).
type instructionDoc struct {
	instructionRow
	TransferMeta json.RawMessage `json:"transfer_meta"`
	Meta         json.RawMessage `json:"meta"`
}

func (d *instructionDoc) row() *instructionRow {
	r := d.instructionRow
	r.TransferMeta, r.Meta = d.TransferMeta, d.Meta
	return &r
}

const instructionColumns = `contract_id, sender, receiver, instrument_admin, instrument_id, amount::text AS amount,
	requested_at, execute_before, input_holding_cids, status, reason, transfer_meta, meta, replaces,
	original_instruction_cid, created_offset, created_update_id, created_record_time`

// instructionDocColumns are instructionColumns with the times as
// utcJSON's text, for row_to_json.
var instructionDocColumns = `contract_id, sender, receiver, instrument_admin, instrument_id, amount::text AS amount,
	` + utcJSON("requested_at") + ` AS requested_at, ` + utcJSON("execute_before") + ` AS execute_before,
	input_holding_cids, status, reason, transfer_meta, meta, replaces,
	original_instruction_cid, created_offset, created_update_id, ` + utcJSON("created_record_time") + ` AS created_record_time`

func (r *instructionRow) instruction() (Instruction, error) {
	in := Instruction{ContractID: r.ContractID, Replaces: r.Replaces,
		Created: Position{UpdateID: r.CreatedUpdateID, Offset: r.CreatedOffset, RecordTime: r.CreatedTime.UTC()}}
	t := &in.Transfer
	t.Sender, t.Receiver = r.Sender, r.Receiver
	t.Instrument = Instrument{Admin: r.InstrumentAdmin, ID: r.InstrumentID}
	t.InputHoldingCIDs = r.InputHoldingCIDs
	var err error
	if t.Amount, err = decimal.NewFromString(r.Amount); err != nil {
		return Instruction{}, fmt.Errorf("tokenstd: instruction %s: amount %q: %w", r.ContractID, r.Amount, err)
	}
	if r.RequestedAt != nil {
		t.RequestedAt = r.RequestedAt.UTC()
	}
	if r.ExecuteBefore != nil {
		t.ExecuteBefore = r.ExecuteBefore.UTC()
	}
	in.Status = InstructionStatus(r.Status)
	in.OriginalInstructionCID = r.Original
	for _, m := range []struct {
		raw []byte
		to  *Metadata
	}{{r.TransferMeta, &t.Meta}, {r.Meta, &in.Meta}} {
		if err := json.Unmarshal(m.raw, m.to); err != nil {
			return Instruction{}, fmt.Errorf("tokenstd: instruction %s: meta: %w", r.ContractID, err)
		}
		if len(*m.to) == 0 {
			*m.to = nil
		}
	}
	if t.Meta[MetaReason] == "" {
		in.Reason = r.Reason
	}
	return in, nil
}

func selectInstructions(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) ([]Instruction, error) {
	var rows []instructionRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("tokenstd: reading transfer instructions: %w", ctxerr.Wrap(ctx, err))
	}
	out := make([]Instruction, 0, len(rows))
	for i := range rows {
		in, err := rows[i].instruction()
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// PendingInstructions returns the transfer instructions still waiting for
// a step (offers to the treasury it may accept or reject, and its own
// offers), oldest first: by the record time of the transaction that
// created them, then offset (after a validator node restore the
// participant gives new transactions offsets below some already ingested).
func PendingInstructions(ctx context.Context, q sqlx.QueryerContext, schemaName string) ([]Instruction, error) {
	if err := schema.ValidateName(schemaName); err != nil {
		return nil, fmt.Errorf("tokenstd: %w", err)
	}
	return selectInstructions(ctx, q, `SELECT `+instructionColumns+` FROM `+schema.Qualify(schemaName, InstructionTable)+
		` WHERE outcome IS NULL ORDER BY created_record_time, created_offset, contract_id`)
}

// EntryFilter selects history entries for ListEntries. The zero value
// selects everything.
type EntryFilter struct {
	// Kinds keeps only entries of these kinds, each one of Kinds().
	Kinds []Kind
	// UpdateID keeps only the entries of one transaction.
	UpdateID string
	// AfterSeq keeps entries ingested after the one whose Entry.Seq it is:
	// the cursor to page with (Limit n, then AfterSeq = the last entry's
	// Seq). Entries of one transaction may fall on two pages. After an
	// Integration DB restore (and RenumberAfterRestore) what was ingested
	// since the backup comes again at new Seq values: drop what was seen by
	// the entry's key, deposit and deposit_unassigned taken as one kind
	// (see RenumberAfterRestore).
	AfterSeq int64
	// AfterOffset keeps entries with a larger offset. It is a filter, not a
	// cursor: a page that ends inside a transaction would lose the rest of
	// it, and after a validator node restore the participant numbers new
	// transactions from a lower offset than some already ingested.
	AfterOffset int64
	// Limit caps the number of entries; 0 means no limit, a negative one
	// is refused.
	Limit int
}

type entryRow struct {
	Seq              int64          `db:"id"`
	UpdateID         string         `db:"update_id"`
	NodeID           int32          `db:"node_id"`
	Kind             string         `db:"kind"`
	InstrumentAdmin  string         `db:"instrument_admin"`
	InstrumentID     string         `db:"instrument_id"`
	Offset           int64          `db:"ledger_offset"`
	RecordTime       time.Time      `db:"record_time"`
	SynchronizerID   string         `db:"synchronizer_id"`
	TxKind           string         `db:"tx_kind"`
	Choice           string         `db:"choice"`
	Amount           string         `db:"amount"`
	Transferred      string         `db:"transferred"`
	Fee              string         `db:"fee"`
	Sender           string         `db:"sender"`
	Receiver         string         `db:"receiver"`
	Counterparty     string         `db:"counterparty"`
	Reason           string         `db:"reason"`
	Account          string         `db:"account"`
	WithdrawalID     string         `db:"withdrawal_id"`
	InstructionCID   string         `db:"instruction_cid"`
	HoldingsCreated  pq.StringArray `db:"holdings_created"`
	HoldingsArchived pq.StringArray `db:"holdings_archived"`
	Meta             []byte         `db:"meta"`
}

// ListEntries returns history entries in ingestion order (Entry.Seq:
// offset, then node, within what was ingested in one go; a transaction
// ingested later comes later, even at a lower offset, as after a validator
// node restore or a set-aside transaction resolved). Their Created and
// Archived holdings are read from the holding table; an offer's
// Instruction from the instruction table.
//
// It walks the entries in ingestion order (the table's key) and checks
// f.Kinds on each: there is no index on the kind (migration 006 dropped
// it), so a filter on a kind that is rare reads every entry up to the
// limit's last match. A deployment that pages through such a kind can add
// a partial index of its own (docs/OPERATIONS.md).
func ListEntries(ctx context.Context, q sqlx.QueryerContext, schemaName string, f EntryFilter) ([]Entry, error) {
	if err := schema.ValidateName(schemaName); err != nil {
		return nil, fmt.Errorf("tokenstd: %w", err)
	}
	if f.Limit < 0 {
		return nil, fmt.Errorf("tokenstd: reading history: negative limit %d", f.Limit)
	}
	query := `SELECT id, update_id, node_id, kind, instrument_admin, instrument_id, ledger_offset, record_time, synchronizer_id,
		tx_kind, choice, amount::text AS amount, transferred::text AS transferred, fee::text AS fee, sender, receiver,
		counterparty, reason, account, withdrawal_id, instruction_cid, holdings_created, holdings_archived, meta
		FROM ` + schema.Qualify(schemaName, HistoryTable) + ` WHERE id > $1`
	args := []any{f.AfterSeq}
	if f.AfterOffset != 0 {
		args = append(args, f.AfterOffset)
		query += fmt.Sprintf(` AND ledger_offset > $%d`, len(args))
	}
	if len(f.Kinds) > 0 {
		kinds := make([]string, len(f.Kinds))
		for i, k := range f.Kinds {
			if !slices.Contains(Kinds(), k) {
				return nil, fmt.Errorf("tokenstd: reading history: unknown kind %q", k)
			}
			kinds[i] = string(k)
		}
		args = append(args, pq.Array(kinds))
		// The bound on max(id) below, which keeps no row out (the statement sees no
		// row with a larger id), makes the planner cost the id range as a
		// narrow one when the table has no statistics (after pg_restore,
		// before autovacuum analyzes it): without it the range is a third
		// of the table, the kinds' filter the default selectivity of an
		// equality, and a page of a common kind is read by a sequential
		// scan of the whole history and a sort instead of by the primary
		// key from the cursor.
		query += fmt.Sprintf(` AND kind = ANY($%d) AND id <= (SELECT max(id) FROM %s)`, len(args), schema.Qualify(schemaName, HistoryTable))
	}
	if f.UpdateID != "" {
		args = append(args, f.UpdateID)
		query += fmt.Sprintf(` AND update_id = $%d`, len(args))
	}
	query += ` ORDER BY id`
	if f.Limit > 0 {
		query += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	var rows []entryRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("tokenstd: reading history: %w", ctxerr.Wrap(ctx, err))
	}
	var cids, instrs []string
	for _, r := range rows {
		cids = append(cids, r.HoldingsCreated...)
		cids = append(cids, r.HoldingsArchived...)
		if r.InstructionCID != "" && (r.Kind == string(KindOfferIn) || r.Kind == string(KindOfferOut)) {
			instrs = append(instrs, r.InstructionCID)
		}
	}
	hs, err := HoldingsByID(ctx, q, schemaName, cids)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Holding, len(hs))
	for _, h := range hs {
		byID[h.ContractID] = h
	}
	ins := map[string]Instruction{}
	if len(instrs) > 0 {
		list, err := selectInstructions(ctx, q, `SELECT `+instructionColumns+` FROM `+schema.Qualify(schemaName, InstructionTable)+
			` WHERE contract_id = ANY($1)`, pq.Array(instrs))
		if err != nil {
			return nil, err
		}
		for _, in := range list {
			ins[in.ContractID] = in
		}
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		e := Entry{
			Seq: r.Seq, UpdateID: r.UpdateID, Offset: r.Offset, RecordTime: r.RecordTime.UTC(), SynchronizerID: r.SynchronizerID,
			NodeID: r.NodeID, Kind: Kind(r.Kind), TxKind: r.TxKind, Choice: r.Choice,
			Instrument: Instrument{Admin: r.InstrumentAdmin, ID: r.InstrumentID},
			Sender:     r.Sender, Receiver: r.Receiver, Counterparty: r.Counterparty, Reason: r.Reason,
			Account: r.Account, WithdrawalID: r.WithdrawalID, InstructionCID: r.InstructionCID,
		}
		for _, d := range []struct {
			s  string
			to *decimal.Decimal
		}{{r.Amount, &e.Amount}, {r.Transferred, &e.Transferred}, {r.Fee, &e.Fee}} {
			if *d.to, err = decimal.NewFromString(d.s); err != nil {
				return nil, fmt.Errorf("tokenstd: history entry of update %s node %d: %w", r.UpdateID, r.NodeID, err)
			}
		}
		if err := json.Unmarshal(r.Meta, &e.Meta); err != nil {
			return nil, fmt.Errorf("tokenstd: history entry of update %s node %d: meta: %w", r.UpdateID, r.NodeID, err)
		}
		if len(e.Meta) == 0 {
			e.Meta = nil
		}
		for _, c := range r.HoldingsCreated {
			e.Created = append(e.Created, withID(byID, c))
		}
		for _, c := range r.HoldingsArchived {
			e.Archived = append(e.Archived, withID(byID, c))
		}
		if in, ok := ins[r.InstructionCID]; ok && (e.Kind == KindOfferIn || e.Kind == KindOfferOut) {
			e.Instruction = &in
		}
		out[i] = e
	}
	return out, nil
}

func withID(byID map[string]Holding, cid string) Holding {
	if h, ok := byID[cid]; ok {
		return h
	}
	return Holding{ContractID: cid}
}

// jsonText marshals v for a jsonb parameter.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps of strings and plain structs are marshalled here.
		panic(fmt.Sprintf("tokenstd: marshalling %T: %v", v, err))
	}
	return string(b)
}

func metaJSON(m Metadata) string {
	if m == nil {
		return "{}"
	}
	return jsonText(m)
}
