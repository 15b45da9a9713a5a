package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestRV19ToolOptionsBeforeTheFile: tool puts --dbname after the other
// arguments, and pg_restore's come with the dump file last: --dbname
// follows an operand. GNU getopt (which the PostgreSQL programs use) stops
// at the first operand when POSIXLY_CORRECT is set, and pg_restore then
// takes --dbname=... for a second file: "too many command-line
// arguments", the restore step fails. Before, --dbname came before the
// file.
func TestRV19ToolOptionsBeforeTheFile(t *testing.T) {
	pgRestore, err := findTool("", "pg_restore")
	if err != nil {
		t.Skip(err)
	}
	t.Setenv("POSIXLY_CORRECT", "1")
	missing := filepath.Join(t.TempDir(), "missing.dump")
	err = tool(context.Background(), pgRestore, "postgres://nobody@127.0.0.1:1/none?sslmode=disable",
		"--clean", "--if-exists", "--single-transaction", "--exit-on-error", missing)
	if err == nil {
		t.Fatal("pg_restore of a missing file succeeded")
	}
	if strings.Contains(err.Error(), "too many command-line arguments") {
		t.Fatalf("pg_restore took --dbname for an operand: %v", err)
	}
}
