package ingest_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A Handler that uses a credential of its own (a pool on the exchange's
// database, a client of a participant) whose password or token was
// rotated under it fails on every transaction alike, refused for who it
// is (PostgreSQL's 28P01, the participant's UNAUTHENTICATED): a fault of
// the deployment, as a missing grant is, not transactions that cannot be
// ingested. Under PoisonSetAside it stops, naming the first transaction and
// the refusal, with nothing set aside and the checkpoint where it was;
// setting each aside would count every deposit as ingested and credit none.
func TestSetAsideStopsOnAHandlersRefusedCredential(t *testing.T) {
	for name, call := range map[string]func(t *testing.T, b *testBundle) func(ctx context.Context) error{
		"PostgreSQL password": func(t *testing.T, b *testBundle) func(ctx context.Context) error {
			u, err := url.Parse(b.dsn)
			require.NoError(t, err)
			u.User = url.UserPassword(u.User.Username(), "the-password-before-the-rotation")
			other, err := sqlx.Open("postgres", u.String())
			require.NoError(t, err)
			t.Cleanup(func() { other.Close() })
			return func(ctx context.Context) error {
				_, err := other.ExecContext(ctx, `SELECT 1`)
				return err
			}
		},
		"participant token": func(t *testing.T, b *testBundle) func(ctx context.Context) error {
			p, err := ledgertest.New(ledgertest.WithToken("the-token-after-the-rotation"))
			require.NoError(t, err)
			t.Cleanup(p.Close)
			c := dial(t, p.Addr(), ledger.StaticToken("the-token-before-the-rotation"))
			return func(ctx context.Context) error {
				_, err := c.LedgerEnd(ctx)
				return err
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			b := setup(t)
			appendN(t, b.p, 0, 20)
			first := treasuryTxs(b.p)[0]
			refused := call(t, b)
			h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
				if err := refused(ctx); err != nil {
					return err
				}
				return effectsHandler(ctx, tx, bt)
			})
			ing := newIngester(t, b, ingest.Config{Handler: h, Poison: ingest.PoisonSetAside, EndOffset: b.p.LedgerEnd(), MaxAttempts: 1})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := ing.Run(ctx)
			aside, lerr := ing.SetAsideTransactions(context.Background())
			require.NoError(t, lerr)
			if len(aside) > 0 {
				t.Fatalf("%d transactions set aside for the handler's refused credential (Run: %v); the first: %s: %s", len(aside), err, aside[0].UpdateID, aside[0].Error)
			}
			require.Error(t, err, "ran to the end with every transaction set aside")
			require.ErrorContains(t, err, first.UpdateID)
			cs, serr := checkpoint.NewStore("txhistory")
			require.NoError(t, serr)
			cp, _, gerr := cs.Get(context.Background(), b.db)
			require.NoError(t, gerr)
			require.Zero(t, cp.Offset, "the checkpoint moved past transactions never applied")
		})
	}
}
