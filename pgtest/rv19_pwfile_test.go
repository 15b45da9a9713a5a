package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestRV19ChosenDirUnderAPrivateTempDir: run as root, StartServer runs the
// server binaries as an unprivileged user, and a caller-chosen Dir need
// only have a parent that user can search (checkSearchable). initdb now
// reads the superuser's password from a file in a directory of its own
// under os.TempDir, which that user cannot reach when $TMPDIR is private
// to root (0700): initdb fails where it used to succeed.
func TestRV19ChosenDirUnderAPrivateTempDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only as root does postgres run as another user")
	}
	private := t.TempDir() // 0700, under another 0700 directory
	pub, err := os.MkdirTemp("", "rv19-pgdir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", private)

	srv, err := StartServer(context.Background(), ServerOptions{Dir: filepath.Join(pub, "data")})
	if err != nil {
		t.Fatalf("StartServer with a searchable Dir and a private $TMPDIR: %v", err)
	}
	defer srv.Close()
	db := open(t, srv.DSN("postgres"))
	var one int
	mustGet(t, db, &one, `SELECT 1`)
}
