package ledger_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/ledger/ledgertest"
	pb "github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// A message larger than MaxRecvMsgSize comes again on every retry from the
// same offset: it is ErrMessageRejected, not a fault to wait out.
func TestOversizedMessageIsNotRetryable(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Append(&ledger.Transaction{Events: []ledger.Event{&ledger.CreatedEvent{
		ContractID: "00c1", TemplateID: ledger.MustParseIdentifier("#pkg:Mod:T"),
		CreateArguments: ledger.Record(nil, ledger.F("memo", ledger.Text(strings.Repeat("x", 4096)))),
		WitnessParties:  []string{treasury}, Signatories: []string{treasury}}}})
	require.NoError(t, err)
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true}, MaxRecvMsgSize: 1024})
	require.NoError(t, err)
	defer c.Close()
	s, err := c.Updates(context.Background(), ledger.UpdatesRequest{EndInclusive: 1, Filter: ledger.Filter{Parties: []string{treasury}}})
	require.NoError(t, err)
	_, err = s.Recv()
	require.ErrorIs(t, err, ledger.ErrMessageRejected)
	require.False(t, ledger.IsRetryable(err), "%v", err)
}

// A TokenSource failing with a plain error (a secrets manager timing out, a
// token file being rewritten) is a transient fault, not an authentication
// failure that stops ingestion.
func TestTokenSourceErrorIsRetryable(t *testing.T) {
	p, err := ledgertest.New()
	require.NoError(t, err)
	defer p.Close()
	src := ledger.TokenFunc(func(context.Context) (string, error) {
		return "", errors.New("token file: open /run/secrets/token: no such file or directory")
	})
	c, err := ledger.Dial(ledger.Config{LedgerAPI: ledger.Endpoint{Target: p.Addr(), Insecure: true, Tokens: src}})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.LedgerEnd(context.Background())
	require.Error(t, err)
	require.False(t, ledger.IsAuth(err), "%v", err)
	require.True(t, ledger.IsRetryable(err), "%v", err)
	require.ErrorContains(t, err, "/run/secrets/token", "the cause is kept")
}

// ReviewJSON is protobuf JSON, unless that would hold a NUL (jsonb refuses
// the \u0000 escape): then the binary protobuf, base64, which decodes to the
// same transaction.
func TestReviewJSON(t *testing.T) {
	tx := &ledger.Transaction{UpdateID: "u1", Offset: 5, SynchronizerID: "s", RecordTime: time.Unix(100, 0).UTC(), CommandID: "plain"}
	raw, err := ledger.ReviewJSON(tx.Proto())
	require.NoError(t, err)
	require.Contains(t, string(raw), `"commandId":"plain"`)

	tx.CommandID = "with\x00nul"
	raw, err = ledger.ReviewJSON(tx.Proto())
	require.NoError(t, err)
	require.NotContains(t, string(raw), `\u0000`)
	var wrapped map[string]string
	require.NoError(t, json.Unmarshal(raw, &wrapped))
	bin, err := base64.StdEncoding.DecodeString(wrapped["protobuf_base64"])
	require.NoError(t, err)
	var back pb.Transaction
	require.NoError(t, proto.Unmarshal(bin, &back))
	require.Equal(t, "with\x00nul", back.GetCommandId())
}
