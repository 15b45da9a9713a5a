package tokenstd_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	pb "github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/cantonx/txhistory/tokenstd"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
)

var update = flag.Bool("update", false, "rewrite the golden fixtures in testdata/golden from the scripts")

// Parties of the golden scripts.
const (
	treasury = "treasury::1220ex"
	alice    = "alice::1220a1"
	bob      = "bob::1220b2"
	external = "exchange-b::1220e3"
)

// accountPattern is the exchange's account id format in the golden
// fixtures: a reason that does not match it names no usable account.
const accountPattern = `^acct-[0-9]+$`

func goldenClassifier() tokenstd.Classifier {
	re := regexp.MustCompile(accountPattern)
	return tokenstd.Classifier{Treasury: treasury, Account: func(reason string) (string, bool) {
		return reason, re.MatchString(reason)
	}}
}

// goldenCase scripts a history with the builders. Every transaction of the
// world is delivered as the treasury's participant would (TokenProjection);
// the ones the treasury does not witness are left out.
type goldenCase struct {
	name        string
	description string
	script      func(w *ledgertest.TokenWorld) []*ledger.Transaction
}

var goldenCases = []goldenCase{
	{"deposit_1step", "alice deposits 40 to account acct-1 in one step, spending exactly one holding: one deposit of 40", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		return txs(
			w.Mint(alice, "40"),
			w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "40", Reason: "acct-1"}),
		)
	}},
	{"deposit_with_change", "alice deposits 40 from a holding of 100, paying a fee of 0.5: she gets 59.5 change, the treasury 40; the sender's archives and change are not the treasury's", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		return txs(
			w.Mint(alice, "100"),
			w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "40", Fee: "0.5", Reason: "acct-1"}),
		)
	}},
	{"withdrawal_change_fee", "two deposits, then a withdrawal of 70 with a fee of 1.25 spending both holdings (30 + 50): change 8.75, net change -71.25", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		return txs(
			w.Mint(alice, "100"),
			w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "30", Reason: "acct-1"}),
			w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "50", Reason: "acct-2"}),
			w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "70", Fee: "1.25", Reason: "wd-1"}),
		)
	}},
	{"offer_accept", "multi-step: alice offers 25 to acct-2 (pending, nothing credited), the treasury accepts (deposit); then the treasury offers 10 to bob with a fee of 0.1 (locked, pending) and bob accepts (withdrawal)", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		mint := w.Mint(alice, "60")
		offerIn, in := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "25", Reason: "acct-2"})
		accept := w.Accept(in)
		offerOut, out := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10", Fee: "0.1", Reason: "wd-7"})
		return txs(mint, offerIn, accept, offerOut, w.Accept(out))
	}},
	{"offer_reject", "the treasury offers 10 to bob, who rejects: the locked funds come back; alice offers 5 to the treasury, which rejects", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		mint := w.Mint(alice, "50")
		dep := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-1"})
		offerOut, out := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10", Reason: "wd-8"})
		rejectOut := w.Reject(out)
		offerIn, in := w.Offer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"})
		return txs(mint, dep, offerOut, rejectOut, offerIn, w.Reject(in))
	}},
	{"offer_withdraw", "the treasury offers 10 to bob and withdraws the offer before bob acts", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		mint := w.Mint(alice, "50")
		dep := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-1"})
		offer, cid := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10", Reason: "wd-9"})
		return txs(mint, dep, offer, w.Withdraw(cid))
	}},
	{"offer_expire", "the treasury's offer to bob passes its executeBefore deadline and the registry expires it with its own choice: transfer_expired", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		mint := w.Mint(alice, "50")
		dep := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-1"})
		offer, cid := w.Offer(ledgertest.TransferSpec{Sender: treasury, Receiver: bob, Amount: "10", Reason: "wd-10"})
		return txs(mint, dep, offer, w.Expire(cid))
	}},
	{"merge_split", "three deposits merged by a self-transfer (merge_split, net 0), then split in two by the registry's merge-split choice (tx-kind merge-split)", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		mint := w.Mint(alice, "100")
		d1 := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "10", Reason: "acct-1"})
		d2 := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-1"})
		d3 := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "30", Reason: "acct-1"})
		merge := w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: treasury, Amount: "60"})
		split := w.MergeSplit(treasury, nil, []string{"45", "15"})
		return txs(mint, d1, d2, d3, merge, split)
	}},
	{"burn_fee", "the treasury burns 0.75 of a holding of 20 (tx-kind burn): a fee entry, the change is the treasury's", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		mint := w.Mint(alice, "20")
		dep := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "20", Reason: "acct-1"})
		return txs(mint, dep, w.Burn(treasury, "0.75"))
	}},
	{"other_instrument", "a deposit and a withdrawal of USDX, administered by another registry: the instrument is admin + id", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		usd := ledgertest.TokenInstrument{Admin: "registry::1220r9", ID: "USDX"}
		mint := w.Mint(bob, "500", usd)
		dep := w.Transfer(ledgertest.TransferSpec{Sender: bob, Receiver: treasury, Amount: "120.5", Instrument: usd, Reason: "acct-3"})
		wd := w.Transfer(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "20", Fee: "0.05", Instrument: usd, Reason: "wd-11"})
		return txs(mint, dep, wd)
	}},
	{"deposit_unassigned", "deposits with an empty reason and with a reason that names no account: deposit_unassigned, kept for manual handling", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		return txs(
			w.Mint(alice, "100"),
			w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "7"}),
			w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "8", Reason: "for the pizza"}),
		)
	}},
	{"two_transfers_one_tx", "alice and bob deposit in one transaction (two transfers, nodes 0 and after alice's subtree), and a transaction with a deposit and a withdrawal", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		ma := w.Mint(alice, "100")
		mb := w.Mint(bob, "100")
		both := w.Tx(
			w.TransferOp(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "11", Reason: "acct-1"}),
			w.TransferOp(ledgertest.TransferSpec{Sender: bob, Receiver: treasury, Amount: "22", Reason: "acct-2"}),
		)
		mixed := w.Tx(
			w.TransferOp(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "5", Reason: "acct-1"}),
			w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "30", Fee: "0.3", Reason: "wd-12"}),
		)
		return txs(ma, mb, both, mixed)
	}},
	{"nested_transfer", "a deposit inside alice's wallet batch, and a withdrawal inside the treasury's automation choice: both found below the wrapping exercise", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		mint := w.Mint(alice, "100")
		dep := w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: alice},
			w.TransferOp(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "50", Reason: "acct-4"})))
		wd := w.Tx(w.WrapOp(ledgertest.TokenWrap{Actor: treasury, Choice: "WithdrawalAutomation_Execute"},
			w.TransferOp(ledgertest.TransferSpec{Sender: treasury, Receiver: external, Amount: "12", Fee: "0.2", Reason: "wd-13"})))
		return txs(mint, dep, wd)
	}},
	{"lock_unlock", "the treasury locks 15 of a holding of 40 for a venue (no tx-kind: lock), then unlocks it (tx-kind unlock)", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		mint := w.Mint(alice, "40")
		dep := w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: treasury, Amount: "40", Reason: "acct-1"})
		lock := w.LockOp(treasury, "15", ledgertest.HoldingLock{Holders: []string{"venue::1220v5"}, Context: "trading collateral"})
		return txs(mint, dep, w.Tx(lock), w.Unlock(lock.Created[0].ContractID))
	}},
	{"mint_and_unrelated", "a mint to the treasury (mint), a transfer pre-approval contract (no entry) and a transfer between alice and bob (not delivered: the treasury does not witness it)", func(w *ledgertest.TokenWorld) []*ledger.Transaction {
		return txs(
			w.Mint(treasury, "3"),
			w.Tx(w.PreapprovalOp(treasury)),
			w.Mint(alice, "9"),
			w.Transfer(ledgertest.TransferSpec{Sender: alice, Receiver: bob, Amount: "9", Reason: "thanks"}),
		)
	}},
}

func txs(all ...*ledger.Transaction) []*ledger.Transaction { return all }

// goldenFile is the content of a fixture.
type goldenFile struct {
	Name           string            `json:"name"`
	Description    string            `json:"description"`
	Treasury       string            `json:"treasury"`
	AccountPattern string            `json:"account_pattern"`
	Steps          []json.RawMessage `json:"steps"`
}

// goldenStepRaw is one step of a fixture: the treasury's view of one
// transaction in the Ledger API's protobuf JSON, and the history entries
// expected from it.
type goldenStepRaw struct {
	Transaction json.RawMessage `json:"transaction"`
	Entries     json.RawMessage `json:"entries"`
}

// treasuryView builds a case's history and keeps what the treasury's
// participant delivers.
func treasuryView(c goldenCase) []*ledger.Transaction {
	w := &ledgertest.TokenWorld{Sequence: true}
	var out []*ledger.Transaction
	var last int64
	for _, tx := range c.script(w) {
		if tx.Offset <= last {
			panic(fmt.Sprintf("golden case %s: transaction %s at offset %d comes after offset %d: build transactions in ledger order",
				c.name, tx.UpdateID, tx.Offset, last))
		}
		last = tx.Offset
		if v := ledgertest.TokenProjection(tx, treasury); v != nil {
			out = append(out, v)
		}
	}
	return out
}

func txJSON(t testing.TB, tx *ledger.Transaction) json.RawMessage {
	t.Helper()
	raw, err := protojson.Marshal(tx.Proto())
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, raw)) // protojson's spacing is deliberately unstable
	return buf.Bytes()
}

func txFromJSON(t testing.TB, raw json.RawMessage) *ledger.Transaction {
	t.Helper()
	var p pb.Transaction
	require.NoError(t, protojson.Unmarshal(raw, &p))
	tx, err := ledger.TransactionFromProto(&p)
	require.NoError(t, err)
	return tx
}

// classifyAll classifies a sequence with an in-memory holding set.
func classifyAll(t testing.TB, c tokenstd.Classifier, list []*ledger.Transaction) [][]tokenstd.Entry {
	t.Helper()
	set := tokenstd.NewHoldingSet()
	var out [][]tokenstd.Entry
	for _, tx := range list {
		entries, err := c.Classify(tx, set)
		require.NoError(t, err, "update %s", tx.UpdateID)
		set.Apply(entries)
		if entries == nil {
			entries = []tokenstd.Entry{}
		}
		out = append(out, entries)
	}
	return out
}

func goldenPath(name string) string { return filepath.Join("testdata", "golden", name+".json") }

// TestTokenGolden classifies the fixtures' transactions (read from the
// fixture files, as a participant sent them) and compares the entries with
// the fixtures' expected entries. It also checks that the builders still
// produce the fixtures' transactions; run with -update after changing a
// script or the classifier, and review the diff.
func TestTokenGolden(t *testing.T) {
	c := goldenClassifier()
	for _, gc := range goldenCases {
		t.Run(gc.name, func(t *testing.T) {
			built := treasuryView(gc)
			if *update {
				writeGolden(t, gc, built, classifyAll(t, c, built))
			}
			data, err := os.ReadFile(goldenPath(gc.name))
			require.NoError(t, err, "run go test -run TestTokenGolden -update to create it")
			var f goldenFile
			require.NoError(t, json.Unmarshal(data, &f))
			require.Equal(t, treasury, f.Treasury)
			require.Equal(t, accountPattern, f.AccountPattern)
			require.Len(t, f.Steps, len(built), "the script's transaction count changed; run with -update")

			var list []*ledger.Transaction
			var want []json.RawMessage
			for i, raw := range f.Steps {
				var s goldenStepRaw
				require.NoError(t, json.Unmarshal(raw, &s))
				require.JSONEq(t, string(txJSON(t, built[i])), string(s.Transaction),
					"step %d: the builders no longer produce the fixture's transaction; run with -update", i)
				list = append(list, txFromJSON(t, s.Transaction))
				want = append(want, s.Entries)
			}
			got := classifyAll(t, c, list)
			for i := range got {
				gotJSON, err := json.Marshal(got[i])
				require.NoError(t, err)
				require.JSONEq(t, string(want[i]), string(gotJSON), "step %d (update %s)", i, list[i].UpdateID)
			}
		})
	}
}

func writeGolden(t *testing.T, gc goldenCase, built []*ledger.Transaction, entries [][]tokenstd.Entry) {
	t.Helper()
	str := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return string(b)
	}
	// Written by hand so that each transaction stays on one line and the
	// expected entries read easily.
	var b bytes.Buffer
	b.WriteString("{\n")
	b.WriteString(`  "name": ` + str(gc.name) + ",\n")
	b.WriteString(`  "description": ` + str(gc.description) + ",\n")
	b.WriteString(`  "treasury": ` + str(treasury) + ",\n")
	b.WriteString(`  "account_pattern": ` + str(accountPattern) + ",\n")
	b.WriteString(`  "steps": [` + "\n")
	for i, tx := range built {
		es, err := json.MarshalIndent(entries[i], "      ", "  ")
		require.NoError(t, err)
		b.WriteString("    {\n")
		b.WriteString(`      "transaction": ` + string(txJSON(t, tx)) + ",\n")
		b.WriteString(`      "entries": ` + string(es) + "\n")
		b.WriteString("    }")
		if i < len(built)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("  ]\n}\n")
	require.True(t, json.Valid(b.Bytes()))
	require.NoError(t, os.MkdirAll(filepath.Dir(goldenPath(gc.name)), 0o755))
	require.NoError(t, os.WriteFile(goldenPath(gc.name), b.Bytes(), 0o644))
}
