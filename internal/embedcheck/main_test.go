package embedcheck

import (
	"testing"

	"github.com/cantonx/txhistory/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
