package withdrawal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/nilcheck"
	"github.com/cantonx/txhistory/internal/pglist"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// RecoveryHook re-creates a withdrawal request that the Integration DB
// does not know — typically one written after the backup it was restored
// from — from what the ledger shows about its transfer.
//
// RecoverWithdrawal is called by the Reconciler, inside the ingestion
// batch's SQL transaction, for each treasury transfer (or transfer
// instruction outcome) whose reason passes Config.IsWithdrawalID but names
// no stored withdrawal. o.Status says what the ledger shows: completed for
// a transfer that paid out, pending_acceptance for an offer, and so on. It
// returns the fields it can fill in; the reconciler stores the withdrawal
// with o.ID, marked recovered, in status recovered for a completed
// transfer and o.Status otherwise, with the ledger's update id, offset,
// record time, instruction, transferred amount and fee whatever the hook
// says, no reserved holdings, and, where the hook left them empty,
// Amount = o.Transferred, Instrument and Receiver from o. Everything else
// (user account, reserved funds, trecTgt) is stored as the hook returns it.
// A negative Amount or ReservedFunds is an error, as below.
//
// The hook may write with tx (for instance to debit the user again) but
// must not commit or roll it back, nor write the withdrawal itself (the
// Reconciler stores what it returns; a row of the id the hook wrote is
// an error). A withdrawal recovered already ended
// without paying out (o.Status rejected, withdrawn, expired or failed: the
// first of its transactions the Integration DB sees is its end) is stored
// in that status and the Refunder is not called for it, so a hook that
// debits the user should do so only for pending_acceptance and completed;
// a withdrawal recovered pending gets its Refunder call when it ends. The Reconciler calls the hooks of a
// batch's unknown withdrawals first and then stores what they returned
// with one statement, so a hook cannot yet see the withdrawal rows of the
// batch (nor reference them with a foreign key). By then the withdrawals the
// batch makes due and does not name are expired in tx, though their
// Refunder calls come after the hooks. If a Create of the id commits
// meanwhile, what the hook wrote is rolled back (it runs under a savepoint)
// and the transfer is applied to the created withdrawal; the hook may then be
// called again for the batch's other unknown ids. Returning nil, nil leaves the transfer
// unrecorded as a withdrawal. An error aborts the batch: nothing of it is
// committed and the Ingester stops with the error (a panic too, its value
// wrapped to name the withdrawal and its update). It is called from one
// goroutine at a time.
type RecoveryHook interface {
	RecoverWithdrawal(ctx context.Context, tx *sqlx.Tx, o *Outcome) (*Withdrawal, error)
}

// RecoveryFunc adapts a function to the RecoveryHook interface.
type RecoveryFunc func(ctx context.Context, tx *sqlx.Tx, o *Outcome) (*Withdrawal, error)

// RecoverWithdrawal calls f.
func (f RecoveryFunc) RecoverWithdrawal(ctx context.Context, tx *sqlx.Tx, o *Outcome) (*Withdrawal, error) {
	return f(ctx, tx, o)
}

// RecoverFromLedger is the default RecoveryHook: the withdrawal as the
// ledger describes it — id, amount, instrument, receiver, and, filled in
// by the reconciler, update id, record time and fee — with the user
// account, reserved funds and trecTgt left blank. Hooks of exchanges that
// put more on the transfer can start from it.
//
// It debits nobody. Where users' balances live in the Integration DB (as
// the Refunder contract has it), the restore undid the debit of each lost
// request, and a recovered withdrawal that paid out (or may still) leaves
// its user's funds spendable twice: once the gate opens, the user can
// request them again. An exchange keeping balances there needs a hook that
// debits the user again (from what it put on the transfer, or from a log
// kept outside the Integration DB): RestoreProcedure opens the gate at its
// step 4 without looking at what was recovered.
func RecoverFromLedger(_ context.Context, _ *sqlx.Tx, o *Outcome) (*Withdrawal, error) {
	return &Withdrawal{Request: Request{ID: o.ID, Amount: o.Transferred, Instrument: o.Instrument, Receiver: o.Receiver}}, nil
}

// ReconcilerConfig configures a Reconciler. Zero fields take the documented
// defaults. Unlike the other Configs it has no WithDefaults: its Logger's
// default is the Store's, known only to NewReconciler, and a nil Recovery
// is a default no hook can stand for (RecoverFromLedger set as the hook
// takes a statement more per batch, see Recovery).
type ReconcilerConfig struct {
	// Recovery re-creates withdrawals whose request is unknown. Default
	// (nil): RecoverFromLedger, whose withdrawals the Reconciler stores in
	// the statement that takes the batch's lock, as it knows that hook
	// reads and writes nothing; any hook set here, even
	// RecoveryFunc(RecoverFromLedger), is called after the lock and its
	// withdrawals stored with a statement of their own. One holding a nil
	// func or pointer is refused.
	Recovery RecoveryHook
	// OnAnomaly is called, in the batch's transaction, when the ledger
	// contradicts the withdrawal records (see Anomaly). An error aborts the
	// batch; nil goes on (an illegal transition is then skipped, a
	// mismatch stays applied). Default: return the anomaly, so that
	// ingestion stops until an operator has looked (under ingest's
	// PoisonSetAside, the transaction is set aside for review instead).
	OnAnomaly func(ctx context.Context, tx *sqlx.Tx, a *Anomaly) error
	// History, if set, is the tokenstd History handler chained before the
	// Reconciler (a *tokenstd.History). The Reconciler then takes each
	// batch's entries from it rather than reading them back from
	// token_history (one statement fewer per batch), and fails a batch the
	// History handler has not handled first: a chain in the wrong order
	// (an error wrapping ingest.ErrDeploymentFault, which stops ingestion
	// under either poison policy). Without it, the entries are read from
	// the table, and a chain in the wrong order goes unnoticed: the
	// Reconciler reads before History has written the batch's entries, and
	// the withdrawals they pay or end stay requested or submitted,
	// unrefunded (not expired: their transfer is in token_history). A nil
	// *tokenstd.History (of a NewHistory whose error was ignored) is
	// refused, and so is one writing another schema than the store's, or
	// keeping the history of another party than the store's Treasury (if
	// set).
	History WrittenEntries
	// Logger defaults to the store's.
	Logger *slog.Logger
}

// WrittenEntries gives the history entries a handler wrote for a batch, and
// whether it handled that batch; *tokenstd.History implements it.
type WrittenEntries interface {
	Written(b *ingest.Batch) ([]*tokenstd.Entry, bool)
}

// Reconciler is the ingest.Handler that keeps withdrawals in step with the
// ledger. Run it after the tokenstd History handler, in the same batch:
//
//	ingest.Handlers(history, reconciler)
//
// For each batch it takes the history entries the History handler wrote for
// the batch's transactions (from the handler given as
// ReconcilerConfig.History, else reading token_history in the same SQL
// transaction) —
// the treasury's outgoing transfers and transfer instruction outcomes whose
// reason passes Config.IsWithdrawalID — in ledger order, and applies each
// as ApplyOutcomeTx would: a 1-step transfer or an accepted instruction completes
// the withdrawal, an offer makes it pending_acceptance, a rejection,
// withdrawal, expiry or failure closes it and credits the user back. A
// reason naming no stored withdrawal goes to the RecoveryHook. Then it
// expires the withdrawals whose trecTgt the batch's record time has passed
// (ExpireDueTx), from transactions and OffsetCheckpoints alike.
//
// The statements do not grow with the batch: one reads and locks the
// withdrawals the entries name and expires the due ones it does not name
// (and, with the default RecoveryHook, stores the recovered ones), one
// moves those whose transition is allowed, and, with a RecoveryHook of the
// exchange's, one stores the recovered ones. A batch whose withdrawals are
// all unknown to a store with the default hook thus takes one statement. Only
// a withdrawal named twice in one batch (an offer and its acceptance) or a
// transition the life cycle refuses is applied on its own, after which the
// batch's expiry runs again (a statement more) for the withdrawals it named.
//
// Using the History handler's entries rather than classifying again keeps
// one classification (the History handler's, with its holding set and
// instruction tracking). It also means the Reconciler sees nothing of a
// transaction set aside for review (by the History handler's SetAside policy
// or the Ingester's PoisonSetAside): such a transaction may be a
// withdrawal's transfer, so while any set-aside transaction is unresolved
// (review_transaction.resolved_at is NULL) the Reconciler expires nothing,
// and withdrawals wait, unrefunded, for an operator. If the History handler
// does not run before the Reconciler, no transfer is seen and withdrawals
// would expire although paid out: always chain them as above, and set
// ReconcilerConfig.History, which makes a chain in the wrong order fail
// every batch instead. Chain them from the first batch on: a transfer
// ingested while the History handler ran without the Reconciler is not
// applied when the Reconciler is added later (dedup does not hand it
// over again); its withdrawal, paid out or offered, is then not expired
// either, as its transfer is in token_history, and stays requested or
// submitted, unrefunded, for an operator (see Store.ExpireDueTx).
//
// Replaying a batch changes nothing: outcomes already applied are
// recognised by their update id, expiry only touches open withdrawals, and
// the Refunder and the RecoveryHook are only called for changes. Make one
// with NewReconciler; the zero Reconciler is not usable.
type Reconciler struct {
	s   *Store
	cfg ReconcilerConfig
	log *slog.Logger

	heldCheckedAt time.Time // when the held warning was last checked
	// pureRecovery: the RecoveryHook is the default, RecoverFromLedger,
	// which neither reads nor writes, so applyAll stores its withdrawals in
	// the statement that takes the lock.
	pureRecovery bool
}

// heldWarningInterval is how often, at most, the Reconciler checks for
// unresolved set-aside transactions to warn that nothing expires.
const heldWarningInterval = 30 * time.Second

var _ ingest.Handler = (*Reconciler)(nil)

// NewReconciler returns a Reconciler writing through s.
func NewReconciler(s *Store, cfg ReconcilerConfig) (*Reconciler, error) {
	if s == nil {
		return nil, errors.New("withdrawal: NewReconciler: nil store")
	}
	if nilcheck.Holds(cfg.History) || nilcheck.Holds(cfg.Recovery) {
		return nil, errors.New("withdrawal: NewReconciler: ReconcilerConfig.History or Recovery holds a nil pointer or func")
	}
	if h, ok := cfg.History.(interface{ Classifier() tokenstd.Classifier }); ok && !sameInstruments(h.Classifier().Instruments, s.cfg.Instruments) {
		return nil, fmt.Errorf("withdrawal: NewReconciler: the History's Instruments %v differ from the store's Config.Instruments %v: give both the same list (a withdrawal of an instrument History ignores would expire and be refunded though paid)",
			h.Classifier().Instruments, s.cfg.Instruments)
	}
	// Create reserves holdings from the store's token_holding: a History
	// writing another schema never fills it, or leaves it stale.
	if h, ok := cfg.History.(interface{ Schema() string }); ok && h.Schema() != s.cfg.Schema {
		return nil, fmt.Errorf("withdrawal: NewReconciler: the History writes schema %q, the store's is %q: give tokenstd.Config and withdrawal.Config the same Schema (Create reserves the holdings the History writes)",
			h.Schema(), s.cfg.Schema)
	}
	// Create refuses holdings not of the store's Treasury, and the History
	// fills the holding set with its own treasury's only.
	if h, ok := cfg.History.(interface{ Treasury() string }); ok && s.cfg.Treasury != "" && h.Treasury() != s.cfg.Treasury {
		return nil, fmt.Errorf("withdrawal: NewReconciler: the History keeps the history of %q, the store's Treasury is %q: give tokenstd.Config and withdrawal.Config the same Treasury (Create reserves the holdings the History writes)",
			h.Treasury(), s.cfg.Treasury)
	}
	pure := cfg.Recovery == nil
	if pure {
		cfg.Recovery = RecoveryFunc(RecoverFromLedger)
	}
	if cfg.OnAnomaly == nil {
		cfg.OnAnomaly = func(_ context.Context, _ *sqlx.Tx, a *Anomaly) error { return a }
	}
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	return &Reconciler{s: s, cfg: cfg, log: cfg.Logger, pureRecovery: pure}, nil
}

// Schema returns the PostgreSQL schema the Reconciler writes, its store's
// (ingest.SchemaWriter: ingest.New refuses an Ingester of another), ""
// for a zero Reconciler, not made by NewReconciler (which ingest.New
// refuses too).
func (r *Reconciler) Schema() string {
	if r.s == nil {
		return ""
	}
	return r.s.cfg.Schema
}

// Treasury returns the party whose withdrawals the Reconciler follows, its
// store's Config.Treasury, "" if not set (ingest.TreasuryKeeper:
// ingest.New refuses an Ingester whose Parties lack it).
func (r *Reconciler) Treasury() string {
	if r.s == nil {
		return ""
	}
	return r.s.cfg.Treasury
}

// HandleBatch implements ingest.Handler.
func (r *Reconciler) HandleBatch(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) error {
	if b == nil {
		return nil
	}
	var expired []*Withdrawal
	complete := false // whether applyAll expired what was due
	if len(b.Transactions) > 0 {
		var outcomes []Outcome
		if r.cfg.History != nil {
			entries, ok := r.cfg.History.Written(b)
			if !ok {
				return fmt.Errorf("withdrawal: the History handler has not handled batch (offsets %d..%d) before the Reconciler: chain them as ingest.Handlers(history, reconciler): %w",
					b.FromOffset, b.ToOffset, ingest.ErrDeploymentFault)
			}
			outcomes = outcomesOf(entries)
		} else {
			var err error
			if outcomes, err = r.s.outcomes(ctx, tx, b); err != nil {
				return err
			}
		}
		var err error
		if expired, complete, err = r.applyAll(ctx, tx, outcomes, b.RecordTimes); err != nil {
			return err
		}
	}
	// Nothing expires while a set-aside transaction is unresolved: the
	// expiry statement checks that itself; the warning is checked at most
	// every heldWarningInterval, to spare every batch a statement.
	if now := time.Now(); now.Sub(r.heldCheckedAt) >= heldWarningInterval {
		r.heldCheckedAt = now
		var held bool
		if err := tx.GetContext(ctx, &held, `SELECT `+r.s.reviewHeld()); err != nil {
			return fmt.Errorf("withdrawal: checking for transactions set aside for review: %w", err)
		}
		if held {
			r.log.Warn("withdrawal: not expiring withdrawals while transactions set aside for review are unresolved: one may be a withdrawal's transfer",
				"to_offset", b.ToOffset)
		}
	}
	if !complete {
		more, err := r.s.expireDue(ctx, tx, b.RecordTimes, true)
		if err != nil {
			return err
		}
		expired = append(expired, more...)
	}
	for _, w := range expired {
		r.log.Info("withdrawal: expired: the ingested record time passed its trecTgt with no transfer seen", "id", w.ID,
			"trec_tgt", w.TrecTgt, "to_offset", b.ToOffset)
	}
	return nil
}

// apply applies one outcome of a withdrawal id: the path of applyAll for
// the outcomes it does not apply together.
func (r *Reconciler) apply(ctx context.Context, tx *sqlx.Tx, o Outcome) error {
	for attempt := 0; ; attempt++ {
		w, changed, err := r.s.applyOutcome(ctx, tx, o)
		var te *TransitionError
		switch {
		case errors.Is(err, ErrNotFound) && attempt == 0:
			recovered, err := r.recover(ctx, tx, o)
			if err != nil || recovered {
				return err
			}
			continue // created concurrently: apply to it
		case errors.As(err, &te):
			kind := AnomalyIllegalTransition
			// Paid out, or pending acceptance of another instruction: this
			// transfer (or offer) is a second one for the withdrawal.
			if (te.From.PaidOut() || te.From == StatusPendingAcceptance) &&
				(o.Status == StatusCompleted || o.Status == StatusPendingAcceptance) {
				kind = AnomalyDoubleExecution
			}
			cur, _ := r.s.get(ctx, tx, o.ID)
			return r.anomaly(ctx, tx, &Anomaly{Kind: kind, Outcome: o, Withdrawal: cur, Detail: te.Error()})
		case err != nil:
			return fmt.Errorf("withdrawal: applying update %s at offset %d to withdrawal %q: %w", o.UpdateID, o.Offset, o.ID, err)
		}
		if changed {
			return r.changed(ctx, tx, w, o)
		}
		return nil
	}
}

// changed logs a withdrawal an outcome moved and reports a mismatch.
func (r *Reconciler) changed(ctx context.Context, tx *sqlx.Tx, w *Withdrawal, o Outcome) error {
	r.log.Info("withdrawal: "+string(w.Status), "id", w.ID, "update_id", o.UpdateID, "offset", o.Offset,
		"record_time", o.RecordTime, "fee", o.Fee)
	if d := mismatch(w, o); d != "" {
		return r.anomaly(ctx, tx, &Anomaly{Kind: AnomalyMismatch, Outcome: o, Withdrawal: w, Detail: d})
	}
	return nil
}

func (r *Reconciler) anomaly(ctx context.Context, tx *sqlx.Tx, a *Anomaly) error {
	r.log.Error("withdrawal: anomaly", "kind", a.Kind, "id", a.Outcome.ID, "update_id", a.Outcome.UpdateID,
		"offset", a.Outcome.Offset, "detail", a.Detail)
	return r.cfg.OnAnomaly(ctx, tx, a)
}

// mismatch says how a transfer differs from its (not recovered) request.
func mismatch(w *Withdrawal, o Outcome) string {
	if w.Recovered || (o.Status != StatusCompleted && o.Status != StatusPendingAcceptance) {
		return ""
	}
	switch {
	case o.Instrument != w.Instrument:
		return fmt.Sprintf("the transfer moved %s, the request is for %s", o.Instrument, w.Instrument)
	case !o.Transferred.Equal(w.Amount):
		return fmt.Sprintf("the transfer moved %s, the request is for %s", o.Transferred, w.Amount)
	case o.Receiver != "" && o.Receiver != w.Receiver:
		return fmt.Sprintf("the transfer went to %s, the request is for %s", o.Receiver, w.Receiver)
	}
	return ""
}

// recover calls the hook for an unknown withdrawal and stores what it
// returns. It reports false if a withdrawal with the id appeared meanwhile.
// The hook's writes are undone in that case (a savepoint): the withdrawal
// is not recovered, so they must not stay.
func (r *Reconciler) recover(ctx context.Context, tx *sqlx.Tx, o Outcome) (bool, error) {
	wrap := func(err error) error {
		return fmt.Errorf("withdrawal: recovering withdrawal %q (update %s at offset %d): %w", o.ID, o.UpdateID, o.Offset, err)
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT `+recoverySavepoint); err != nil {
		return false, wrap(err)
	}
	hw, err := r.hook(ctx, tx, o)
	if err != nil {
		return false, err
	}
	var made map[string]*Withdrawal
	if hw != nil {
		if made, err = r.s.insertRecovered(ctx, tx, []Outcome{o}, []*Withdrawal{hw}); err != nil {
			return false, err
		}
	}
	if hw != nil && made[o.ID] == nil {
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT `+recoverySavepoint); err != nil {
			return false, wrap(err)
		}
	}
	if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT `+recoverySavepoint); err != nil {
		return false, wrap(err)
	}
	if hw == nil {
		return true, nil // declined: the transfer stays unrecorded
	}
	if made[o.ID] == nil {
		// Created concurrently: apply to it. Unless the row was the
		// hook's own, undone with its other writes.
		if _, err := r.s.get(ctx, tx, o.ID); errors.Is(err, ErrNotFound) {
			return false, wrap(errors.New("the RecoveryHook wrote a withdrawal of this id itself (undone with its other writes): return the withdrawal for the Reconciler to store, do not write it"))
		} else if err != nil {
			return false, wrap(err)
		}
		return false, nil
	}
	r.recovered(made[o.ID], o)
	return true, nil
}

// hook calls the RecoveryHook for an unknown withdrawal; nil, nil if it
// declined.
func (r *Reconciler) hook(ctx context.Context, tx *sqlx.Tx, o Outcome) (*Withdrawal, error) {
	// A panic goes on (the Ingester recovers it, with the stack of the
	// hook), naming the withdrawal as an error does.
	defer func() {
		if p := recover(); p != nil {
			what := fmt.Sprintf("withdrawal: recovery hook for withdrawal %q (update %s at offset %d) panicked", o.ID, o.UpdateID, o.Offset)
			if err, ok := p.(error); ok {
				panic(fmt.Errorf("%s: %w", what, err))
			}
			panic(fmt.Sprintf("%s: %v", what, p))
		}
	}()
	hw, err := r.cfg.Recovery.RecoverWithdrawal(ctx, tx, &o)
	if err != nil {
		return nil, fmt.Errorf("withdrawal: recovery hook for withdrawal %q (update %s at offset %d): %w", o.ID, o.UpdateID, o.Offset, err)
	}
	if hw == nil {
		r.log.Warn("withdrawal: the recovery hook declined an unknown withdrawal", "id", o.ID, "update_id", o.UpdateID, "offset", o.Offset)
		return nil, nil
	}
	for _, f := range []struct {
		name string
		v    decimal.Decimal
	}{{"amount", hw.Amount}, {"reserved funds", hw.ReservedFunds}} {
		if f.v.IsNegative() {
			return nil, fmt.Errorf("withdrawal: recovery hook for withdrawal %q (update %s at offset %d) returned a negative %s %s: amounts are positive",
				o.ID, o.UpdateID, o.Offset, f.name, f.v)
		}
	}
	return hw, nil
}

// recovered logs a withdrawal stored from what the RecoveryHook returned.
func (r *Reconciler) recovered(w *Withdrawal, o Outcome) {
	r.log.Warn("withdrawal: recovered a withdrawal whose request was unknown (lost in a restore?)", "id", w.ID,
		"status", w.Status, "amount", w.Amount, "instrument", w.Instrument, "receiver", w.Receiver,
		"update_id", o.UpdateID, "offset", o.Offset, "record_time", o.RecordTime)
}

// outcomesOf returns the withdrawal outcomes among a batch's history
// entries, in ledger order, as outcomes reads them from the table.
func outcomesOf(entries []*tokenstd.Entry) []Outcome {
	var out []Outcome
	for _, e := range entries {
		status, ok := outcomeStatus[e.Kind]
		if !ok || e.WithdrawalID == "" {
			continue
		}
		o := Outcome{
			ID: e.WithdrawalID, Status: status, Kind: e.Kind, UpdateID: e.UpdateID, Offset: e.Offset,
			RecordTime: e.RecordTime.UTC(), SynchronizerID: e.SynchronizerID, NodeID: e.NodeID, Instrument: e.Instrument,
			Receiver: e.Receiver, Transferred: e.Transferred, Fee: e.Fee, InstructionCID: e.InstructionCID, Meta: e.Meta,
		}
		if o.Receiver == "" {
			o.Receiver = e.Counterparty
		}
		if e.Instruction != nil {
			o.Replaces = e.Instruction.Replaces
		}
		out = append(out, o)
	}
	slices.SortStableFunc(out, compareOutcomes)
	return out
}

// outcomes reads the withdrawal outcomes of the batch's transactions from
// the history entries, in ledger order.
func (s *Store) outcomes(ctx context.Context, tx *sqlx.Tx, b *ingest.Batch) ([]Outcome, error) {
	ids := make([]string, 0, len(b.Transactions))
	for _, t := range b.Transactions {
		if t != nil {
			ids = append(ids, t.UpdateID)
		}
	}
	idList, idArg := pglist.Param(1, ids)
	kinds := make(pq.StringArray, 0, len(outcomeStatus))
	for _, k := range OutcomeKinds() {
		kinds = append(kinds, string(k))
	}
	var rows []struct {
		UpdateID     string    `db:"update_id"`
		NodeID       int32     `db:"node_id"`
		Kind         string    `db:"kind"`
		Admin        string    `db:"instrument_admin"`
		ID           string    `db:"instrument_id"`
		Offset       int64     `db:"ledger_offset"`
		RecordTime   time.Time `db:"record_time"`
		Sync         string    `db:"synchronizer_id"`
		Transferred  string    `db:"transferred"`
		Fee          string    `db:"fee"`
		Receiver     string    `db:"receiver"`
		Counterparty string    `db:"counterparty"`
		WithdrawalID string    `db:"withdrawal_id"`
		Instruction  string    `db:"instruction_cid"`
		Replaces     string    `db:"replaces"`
		Meta         []byte    `db:"meta"`
	}
	// One index probe per update id, as tokenstd's look-ups: while
	// token_history has no statistics (after a restore with pg_restore,
	// during a catch-up's first minute) the planner costs update_id =
	// ANY($1) over a batch's ids as a sequential scan of the whole table.
	// OFFSET 0 keeps the lateral subquery from being flattened into a
	// join, so it stays a parameterised index scan.
	err := tx.SelectContext(ctx, &rows, `SELECT h.update_id, h.node_id, h.kind, h.instrument_admin, h.instrument_id,
			h.ledger_offset, h.record_time, h.synchronizer_id, h.transferred::text AS transferred, h.fee::text AS fee,
			h.receiver, h.counterparty, h.withdrawal_id, h.instruction_cid, h.meta,
			CASE WHEN h.kind = $3 THEN COALESCE((SELECT i.replaces FROM `+s.instructions+` i
				WHERE i.contract_id = h.instruction_cid), '') ELSE '' END AS replaces
		FROM (SELECT DISTINCT unnest(`+idList+`)) AS u(id),
			LATERAL (SELECT * FROM `+s.history+` WHERE update_id = u.id AND withdrawal_id <> '' AND kind = ANY($2)
				OFFSET 0) AS h
		ORDER BY h.ledger_offset, h.node_id, h.id`, idArg, kinds, string(tokenstd.KindOfferOut))
	if err != nil {
		return nil, fmt.Errorf("withdrawal: reading the history of batch (offsets %d..%d): %w", b.FromOffset, b.ToOffset, err)
	}
	out := make([]Outcome, 0, len(rows))
	for _, r := range rows {
		o := Outcome{
			ID: r.WithdrawalID, Status: outcomeStatus[tokenstd.Kind(r.Kind)], Kind: tokenstd.Kind(r.Kind),
			UpdateID: r.UpdateID, Offset: r.Offset, RecordTime: r.RecordTime.UTC(), SynchronizerID: r.Sync, NodeID: r.NodeID,
			Instrument: tokenstd.Instrument{Admin: r.Admin, ID: r.ID}, Receiver: r.Receiver, InstructionCID: r.Instruction,
			Replaces: r.Replaces,
		}
		if o.Receiver == "" {
			o.Receiver = r.Counterparty
		}
		for _, d := range []struct {
			s  string
			to *decimal.Decimal
		}{{r.Transferred, &o.Transferred}, {r.Fee, &o.Fee}} {
			if *d.to, err = decimal.NewFromString(d.s); err != nil {
				return nil, fmt.Errorf("withdrawal: history entry of update %s node %d: %w", r.UpdateID, r.NodeID, err)
			}
		}
		if len(r.Meta) > 0 {
			if err := json.Unmarshal(r.Meta, &o.Meta); err != nil {
				return nil, fmt.Errorf("withdrawal: history entry of update %s node %d: meta: %w", r.UpdateID, r.NodeID, err)
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// sameInstruments reports whether a and b list the same instruments, in
// any order.
func sameInstruments(a, b []tokenstd.Instrument) bool {
	key := func(l []tokenstd.Instrument) []string {
		ks := make([]string, len(l))
		for i, inst := range l {
			ks[i] = inst.Admin + "\x00" + inst.ID
		}
		slices.Sort(ks)
		return slices.Compact(ks)
	}
	return slices.Equal(key(a), key(b))
}
