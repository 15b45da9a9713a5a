package recovery_test

import (
	"context"
	"testing"

	"github.com/cantonx/txhistory/ledger/ledgertest"
	"github.com/cantonx/txhistory/recovery"
	"github.com/stretchr/testify/require"
)

// A holding created in a transaction is reported with the package of the
// token standard interface it implements, which a participant names only
// in the interface views a filter asks for: Packages asks for the token
// standard's views, as ingestion does. (With no interface in its filter, a
// participant sent none, and only the template's package was listed.)
func TestPackagesListsTheInterfacesOfCreatedHoldings(t *testing.T) {
	b := newBundle(t)
	w := &ledgertest.TokenWorld{}
	since := w.Now()
	_, err := b.p.Append(w.Mint(treasury, "10"))
	require.NoError(t, err)
	ingestTo(t, b, b.p.LedgerEnd())

	rep, err := recovery.Packages(context.Background(), b.db, b.client, since.Add(-1), recovery.PackageOptions{Parties: []string{treasury}})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Transactions)
	var ids []string
	for _, u := range rep.Packages {
		ids = append(ids, u.PackageID)
	}
	require.Contains(t, ids, ledgertest.TokenHoldingInterface.PackageID, "the HoldingV1 interface's package")
}
