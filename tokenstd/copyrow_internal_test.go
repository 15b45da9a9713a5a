package tokenstd

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/pgtest"
	"github.com/cantonx/txhistory/schema"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// awkward holds what ids, reasons and metadata can hold that COPY's text
// format, text array literals or JSON must escape.
var awkward = []string{
	"", "plain", `back\slash`, "tab\there", "new\nline", "carriage\rreturn", `quote"d`, "single'quote",
	"{braces},comma", "ünï€ode", `\N`, "NULL", " spaced ", "\x7f", "ctl\x03\x1f", `\\.`, "\u2028\u2029<>&",
}

// appendMeta gives the JSON metaJSON gives, for every kind of string.
func TestAppendMetaIsMetaJSON(t *testing.T) {
	maps := []Metadata{nil, {}, {"k": "v"}}
	for i, s := range awkward {
		maps = append(maps, Metadata{s: awkward[len(awkward)-1-i], "z" + s: s})
	}
	maps = append(maps, Metadata{"bad\xffutf8": "v"}, Metadata{"k": "bad\xc3"}, Metadata{"\x01": "\x02"})
	for _, m := range maps {
		got := appendMeta(nil, m)
		require.True(t, json.Valid(got), "%q gives %s", m, got)
		var gotMap, wantMap map[string]string
		require.NoError(t, json.Unmarshal(got, &gotMap))
		require.NoError(t, json.Unmarshal([]byte(metaJSON(m)), &wantMap))
		if len(wantMap) == 0 {
			require.Empty(t, gotMap)
			continue
		}
		require.Equal(t, wantMap, gotMap, "%q gives %s", m, got)
		require.NotContains(t, string(got), "\x01", "control bytes are escaped")
	}
}

// A rendered row is clean unless a value holds a separator byte.
func TestCopyRowClean(t *testing.T) {
	var r copyRow
	r.reset(false)
	r.text("a\\b\tc\nd")
	r.null()
	r.int(-7)
	r.meta(Metadata{"k": "\x01\x02"})
	require.True(t, r.clean())
	require.Equal(t, "a\\b\tc\nd\x01\x02\x01-7\x01{\"k\":\"\\u0001\\u0002\"}", string(r.line))
	for _, bad := range []string{"x\x01y", "\x02", "\x02\x01"} {
		r.reset(false)
		r.text("a")
		r.text(bad)
		r.null()
		require.False(t, r.clean(), "%q", bad)
	}
}

// copyIn's rendered rows and its fallback (values, when a value holds a
// separator byte) store exactly what they were given: entries and
// holdings written and read back, every field.
func TestCopyInStoresWhatItIsGiven(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.NewDB(t)
	for _, tc := range []struct {
		name  string
		extra string // added to the awkward strings of the rows ...
		from  int    // ... from this one on
		to    int    // ... up to this one
	}{
		{"rendered", "", 0, 0},
		{"values", "\x01sep\x02", 0, len(awkward)},
		{"mixed", "\x01", 5, 6}, // rendered, then values from row 5 on
	} {
		t.Run(tc.name, func(t *testing.T) {
			sch := "copy_" + tc.name
			require.NoError(t, schema.Migrate(ctx, db, schema.WithSchema(sch)))
			h, err := NewHistory(Config{Treasury: "treasury::1220aa", Schema: sch})
			require.NoError(t, err)
			rt := time.Date(2026, 3, 4, 5, 6, 7, 891234000, time.UTC)
			var entries []*Entry
			var holdings []Holding
			withExtra := func(i int, s string) string {
				if i >= tc.from && i < tc.to {
					return s + tc.extra
				}
				return s
			}
			for i, s := range awkward {
				s = withExtra(i, s)
				pos := Position{UpdateID: "upd-" + s, Offset: int64(100 + i), RecordTime: rt.Add(time.Duration(i) * time.Second), NodeID: int32(i)}
				hd := Holding{ContractID: "cid-" + s, Created: pos, HoldingView: HoldingView{
					Owner: "treasury::1220aa", Instrument: Instrument{Admin: "dso" + s, ID: "Amulet" + s},
					Amount: decimal.RequireFromString("12.3400"), Meta: Metadata{"m" + s: s},
				}}
				if i%2 == 1 {
					arch := pos
					arch.Offset += 1000
					hd.Archived = &arch
					exp := rt.Add(time.Hour)
					hd.Lock = &Lock{Holders: []string{s}, ExpiresAt: &exp, Context: s}
				}
				holdings = append(holdings, hd)
				entries = append(entries, &Entry{
					UpdateID: pos.UpdateID, Offset: pos.Offset, RecordTime: pos.RecordTime, SynchronizerID: "sync" + s,
					NodeID: pos.NodeID, Kind: KindDeposit, TxKind: "transfer" + s, Choice: "Choice" + s,
					Instrument: hd.Instrument, Amount: decimal.RequireFromString("-0.000100"),
					Transferred: decimal.RequireFromString("123456789012345678901234567890.5"), Fee: decimal.Zero,
					Sender: "sender" + s, Receiver: "receiver" + s, Counterparty: "cp" + s, Reason: s, Account: "acct" + s,
					WithdrawalID: "w" + s, InstructionCID: "ins" + s, Created: []Holding{hd}, Meta: Metadata{"k" + s: s, "k2": s},
				})
			}
			tx, err := db.BeginTxx(ctx, nil)
			require.NoError(t, err)
			require.NoError(t, h.writeHoldings(ctx, tx, holdings))
			require.NoError(t, h.writeEntries(ctx, tx, entries))
			require.NoError(t, tx.Commit())

			got, err := ListEntries(ctx, db, sch, EntryFilter{})
			require.NoError(t, err)
			require.Len(t, got, len(entries))
			for i, e := range entries {
				require.Positive(t, got[i].Seq)
				got[i].Seq = 0 // the database's, not in what was stored
				wantJSON, err := json.Marshal(e)
				require.NoError(t, err)
				gotJSON, err := json.Marshal(got[i])
				require.NoError(t, err)
				require.JSONEq(t, string(wantJSON), string(gotJSON), "entry %d", i)
				require.Equal(t, e.Amount.String(), got[i].Amount.String())
				require.Len(t, got[i].Created, 1)
				gh, wh := got[i].Created[0], holdings[i]
				require.Equal(t, wh.Created.UpdateID, gh.Created.UpdateID)
				require.Equal(t, wh.Created.Offset, gh.Created.Offset)
				require.Equal(t, wh.Created.NodeID, gh.Created.NodeID)
				require.True(t, wh.Created.RecordTime.Equal(gh.Created.RecordTime))
				require.Equal(t, wh.Archived == nil, gh.Archived == nil)
				if wh.Archived != nil {
					require.Equal(t, *wh.Archived, Position{UpdateID: gh.Archived.UpdateID, Offset: gh.Archived.Offset,
						RecordTime: gh.Archived.RecordTime.UTC(), NodeID: gh.Archived.NodeID})
				}
			}
			var stored string
			require.NoError(t, db.GetContext(ctx, &stored, `SELECT string_agg(reason, '|' ORDER BY id) FROM `+sch+`.token_history`))
			var want []string
			for i, s := range awkward {
				want = append(want, withExtra(i, s))
			}
			require.Equal(t, strings.Join(want, "|"), stored)
		})
	}
}

// appendDecimal renders what Decimal.String renders, for the int64 fast
// path and the values it leaves to String.
func TestAppendDecimalIsString(t *testing.T) {
	values := []decimal.Decimal{
		{}, decimal.Zero, decimal.New(0, -10), decimal.New(0, 3), decimal.New(-1, -1), decimal.New(5, -1),
		decimal.New(1500, -3), decimal.New(-1500, -3), decimal.New(7, 2), decimal.New(-7, 2), decimal.New(100, -2),
		decimal.New(1, -12), decimal.New(-123456789012345, -10), decimal.New(999999999999999, -5),
		decimal.New(1234567890123456, -4), decimal.New(math.MaxInt64, -3), decimal.New(math.MinInt64, -3),
		decimal.New(3, -40), decimal.New(3, 40),
		decimal.RequireFromString("123456789012345678901234567890.0123456789"),
		decimal.RequireFromString("-0.0000000001"), decimal.RequireFromString("10.1200000000"),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		digits := r.IntN(19)
		c := r.Int64N(int64(math.Pow10(digits)) + 1)
		if r.IntN(2) == 0 {
			c = -c
		}
		values = append(values, decimal.New(c, int32(r.IntN(30)-22)))
	}
	for _, d := range values {
		require.Equal(t, d.String(), string(appendDecimal([]byte("x"), d))[1:], "coefficient %s exponent %d", d.Coefficient(), d.Exponent())
	}
}
