package tokenstd_test

// Hostile token standard input, end to end: the booksModel's valid
// histories with some transactions mutated at random (wrong value types,
// missing and extra fields, odd amounts, duplicate and unknown contract
// ids, odd metadata, NUL bytes, empty parties), ingested by the real
// Ingester with History and the withdrawal Reconciler. Each transaction
// must be applied, set aside, or stop ingestion naming its offset and
// update id; the books must add up whatever was applied; a rewound run
// must change nothing.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// hostileNumerics are amounts a participant should never send, and some
// it may.
var hostileNumerics = []string{
	"-5.0", "0", "0.0", "-0", "1e3", "1E-2", "5e+2", ".5", "5.", "+5", "NaN", "Infinity", "", " 5", "0x10",
	"1234567890123456789012345678901234567890", "1234567890123456789012345678.1234567890",
	"1.12345678901", "0.00000000001", "00000000000000000000000000000000000000001.0", "1_000", "١٢",
}

// hostileTexts are texts and party ids: NUL bytes, empty, long, odd runes.
var hostileTexts = []string{
	"", "a\x00b", "\x00", " ", "Gold", "\u202eacct-1", "acct-1\n", strings.Repeat("x", 3000), "mallory::1220ff", "ℵ",
}

// valuePath is a way down a value: child indexes.
type valuePath []int

// valueSites lists the paths of every node of v, v itself included.
func valueSites(v ledger.Value, at valuePath, out *[]valuePath) {
	*out = append(*out, append(valuePath(nil), at...))
	for i, c := range valueChildren(v) {
		valueSites(c, append(at, i), out)
	}
}

func valueChildren(v ledger.Value) []ledger.Value {
	switch v.Kind() {
	case ledger.KindRecord:
		fs, _ := v.AsRecord()
		out := make([]ledger.Value, len(fs))
		for i, f := range fs {
			out[i] = f.Value
		}
		return out
	case ledger.KindOptional:
		if inner, some, _ := v.AsOptional(); some {
			return []ledger.Value{inner}
		}
	case ledger.KindList:
		l, _ := v.AsList()
		return l
	case ledger.KindTextMap:
		fs, _ := v.AsTextMap()
		out := make([]ledger.Value, len(fs))
		for i, f := range fs {
			out[i] = f.Value
		}
		return out
	case ledger.KindVariant:
		_, inner, _ := v.AsVariant()
		return []ledger.Value{inner}
	}
	return nil
}

// replaceAt returns v with the node at path replaced by fn's result.
func replaceAt(v ledger.Value, path valuePath, fn func(ledger.Value) ledger.Value) ledger.Value {
	if len(path) == 0 {
		return fn(v)
	}
	i, rest := path[0], path[1:]
	var idp *ledger.Identifier
	if id, ok := v.TypeID(); ok {
		idp = &id
	}
	switch v.Kind() {
	case ledger.KindRecord:
		fs, _ := v.AsRecord()
		fs = append([]ledger.Field(nil), fs...)
		fs[i].Value = replaceAt(fs[i].Value, rest, fn)
		return ledger.Record(idp, fs...)
	case ledger.KindOptional:
		inner, _, _ := v.AsOptional()
		return ledger.Some(replaceAt(inner, rest, fn))
	case ledger.KindList:
		l, _ := v.AsList()
		l = append([]ledger.Value(nil), l...)
		l[i] = replaceAt(l[i], rest, fn)
		return ledger.List(l...)
	case ledger.KindTextMap:
		fs, _ := v.AsTextMap()
		fs = append([]ledger.Field(nil), fs...)
		fs[i].Value = replaceAt(fs[i].Value, rest, fn)
		return ledger.TextMap(fs...)
	case ledger.KindVariant:
		c, inner, _ := v.AsVariant()
		return ledger.Variant(idp, c, replaceAt(inner, rest, fn))
	}
	panic("no child")
}

// hostileMutator mutates transactions at random.
type hostileMutator struct {
	rng  *rand.Rand
	cids []string // contract ids seen so far, for duplicates
}

func (m *hostileMutator) pick(list []string) string { return list[m.rng.IntN(len(list))] }

// node returns a hostile replacement of v (what it did, for the log).
func (m *hostileMutator) node(v ledger.Value) (ledger.Value, string) {
	if m.rng.IntN(5) == 0 { // a value of another type
		other := []ledger.Value{ledger.Text("x"), ledger.Int64(5), ledger.Unit(), ledger.Bool(true), ledger.None(),
			ledger.Numeric("5"), ledger.Party("alice::1220a1"), ledger.List(), ledger.TextMap(), ledger.Record(nil)}
		o := other[m.rng.IntN(len(other))]
		return o, "retyped " + v.Kind().String() + " as " + o.Kind().String()
	}
	switch v.Kind() {
	case ledger.KindNumeric:
		s := m.pick(hostileNumerics)
		return ledger.Numeric(s), fmt.Sprintf("numeric %q", s)
	case ledger.KindText:
		s := m.pick(hostileTexts)
		return ledger.Text(s), fmt.Sprintf("text %.20q", s)
	case ledger.KindParty:
		s := m.pick(hostileTexts)
		return ledger.Party(s), fmt.Sprintf("party %.20q", s)
	case ledger.KindContractID:
		s := "00unknown" + fmt.Sprint(m.rng.IntN(1000))
		if len(m.cids) > 0 && m.rng.IntN(2) == 0 {
			s = m.pick(m.cids)
		}
		return ledger.ContractID(s), "contract id " + s
	case ledger.KindRecord:
		var idp *ledger.Identifier
		if id, ok := v.TypeID(); ok {
			idp = &id
		}
		fs, _ := v.AsRecord()
		fs = append([]ledger.Field(nil), fs...)
		switch {
		case len(fs) > 0 && m.rng.IntN(2) == 0:
			i := m.rng.IntN(len(fs))
			what := "dropped field " + fs[i].Label
			return ledger.Record(idp, append(fs[:i], fs[i+1:]...)...), what
		case len(fs) > 0 && m.rng.IntN(2) == 0:
			i := m.rng.IntN(len(fs))
			fs = append(fs, fs[i])
			return ledger.Record(idp, fs...), "repeated field " + fs[i].Label
		default:
			return ledger.Record(idp, append(fs, ledger.F("extra", ledger.Text("x")))...), "extra field"
		}
	case ledger.KindTextMap:
		fs, _ := v.AsTextMap()
		fs = append([]ledger.Field(nil), fs...)
		k := m.pick(hostileTexts)
		if len(fs) > 0 && m.rng.IntN(3) == 0 {
			k = fs[m.rng.IntN(len(fs))].Label // a duplicate key
		}
		val := m.pick(hostileTexts)
		fs = append(fs, ledger.F(k, ledger.Text(val)))
		return ledger.TextMap(fs...), fmt.Sprintf("map entry %.20q=%.20q", k, val)
	case ledger.KindOptional:
		if _, some, _ := v.AsOptional(); some {
			return ledger.None(), "Some to None"
		}
		return ledger.Some(ledger.Text("x")), "None to Some"
	case ledger.KindList:
		l, _ := v.AsList()
		if len(l) > 0 && m.rng.IntN(2) == 0 {
			return ledger.List(append(append([]ledger.Value(nil), l...), l[0])...), "repeated list element"
		}
		return ledger.List(), "emptied list"
	}
	return ledger.Text("x"), "retyped " + v.Kind().String() + " as Text"
}

// mutate returns a mutated copy of tx and what was done.
func (m *hostileMutator) mutate(tx *ledger.Transaction) (*ledger.Transaction, string) {
	out := cloneTx(tx)
	var creates []*ledger.CreatedEvent
	var exercises []*ledger.ExercisedEvent
	for _, ev := range out.Events {
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			creates = append(creates, e)
		case *ledger.ExercisedEvent:
			exercises = append(exercises, e)
		}
	}
	switch k := m.rng.IntN(10); {
	case k == 0 && len(creates) > 1: // duplicate contract id within the transaction
		a, b := creates[m.rng.IntN(len(creates))], creates[m.rng.IntN(len(creates))]
		b.ContractID = a.ContractID
		return out, "duplicate created contract id " + a.ContractID
	case k == 1 && len(exercises) > 0: // a consumed contract never seen
		for _, x := range exercises {
			if x.Consuming {
				x.ContractID = fmt.Sprintf("00neverseen%d", m.rng.IntN(1000))
				return out, "consumed " + x.ContractID
			}
		}
	case k == 2 && len(creates) > 0: // an odd contract id
		c := creates[m.rng.IntN(len(creates))]
		c.ContractID = m.pick([]string{"", "00a\x00b", strings.Repeat("0", 3000)})
		return out, fmt.Sprintf("created contract id %.20q", c.ContractID)
	case k == 3 && len(creates) > 0: // an empty or odd signatory
		c := creates[m.rng.IntN(len(creates))]
		c.Signatories = append(append([]string(nil), c.Signatories...), m.pick([]string{"", "a\x00b"}))
		return out, "odd signatory"
	}
	// A node of a view, a choice argument or a result.
	type site struct {
		get func() ledger.Value
		set func(ledger.Value)
	}
	var sites []site
	for _, c := range creates {
		for i := range c.InterfaceViews {
			iv := &c.InterfaceViews[i]
			if iv.Value.IsValid() {
				sites = append(sites, site{func() ledger.Value { return iv.Value }, func(v ledger.Value) { iv.Value = v }})
			}
		}
	}
	for _, x := range exercises {
		if x.ChoiceArgument.IsValid() {
			sites = append(sites, site{func() ledger.Value { return x.ChoiceArgument }, func(v ledger.Value) { x.ChoiceArgument = v }})
		}
		if x.ExerciseResult.IsValid() {
			sites = append(sites, site{func() ledger.Value { return x.ExerciseResult }, func(v ledger.Value) { x.ExerciseResult = v }})
		}
	}
	if len(sites) == 0 {
		return out, "nothing to mutate"
	}
	s := sites[m.rng.IntN(len(sites))]
	v := s.get()
	var paths []valuePath
	valueSites(v, nil, &paths)
	p := paths[m.rng.IntN(len(paths))]
	var what string
	s.set(replaceAt(v, p, func(n ledger.Value) ledger.Value {
		nv, w := m.node(n)
		what = w
		return nv
	}))
	return out, fmt.Sprintf("%s at %v", what, p)
}

// TestRV99HostileTokenInput runs two seeds; TXHISTORY_HOSTILE_SEEDS=n
// runs seeds 1 to n. A failure logs the seed's history and mutations.
func TestRV99HostileTokenInput(t *testing.T) {
	n := uint64(2)
	if v := os.Getenv("TXHISTORY_HOSTILE_SEEDS"); v != "" {
		var err error
		n, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
	}
	for seed := uint64(1); seed <= n; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runHostile(t, seed, 80) })
	}
}

func runHostile(t *testing.T, seed uint64, steps int) {
	start := time.Now()
	m := newBooksModel(seed)
	for range steps {
		m.step()
	}
	mut := &hostileMutator{rng: rand.New(rand.NewPCG(seed, 0x99))}
	var txs []*ledger.Transaction
	log := map[string]string{} // update id -> mutation
	for _, tx := range m.txs {
		if mut.rng.IntN(4) == 0 {
			var what string
			tx, what = mut.mutate(tx)
			log[tx.UpdateID] = what
		}
		for _, ev := range tx.Events {
			if c, ok := ev.(*ledger.CreatedEvent); ok {
				mut.cids = append(mut.cids, c.ContractID)
			}
		}
		txs = append(txs, tx)
	}
	defer func() {
		if t.Failed() {
			for i, tx := range txs {
				t.Logf("%s: %s; mutated: %s", tx.UpdateID, m.log[i], log[tx.UpdateID])
			}
		}
	}()
	p, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(p.Close)
	_, err = p.Append(txs...)
	require.NoError(t, err)
	all := p.Transactions()
	end := p.LedgerEnd()
	t.Logf("%d transactions, %d mutated", len(all), len(log))

	// Halting: each stop names a transaction after the checkpoint; it is
	// then set aside and ingestion goes on.
	// Odd seeds count every instrument, even ones the model's only.
	var listed []tokenstd.Instrument
	if seed%2 == 0 {
		for _, inst := range m.instruments {
			listed = append(listed, toInstrument(inst))
		}
	}
	r := newBooksRig(t, p, listed)
	halts := 0
	for {
		cp := int64(r.count(`SELECT coalesce(max(ledger_offset), 0) FROM tokens.checkpoint`))
		err := r.runPolicy(ingest.PoisonHalt, end, 1+m.rng.IntN(8))
		if err == nil {
			break
		}
		halts++
		require.Less(t, halts, len(all), "no progress")
		var bad *ledger.Transaction
		for _, tx := range all {
			names := regexp.MustCompile(`\b` + regexp.QuoteMeta(tx.UpdateID) + `\b.*\b` + fmt.Sprint(tx.Offset) + `\b`)
			if tx.Offset > cp && names.MatchString(err.Error()) {
				bad = tx
				break
			}
		}
		require.NotNil(t, bad, "the halt names no transaction after checkpoint %d: %v", cp, err)
		t.Logf("halted at %d %s (%s): %.200s", bad.Offset, bad.UpdateID, log[bad.UpdateID], err)
		require.GreaterOrEqual(t, bad.Offset, r.checkpoint(), "checkpoint moved past the halting transaction")
		asideBefore := r.count(`SELECT count(*) FROM tokens.review_transaction`)
		require.NoError(t, r.runPolicy(ingest.PoisonSetAside, bad.Offset, 1+m.rng.IntN(8)), "setting aside offset %d", bad.Offset)
		require.Equal(t, asideBefore+1, r.count(`SELECT count(*) FROM tokens.review_transaction`),
			"setting aside %d set aside another transaction than it (those before it in its batch are good)", bad.Offset)
		require.Equal(t, bad.Offset, r.checkpoint())
		require.Equal(t, 1, r.count(fmt.Sprintf(`SELECT count(*) FROM tokens.review_transaction WHERE ledger_offset = %d`, bad.Offset)),
			"the halting transaction %d was not set aside", bad.Offset)
		r.hostileCheck(all, bad.Offset, fmt.Sprintf("after setting aside %d", bad.Offset))
		r.restart()
	}
	require.Equal(t, end, r.checkpoint())
	r.hostileCheck(all, end, "at the end")
	got := r.state()

	// One run setting aside as it goes, other batches: the same books.
	one := newBooksRig(t, p, listed)
	require.NoError(t, one.runPolicy(ingest.PoisonSetAside, end, 1+m.rng.IntN(32)))
	one.hostileCheck(all, end, "set-aside run")
	aside := `SELECT coalesce(string_agg(update_id, ' ' ORDER BY ledger_offset), '') FROM tokens.review_transaction`
	var gotAside, oneAside string
	require.NoError(t, r.b.db.GetContext(r.b.ctx, &gotAside, aside))
	require.NoError(t, one.b.db.GetContext(one.b.ctx, &oneAside, aside))
	require.Equal(t, gotAside, oneAside, "transactions set aside by a halting run and a setting-aside one")
	names := []string{"holdings", "instructions", "history", "credits", "withdrawals", "set aside"}
	for i, want := range one.state() {
		require.Equal(t, want, got[i], "%s differ between a halting run and a setting-aside one", names[i])
	}

	// An unmutated transaction applied, spending only contracts of such
	// transactions (or of none), books what it books in the unmutated
	// history: a mutation changes nothing beyond its transaction and what
	// spends its contracts.
	clean, err := ledgertest.New()
	require.NoError(t, err)
	t.Cleanup(clean.Close)
	_, err = clean.Append(m.txs...)
	require.NoError(t, err)
	ref := newBooksRig(t, clean, listed)
	require.NoError(t, ref.runPolicy(ingest.PoisonHalt, end, 1+m.rng.IntN(32)))
	creator := map[string]string{}
	for _, tx := range m.txs {
		for _, ev := range tx.Events {
			if c, ok := ev.(*ledger.CreatedEvent); ok {
				creator[c.ContractID] = tx.UpdateID
			}
		}
	}
	intact := func(id string) bool {
		_, mutated := log[id]
		return !mutated && one.count(`SELECT count(*) FROM tokens.review_transaction WHERE update_id = '`+id+`'`) == 0
	}
	compared := 0
	for _, tx := range m.txs {
		if !intact(tx.UpdateID) {
			continue
		}
		ok := true
		for _, ev := range tx.Events {
			var cid string
			switch e := ev.(type) {
			case *ledger.ExercisedEvent:
				if e.Consuming {
					cid = e.ContractID
				}
			case *ledger.ArchivedEvent:
				cid = e.ContractID
			}
			if c, known := creator[cid]; cid != "" && known && !intact(c) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		compared++
		want, err := tokenstd.ListEntries(ref.b.ctx, ref.b.db, testSchema, tokenstd.EntryFilter{UpdateID: tx.UpdateID})
		require.NoError(t, err)
		got, err := tokenstd.ListEntries(one.b.ctx, one.b.db, testSchema, tokenstd.EntryFilter{UpdateID: tx.UpdateID})
		require.NoError(t, err)
		// What later transactions did to its holdings and instruction is
		// not its booking.
		for _, es := range [][]tokenstd.Entry{want, got} {
			for i := range es {
				es[i].Seq, es[i].Instruction = 0, nil
				for _, hs := range [][]tokenstd.Holding{es[i].Created, es[i].Archived} {
					for j := range hs {
						hs[j].Archived = nil
					}
				}
			}
		}
		require.Equal(t, want, got, "entries of the intact transaction %s", tx.UpdateID)
	}
	t.Logf("%d intact transactions booked as in the unmutated history", compared)

	// Rewound: the replay changes nothing.
	rewind := m.rng.Int64N(end)
	cps, err := checkpoint.NewStore(testSchema)
	require.NoError(t, err)
	cp, found, err := cps.Get(one.b.ctx, one.b.db)
	require.NoError(t, err)
	require.True(t, found)
	require.NoError(t, recovery.Apply(one.b.ctx, one.b.db, &recovery.Rewind{Schema: testSchema, Mode: recovery.ModeNonUnique,
		From: cp.Offset, To: rewind, LastUpdateID: cp.UpdateID, RecoveryTime: cp.RecordTime, SynchronizerID: cp.SynchronizerID}))
	one.restart()
	require.NoError(t, one.runPolicy(ingest.PoisonSetAside, end, 1+m.rng.IntN(32)))
	for i, want := range got {
		require.Equal(t, want, one.state()[i], "%s changed by a replay from offset %d", names[i], rewind)
	}
	for _, tx := range txs {
		if what, ok := log[tx.UpdateID]; ok && !strings.Contains(oneAside, tx.UpdateID+" ") && !strings.HasSuffix(oneAside, tx.UpdateID) {
			t.Logf("applied: %s: %s", tx.UpdateID, what)
		}
	}
	t.Logf("%d halts; %s; %s", halts, one.kinds(), time.Since(start))
}

// runPolicy ingests up to end under the policy.
func (r *booksRig) runPolicy(policy ingest.PoisonPolicy, end int64, batch int) error {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.b.ctx, 30*time.Second)
	defer cancel()
	ing, err := ingest.New(r.b.db, r.client, ingest.Config{
		Parties: []string{treasury}, Schema: testSchema, Handler: r.hdl, EndOffset: end, MaxBatchSize: batch,
		Poison: policy, MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(r.t, err)
	err = ing.Run(ctx)
	require.NoError(r.t, ctx.Err(), "Run hung (returned %v)", err)
	return err
}

func (r *booksRig) count(q string) int {
	r.t.Helper()
	var n int
	require.NoError(r.t, r.b.db.GetContext(r.b.ctx, &n, q))
	return n
}

// hostileCheck: every transaction the treasury saw up to end is applied
// or set aside; the balances are the sum of the entries; the live holdings
// are those the entries created and did not archive.
func (r *booksRig) hostileCheck(all []*ledger.Transaction, end int64, where string) {
	t := r.t
	t.Helper()
	ctx, db := r.b.ctx, r.b.db
	for _, tx := range all {
		if tx.Offset > end || ledgertest.TokenProjection(tx, treasury) == nil {
			continue
		}
		n := r.count(fmt.Sprintf(`SELECT (SELECT count(*) FROM tokens.ingested_update WHERE ledger_offset = %d)
			+ (SELECT count(*) FROM tokens.review_transaction WHERE ledger_offset = %d)`, tx.Offset, tx.Offset))
		require.NotZero(t, n, "%s: transaction %d %s neither applied nor set aside", where, tx.Offset, tx.UpdateID)
	}
	entries, err := tokenstd.ListEntries(ctx, db, testSchema, tokenstd.EntryFilter{})
	require.NoError(t, err)
	sums := map[tokenstd.Instrument]decimal.Decimal{}
	live := map[string]decimal.Decimal{}
	for _, e := range entries {
		sums[e.Instrument] = sums[e.Instrument].Add(e.Amount)
		for _, h := range e.Created {
			_, dup := live[h.ContractID]
			require.False(t, dup, "%s: holding %s created twice", where, h.ContractID)
			live[h.ContractID] = h.Amount
		}
	}
	for _, e := range entries {
		for _, h := range e.Archived {
			delete(live, h.ContractID)
		}
	}
	// No holding or entry of an amount a Daml Numeric cannot have; no
	// entry of a transaction set aside. (A holding of 11 decimals, which a
	// Decimal field cannot hold, is taken; a fee may be negative: an
	// operation spending a holding of a set-aside transaction is booked
	// without it, as documented.)
	require.Zero(t, r.count(fmt.Sprintf(`SELECT count(*) FROM tokens.token_holding WHERE scale(amount) > %d`, ledger.MaxNumericScale)), "%s: holdings of odd amounts", where)
	require.Zero(t, r.count(fmt.Sprintf(`SELECT count(*) FROM tokens.token_history WHERE scale(amount) > %[1]d OR scale(transferred) > %[1]d OR scale(fee) > %[1]d`, ledger.MaxNumericScale)),
		"%s: entries of odd amounts", where)
	require.Zero(t, r.count(`SELECT count(*) FROM tokens.token_history h JOIN tokens.review_transaction r USING (update_id)`), "%s: entries of a set-aside transaction", where)
	balances, err := tokenstd.Balances(ctx, db, testSchema)
	require.NoError(t, err)
	requireSameAmounts(t, maps.Clone(balances), sums, where+": balances against the entries' sum")
	holdings, err := tokenstd.LiveHoldings(ctx, db, testSchema)
	require.NoError(t, err)
	got := map[string]string{}
	for _, h := range holdings {
		got[h.ContractID] = h.Amount.String()
	}
	want := map[string]string{}
	for c, a := range live {
		want[c] = a.String()
	}
	require.Equal(t, want, got, "%s: live holdings against the entries", where)
}
