package conn

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFileTokenEmptyFile: an empty token file (being rewritten in place, or
// not written yet) is an error, not an empty token; the token written
// afterwards is read, even when the rewrite keeps the modification time.
func TestFileTokenEmptyFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	f := &FileToken{Path: path}
	tok, err := f.Token(ctx)
	require.ErrorContains(t, err, "is empty")
	require.Empty(t, tok)

	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, os.WriteFile(path, []byte("first\n"), 0o600))
	require.NoError(t, os.Chtimes(path, mod, mod))
	tok, err = f.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "first", tok)

	// Truncated and rewritten within one tick of a coarse clock: the same
	// modification time, another size.
	require.NoError(t, os.WriteFile(path, []byte("second-token\n"), 0o600))
	require.NoError(t, os.Chtimes(path, mod, mod))
	tok, err = f.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "second-token", tok)

	// Truncated: an error again, never the empty string.
	require.NoError(t, os.WriteFile(path, []byte("  \n"), 0o600))
	_, err = f.Token(ctx)
	require.ErrorContains(t, err, "is empty")
}
