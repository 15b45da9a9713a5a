package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/stretchr/testify/require"
)

// nilSource is a TokenSource of the exchange's own whose constructor's
// error was ignored: a nil pointer.
type nilSource struct{ tok string }

func (s *nilSource) Token(context.Context) (string, error) { return s.tok, nil }

// Dial refuses an Endpoint.Tokens that holds a nil func or pointer (a
// TokenFunc of a function left unset, a nil *T of a constructor whose error
// was ignored), as ingest.New, recovery and withdrawal refuse such hooks:
// taken, it passes Dial and panics in the first call's goroutine (the
// Ingester's Run), ending the exchange's process.
func TestDialRefusesNilTokenSource(t *testing.T) {
	p, err := ledgertest.New(ledgertest.WithToken("good-token"))
	require.NoError(t, err)
	defer p.Close()
	for name, src := range map[string]ledger.TokenSource{"TokenFunc(nil)": ledger.TokenFunc(nil), "nil *T": (*nilSource)(nil)} {
		for _, admin := range []bool{false, true} {
			cfg := ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true, Tokens: ledger.StaticToken("good-token")}}
			ep := &cfg.LedgerAPI
			if admin {
				cfg.Admin = ledger.Endpoint{Target: p.Addr(), Insecure: true}
				ep = &cfg.Admin
			}
			ep.Tokens = src
			c, err := ledger.Dial(cfg)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				func() {
					defer func() {
						if r := recover(); r != nil {
							err = fmt.Errorf("the first call panicked: %v", r)
						}
					}()
					if admin {
						_, err = c.HighestOffsetByTimestamp(ctx, "sync::1", time.Now(), false)
					} else {
						_, err = c.LedgerEnd(ctx)
					}
				}()
				cancel()
				c.Close()
				t.Fatalf("%s (admin endpoint %t): Dial took it; then: %v", name, admin, err)
			}
			require.ErrorContains(t, err, "Tokens", name)
		}
	}
}
