package ingest_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ingest"
	"github.com/cantonx/txhistory/internal/syncbuf"
	"github.com/cantonx/txhistory/ledger"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"
)

// A Handler that books some transactions through a pool of its own (the
// exchange's ledger database) fails those with that pool's error, which
// quotes its connection string when lib/pq cannot parse it (a password
// with an unencoded "/"). Under PoisonSetAside such a transaction is set
// aside: neither the log line saying so (nor that of a Handler that
// panicked with the error, as sqlx's MustExec does), nor the review row an
// operator reads, may hold the password, as no other line of Run's does.
func TestSecSetAsideWithholdsAHandlersDSN(t *testing.T) {
	const secret = "S3cr/etPw"
	for name, fail := range map[string]func(error) error{
		"error": func(err error) error { return err },
		"panic": func(err error) error { panic(err) },
	} {
		t.Run(name, func(t *testing.T) {
			b := setup(t)
			appendN(t, b.p, 0, 6)
			booked := treasuryTxs(b.p)[2].UpdateID
			other, err := sqlx.Open("postgres", "postgres://exchange:"+secret+"@127.0.0.1:1/exchange_ledger?sslmode=disable")
			require.NoError(t, err)
			t.Cleanup(func() { other.Close() })
			h := ingest.HandlerFunc(func(ctx context.Context, tx *sqlx.Tx, bt *ingest.Batch) error {
				for _, t := range bt.Transactions {
					if t.UpdateID == booked {
						if _, err := other.ExecContext(ctx, `SELECT 1`); err != nil {
							return fail(err)
						}
					}
				}
				return effectsHandler(ctx, tx, bt)
			})
			var logs syncbuf.Buffer
			ing := newIngester(t, b, ingest.Config{Handler: h, Poison: ingest.PoisonSetAside, EndOffset: b.p.LedgerEnd(), MaxAttempts: 1,
				Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			require.NoError(t, ing.Run(ctx))
			aside, err := ing.SetAsideTransactions(ctx)
			require.NoError(t, err)
			require.Len(t, aside, 1)
			require.Equal(t, booked, aside[0].UpdateID)
			require.Contains(t, logs.String(), "set aside for review")
			require.NotContains(t, logs.String(), "etPw", "the handler's password in the log")
			require.NotContains(t, logs.String(), "S3cr", "the handler's password in the log")
			require.NotContains(t, aside[0].Error, "etPw", "the handler's password in the review row")
			require.NotContains(t, aside[0].Error, "S3cr", "the handler's password in the review row")
		})
	}
}

// preparing is a Handler whose Prepare panics with err for one transaction.
type preparing struct {
	ingest.HandlerFunc
	updateID string
	err      error
}

func (p preparing) Prepare(t *ledger.Transaction) any {
	if t.UpdateID == p.updateID {
		panic(p.err)
	}
	return nil
}

// A Prepare that panics with such an error is logged (and the transaction
// handled without its result): the line must not quote the password
// either.
func TestSecPreparePanicWithholdsAHandlersDSN(t *testing.T) {
	b := setup(t)
	appendN(t, b.p, 0, 4)
	other, err := sqlx.Open("postgres", "postgres://exchange:S3cr/etPw@127.0.0.1:1/exchange_ledger")
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	perr := other.Ping()
	require.Error(t, perr)
	h := preparing{HandlerFunc: effectsHandler, updateID: treasuryTxs(b.p)[1].UpdateID, err: perr}
	var logs syncbuf.Buffer
	ing := newIngester(t, b, ingest.Config{Handler: h, EndOffset: b.p.LedgerEnd(), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, ing.Run(ctx))
	require.Contains(t, logs.String(), "Prepare panicked")
	require.NotContains(t, logs.String(), "etPw", "the handler's password in the log")
	require.NotContains(t, logs.String(), "S3cr", "the handler's password in the log")
}
