package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRV20ChosenDirWithAReadOnlyParent: run as root, a caller-chosen Dir
// that is a mount point under a read-only directory (a volume in a
// container whose root filesystem is read-only) is fine for postgres: the
// data directory itself is writable. initdb's password file now goes
// beside the data directory, which cannot be created there.
func TestRV20ChosenDirWithAReadOnlyParent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only as root is the password file put beside the data directory")
	}
	parent, err := os.MkdirTemp("", "rv20-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := syscall.Mount("tmpfs", parent, "tmpfs", 0, "mode=755"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(parent, syscall.MNT_DETACH) })
	dir := filepath.Join(parent, "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "mode=700"); err != nil {
		t.Fatal(err)
	}
	// Unmounted before parent (cleanups run last first).
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	if err := syscall.Mount("", parent, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, "mode=755"); err != nil {
		t.Fatal(err)
	}

	srv, err := StartServer(context.Background(), ServerOptions{Dir: dir})
	if err != nil {
		t.Fatalf("StartServer with a writable Dir under a read-only parent: %v", err)
	}
	defer srv.Close()
	db := open(t, srv.DSN("postgres"))
	var one int
	mustGet(t, db, &one, `SELECT 1`)
}
