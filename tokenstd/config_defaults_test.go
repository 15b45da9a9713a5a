package tokenstd_test

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cantonx/txhistory/schema"
	"github.com/cantonx/txhistory/tokenstd"
)

// WithDefaults fills the documented defaults, keeps what is set, and gives
// the configuration NewHistory uses: a History built from a zero Schema
// writes the schema WithDefaults names, and its classifier maps reasons as
// DefaultAccount does.
func TestConfigWithDefaults(t *testing.T) {
	got := tokenstd.Config{Treasury: "treasury::1220"}.WithDefaults()
	require.Equal(t, schema.DefaultName, got.Schema)
	require.Same(t, slog.Default(), got.Logger)
	require.NotNil(t, got.Account)
	require.Equal(t, tokenstd.Halt, got.OnError)
	require.Equal(t, "treasury::1220", got.Treasury)
	for _, reason := range []string{"acct-7", "", "a\uFFFDb"} {
		wantAcct, wantOK := tokenstd.DefaultAccount(reason)
		acct, ok := got.Account(reason)
		require.Equal(t, wantAcct, acct, "reason %q", reason)
		require.Equal(t, wantOK, ok, "reason %q", reason)
	}

	logger := slog.New(slog.DiscardHandler)
	mine := func(string) (string, bool) { return "mine", true }
	set := tokenstd.Config{Schema: "treasury_b", Logger: logger, Account: mine, OnError: tokenstd.SetAside}.WithDefaults()
	require.Equal(t, "treasury_b", set.Schema)
	require.Same(t, logger, set.Logger)
	require.Equal(t, tokenstd.SetAside, set.OnError)
	acct, ok := set.Account("anything")
	require.Equal(t, "mine", acct)
	require.True(t, ok)

	h, err := tokenstd.NewHistory(tokenstd.Config{Treasury: "treasury::1220"})
	require.NoError(t, err)
	require.Equal(t, got.Schema, h.Schema())
	acct, ok = h.Classifier().Account("acct-7")
	wantAcct, wantOK := tokenstd.DefaultAccount("acct-7")
	require.Equal(t, wantAcct, acct)
	require.Equal(t, wantOK, ok)
}
