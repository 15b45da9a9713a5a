package withdrawal

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// applyAll applies a batch's outcomes with a few statements for the whole
// batch rather than a few per withdrawal, and expires what the batch's
// record times make due:
//
//   - one statement reads and locks (FOR UPDATE) the stored withdrawals the
//     outcomes name, so their statuses stay as read until the batch commits,
//     and expires the due withdrawals they do not name; with the default
//     RecoveryHook, which neither reads nor writes, it also stores the
//     recovered withdrawals (an id that turns out to be stored is left to
//     the lock);
//   - an outcome already applied (same update id and node, or older than
//     the last transaction that moved the withdrawal on the same
//     synchronizer) is skipped, as ApplyOutcomeTx would;
//   - the allowed transitions are made by one UPDATE from arrays, which
//     also releases the reservations; then the Refunder runs for each
//     refunding one, in ledger order;
//   - a RecoveryHook of the exchange's is called, in ledger order, for each
//     unknown id, and what it returns is stored by one INSERT;
//   - the Refunder runs for each expired withdrawal, by trecTgt.
//
// Everything else takes the path of one outcome at a time (Reconciler.apply,
// which reads the withdrawal again): outcomes of a withdrawal named more
// than once in the batch (an offer and its acceptance), transitions the
// life cycle does not allow (anomalies), a recovered withdrawal whose id was
// created concurrently, and a move the locked row no longer matches. The
// outcomes of different withdrawals are independent, so the order in which
// the groups are applied does not change the result.
//
// It reports whether the expiry is complete: false if a withdrawal the
// outcomes name could still be due (it took the path of one at a time, or
// it is still requested or submitted), which HandleBatch then expires as
// before the lock (expireDue), after the outcomes, as ExpireDueTx says.
func (r *Reconciler) applyAll(ctx context.Context, tx *sqlx.Tx, outcomes []Outcome, recordTimes map[string]time.Time) (
	expired []*Withdrawal, complete bool, err error) {
	var ids []string
	named := make(map[string]int, len(outcomes))
	for _, o := range outcomes {
		if !r.s.cfg.IsWithdrawalID(o.ID) {
			r.log.Debug("withdrawal: treasury transfer whose reason is no withdrawal id, left alone", "reason", o.ID,
				"update_id", o.UpdateID, "offset", o.Offset)
			continue
		}
		if named[o.ID] == 0 {
			ids = append(ids, o.ID)
		}
		named[o.ID]++
	}
	if len(ids) == 0 {
		return nil, false, nil
	}
	// recoverable says whether an outcome of an unknown id goes to the
	// RecoveryHook together with the others.
	recoverable := func(o Outcome) bool {
		_, ok := rules[o.Status]
		return ok && o.Status != StatusSubmitted && named[o.ID] == 1
	}
	var early []Outcome // recovered with the lock
	var earlyHooked []*Withdrawal
	if r.pureRecovery {
		for _, o := range outcomes {
			if recoverable(o) {
				hw, err := RecoverFromLedger(ctx, tx, &o)
				if err != nil {
					return nil, false, err
				}
				early, earlyHooked = append(early, o), append(earlyHooked, hw)
			}
		}
	}
	l, err := r.s.lockBatch(ctx, tx, ids, recordTimes, early, earlyHooked)
	if err != nil {
		return nil, false, err
	}
	stored := l.stored
	complete = true
	open := func(w *Withdrawal) {
		if slices.Contains(beforeLedger, w.Status) {
			complete = false
		}
	}
	var moves, recover, slow []Outcome
	var hooked []*Withdrawal
	for _, o := range outcomes {
		n := named[o.ID]
		w := stored[o.ID]
		switch {
		case n == 0: // no withdrawal id
		case n > 1:
			slow = append(slow, o)
		case w == nil && !recoverable(o):
			slow = append(slow, o) // reported by applyOutcome
		case w == nil && r.pureRecovery:
			if m := l.made[o.ID]; m != nil {
				r.recovered(m, o)
			} else {
				slow = append(slow, o) // created concurrently: apply to it
			}
		case w == nil:
			recover = append(recover, o) // the hooks run after the moves
		case applied(w, o):
			open(w)
		case slices.Contains(rules[o.Status].from, w.Status) && ownInstruction(w, o):
			moves = append(moves, o)
		default:
			slow = append(slow, o)
		}
	}
	if len(moves) > 0 {
		moved, err := r.s.moveMany(ctx, tx, moves, stored)
		if err != nil {
			return nil, false, err
		}
		for _, o := range moves {
			w := moved[o.ID]
			if w == nil {
				slow = append(slow, o)
				continue
			}
			open(w)
			if rules[o.Status].refund {
				if err := r.s.refund(ctx, tx, w); err != nil {
					return nil, false, fmt.Errorf("withdrawal: applying update %s at offset %d to withdrawal %q: %w", o.UpdateID, o.Offset, o.ID, err)
				}
			}
			if err := r.changed(ctx, tx, w, o); err != nil {
				return nil, false, err
			}
		}
	}
	if len(recover) > 0 {
		// Under a savepoint: if an id turns out to be created concurrently,
		// the hooks' writes are undone with what they returned, and each
		// outcome takes the path of one at a time (whose recover undoes the
		// hook of an id created concurrently).
		if _, err := tx.ExecContext(ctx, `SAVEPOINT `+recoverySavepoint); err != nil {
			return nil, false, fmt.Errorf("withdrawal: recovering %d withdrawals (offsets %d..%d): %w", len(recover),
				recover[0].Offset, recover[len(recover)-1].Offset, err)
		}
		var hookedOutcomes []Outcome
		for _, o := range recover {
			hw, err := r.hook(ctx, tx, o)
			if err != nil {
				return nil, false, err
			}
			if hw != nil {
				hookedOutcomes, hooked = append(hookedOutcomes, o), append(hooked, hw)
			}
		}
		var made map[string]*Withdrawal
		if len(hookedOutcomes) > 0 {
			if made, err = r.s.insertRecovered(ctx, tx, hookedOutcomes, hooked); err != nil {
				return nil, false, err
			}
		}
		if len(made) < len(hookedOutcomes) {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT `+recoverySavepoint); err != nil {
				return nil, false, fmt.Errorf("withdrawal: recovering %d withdrawals (offsets %d..%d): %w", len(recover),
					recover[0].Offset, recover[len(recover)-1].Offset, err)
			}
			slow = append(slow, recover...) // one at a time
		} else {
			for _, o := range hookedOutcomes {
				r.recovered(made[o.ID], o)
			}
		}
		if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT `+recoverySavepoint); err != nil {
			return nil, false, fmt.Errorf("withdrawal: recovering %d withdrawals (offsets %d..%d): %w", len(recover),
				recover[0].Offset, recover[len(recover)-1].Offset, err)
		}
	}
	slices.SortStableFunc(slow, compareOutcomes)
	for _, o := range slow {
		if err := r.apply(ctx, tx, o); err != nil {
			return nil, false, err
		}
	}
	for _, w := range l.expired {
		if err := r.s.refund(ctx, tx, w); err != nil {
			return nil, false, err
		}
	}
	return l.expired, complete && len(slow) == 0, nil
}

// recoverySavepoint holds the RecoveryHook's writes until what it returned
// is stored: they are undone if the id was created concurrently.
const recoverySavepoint = "txhistory_withdrawal_recovery"

// compareOutcomes orders outcomes as the ledger does.
func compareOutcomes(a, b Outcome) int {
	return cmp.Or(cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.NodeID, b.NodeID))
}

// byID indexes withdrawals by id.
func byID(ws []*Withdrawal) map[string]*Withdrawal {
	out := make(map[string]*Withdrawal, len(ws))
	for _, w := range ws {
		out[w.ID] = w
	}
	return out
}

// locked is what lockBatch's statement returned.
type locked struct {
	stored  map[string]*Withdrawal // the withdrawals named, as stored, locked
	made    map[string]*Withdrawal // the recovered withdrawals it stored
	expired []*Withdrawal          // the withdrawals it expired, by trecTgt
}

// lockBatch reads and locks (FOR UPDATE) the stored withdrawals with the
// given ids and, in the same statement, expires the withdrawals due by
// recordTimes (as expireDue, unless held) that ids does not name, and
// stores recovered withdrawals (as insertRecovered; none if outcomes is
// empty). The rows it stores or expires are not among those it reads: all
// three parts see the database as it was when the statement began. It
// does not call the Refunder.
func (s *Store) lockBatch(ctx context.Context, tx *sqlx.Tx, ids []string, recordTimes map[string]time.Time,
	outcomes []Outcome, hooked []*Withdrawal) (locked, error) {
	c := s.clockArgs(recordTimes)
	args := []any{c.syncs, c.times, c.def, c.latest, string(StatusExpired), statusNames(beforeLedger), pq.StringArray(ids)}
	query := `WITH ` + clockCTE + `, named AS (
			SELECT * FROM ` + s.withdrawals + ` WHERE id = ANY($7) ORDER BY id FOR UPDATE
		), ` + s.expiring(true, ` AND NOT w.id = ANY($7)`)
	sel := `SELECT 'n' AS part, ` + columns + ` FROM named UNION ALL SELECT 'e', ` + columns + ` FROM expired`
	if len(outcomes) > 0 {
		query += `, made AS (` + s.recoveredInsert(len(args)+1) + ` RETURNING *)`
		sel += ` UNION ALL SELECT 'm', ` + columns + ` FROM made`
		args = append(args, recoveredArgs(outcomes, hooked)...)
	}
	var rows []struct {
		Part string `db:"part"`
		row
	}
	if err := tx.SelectContext(ctx, &rows, query+` `+sel, args...); err != nil {
		return locked{}, fmt.Errorf("withdrawal: reading the withdrawals of the batch's transfers: %w", err)
	}
	l := locked{stored: make(map[string]*Withdrawal, len(ids)), made: make(map[string]*Withdrawal, len(outcomes))}
	for i := range rows {
		w, err := rows[i].withdrawal()
		if err != nil {
			return locked{}, err
		}
		switch rows[i].Part {
		case "n":
			l.stored[w.ID] = w
		case "m":
			l.made[w.ID] = w
		default:
			l.expired = append(l.expired, w)
		}
	}
	slices.SortFunc(l.expired, func(a, b *Withdrawal) int {
		return cmp.Or(a.TrecTgt.Compare(b.TrecTgt), cmp.Compare(a.ID, b.ID))
	})
	return l, nil
}

// moveMany makes the transitions of ApplyOutcomeTx for outcomes of distinct
// withdrawals, each allowed from the withdrawal's status in stored (locked
// by lockBatch), with one statement that also releases their reservations.
// A withdrawal whose row is no longer in that status is left out of the
// result. It does not call the Refunder.
func (s *Store) moveMany(ctx context.Context, tx *sqlx.Tx, moves []Outcome, stored map[string]*Withdrawal) (map[string]*Withdrawal, error) {
	n := len(moves)
	var (
		ids, from, to, instrs, updates, times = make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n),
			make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
		transferred, fees, reasons = make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
		offsets                    = make(pq.Int64Array, n)
		nodes                      = make(pq.Int32Array, n)
		syncs                      = make(pq.StringArray, n)
		final, release             = make(pq.BoolArray, n), make(pq.BoolArray, n)
	)
	for i, o := range moves {
		r := rules[o.Status]
		ids[i], from[i], to[i] = o.ID, string(stored[o.ID].Status), string(o.Status)
		instrs[i], updates[i], offsets[i] = o.InstructionCID, o.UpdateID, o.Offset
		times[i], nodes[i], syncs[i] = normTime(o.RecordTime).Format(time.RFC3339Nano), o.NodeID, o.SynchronizerID
		transferred[i], fees[i], reasons[i] = o.transferred().String(), o.Fee.String(), o.failureReason()
		final[i], release[i] = r.final, r.release
	}
	ws, err := selectWithdrawals(ctx, tx, `WITH v AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
				$7::timestamptz[], $8::numeric[], $9::numeric[], $10::text[], $11::bool[], $12::bool[], $13::int[],
				$14::text[])
				AS v(id, from_status, to_status, instruction_cid, update_id, ledger_offset, record_time, transferred, fee,
					failure_reason, final, rel, node_id, sync)
		), moved AS (
			UPDATE `+s.withdrawals+` AS w SET
				status = CASE WHEN v.to_status = '`+string(StatusCompleted)+`' AND w.recovered
					THEN '`+string(StatusRecovered)+`' ELSE v.to_status END,
				updated_at = now(),
				closed_at = CASE WHEN v.final THEN now() ELSE w.closed_at END,
				instruction_cid = CASE WHEN v.instruction_cid <> '' THEN v.instruction_cid ELSE w.instruction_cid END,
				update_id = v.update_id, ledger_offset = v.ledger_offset, record_time = v.record_time,
				ledger_node_id = v.node_id, ledger_synchronizer_id = v.sync,
				transferred = v.transferred,
				fee = CASE WHEN w.status = '`+string(StatusPendingAcceptance)+`' THEN w.fee + v.fee ELSE v.fee END,
				failure_reason = CASE WHEN v.failure_reason <> '' THEN v.failure_reason ELSE w.failure_reason END
			FROM v WHERE w.id = v.id AND w.status = v.from_status
				AND (w.status <> '`+string(StatusPendingAcceptance)+`' OR w.instruction_cid = ''
					OR w.instruction_cid = v.instruction_cid)
			RETURNING w.*, v.rel
		), released AS (
			DELETE FROM `+s.reservations+` AS r USING moved WHERE r.withdrawal_id = moved.id AND moved.rel
		)
		SELECT `+columns+` FROM moved`,
		ids, from, to, instrs, updates, offsets, times, transferred, fees, reasons, final, release, nodes, syncs)
	if err != nil {
		return nil, fmt.Errorf("withdrawal: applying %d transfers (offsets %d..%d): %w", n, moves[0].Offset, moves[n-1].Offset, err)
	}
	return byID(ws), nil
}

// insertRecovered stores the withdrawals the RecoveryHook returned (hooked[i]
// for outcomes[i], distinct ids) with one statement. An id that exists
// already is left out of the result.
func (s *Store) insertRecovered(ctx context.Context, tx *sqlx.Tx, outcomes []Outcome, hooked []*Withdrawal) (map[string]*Withdrawal, error) {
	ws, err := selectWithdrawals(ctx, tx, s.recoveredInsert(1)+` RETURNING `+columns, recoveredArgs(outcomes, hooked)...)
	if err != nil {
		// Named, as the hook's errors are: the operator reads it when
		// ingestion halts on it.
		const most = 5
		ids := make([]string, 0, min(len(outcomes), most))
		for _, o := range outcomes[:min(len(outcomes), most)] {
			ids = append(ids, strconv.Quote(o.ID))
		}
		if len(outcomes) > most {
			ids = append(ids, fmt.Sprintf("and %d more", len(outcomes)-most))
		}
		return nil, fmt.Errorf("withdrawal: storing %d recovered withdrawals (%s; offsets %d..%d): %w", len(outcomes),
			strings.Join(ids, ", "), outcomes[0].Offset, outcomes[len(outcomes)-1].Offset, err)
	}
	return byID(ws), nil
}

// recoveredInsert is the INSERT of insertRecovered, without RETURNING, from
// the arrays of recoveredArgs as parameters $p to $p+19.
func (s *Store) recoveredInsert(p int) string {
	ps := make([]any, 20)
	for i := range ps {
		ps[i] = p + i
	}
	return `INSERT INTO ` + s.withdrawals + ` (id, user_account, amount, instrument_admin,
			instrument_id, receiver, reserved_funds, trec_tgt, synchronizer_id, status, recovered, instruction_cid, update_id,
			ledger_offset, record_time, transferred, fee, failure_reason, closed_at, ledger_node_id, ledger_synchronizer_id)
		SELECT v.id, v.account, v.amount, v.admin, v.inst, v.receiver, v.funds, NULLIF(v.trec, '')::timestamptz, v.sync,
			v.status, true, v.instr, v.upd, v.off, v.rt, v.transferred, v.fee, v.reason, CASE WHEN v.final THEN now() END,
			v.node, v.rsync
		FROM ` + fmt.Sprintf(`unnest($%d::text[], $%d::text[], $%d::numeric[], $%d::text[], $%d::text[], $%d::text[],
			$%d::numeric[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::bigint[], $%d::timestamptz[],
			$%d::numeric[], $%d::numeric[], $%d::text[], $%d::bool[], $%d::int[], $%d::text[])`, ps...) + `
			AS v(id, account, amount, admin, inst, receiver, funds, trec, sync, status, instr, upd, off, rt, transferred,
				fee, reason, final, node, rsync)
		ON CONFLICT (id) DO NOTHING`
}

// recoveredArgs are the parameters of recoveredInsert: one array per
// column, an element per outcome, hooked[i] being what the RecoveryHook
// returned for outcomes[i].
func recoveredArgs(outcomes []Outcome, hooked []*Withdrawal) []any {
	n := len(outcomes)
	var (
		ids, accounts, amounts, admins, instIDs, receivers = make(pq.StringArray, n), make(pq.StringArray, n),
			make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
		funds, trecs, syncs, statuses, instrs, updates = make(pq.StringArray, n), make(pq.StringArray, n),
			make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
		times, transferred, fees, reasons = make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n),
			make(pq.StringArray, n)
		offsets = make(pq.Int64Array, n)
		nodes   = make(pq.Int32Array, n)
		rsyncs  = make(pq.StringArray, n)
		final   = make(pq.BoolArray, n)
	)
	for i, o := range outcomes {
		hw := hooked[i]
		status := o.Status
		if status == StatusCompleted {
			status = StatusRecovered
		}
		amount, inst, receiver := hw.Amount, hw.Instrument, hw.Receiver
		if amount.IsZero() {
			amount = o.Transferred
		}
		if inst.Admin == "" && inst.ID == "" {
			inst = o.Instrument
		}
		if receiver == "" {
			receiver = o.Receiver
		}
		reason := hw.FailureReason
		if reason == "" {
			reason = o.failureReason()
		}
		if !hw.TrecTgt.IsZero() {
			trecs[i] = normTime(hw.TrecTgt).Format(time.RFC3339Nano)
		}
		ids[i], accounts[i], amounts[i], admins[i], instIDs[i] = o.ID, hw.UserAccount, amount.String(), inst.Admin, inst.ID
		receivers[i], funds[i], syncs[i], statuses[i] = receiver, hw.ReservedFunds.String(), hw.SynchronizerID, string(status)
		instrs[i], updates[i], offsets[i], times[i] = o.InstructionCID, o.UpdateID, o.Offset, normTime(o.RecordTime).Format(time.RFC3339Nano)
		transferred[i], fees[i], reasons[i], final[i] = o.transferred().String(), o.Fee.String(), reason, rules[o.Status].final
		nodes[i], rsyncs[i] = o.NodeID, o.SynchronizerID
	}
	return []any{ids, accounts, amounts, admins, instIDs, receivers, funds, trecs, syncs, statuses, instrs, updates, offsets,
		times, transferred, fees, reasons, final, nodes, rsyncs}
}
