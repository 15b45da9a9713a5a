package ledger_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/cantonx/txhistory/ledger"
	"github.com/stretchr/testify/require"
)

// printed renders v as an exchange's code may log it: fmt's verbs, JSON,
// and slog's text and JSON handlers.
func printed(t *testing.T, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	if js, err := json.Marshal(v); err == nil {
		out["json"] = string(js)
	}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("config", "v", v)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("config", "v", v)
	out["slog text"], out["slog json"] = text.String(), js.String()
	return out
}

// A ledger.Config, or a token source, logged as a whole (a start-up line
// with the configuration, a debug dump) must not print the token or the
// client secret it holds.
func TestSecTokenSourcesDoNotPrintTheirSecrets(t *testing.T) {
	const (
		token  = "st-9f2c1d8e7b6a"
		secret = "cs-4e5d6c7b8a90"
	)
	var leaks []string
	leak := func(what, how, s string, secrets ...string) {
		for _, x := range secrets {
			if strings.Contains(s, x) {
				leaks = append(leaks, what+" with "+how)
				return
			}
		}
	}
	static := ledger.StaticToken(token)
	cfg := ledger.Config{LedgerAPI: ledger.Endpoint{Target: "participant:5001", Insecure: true, Tokens: static}}
	for what, v := range map[string]any{"StaticToken": static, "Config with a StaticToken": cfg, "Endpoint with a StaticToken": cfg.LedgerAPI} {
		for how, s := range printed(t, v) {
			leak(what, how, s, token, "9f2c1d8e7b6a", hex.EncodeToString([]byte(token)))
		}
	}
	require.Contains(t, fmt.Sprintf("%+v", cfg), "participant:5001", "the rest is printed")

	ep := newTokenEndpoint(t, "ingester", secret, "")
	src := ledger.ClientCredentials(context.Background(), ep.URL(), "ingester", secret)
	issued, err := src.Token(context.Background())
	require.NoError(t, err)
	for how, s := range printed(t, src) {
		leak("ClientCredentials", how, s, secret, issued, hex.EncodeToString([]byte(secret)))
	}
	slices.Sort(leaks)
	require.Empty(t, leaks, "printed with its secret: %s", strings.Join(leaks, ", "))
}

// An empty StaticToken (a token setting left unset) prints as empty, so
// that a logged configuration shows it missing; any other prints REDACTED.
func TestSecEmptyStaticTokenPrintsEmpty(t *testing.T) {
	require.Equal(t, "[] [REDACTED]", fmt.Sprintf("[%v] [%v]", ledger.StaticToken(""), ledger.StaticToken("t")))
	js, err := json.Marshal(map[string]ledger.StaticToken{"unset": "", "set": "t"})
	require.NoError(t, err)
	require.JSONEq(t, `{"unset":"","set":"REDACTED"}`, string(js))
}
