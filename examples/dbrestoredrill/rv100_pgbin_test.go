package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -pg-bin names the directory of pg_dump and pg_restore; one that does not
// hold them was passed over silently for $PG_BINDIR, pg_config's and the
// installed versions' directories, so that a typo in it, or a directory of
// the server's version that lacks the client programs, ran the drill with
// other binaries than the operator chose. It must be an error naming the
// flag; the directory given, holding the program, is used.
func TestRV100PgBinIsTheDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-bin")
	if p, err := findTool(missing, "pg_dump"); err == nil {
		t.Fatalf("findTool(%q) = %q, want an error naming -pg-bin", missing, p)
	} else if want := "-pg-bin " + missing; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %q", err, want)
	}

	dir := t.TempDir()
	fake := filepath.Join(dir, "pg_dump")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := findTool(dir, "pg_dump"); err != nil || p != fake {
		t.Fatalf("findTool(%q) = %q, %v; want %q", dir, p, err, fake)
	}
}
