package ledgertest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

const genTreasury = "treasury::1220gen"

// readAll streams the whole ledger through the library's client.
func readAll(t *testing.T, p *Participant) []*ledger.Transaction {
	t.Helper()
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer c.Close()
	st, err := c.Updates(ctxT(t), ledger.UpdatesRequest{EndInclusive: p.LedgerEnd(), Filter: ledger.Filter{Parties: []string{genTreasury}}})
	require.NoError(t, err)
	defer st.Close()
	var out []*ledger.Transaction
	for {
		u, err := st.Recv()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, u.Transaction)
	}
}

func TestAppendFuncServesWhatAppendWould(t *testing.T) {
	h := TransferHistory{Treasury: genTreasury, Customers: 3, WithdrawEvery: 4}
	const n = 25
	eager, err := New()
	require.NoError(t, err)
	t.Cleanup(eager.Close)
	for i := range n {
		_, err := eager.Append(h.Tx(i))
		require.NoError(t, err)
	}
	want := readAll(t, eager)
	require.Len(t, want, n)

	for name, opts := range map[string][]Option{"plain": nil, "wire cache": {WithWireCache()},
		"compressed wire cache": {WithCompressedWireCache()}} {
		t.Run(name, func(t *testing.T) {
			lazy, err := New(opts...)
			require.NoError(t, err)
			t.Cleanup(lazy.Close)
			calls := 0
			require.NoError(t, lazy.AppendFunc(n, func(i int) *ledger.Transaction { calls++; return h.Tx(i) }))
			require.Zero(t, calls, "AppendFunc makes no transaction itself")
			require.Equal(t, eager.LedgerEnd(), lazy.LedgerEnd())
			for round := range 2 { // the second round comes from the cache, if any
				require.Equal(t, want, readAll(t, lazy), "round %d", round)
			}
			require.Equal(t, eager.Transactions(), lazy.Transactions())
		})
	}
}

func TestAppendFuncLooksUpByIDAndFollowsAppend(t *testing.T) {
	h := TransferHistory{Treasury: genTreasury}
	p, err := New(WithWireCache())
	require.NoError(t, err)
	t.Cleanup(p.Close)
	first, err := p.Append(h.Tx(0))
	require.NoError(t, err)
	require.NoError(t, p.AppendFunc(3, func(i int) *ledger.Transaction { return h.Tx(i + 1) }))
	txs := p.Transactions()
	require.Len(t, txs, 4)
	require.Equal(t, first[0].UpdateID, txs[0].UpdateID)
	for i, tx := range txs {
		require.Equal(t, int64(i+1), tx.Offset)
		require.Equal(t, first[0].RecordTime.Add(time.Duration(i)*time.Millisecond), tx.RecordTime, "1ms apart, as Append assigns")
		require.Equal(t, DefaultSynchronizer, tx.SynchronizerID)
		for _, ev := range tx.Events {
			if c, ok := ev.(*ledger.CreatedEvent); ok {
				require.Equal(t, tx.Offset, c.Offset)
			}
		}
	}
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}})
	require.NoError(t, err)
	defer c.Close()
	got, err := c.UpdateByID(context.Background(), txs[2].UpdateID, ledger.Filter{Parties: []string{genTreasury}})
	require.NoError(t, err)
	require.Equal(t, int64(3), got.Offset)
	require.Equal(t, "transfer-2", got.CommandID)
}

func TestWireCacheKeepsFormatsApart(t *testing.T) {
	for name, opt := range map[string]Option{"plain": WithWireCache(), "compressed": WithCompressedWireCache()} {
		t.Run(name, func(t *testing.T) {
			f := setup(t, opt)
			_, err := f.p.Append(txFor("alice", "bob"), txFor("carol", "bob"))
			require.NoError(t, err)
			terseReq := func() *lapiv2.GetUpdatesRequest {
				return &lapiv2.GetUpdatesRequest{EndInclusive: proto.Int64(2), UpdateFormat: anyPartyFormat(false)}
			}
			verbose := f.open(t, bounded(0, 2)).nextTx()
			terse := f.open(t, terseReq()).nextTx()
			for range 2 { // from the cache of each format
				s := f.open(t, bounded(0, 2))
				require.True(t, proto.Equal(verbose, s.nextTx()))
				require.Equal(t, "cid-carol", s.nextTx().GetEvents()[0].GetCreated().GetContractId())
				require.True(t, proto.Equal(terse, f.open(t, terseReq()).nextTx()))
			}
			require.Equal(t, "owner", verbose.GetEvents()[0].GetCreated().GetCreateArguments().GetFields()[0].GetLabel())
			require.Empty(t, terse.GetEvents()[0].GetCreated().GetCreateArguments().GetFields()[0].GetLabel())
		})
	}
}

// TestCompressedWireCacheIsSmall checks that the compressed cache holds
// a transfer in a fraction of its encoded size and sends it unchanged.
func TestCompressedWireCacheIsSmall(t *testing.T) {
	h := TransferHistory{Treasury: genTreasury}
	const n = 40
	plain, err := New(WithWireCache())
	require.NoError(t, err)
	t.Cleanup(plain.Close)
	packed, err := New(WithCompressedWireCache())
	require.NoError(t, err)
	t.Cleanup(packed.Close)
	for _, p := range []*Participant{plain, packed} {
		require.NoError(t, p.AppendFunc(n, h.Tx))
		readAll(t, p) // fills the cache
	}
	want := readAll(t, plain)
	require.Equal(t, want, readAll(t, packed))
	sizes := func(p *Participant) (total, compressed int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.log {
			c := e.wire.Load()
			require.NotNil(t, c, "offset %d is cached", e.offset)
			total += len(c.resp)
			if c.dict != nil {
				compressed++
			}
		}
		return total, compressed
	}
	plainBytes, none := sizes(plain)
	packedBytes, compressed := sizes(packed)
	require.Zero(t, none)
	require.Equal(t, n-1, compressed, "all but the dictionary are compressed")
	require.Less(t, packedBytes*4, plainBytes, "compressed %d bytes against %d", packedBytes, plainBytes)
}

func TestTransferHistoryIsConsistent(t *testing.T) {
	t.Run("short ids", func(t *testing.T) { testTransferHistory(t, false) })
	t.Run("Canton ids", func(t *testing.T) { testTransferHistory(t, true) })
}

func testTransferHistory(t *testing.T, canton bool) {
	h := TransferHistory{Treasury: genTreasury, Customers: 4, CantonIDs: canton}
	var opts []Option
	if canton {
		opts = append(opts, WithCantonUpdateIDs())
	}
	p, err := New(opts...)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	const n = 41
	require.NoError(t, p.AppendFunc(n, h.Tx))
	txs := readAll(t, p)
	require.Len(t, txs, n)
	require.Equal(t, h.Tx(7), h.Tx(7), "Tx depends on i alone")

	// Replay the treasury's holdings: every spent holding must exist, and
	// no contract id repeats.
	live := map[string]decimal.Decimal{}
	seen := map[string]bool{}
	var deposits, withdrawals int
	for i, tx := range txs {
		wd, isWD := h.Withdrawal(i)
		require.Equal(t, h.IsWithdrawal(i), isWD)
		var spent []string
		paid := false
		for _, ev := range tx.Events {
			switch e := ev.(type) {
			case *ledger.CreatedEvent:
				require.False(t, seen[e.ContractID], "contract id %s repeats", e.ContractID)
				seen[e.ContractID] = true
				view := e.InterfaceViews[0].Value
				owner := must(must(view.Get("owner")).AsParty())
				amount := must(must(view.Get("amount")).AsDecimal())
				if owner == genTreasury {
					live[e.ContractID] = amount
				}
				if isWD && owner == wd.Receiver {
					inst := must(view.Get("instrumentId"))
					require.Equal(t, wd.Instrument, TokenInstrument{Admin: must(must(inst.Get("admin")).AsParty()), ID: must(must(inst.Get("id")).AsText())})
					require.True(t, amount.Equal(decimal.RequireFromString(wd.Amount)), "withdrawal %d pays %s", i, amount)
					paid = true
				}
			case *ledger.ExercisedEvent:
				if e.Consuming && e.Choice == "Archive" && isWD {
					_, ok := live[e.ContractID]
					require.True(t, ok, "withdrawal %d spends the treasury's holding %s", i, e.ContractID)
					delete(live, e.ContractID)
					spent = append(spent, e.ContractID)
				}
			}
		}
		if isWD {
			require.Equal(t, []string{wd.Input}, spent, "withdrawal %d", i)
			require.True(t, paid, "withdrawal %d pays %s", i, wd.Receiver)
			require.Equal(t, fmt.Sprintf("wd-%d", i), wd.ID)
			withdrawals++
		} else {
			deposits++
		}
	}
	require.Equal(t, 4, withdrawals)
	require.Equal(t, n-4, deposits)

	// Canton-length identifiers: update ids "1220" + 64 hex digits, contract
	// ids of about 140 hex digits, parties with a 68-character fingerprint.
	for _, tx := range txs {
		require.Equal(t, canton, len(tx.UpdateID) == 68, "update id %s", tx.UpdateID)
		for _, ev := range tx.Events {
			c, ok := ev.(*ledger.CreatedEvent)
			if !ok || len(c.InterfaceViews) == 0 {
				continue
			}
			require.Equal(t, canton, len(c.ContractID) > 130, "contract id %s", c.ContractID)
			owner, _ := c.InterfaceViews[0].Value.Get("owner")
			if party := must(owner.AsParty()); party != genTreasury {
				_, fingerprint, _ := strings.Cut(party, "::")
				require.Equal(t, canton, len(fingerprint) == 68, "party %s", party)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
