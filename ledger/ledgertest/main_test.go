package ledgertest_test

import (
	"testing"

	"github.com/cantonx/txhistory/pgtest"
)

// The examples that ingest into PostgreSQL share pgtest's server; Main stops
// it when the tests end.
func TestMain(m *testing.M) { pgtest.Main(m) }
