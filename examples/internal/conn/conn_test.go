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

// TestFileTokenReplacedByRename: a sidecar replacing the token file
// atomically (write another file, rename it over the path) with a token of
// the same length, keeping the modification time (cp -p, rsync -t) or
// within one tick of a coarse clock: the new file's token is read.
func TestFileTokenReplacedByRename(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, os.WriteFile(path, []byte("token-AAAA\n"), 0o600))
	require.NoError(t, os.Chtimes(path, mod, mod))
	f := &FileToken{Path: path}
	tok, err := f.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "token-AAAA", tok)

	tmp := filepath.Join(dir, ".token.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte("token-BBBB\n"), 0o600))
	require.NoError(t, os.Chtimes(tmp, mod, mod))
	require.NoError(t, os.Rename(tmp, path))
	tok, err = f.Token(ctx)
	require.NoError(t, err)
	require.Equal(t, "token-BBBB", tok, "the file was replaced; the old token is still sent")
}
